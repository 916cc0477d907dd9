// app.js — the chat's state and behaviour, and the page's entry point. Owns
// the windows (rooms, private conversations, the server window) with their
// messages, members, topics, unread counts and history paging; turns IRC
// messages from irc.js into that state; turns what the person types
// (/commands, Enter/Up/Tab) into IRC. Drawing is ui.js's job.

import { IrcConnection, foldCase } from "./irc.js";
import {
  renderMessages, renderWindowList, renderMembers, renderTitle, renderTyping, el,
} from "./ui.js";

const $ = (id) => document.getElementById(id);
const LOBBY = "#lobby";
const PAGE = 50; // CHATHISTORY page size (the server allows up to CHATHISTORY=100)
const MAX_LINES = 3000; // kept per window
const MAX_TEXT_BYTES = 400; // of one PRIVMSG's text: 512 less the longest prefix the server adds
const DRAWN = 300; // drawn at first per window; scrolling up draws more
const TYPING_SEND_EVERY_MS = 3000;
const TYPING_SHOWN_MS = 6000;
const SERVER_KEY = "\u0000server";
const CHAT_KINDS = new Set(["msg", "action", "notice"]); // what counts as unread

const HELP = [
  "/join #room — join a room (and switch to it)",
  "/part [reason] — leave the current room (or close a private conversation)",
  "/msg nick text — send a private message",
  "/query nick [text] — open a private conversation",
  "/me text — an action: * you text",
  "/topic [text] — show or set the room's topic",
  "/nick newnick — change your nickname",
  "/away [reason] — mark yourself away; /away alone to come back",
  "/quote LINE — send a raw IRC line",
  "/help — this list",
  "Keys: Enter sends, Shift+Enter a new line, Up recalls what you sent, Tab completes nicks, Alt+Up/Down changes window.",
];

// ---------------------------------------------------------------- state

const state = {
  me: "",
  conn: null,
  windows: new Map(), // key (folded name) -> window
  current: SERVER_KEY,
  everConnected: false,
  sentLines: [], // for Up
  recallIndex: -1,
  pendingSwitch: null, // a room /join asked to show once joined
  typingSentAt: 0,
  typingTarget: null,
  prefixModes: { o: "@", v: "+" },
  localId: 0,
};

