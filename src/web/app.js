// The web client's entry point (being written): wires irc.js to ui.js.
import { IrcConnection } from './irc.js';
import { mount } from './ui.js';

mount(document.getElementById('app'), IrcConnection);
