// irc.js — the IRC protocol over one WebSocket (IRCv3 `text.ircv3.net`: one
// line per message, no CRLF). Owns: parsing and formatting lines, capability
// negotiation, SASL (SCRAM-SHA-256, else PLAIN; see sasl.js), BATCH collection, labeled requests, keepalive and
// reconnecting with exponential backoff. Knows nothing about the page: it
// hands parsed messages to the callbacks the app gives it.

/** The capabilities the page can use, requested when the server offers them. */
export const WANTED_CAPS = [
  "server-time", "batch", "draft/chathistory", "echo-message", "away-notify",
  "multi-prefix", "message-tags", "labeled-response", "sasl", "cap-notify",
  "account-notify", "invite-notify", "standard-replies", "draft/read-marker",
];

import { Plain, ScramSha256, fromBase64, toBase64 } from "./sasl.js";

const TAG_UNESCAPES = { ":": ";", s: " ", "\\": "\\", r: "\r", n: "\n" };

function unescapeTag(value) {
  return value.replace(/\\(.?)/g, (_, c) => (c in TAG_UNESCAPES ? TAG_UNESCAPES[c] : c));
}

function escapeTag(value) {
  return String(value).replace(/[\\; \r\n]/g, (c) =>
    ({ "\\": "\\\\", ";": "\\:", " ": "\\s", "\r": "\\r", "\n": "\\n" })[c]);
}

/**
 * Parses one IRC line into { tags, source, nick, command, params }.
 * Never throws: a malformed line yields a message with an empty command.
 */
export function parseLine(line) {
  const msg = { tags: {}, source: "", nick: "", command: "", params: [] };
  let rest = line;
  const word = () => {
    const sp = rest.indexOf(" ");
    const w = sp < 0 ? rest : rest.slice(0, sp);
    rest = sp < 0 ? "" : rest.slice(sp + 1).replace(/^ +/, "");
    return w;
  };
  if (rest.startsWith("@")) {
    for (const kv of word().slice(1).split(";")) {
      if (!kv) continue;
      const eq = kv.indexOf("=");
      if (eq < 0) msg.tags[kv] = "";
      else msg.tags[kv.slice(0, eq)] = unescapeTag(kv.slice(eq + 1));
    }
  }
  if (rest.startsWith(":")) {
    msg.source = word().slice(1);
    msg.nick = msg.source.split("!")[0];
  }
  msg.command = word().toUpperCase();
  while (rest) {
    if (rest.startsWith(":")) {
      msg.params.push(rest.slice(1));
      break;
    }
    msg.params.push(word());
  }
  return msg;
}

/** Formats a line to send. The last parameter is always sent as trailing. */
export function formatLine(command, params = [], tags = {}) {
  const parts = [];
  const tagText = Object.entries(tags)
    .map(([k, v]) => (v === true || v === "" ? k : `${k}=${escapeTag(v)}`))
    .join(";");
  if (tagText) parts.push("@" + tagText);
  parts.push(command);
  params.forEach((p, i) => {
    // No line breaks may reach the wire: they would start a second command.
    const clean = String(p).replace(/[\r\n\0]/g, " ");
    const last = i === params.length - 1;
    parts.push(last && (clean === "" || clean.includes(" ") || clean.startsWith(":")) ? ":" + clean : clean);
  });
  return parts.join(" ");
}