function isChannel(name) {
  return /^[#&]/.test(name || "");
}

function makeWindow(name, kind) {
  return {
    key: kind === "server" ? SERVER_KEY : foldCase(name),
    name, kind,
    messages: [], msgids: new Set(),
    members: new Map(), namesPending: null,
    topic: "", away: "",
    unread: 0, mentions: 0,
    joined: false, wanted: kind === "channel",
    history: { loading: false, exhausted: false },
    shown: DRAWN,
    typing: new Map(), // nick -> expiry (ms)
  };
}

function serverWindow() {
  if (!state.windows.has(SERVER_KEY)) state.windows.set(SERVER_KEY, makeWindow("natter", "server"));
  return state.windows.get(SERVER_KEY);
}

function getWindow(name, kind = isChannel(name) ? "channel" : "query") {
  const key = foldCase(name);
  let win = state.windows.get(key);
  if (!win) {
    win = makeWindow(name, kind);
    state.windows.set(key, win);
    saveRooms();
    // A private conversation's earlier lines (kept for logged-in people).
    if (kind === "query" && state.conn && state.conn.connected) loadLatest(win);
  }
  return win;
}

function currentWindow() {
  return state.windows.get(state.current) || serverWindow();
}

function isMe(nick) {
  return !!nick && foldCase(nick) === foldCase(state.me);
}

function mentionsMe(text) {
  if (!state.me) return false;
  const esc = state.me.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[^\\w])${esc}($|[^\\w])`, "i").test(text);
}

function saveRooms() {
  try {
    const rooms = [...state.windows.values()].filter((w) => w.kind === "channel" && w.wanted).map((w) => w.name);
    localStorage.setItem("natter.rooms", JSON.stringify(rooms));
  } catch {
    // storage may be off (private mode): rooms are just not remembered
  }
}

function savedRooms() {
  try {
    const rooms = JSON.parse(localStorage.getItem("natter.rooms") || "[]");
    return Array.isArray(rooms) ? rooms.filter((r) => typeof r === "string" && isChannel(r)) : [];
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------- messages

function timeOf(msg) {
  const t = msg.tags && msg.tags.time ? new Date(msg.tags.time) : new Date();
  return isNaN(t) ? new Date() : t;
}

/**
 * Adds an entry to a window, in time order, once per msgid. `live` entries
 * count as unread when the person is not looking at that window.
 */
function addEntry(win, entry, { live = true } = {}) {
  if (!remember(win, entry)) return false;
  const list = win.messages;
  if (!list.length || list[list.length - 1].time <= entry.time) {
    list.push(entry);
  } else {
    // Older than the newest shown (a late line): after all of its time.
    list.splice(bound(list, entry.time, false), 0, entry);
  }
  trim(win);
  const chat = CHAT_KINDS.has(entry.kind);
  if (live && chat && !entry.self) {
    if (win.key !== state.current || document.hidden) {
      entry.unseen = true;
      win.unread += 1;
      if (entry.mention || win.kind === "query") win.mentions += 1;
    }
    if (entry.nick) win.typing.delete(entry.nick);
  }
  scheduleRender();
  return true;
}

/** The first index whose time is after `time` (or, with `before`, not before it). */
function bound(list, time, before) {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (before ? list[mid].time < time : list[mid].time <= time) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Adds a page of history (in the server's order) to a window. Lines of the
 * same millisecond must keep the server's order, so a line already shown
 * anchors the new ones after it; without an anchor, a page older than
 * everything shown goes before lines of equal time, any other after them.
 */
function addHistory(win, entries) {
  const list = win.messages;
  const older = list.length > 0 && entries.length > 0 && entries[entries.length - 1].time <= list[0].time;
  let cursor = -1;
  let added = 0;
  for (const e of entries) {
    if (e.msgid && win.msgids.has(e.msgid)) {
      const at = list.findIndex((m) => m.msgid === e.msgid);
      if (at >= 0) cursor = at + 1;
      continue;
    }
    remember(win, e);
    const fits = cursor >= 0 && (cursor === list.length || list[cursor].time >= e.time)
      && (cursor === 0 || list[cursor - 1].time <= e.time);
    const at = fits ? cursor : bound(list, e.time, older);
    list.splice(at, 0, e);
    if (at < list.length - win.shown) win.shown += 1; // scrolled-back history is drawn
    cursor = at + 1;
    added += 1;
  }
  trim(win);
  applyMarker(win);
  scheduleRender({ keepScroll: true });
  return added;
}

/** Notes an entry's msgid; false when the window already has it. */
function remember(win, entry) {
  if (entry.msgid) {
    if (win.msgids.has(entry.msgid)) return false;
    win.msgids.add(entry.msgid);
  }
  entry.id = ++state.localId;
  return true;
}

function trim(win) {
  const list = win.messages;
  if (list.length > MAX_LINES) {
    for (const dropped of list.splice(0, list.length - MAX_LINES)) win.msgids.delete(dropped.msgid);
    win.history.exhausted = false;
  }
}

function info(text, kind = "info", win = currentWindow()) {
  addEntry(win, { kind, text, time: new Date() }, { live: false });
}

/** The chat entry for a PRIVMSG/NOTICE, and the window it belongs to. */
function chatEntry(msg, forcedWindow) {
  const [rawTarget = "", raw = ""] = msg.params;
  const target = rawTarget.replace(/^[~&@%+]+(?=[#&])/, ""); // "@#room" (to its operators) is #room
  let text = raw;
  let kind = msg.command === "NOTICE" ? "notice" : "msg";
  if (text.startsWith("\u0001")) {
    const body = text.slice(1, text.endsWith("\u0001") ? -1 : undefined);
    if (!/^ACTION( |$)/i.test(body)) return null; // other CTCPs are not shown
    kind = "action";
    text = body.slice(7);
  }
  const self = isMe(msg.nick);
  let winName;
  if (forcedWindow) winName = forcedWindow;
  else if (isChannel(target)) winName = target;
  else if (self) winName = target;
  else if (!msg.nick || !msg.source.includes("!")) winName = null; // a server notice
  else winName = msg.nick;
  const entry = {
    kind, text, nick: msg.nick || msg.source, self, time: timeOf(msg),
    msgid: msg.tags.msgid, mention: !self && mentionsMe(text),
  };
  return { winName, entry };
}

function onPrivmsg(msg) {
  const found = chatEntry(msg);
  if (!found) return;
  let { winName, entry } = found;
  if (!winName) {
    // Notices from the server or services: the server window, and the
    // current one for a person's notice so it is seen.
    addEntry(serverWindow(), entry, { live: false });
    return;
  }
  if (entry.kind === "notice" && !isChannel(winName) && !state.windows.has(foldCase(winName))) {
    addEntry(currentWindow(), entry, { live: false });
    return;
  }
  addEntry(getWindow(winName), entry);
}

function eventEntry(win, kind, text, msg) {
  addEntry(win, { kind, text, nick: msg.nick, time: timeOf(msg), msgid: msg.tags.msgid }, { live: false });
}

// ---------------------------------------------------------------- members

function memberPrefixes(nickWithPrefixes) {
  const symbols = Object.values(state.prefixModes).join("");
  let i = 0;
  while (i < nickWithPrefixes.length && symbols.includes(nickWithPrefixes[i])) i += 1;
  return { prefixes: nickWithPrefixes.slice(0, i), nick: nickWithPrefixes.slice(i).split("!")[0] };
}

function sortPrefixes(prefixes) {
  const order = Object.values(state.prefixModes).join("");
  return [...new Set(prefixes)].sort((a, b) => order.indexOf(a) - order.indexOf(b)).join("");
}

function windowsWithMember(nick) {
  const key = foldCase(nick);
  return [...state.windows.values()].filter((w) => w.kind === "channel" && w.members.has(key));
}

// ---------------------------------------------------------------- history

function historyRef(entry) {
  return entry.msgid ? `msgid=${entry.msgid}` : `timestamp=${entry.time.toISOString()}`;
}

function hasHistory() {
  return state.conn && state.conn.caps.has("draft/chathistory") && state.conn.caps.has("batch");
}

/**
 * Runs one CHATHISTORY request; onBatch has added its lines to the window
 * by the time this resolves. Returns the lines the server sent (their count
 * says whether there is more).
 */
async function chathistory(win, sub, ref, limit) {
  const reply = await state.conn.request("CHATHISTORY", [sub, win.name, ref, String(limit)]);
  return reply && reply.batch ? reply.batch.messages : [];
}

/** A room just opened: its latest page of history. */
async function loadLatest(win) {
  if (!hasHistory()) {
    win.history.exhausted = true;
    return;
  }
  win.history.loading = true;
  scheduleRender();
  try {
    const lines = await chathistory(win, "LATEST", "*", PAGE);
    if (lines.length < PAGE) win.history.exhausted = true;
  } catch {
    // disconnected meanwhile: the reconnect fills the gap
  } finally {
    win.history.loading = false;
    win.opening = false;
    scheduleRender({ stickToBottom: true });
  }
}

/** Scrolled to the top: the page before the oldest line shown. */
async function loadBefore(win) {
  if (!hasHistory() || win.history.loading || win.history.exhausted) return;
  const oldest = win.messages.find((m) => m.msgid) || win.messages[0];
  if (!oldest) return loadLatest(win);
  win.history.loading = true;
  scheduleRender({ keepScroll: true });
  try {
    const lines = await chathistory(win, "BEFORE", historyRef(oldest), PAGE);
    if (lines.length < PAGE) win.history.exhausted = true;
  } catch {
    // try again on the next scroll
  } finally {
    win.history.loading = false;
    scheduleRender({ keepScroll: true });
  }
}

/** Back after a disconnect: everything said since the last line we have. */
async function fillGap(win) {
  if (!hasHistory()) return;
  const last = [...win.messages].reverse().find((m) => m.msgid && m.time);
  if (!last) return loadLatest(win);
  let since = new Date(last.time.getTime() - 1); // same-millisecond lines are deduplicated by msgid
  try {
    for (let page = 0; page < 20; page += 1) {
      const lines = await chathistory(win, "AFTER", `timestamp=${since.toISOString()}`, 100);
      const newest = lines.length ? timeOf(lines[lines.length - 1]) : null;
      if (lines.length < 100 || !newest || newest <= since) break;
      since = new Date(newest.getTime() - 1);
    }
  } catch {
    // disconnected again: the next reconnect tries again
  }
  win.opening = false;
  scheduleRender({ stickToBottom: false });
}

// ---------------------------------------------------------------- read markers
//
// draft/read-marker: the server keeps how far each person has read each
// window, so unread counts and the "New" line survive a reload and follow
// the person from one device to the next.

function onMarkread(target, value) {
  const win = target && state.windows.get(foldCase(target));
  if (!win) return;
  const t = value && value.startsWith("timestamp=") ? new Date(value.slice(10)) : null;
  win.readMarker = t && !isNaN(t) ? t : null;
  applyMarker(win);
}

/** Unread lines are those after the read marker (none without one). */
function applyMarker(win) {
  if (!win.readMarker) return;
  const viewing = win.key === state.current && !document.hidden;
  let unread = 0;
  let mentions = 0;
  let first = null;
  for (const m of win.messages) {
    const fresh = CHAT_KINDS.has(m.kind) && !m.self && m.time > win.readMarker;
    m.unseen = fresh && !viewing;
    if (!fresh) continue;
    unread += 1;
    if (m.mention || win.kind === "query") mentions += 1;
    first = first || m;
  }
  if (viewing) {
    if (win.opening && first) win.newFrom = first.id;
    win.unread = 0;
    win.mentions = 0;
  } else {
    win.unread = unread;
    win.mentions = mentions;
  }
  scheduleRender();
}

/** While a window is in view, tell the server (at most once a second) it is read. */
function scheduleMarker(win) {
  const conn = state.conn;
  if (!conn || !conn.connected || !conn.caps.has("draft/read-marker") || win.kind === "server" || win.markerTimer) return;
  win.markerTimer = setTimeout(() => {
    win.markerTimer = null;
    if (state.current !== win.key || document.hidden || !conn.connected) return;
    const latest = win.messages.findLast((m) => m.msgid);
    if (!latest || (win.readMarker && latest.time <= win.readMarker)) return;
    win.readMarker = latest.time;
    conn.send("MARKREAD", [win.name, `timestamp=${latest.time.toISOString()}`]);
  }, 1000);
}

// ---------------------------------------------------------------- IRC in

function onBatch(batch) {
  if (batch.type === "chathistory" || batch.type === "draft/chathistory") {
    // A private conversation's history is filed under the other person,
    // which is the batch's target.
    const target = batch.params[0] || "";
    const entries = [];
    for (const m of batch.messages) {
      if (m.command !== "PRIVMSG" && m.command !== "NOTICE") continue;
      const found = chatEntry(m, target);
      if (found) entries.push(found.entry);
    }
    if (entries.length) addHistory(getWindow(target), entries);
    return;
  }
  // Other batches (netsplits, labelled replies…): their lines as usual.
  for (const m of batch.messages) {
    if (m.command === "BATCH") onBatch(m.batch);
    else onMessage(m);
  }
}

function onMessage(msg) {
  const p = msg.params;
  const last = p[p.length - 1] || "";
  switch (msg.command) {
    case "PRIVMSG":
    case "NOTICE":
      onPrivmsg(msg);
      return;
    case "TAGMSG":
      onTagmsg(msg);
      return;
    case "JOIN":
      onJoin(msg);
      return;
    case "PART": {
      const win = state.windows.get(foldCase(p[0]));
      if (!win) return;
      if (isMe(msg.nick)) {
        win.joined = false;
        win.members.clear();
        if (win.closing) closeWindow(win);
        else eventEntry(win, "part", "You left " + win.name + (p[1] ? ` (${p[1]})` : ""), msg);
      } else {
        win.members.delete(foldCase(msg.nick));
        win.typing.delete(msg.nick);
        eventEntry(win, "part", `${msg.nick} left` + (p[1] ? ` (${p[1]})` : ""), msg);
      }
      return;
    }
    case "QUIT": {
      for (const win of windowsWithMember(msg.nick)) {
        win.members.delete(foldCase(msg.nick));
        win.typing.delete(msg.nick);
        eventEntry(win, "quit", `${msg.nick} quit` + (p[0] ? ` (${p[0]})` : ""), msg);
      }
      const q = state.windows.get(foldCase(msg.nick));
      if (q && q.kind === "query") eventEntry(q, "quit", `${msg.nick} quit` + (p[0] ? ` (${p[0]})` : ""), msg);
      return;
    }
    case "KICK": {
      const win = state.windows.get(foldCase(p[0]));
      if (!win) return;
      const who = p[1];
      win.members.delete(foldCase(who));
      if (isMe(who)) {
        win.joined = false;
        win.wanted = false;
        win.members.clear();
        saveRooms();
      }
      eventEntry(win, "kick", `${isMe(who) ? "You were" : who + " was"} removed by ${msg.nick}` + (p[2] ? ` (${p[2]})` : ""), msg);
      return;
    }
    case "NICK":
      onNick(msg);
      return;
    case "TOPIC": {
      const win = getWindow(p[0]);
      win.topic = last;
      eventEntry(win, "topic", last ? `${msg.nick} changed the topic to: ${last}` : `${msg.nick} cleared the topic`, msg);
      return;
    }
    case "MODE":
      onMode(msg);
      return;
    case "AWAY": {
      // away-notify: someone who shares a room went away or came back.
      for (const win of windowsWithMember(msg.nick)) {
        const m = win.members.get(foldCase(msg.nick));
        m.away = p.length > 0 && p[0] !== "";
      }
      const q = state.windows.get(foldCase(msg.nick));
      if (q && q.kind === "query") q.away = p[0] || "";
      scheduleRender();
      return;
    }
    case "ERROR":
      info(last || "The server closed the connection", "error", serverWindow());
      return;
    case "FAIL":
      if (p[0] === "CHATHISTORY") return; // a room without history: nothing to show
      info(`${p[0]}: ${last}`, "error");
      return;
    case "MARKREAD":
      onMarkread(p[0], p[1]);
      return;
    case "WARN":
    case "NOTE":
      info(last, "info");
      return;
    case "332": {
      const win = getWindow(p[1]);
      win.topic = last;
      scheduleRender();
      return;
    }
    case "331": {
      const win = getWindow(p[1]);
      win.topic = "";
      scheduleRender();
      return;
    }
    case "333":
      return;
    case "353": {
      const win = getWindow(p[2]);
      if (!win.namesPending) win.namesPending = new Map();
      for (const item of last.split(" ").filter(Boolean)) {
        const { prefixes, nick } = memberPrefixes(item);
        const old = win.members.get(foldCase(nick));
        win.namesPending.set(foldCase(nick), { nick, prefixes: sortPrefixes(prefixes), away: old ? old.away : false });
      }
      return;
    }
    case "366": {
      const win = state.windows.get(foldCase(p[1]));
      if (win && win.namesPending) {
        win.members = win.namesPending;
        win.namesPending = null;
        scheduleRender();
      }
      return;
    }
    case "301": // RPL_AWAY, after messaging someone away
      {
        const q = state.windows.get(foldCase(p[1]));
        if (q && q.away !== last) {
          q.away = last;
          info(`${p[1]} is away: ${last}`, "info", q);
        }
      }
      return;
    case "305":
      state.away = false;
      info("You are back.");
      renderStatus();
      return;
    case "306":
      state.away = true;
      info("You are marked as away. /away alone brings you back.");
      renderStatus();
      return;
    case "005":
      if (state.conn.isupport.PREFIX) {
        const m = /^\(([^)]*)\)(.*)$/.exec(state.conn.isupport.PREFIX);
        if (m) {
          state.prefixModes = {};
          [...m[1]].forEach((mode, i) => { state.prefixModes[mode] = m[2][i]; });
        }
      }
      return;
    case "001":
    case "002":
    case "003":
    case "004":
    case "250":
    case "251":
    case "252":
    case "253":
    case "254":
    case "255":
    case "265":
    case "266":
    case "375":
    case "372":
    case "376":
    case "422":
    case "900":
    case "903":
      addEntry(serverWindow(), { kind: "info", text: last, time: timeOf(msg) }, { live: false });
      return;
    case "CAP":
    case "PONG":
    case "ACK":
    case "BATCH":
      return;
  }
  if (/^[45]\d\d$/.test(msg.command)) {
    // Errors: the server's words, with what they are about.
    const about = p.slice(1, -1).join(" ");
    info((about ? about + ": " : "") + last, "error");
  } else if (/^\d{3}$/.test(msg.command)) {
    addEntry(serverWindow(), { kind: "info", text: p.slice(1).join(" "), time: timeOf(msg) }, { live: false });
  }
}

function onJoin(msg) {
  const name = msg.params[0];
  if (isMe(msg.nick)) {
    const win = getWindow(name, "channel");
    win.name = name; // the server's spelling
    const reconnecting = win.messages.some((m) => m.msgid);
    win.joined = true;
    win.wanted = true;
    win.opening = true; // until its history is in: where the read marker puts the "New" line
    win.members.clear();
    win.typing.clear();
    saveRooms();
    if (state.pendingSwitch && foldCase(state.pendingSwitch) === win.key) {
      state.pendingSwitch = null;
      selectWindow(win.key);
    } else if (state.current === SERVER_KEY) {
      selectWindow(win.key);
    }
    if (reconnecting) fillGap(win);
    else loadLatest(win);
    scheduleRender();
    return;
  }
  const win = state.windows.get(foldCase(name));
  if (!win) return;
  win.members.set(foldCase(msg.nick), { nick: msg.nick, prefixes: "", away: false });
  eventEntry(win, "join", `${msg.nick} joined`, msg);
}

function onNick(msg) {
  const oldNick = msg.nick;
  const newNick = msg.params[0];
  const mine = isMe(oldNick);
  if (mine) {
    state.me = newNick;
    try {
      localStorage.setItem("natter.nick", newNick);
    } catch {
      // not remembered
    }
    info(`You are now known as ${newNick}`);
    renderStatus();
  }
  for (const win of windowsWithMember(oldNick)) {
    const m = win.members.get(foldCase(oldNick));
    win.members.delete(foldCase(oldNick));
    m.nick = newNick;
    win.members.set(foldCase(newNick), m);
    if (!mine) eventEntry(win, "nick", `${oldNick} is now known as ${newNick}`, msg);
  }
  const q = state.windows.get(foldCase(oldNick));
  if (q && q.kind === "query" && !state.windows.has(foldCase(newNick))) {
    state.windows.delete(q.key);
    q.key = foldCase(newNick);
    q.name = newNick;
    state.windows.set(q.key, q);
    if (state.current === foldCase(oldNick)) state.current = q.key;
    eventEntry(q, "nick", `${oldNick} is now known as ${newNick}`, msg);
  }
  scheduleRender();
}

function onMode(msg) {
  const [target, modes = "", ...args] = msg.params;
  if (!isChannel(target)) return;
  const win = state.windows.get(foldCase(target));
  if (!win) return;
  const chanmodes = (state.conn.isupport.CHANMODES || "beI,k,l,imnst").split(",");
  let adding = true;
  let argi = 0;
  for (const c of modes) {
    if (c === "+" || c === "-") {
      adding = c === "+";
      continue;
    }
    if (state.prefixModes[c]) {
      const nick = args[argi++];
      const m = nick && win.members.get(foldCase(nick));
      if (m) {
        const sym = state.prefixModes[c];
        m.prefixes = sortPrefixes(adding ? m.prefixes + sym : m.prefixes.replace(sym, ""));
      }
    } else if (chanmodes[0].includes(c) || chanmodes[1].includes(c) || (adding && chanmodes[2].includes(c))) {
      argi += 1;
    }
  }
  eventEntry(win, "mode", `${msg.nick} set ${modes}${args.length ? " " + args.join(" ") : ""}`, msg);
}

function onTagmsg(msg) {
  const typing = msg.tags["+typing"] || msg.tags["+draft/typing"];
  if (!typing || isMe(msg.nick)) return;
  const target = msg.params[0];
  const win = state.windows.get(foldCase(isChannel(target) ? target : msg.nick));
  if (!win) return;
  if (typing === "active") win.typing.set(msg.nick, Date.now() + TYPING_SHOWN_MS);
  else win.typing.delete(msg.nick);
  if (win.key === state.current) renderTyping(win);
}

setInterval(() => {
  const now = Date.now();
  const win = state.windows.get(state.current);
  for (const w of state.windows.values()) {
    for (const [nick, until] of w.typing) if (until < now) w.typing.delete(nick);
  }
  if (win) renderTyping(win);
}, 1000);

// ---------------------------------------------------------------- connection

function onState(s, detail) {
  state.connState = s;
  state.connDetail = detail;
  if (s === "waiting" || s === "connecting") {
    for (const w of state.windows.values()) {
      if (w.kind === "channel") w.joined = false;
    }
  }
  if (s === "failed" && !state.everConnected) {
    showJoinScreen(detail);
    return;
  }
  if (!state.everConnected) {
    const err = $("join-error");
    err.hidden = s !== "waiting";
    err.textContent = s === "waiting" ? `Cannot reach the server; trying again in ${detail} s…` : "";
  }
  renderStatus();
  scheduleRender();
}

function onRegistered({ nick }) {
  state.me = nick;
  try {
    localStorage.setItem("natter.nick", nick);
  } catch {
    // not remembered
  }
  const first = !state.everConnected;
  state.everConnected = true;
  if (first) {
    showChatScreen();
    const rooms = [LOBBY, ...savedRooms()];
    state.pendingSwitch = LOBBY;
    state.conn.send("JOIN", [[...new Set(rooms.map(foldCase))].join(",")]);
  } else {
    const rooms = [...state.windows.values()].filter((w) => w.kind === "channel" && w.wanted);
    if (rooms.length) state.conn.send("JOIN", [rooms.map((w) => w.name).join(",")]);
    for (const q of state.windows.values()) if (q.kind === "query") fillGap(q);
    info("Reconnected.", "info", serverWindow());
  }
  renderStatus();
}

function connect(nick, password) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  state.me = nick;
  state.conn = new IrcConnection({
    url: `${scheme}//${location.host}/`,
    nick, password,
    callbacks: { onMessage, onBatch, onRegistered, onState },
  });
  state.conn.start();
}

// ---------------------------------------------------------------- commands

function sendText(target, text) {
  if (!state.conn || !state.conn.connected) {
    info("Not connected — your message was not sent. It is still in the box below.", "error");
    return false;
  }
  const echo = state.conn.caps.has("echo-message");
  for (const line of text.split("\n").flatMap((l) => splitLong(l, MAX_TEXT_BYTES))) {
    if (!line) continue;
    state.conn.send("PRIVMSG", [target, line]);
    if (!echo) addEntry(getWindow(target), { kind: "msg", text: line, nick: state.me, self: true, time: new Date() });
  }
  return true;
}

/**
 * Splits a line that would not fit in one IRC message (LINELEN 512 bytes,
 * with room for the prefix the server adds) at spaces where it can.
 */
function splitLong(line, maxBytes) {
  const enc = new TextEncoder();
  const parts = [];
  let rest = line;
  while (enc.encode(rest).length > maxBytes) {
    let cut = 0;
    let bytes = 0;
    for (const ch of rest) {
      const n = enc.encode(ch).length;
      if (bytes + n > maxBytes) break;
      bytes += n;
      cut += ch.length;
    }
    const space = rest.lastIndexOf(" ", cut);
    if (space > cut / 2) cut = space;
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^ /, "");
  }
  parts.push(rest);
  return parts;
}