/** Case-insensitive key for nicks and channels (the server says CASEMAPPING=ascii). */
export function foldCase(name) {
  return name.toLowerCase();
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/**
 * One IRC session that stays connected: when the socket drops it reconnects
 * after 1, 2, 4 … 30 seconds and registers again.
 *
 * Callbacks (all optional): onMessage(msg), onBatch(batch), onRegistered(info),
 * onState(state, detail) with state one of "connecting", "registering",
 * "connected", "waiting" (detail: seconds until the next try), "failed"
 * (detail: why; no more tries).
 */
export class IrcConnection {
  constructor({ url, nick, password, callbacks }) {
    this.url = url;
    this.nick = nick;
    this.wantedNick = nick;
    this.password = password || "";
    this.cb = callbacks;
    this.caps = new Set(); // acknowledged
    this.offered = new Map(); // name -> value
    this.isupport = {};
    this.batches = new Map();
    this.labels = new Map(); // label -> resolve
    this.nextLabel = 1;
    this.attempt = 0;
    this.stopped = false;
    this.registered = false;
    this.ws = null;
    this.timer = null;
    this.lastHeard = 0;
    // Keepalive: a connection silent for a minute is asked for a PONG; one
    // silent for ninety seconds is dead (a laptop that slept, a network that
    // changed) even if the browser has not noticed, and is replaced.
    setInterval(() => this.checkAlive(), 15000);
  }

  checkAlive() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    const silent = Date.now() - this.lastHeard;
    if (silent > 90000) {
      const dead = this.ws;
      this.ws = null;
      dead.close();
      this.registered = false;
      this.rejectLabels("disconnected");
      if (!this.stopped) this.scheduleReconnect();
    } else if (silent > 60000) {
      this.send("PING", ["keepalive"]);
    }
  }

  start() {
    this.stopped = false;
    this.open();
  }

  /** Closes for good (no reconnect). */
  stop(reason = "Leaving") {
    this.stopped = true;
    clearTimeout(this.timer);
    this.cb.onState?.("failed", "You left the chat. Reload the page to come back.");
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.send("QUIT", [reason]);
    if (this.ws) this.ws.close();
  }

  open() {
    clearTimeout(this.timer);
    this.registered = false;
    this.announced = false;
    this.account = "";
    this.caps.clear();
    this.offered.clear();
    this.batches.clear();
    this.rejectLabels("disconnected");
    this.nick = this.wantedNick;
    this.cb.onState?.("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url, ["text.ircv3.net"]);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      this.cb.onState?.("registering");
      this.sendRaw("CAP LS 302");
      this.send("NICK", [this.nick]);
      this.send("USER", [this.nick.replace(/[^A-Za-z0-9]/g, "") || "web", "0", "*", "natter web"]);
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      if (typeof ev.data !== "string") return;
      for (const line of ev.data.split(/\r?\n/)) if (line) this.receive(parseLine(line));
    };
    ws.onclose = () => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.registered = false;
      this.rejectLabels("disconnected");
      if (!this.stopped) this.scheduleReconnect();
    };
    ws.onerror = () => {}; // onclose follows and handles it
  }

  scheduleReconnect() {
    const delay = Math.min(30, 2 ** this.attempt);
    this.attempt += 1;
    this.cb.onState?.("waiting", delay);
    this.timer = setTimeout(() => this.open(), delay * 1000);
  }

  /** Tries again right now (the "reconnect now" button, or the tab coming back online). */
  retryNow() {
    if (!this.stopped && !this.ws) this.open();
  }

  get connected() {
    return this.registered && this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  sendRaw(line) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(line);
      return true;
    }
    return false;
  }

  send(command, params = [], tags = {}) {
    return this.sendRaw(formatLine(command, params, tags));
  }

  /**
   * Sends a command with a `label` (labeled-response) and resolves with what
   * came back: { batch } for a labelled batch, { messages } otherwise. Without
   * labeled-response it resolves with null when the server has answered
   * everything sent before (PING round trip).
   */
  request(command, params = [], timeoutMs = 20000) {
    const answer = new Promise((resolve, reject) => {
      if (this.caps.has("labeled-response")) {
        const label = "w" + this.nextLabel++;
        this.labels.set(label, { resolve, reject });
        if (!this.send(command, params, { label })) {
          this.labels.delete(label);
          reject(new Error("not connected"));
        }
      } else {
        const token = "req" + this.nextLabel++;
        this.labels.set(token, { resolve: () => resolve(null), reject });
        this.send(command, params);
        this.send("PING", [token]);
      }
    });
    // A server that never answers must not leave the page "loading" for ever.
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("no answer")), timeoutMs);
    });
    return Promise.race([answer, late]).finally(() => clearTimeout(timer));
  }

  rejectLabels(why) {
    for (const { reject } of this.labels.values()) reject(new Error(why));
    this.labels.clear();
  }

  resolveLabel(label, value) {
    const waiting = this.labels.get(label);
    if (!waiting) return false;
    this.labels.delete(label);
    waiting.resolve(value);
    return true;
  }

  receive(msg) {
    // Lines inside a batch are held until the batch ends.
    const ref = msg.tags.batch;
    if (ref && this.batches.has(ref)) {
      this.batches.get(ref).messages.push(msg);
      return;
    }
    switch (msg.command) {
      case "PING":
        this.send("PONG", msg.params);
        return;
      case "PONG":
        if (this.resolveLabel(msg.params[msg.params.length - 1], null)) return;
        break;
      case "BATCH":
        this.onBatchLine(msg);
        return;
      case "CAP":
        this.onCap(msg);
        return;
      case "AUTHENTICATE":
        this.onAuthenticate(msg.params[0] || "");
        return;
      case "900": // logged in as
        this.account = msg.params[2];
        break;
      case "901": // logged out
        this.account = "";
        break;
      case "903": // SASL success
        if (!this.registered) this.sendRaw("CAP END");
        return;
      case "902":
      case "904":
      case "905":
      case "906":
      case "908":
        if (this.password && !this.registered) {
          this.fail("Login failed: wrong nickname or password.");
          return;
        }
        break;
      case "001":
        this.nick = msg.params[0];
        this.registered = true;
        this.attempt = 0;
        break;
      case "005":
        for (const tok of msg.params.slice(1, -1)) {
          const eq = tok.indexOf("=");
          if (eq < 0) this.isupport[tok] = true;
          else this.isupport[tok.slice(0, eq)] = tok.slice(eq + 1);
        }
        break;
      case "376":
      case "422":
        if (!this.announced) {
          this.announced = true;
          this.cb.onState?.("connected");
          this.cb.onRegistered?.({ nick: this.nick });
        }
        break;
      case "432":
      case "433":
        if (!this.registered) {
          // Before registration a taken nick is retried with a suffix;
          // an invalid one cannot be fixed here.
          if (msg.command === "432") {
            this.fail(`The server refuses the nickname "${msg.params[1]}": ${msg.params[2] || "erroneous nickname"}.`);
            return;
          }
          this.nick = this.nick.length < 28 ? this.nick + "_" : this.nick.slice(0, -2) + Math.floor(Math.random() * 90 + 10);
          this.send("NICK", [this.nick]);
          return;
        }
        break;
      case "NICK":
        if (foldCase(msg.nick) === foldCase(this.nick)) {
          this.nick = msg.params[0];
          this.wantedNick = msg.params[0];
        } else this.reclaimNick(msg.nick);
        break;
      case "QUIT":
        this.reclaimNick(msg.nick);
        break;
      case "ERROR":
        break;
    }
    const label = msg.tags.label;
    if (label && msg.command === "ACK") {
      this.resolveLabel(label, { messages: [] });
      return;
    }
    this.cb.onMessage?.(msg);
    if (label) this.resolveLabel(label, { messages: [msg] });
  }

  onBatchLine(msg) {
    const ref = msg.params[0] || "";
    if (ref.startsWith("+")) {
      const batch = {
        ref: ref.slice(1), type: msg.params[1] || "", params: msg.params.slice(2),
        tags: msg.tags, messages: [], parent: msg.tags.batch,
      };
      this.batches.set(batch.ref, batch);
    } else if (ref.startsWith("-")) {
      const batch = this.batches.get(ref.slice(1));
      if (!batch) return;
      this.batches.delete(batch.ref);
      if (batch.parent && this.batches.has(batch.parent)) {
        this.batches.get(batch.parent).messages.push({ command: "BATCH", batch, tags: {}, params: [] });
        return;
      }
      if (batch.type === "labeled-response") {
        // A labelled reply of several lines: hand them over one by one.
        for (const m of batch.messages) {
          if (m.command === "BATCH") this.cb.onBatch?.(m.batch);
          else this.cb.onMessage?.(m);
        }
        this.resolveLabel(batch.tags.label, { messages: batch.messages });
        return;
      }
      this.cb.onBatch?.(batch);
      if (batch.tags.label) this.resolveLabel(batch.tags.label, { batch });
    }
  }

  onCap(msg) {
    const sub = (msg.params[1] || "").toUpperCase();
    const more = msg.params[2] === "*";
    const list = (msg.params[more ? 3 : 2] || "").split(" ").filter(Boolean);
    if (sub === "LS" || sub === "NEW") {
      for (const item of list) {
        const eq = item.indexOf("=");
        this.offered.set(eq < 0 ? item : item.slice(0, eq), eq < 0 ? "" : item.slice(eq + 1));
      }
      if (more) return;
      const want = WANTED_CAPS.filter((c) => this.offered.has(c) && !this.caps.has(c))
        .filter((c) => c !== "sasl" || (this.password && this.saslMechanism()));
      if (sub === "LS" && this.password && !this.saslMechanism()) {
        this.fail("This server does not offer password login (SASL SCRAM-SHA-256 or PLAIN) on this connection.");
        return;
      }
      if (want.length) this.send("CAP", ["REQ", want.join(" ")]);
      else if (sub === "LS") this.sendRaw("CAP END");
    } else if (sub === "ACK") {
      for (const c of list) {
        if (c.startsWith("-")) this.caps.delete(c.slice(1));
        else this.caps.add(c);
      }
      if (this.registered) return;
      if (this.caps.has("sasl") && this.password) this.startSasl();
      else this.sendRaw("CAP END");
    } else if (sub === "NAK") {
      if (!this.registered) this.sendRaw("CAP END");
    } else if (sub === "DEL") {
      for (const c of list) this.caps.delete(c);
    }
  }

  /**
   * Back after a dropped connection, the server may still have held our
   * nick (so we got "nick_"): when that old connection goes, take it back.
   */
  reclaimNick(gone) {
    if (foldCase(gone) === foldCase(this.wantedNick) && foldCase(this.nick) !== foldCase(this.wantedNick)) {
      this.send("NICK", [this.wantedNick]);
    }
  }

  /** The best mechanism both sides know: SCRAM-SHA-256 (the password never leaves the page), else PLAIN. */
  saslMechanism() {
    if (!this.offered.has("sasl")) return null;
    const mechs = this.offered.get("sasl").split(",");
    if (mechs.includes("SCRAM-SHA-256")) return "SCRAM-SHA-256";
    if (mechs.includes("PLAIN") || mechs[0] === "") return "PLAIN";
    return null;
  }

  startSasl() {
    const mech = this.saslMechanism();
    this.sasl = mech === "SCRAM-SHA-256"
      ? new ScramSha256(this.wantedNick, this.password)
      : new Plain(this.wantedNick, this.password);
    this.saslIn = "";
    this.sendRaw("AUTHENTICATE " + mech);
  }

  /** One AUTHENTICATE line: gather chunks of 400, answer each whole challenge. */
  onAuthenticate(chunk) {
    if (!this.sasl) return;
    if (chunk !== "+") this.saslIn += chunk;
    if (chunk.length === 400) return; // more of this challenge follows
    const challenge = this.saslIn ? utf8Decoder.decode(fromBase64(this.saslIn)) : "";
    this.saslIn = "";
    let answer;
    try {
      answer = this.sasl.step(challenge);
    } catch (e) {
      this.sendRaw("AUTHENTICATE *");
      this.fail(`Login failed: ${e.message}.`);
      return;
    }
    const blob = answer ? toBase64(utf8.encode(answer)) : "";
    for (let i = 0; i < blob.length; i += 400) this.sendRaw("AUTHENTICATE " + blob.slice(i, i + 400));
    if (blob.length % 400 === 0) this.sendRaw("AUTHENTICATE +");
  }

  fail(why) {
    this.stopped = true;
    clearTimeout(this.timer);
    this.cb.onState?.("failed", why);
    if (this.ws) this.ws.close();
    this.ws = null;
  }
}