function sendAction(target, text) {
  if (!state.conn || !state.conn.connected) return false;
  state.conn.send("PRIVMSG", [target, `\u0001ACTION ${text}\u0001`]);
  if (!state.conn.caps.has("echo-message")) {
    addEntry(getWindow(target), { kind: "action", text, nick: state.me, self: true, time: new Date() });
  }
  return true;
}

function closeWindow(win) {
  state.windows.delete(win.key);
  saveRooms();
  if (state.current === win.key) {
    const next = state.windows.get(foldCase(LOBBY)) || [...state.windows.values()][0] || serverWindow();
    selectWindow(next.key);
  }
  scheduleRender();
}

/** Runs a typed line: a /command, or text for the current window. Returns false to keep the input. */
function runInput(line) {
  const win = currentWindow();
  if (!line.startsWith("/") || line.startsWith("//")) {
    const text = line.startsWith("//") ? line.slice(1) : line;
    if (win.kind === "server") {
      info("This is the server window: pick a room, or use /join #room.", "error");
      return false;
    }
    return sendText(win.name, text);
  }
  const [, rawCmd, rest = ""] = /^\/(\S+)\s*([\s\S]*)$/.exec(line) || [];
  const cmd = (rawCmd || "").toLowerCase();
  const args = rest.split(" ").filter(Boolean);
  const needConn = () => {
    if (state.conn && state.conn.connected) return true;
    info("Not connected yet.", "error");
    return false;
  };
  switch (cmd) {
    case "help":
      for (const h of HELP) info(h);
      return true;
    case "join":
    case "j": {
      if (!args[0]) return info("Usage: /join #room", "error"), false;
      if (!needConn()) return false;
      const room = isChannel(args[0]) ? args[0] : "#" + args[0];
      const existing = state.windows.get(foldCase(room));
      if (existing && existing.joined) selectWindow(existing.key);
      else {
        state.pendingSwitch = room;
        state.conn.send("JOIN", args[1] ? [room, args[1]] : [room]);
      }
      return true;
    }
    case "part":
    case "leave":
    case "close": {
      let target = win;
      let reason = rest;
      if (args[0] && isChannel(args[0])) {
        target = state.windows.get(foldCase(args[0]));
        reason = rest.slice(args[0].length).trim();
        if (!target) return info(`You are not in ${args[0]}.`, "error"), false;
      }
      if (target.kind === "server") return info("The server window stays.", "error"), false;
      if (target.kind === "query" || !target.joined) {
        target.wanted = false;
        closeWindow(target);
        return true;
      }
      if (!needConn()) return false;
      target.closing = true;
      target.wanted = false;
      saveRooms();
      state.conn.send("PART", reason ? [target.name, reason] : [target.name]);
      return true;
    }
    case "msg":
    case "privmsg": {
      const text = rest.slice((args[0] || "").length).replace(/^ /, "");
      if (!args[0] || !text) return info("Usage: /msg nick text", "error"), false;
      if (!needConn()) return false;
      getWindow(args[0]);
      sendText(args[0], text);
      scheduleRender();
      return true;
    }
    case "query":
    case "q": {
      if (!args[0]) return info("Usage: /query nick [text]", "error"), false;
      const q = getWindow(args[0]);
      selectWindow(q.key);
      const text = rest.slice(args[0].length).replace(/^ /, "");
      if (text) sendText(args[0], text);
      return true;
    }
    case "me":
      if (win.kind === "server") return info("Pick a room first.", "error"), false;
      if (!rest) return info("Usage: /me waves", "error"), false;
      return sendAction(win.name, rest);
    case "topic":
      if (win.kind !== "channel") return info("/topic works in a room.", "error"), false;
      if (!needConn()) return false;
      if (rest) state.conn.send("TOPIC", [win.name, rest]);
      else info(win.topic ? `Topic of ${win.name}: ${win.topic}` : `${win.name} has no topic.`);
      return true;
    case "nick":
      if (!args[0]) return info("Usage: /nick newnick", "error"), false;
      if (!needConn()) return false;
      state.conn.send("NICK", [args[0]]);
      return true;
    case "away":
      if (!needConn()) return false;
      state.conn.send("AWAY", rest ? [rest] : []);
      return true;
    case "quote":
    case "raw":
      if (!rest || !needConn()) return false;
      state.conn.sendRaw(rest.replace(/[\r\n]/g, " "));
      return true;
    case "quit":
      if (state.conn) state.conn.stop(rest || "Leaving");
      info("You left the chat. Reload the page to come back.", "info");
      return true;
    default:
      info(`Unknown command /${rawCmd}. Type /help for the list.`, "error");
      return false;
  }
}

// ---------------------------------------------------------------- rendering

let renderQueued = false;
let renderOpts = {};

function scheduleRender(opts = {}) {
  renderOpts = { ...renderOpts, ...opts };
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(render);
}

function render() {
  renderQueued = false;
  const opts = renderOpts;
  renderOpts = {};
  const win = currentWindow();
  const box = $("messages");
  const fromBottom = box.scrollHeight - box.scrollTop - box.clientHeight;
  const atBottom = fromBottom < 48 || state.forceBottom;
  const key = win.key;
  renderMessages(box, win);
  if (state.renderedKey !== key || state.forceBottom || (atBottom && !opts.keepScroll) || opts.stickToBottom && atBottom) {
    box.scrollTop = box.scrollHeight;
  } else {
    // Keep what the person was reading in place (history was added above it).
    box.scrollTop = box.scrollHeight - box.clientHeight - fromBottom;
  }
  state.forceBottom = false;
  state.renderedKey = key;

  const windows = [...state.windows.values()].filter((w) => w.kind !== "server" || w.messages.length);
  renderWindowList($("window-list"), windows, state.current, (k) => {
    selectWindow(k);
    closeDrawers();
    $("input").focus();
  });
  renderTitle(win);
  const count = win.kind === "channel" ? renderMembers($("member-list"), win, (nick) => {
    if (isMe(nick)) return;
    selectWindow(getWindow(nick).key);
    closeDrawers();
  }) : 0;
  if (win.kind !== "channel") {
    $("member-list").replaceChildren();
    delete $("member-list").dataset.signature;
  }
  $("member-count").textContent = count ? String(count) : "";
  $("toggle-members").hidden = win.kind !== "channel";
  document.body.classList.toggle("no-members", win.kind !== "channel");
  renderTyping(win);
  const unread = [...state.windows.values()].reduce((n, w) => n + (w.key === state.current ? 0 : w.unread), 0);
  $("unread-total").hidden = !unread;
  $("unread-total").textContent = String(unread);
  document.title = (unread ? `(${unread}) ` : "") + (win.kind === "server" ? "natter" : `${win.name} · natter`);
  $("input").placeholder = win.kind === "server" ? "Type /join #room" : `Message ${win.name}`;
  renderStatus();
  if (!document.hidden) scheduleMarker(win);

  // A short room whose history continues: fetch more until it can scroll.
  if (box.scrollHeight <= box.clientHeight && win.kind !== "server" && win.joined
      && !win.history.loading && !win.history.exhausted && win.messages.length) {
    loadBefore(win);
  }
}

function renderStatus() {
  const s = state.connState;
  const dot = $("status-dot");
  dot.className = "status-dot " + (s === "connected" ? (state.away ? "away" : "online") : s === "failed" ? "offline" : "connecting");
  $("my-nick").textContent = state.me;
  $("my-nick").title = state.conn && state.conn.account ? `logged in as ${state.conn.account}` : "not logged in";
  const banner = $("banner");
  let text = "";
  if (s === "waiting") text = `Connection lost. Reconnecting in ${state.connDetail} s…`;
  else if (s === "connecting" || s === "registering") text = state.everConnected ? "Reconnecting…" : "Connecting…";
  else if (s === "failed") text = state.connDetail || "Disconnected.";
  $("status-text").textContent = s === "connected" ? (state.away ? "away" : "") : s === "waiting" ? "offline" : s || "";
  if (!state.everConnected) text = "";
  banner.hidden = !text;
  if (text) {
    banner.replaceChildren(el("span", "", text));
    banner.dataset.state = s;
    if (s === "waiting") {
      const b = el("button", "banner-button", "Reconnect now");
      b.type = "button";
      b.addEventListener("click", () => state.conn.retryNow());
      banner.append(b);
    }
  }
}

/** Alt+Up / Alt+Down: the previous or next window in the list. */
function switchWindow(step) {
  const order = ["channel", "query", "server"];
  const keys = [...state.windows.values()]
    .filter((w) => w.kind !== "server" || w.messages.length)
    .sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind))
    .map((w) => w.key);
  const at = keys.indexOf(state.current);
  if (keys.length) selectWindow(keys[(at + step + keys.length) % keys.length]);
}

/**
 * The person now sees this window: its unread lines are read, and a "new"
 * line marks where they start until they look elsewhere.
 */
function markSeen(win) {
  const first = win.messages.find((m) => m.unseen);
  if (first) win.newFrom = first.id;
  for (const m of win.messages) m.unseen = false;
  win.unread = 0;
  win.mentions = 0;
}

function selectWindow(key) {
  const win = state.windows.get(key);
  if (!win) return;
  const left = state.windows.get(state.current);
  if (left && left !== win) left.newFrom = null;
  state.current = key;
  win.shown = DRAWN;
  win.newFrom = null;
  markSeen(win);
  state.recallIndex = -1;
  state.forceBottom = true;
  scheduleRender();
}

// ---------------------------------------------------------------- input

function tabComplete(input) {
  const win = currentWindow();
  const pos = input.selectionStart;
  const before = input.value.slice(0, pos);
  const tc = state.tab;
  let prefix;
  let start;
  if (tc && tc.pos === pos && tc.value === input.value) {
    ({ prefix, start } = tc);
  } else {
    const m = /(\S*)$/.exec(before);
    prefix = m[1];
    start = pos - prefix.length;
    state.tab = null;
  }
  if (!prefix) return;
  const candidates = [...win.members.values()].map((m) => m.nick);
  if (win.kind === "query") candidates.push(win.name);
  const matches = [...new Set(candidates)]
    .filter((n) => n.toLowerCase().startsWith(prefix.toLowerCase()) && !isMe(n))
    .sort((a, b) => a.localeCompare(b, undefined, { sensitivity: "base" }));
  if (!matches.length) return;
  const index = tc && tc.prefix === prefix ? (tc.index + 1) % matches.length : 0;
  const suffix = start === 0 ? ": " : " ";
  const word = matches[index] + suffix;
  const after = input.value.slice(tc ? tc.pos : pos);
  input.value = input.value.slice(0, start) + word + after;
  const caret = start + word.length;
  input.setSelectionRange(caret, caret);
  state.tab = { prefix, start, index, pos: caret, value: input.value };
}

function sendTyping(status) {
  const conn = state.conn;
  const win = currentWindow();
  if (!conn || !conn.connected || !conn.caps.has("message-tags") || win.kind === "server") return;
  const clientTagsDenied = (conn.isupport.CLIENTTAGDENY || "").split(",");
  if (clientTagsDenied.includes("*") || clientTagsDenied.includes("typing")) return;
  const now = Date.now();
  if (status === "active") {
    if (state.typingTarget === win.key && now - state.typingSentAt < TYPING_SEND_EVERY_MS) return;
    state.typingSentAt = now;
    state.typingTarget = win.key;
  } else {
    if (!state.typingTarget) return;
    state.typingTarget = null;
    state.typingSentAt = 0;
  }
  conn.send("TAGMSG", [win.name], { "+typing": status });
}

function autosize(input) {
  input.style.height = "auto";
  input.style.height = Math.min(input.scrollHeight, 160) + "px";
}

function setupInput() {
  const input = $("input");
  $("input-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const line = input.value.replace(/\s+$/, "");
    if (!line.trim()) return;
    if (runInput(line)) {
      if (!line.startsWith("/") || line.startsWith("//")) state.typingTarget = null;
      state.sentLines.push(line);
      if (state.sentLines.length > 100) state.sentLines.shift();
      state.recallIndex = -1;
      input.value = "";
      autosize(input);
      state.forceBottom = true;
      scheduleRender();
    }
    input.focus();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key !== "Tab") state.tab = null;
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("input-form").requestSubmit();
    } else if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey && !e.altKey) {
      e.preventDefault();
      tabComplete(input);
    } else if (e.key === "ArrowUp" && !e.altKey && !input.value.slice(0, input.selectionStart).includes("\n")) {
      // Up on the first line: the lines you sent, newest first.
      const recalling = state.recallIndex >= 0;
      if (input.value && !recalling) return;
      if (!state.sentLines.length) return;
      e.preventDefault();
      state.recallIndex = recalling ? Math.max(0, state.recallIndex - 1) : state.sentLines.length - 1;
      input.value = state.sentLines[state.recallIndex];
      input.setSelectionRange(input.value.length, input.value.length);
      autosize(input);
    } else if (e.key === "ArrowDown" && !e.altKey && state.recallIndex >= 0 && !input.value.slice(input.selectionEnd).includes("\n")) {
      e.preventDefault();
      state.recallIndex += 1;
      if (state.recallIndex >= state.sentLines.length) {
        state.recallIndex = -1;
        input.value = "";
      } else input.value = state.sentLines[state.recallIndex];
      autosize(input);
    } else if (e.key === "Escape") {
      closeDrawers();
    } else if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      e.preventDefault();
      switchWindow(e.key === "ArrowUp" ? -1 : 1);
    }
  });
  input.addEventListener("input", () => {
    autosize(input);
    if (input.value && !input.value.startsWith("/")) sendTyping("active");
    else if (!input.value) sendTyping("done");
  });

  // A click on a nick above a group mentions it in the input.
  $("messages").addEventListener("click", (e) => {
    const nick = e.target.closest("button.nick");
    if (!nick) return;
    const mention = nick.dataset.nick;
    input.value = input.value ? `${input.value.replace(/\s*$/, " ")}${mention} ` : `${mention}: `;
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  });

  $("messages").addEventListener("scroll", () => {
    const box = $("messages");
    if (box.scrollTop >= 80) return;
    const win = currentWindow();
    if (win.messages.length > win.shown) {
      win.shown += DRAWN;
      scheduleRender({ keepScroll: true });
    } else loadBefore(win);
  }, { passive: true });
}

// ---------------------------------------------------------------- screens

function closeDrawers() {
  document.body.classList.remove("show-rooms", "show-members-narrow");
  $("scrim").hidden = true;
}

function setupChrome() {
  $("toggle-rooms").addEventListener("click", () => {
    const open = !document.body.classList.contains("show-rooms");
    closeDrawers();
    document.body.classList.toggle("show-rooms", open);
    $("scrim").hidden = !open;
  });
  $("toggle-members").addEventListener("click", () => {
    if (window.matchMedia("(max-width: 1000px)").matches) {
      const open = !document.body.classList.contains("show-members-narrow");
      closeDrawers();
      document.body.classList.toggle("show-members-narrow", open);
      $("scrim").hidden = !open;
    } else {
      document.body.classList.toggle("hide-members");
    }
  });
  $("scrim").addEventListener("click", closeDrawers);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) {
      markSeen(currentWindow());
      scheduleRender();
      if (state.conn) state.conn.retryNow();
    }
  });
  window.addEventListener("online", () => state.conn && state.conn.retryNow());
}

function showChatScreen() {
  $("join-screen").hidden = true;
  $("chat-screen").hidden = false;
  $("input").focus();
  scheduleRender();
}

function showJoinScreen(error) {
  $("chat-screen").hidden = true;
  $("join-screen").hidden = false;
  $("join-button").disabled = false;
  $("join-button").textContent = "Join the chat";
  const err = $("join-error");
  err.hidden = !error;
  err.textContent = error || "";
  $("join-nick").focus();
}

function setupJoin() {
  const nickInput = $("join-nick");
  try {
    nickInput.value = localStorage.getItem("natter.nick") || "";
  } catch {
    // no storage
  }
  $("join-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const nick = nickInput.value.trim();
    const password = $("join-password").value;
    const err = $("join-error");
    if (!/^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]{0,29}$/.test(nick)) {
      err.hidden = false;
      err.textContent = "A nickname is 1 to 30 letters, digits or - _ [ ] { } | ^ ` \\, not starting with a digit or -.";
      nickInput.focus();
      return;
    }
    err.hidden = true;
    $("join-button").disabled = true;
    $("join-button").textContent = "Connecting…";
    connect(nick, password);
  });
  nickInput.focus();
}

setupJoin();
setupInput();
setupChrome();
serverWindow();

// For the browser tests and the curious: a read-only look at the state.
window.natter = { state };
