// ui.js — turns the app's state into DOM. Owns every element the chat shows:
// the window list, the message list (grouping, times, links), the member list,
// the topic bar and the typing line. The one rule: text from the network
// (messages, nicks, topics) only ever becomes DOM text nodes or the href of a
// checked http(s) link — never HTML. There is no innerHTML in this file.

const $ = (id) => document.getElementById(id);

/** Makes an element with a class and optional text (always as text). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

// http(s) links and bare www. addresses; trailing punctuation stays text.
const LINK_RE = /\b(?:https?:\/\/|www\.)[^\s<>"'`]+/gi;
const TRAILING_RE = /[.,;:!?)\]}'"]+$/;

/** Appends `text` to `parent` as text nodes, with web links as <a> elements. */
export function appendLinkified(parent, text) {
  let last = 0;
  for (const match of text.matchAll(LINK_RE)) {
    let url = match[0];
    const trail = url.match(TRAILING_RE);
    // Keep a closing bracket that closes one opened inside the link (wikipedia style).
    if (trail && !(trail[0] === ")" && url.includes("("))) url = url.slice(0, -trail[0].length);
    const start = match.index;
    if (start > last) parent.append(text.slice(last, start));
    const href = /^https?:\/\//i.test(url) ? url : "https://" + url;
    let parsed = null;
    try {
      parsed = new URL(href);
    } catch {
      parsed = null;
    }
    if (parsed && (parsed.protocol === "http:" || parsed.protocol === "https:")) {
      const a = el("a", "link", url);
      a.href = parsed.href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      parent.append(a);
    } else {
      parent.append(url);
    }
    last = start + url.length;
  }
  if (last < text.length) parent.append(text.slice(last));
}

/** A stable colour class for a nick (12 hues that read in light and dark). */
export function nickClass(nick) {
  let h = 0;
  for (const ch of nick.toLowerCase()) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return "nick-c" + (h % 12);
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric" });

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

function dayLabel(date) {
  const today = new Date();
  const yesterday = new Date(today.getTime() - 86400000);
  if (sameDay(date, today)) return "Today";
  if (sameDay(date, yesterday)) return "Yesterday";
  return dayFmt.format(date);
}

function timeEl(date) {
  const t = el("time", "time", timeFmt.format(date));
  t.dateTime = date.toISOString();
  t.title = fullFmt.format(date);
  return t;
}

/** The first letter of a nick, for its avatar (skipping leading punctuation). */
function initial(nick) {
  const m = /[\p{L}\p{N}]/u.exec(nick);
  return (m ? m[0] : nick[0] || "?").toUpperCase();
}

const GROUP_GAP_MS = 5 * 60 * 1000;
const CHAT_KINDS = new Set(["msg", "action", "notice"]);

/** Starts a new group (nick header) unless this line continues the last one. */
function continuesGroup(prev, m) {
  return prev && m.kind === "msg" && prev.kind === "msg" && prev.nick === m.nick
    && m.time - prev.time < GROUP_GAP_MS && sameDay(prev.time, m.time);
}

function renderLine(m) {
  if (!CHAT_KINDS.has(m.kind)) {
    const row = el("div", "event event-" + m.kind);
    if (m.title) row.title = m.title;
    row.append(timeEl(m.time));
    const body = el("span", "event-text");
    appendLinkified(body, m.text);
    row.append(body);
    if (m.msgid) row.dataset.msgid = m.msgid;
    return row;
  }
  const row = el("div", "line line-" + m.kind);
  if (m.msgid) row.dataset.msgid = m.msgid;
  if (m.self) row.classList.add("self");
  if (m.mention) row.classList.add("mention");
  row.append(timeEl(m.time));
  const body = el("div", "text");
  if (m.kind === "action") {
    body.append(el("span", "action-nick " + nickClass(m.nick), "* " + m.nick + " "));
  } else if (m.kind === "notice") {
    body.append(el("span", "notice-nick", "-" + m.nick + "- "));
  }
  appendLinkified(body, m.text);
  row.append(body);
  return row;
}

const MEMBERSHIP = new Set(["join", "part", "quit"]);

function listNames(names) {
  const unique = [...new Set(names)];
  if (unique.length <= 3) return unique.join(", ").replace(/, ([^,]*)$/, " and $1");
  return `${unique.slice(0, 2).join(", ")} and ${unique.length - 2} others`;
}

/**
 * Runs of three or more joins/parts/quits in a row become one quiet line
 * ("alice, bob and 3 others joined · carol left"), the full list in its
 * tooltip, so a busy room's comings and goings do not bury the talk.
 */
function collapseMembership(messages) {
  const out = [];
  let run = [];
  const flush = () => {
    if (run.length < 3) out.push(...run);
    else {
      const joined = run.filter((m) => m.kind === "join").map((m) => m.nick);
      const left = run.filter((m) => m.kind !== "join").map((m) => m.nick);
      const parts = [];
      if (joined.length) parts.push(`${listNames(joined)} joined`);
      if (left.length) parts.push(`${listNames(left)} left`);
      out.push({
        kind: "summary", time: run[0].time, text: parts.join(" · "),
        title: run.map((m) => m.text).join("\n"),
      });
    }
    run = [];
  };
  for (const m of messages) {
    if (MEMBERSHIP.has(m.kind) && m.nick && (!run.length || sameDay(run[0].time, m.time))) run.push(m);
    else {
      flush();
      out.push(m);
    }
  }
  flush();
  return out;
}

/**
 * Renders a window's messages: a day separator when the date changes,
 * consecutive lines of one nick within five minutes under one nick header,
 * joins/parts/quits as quiet one-liners.
 */
export function renderMessages(container, win) {
  const frag = document.createDocumentFragment();
  // Only the newest `win.shown` entries are drawn; scrolling up draws more.
  const shown = win.messages.slice(-win.shown);
  const everything = shown.length === win.messages.length;
  if (win.history.exhausted && everything && win.messages.length && win.kind !== "server") {
    frag.append(el("div", "history-edge", "The beginning of " + win.name));
  } else if (win.history.loading) {
    frag.append(el("div", "history-edge loading", "Loading earlier messages…"));
  }
  let prev = null;
  let group = null;
  for (const m of collapseMembership(shown)) {
    if (win.newFrom && m.id === win.newFrom) {
      const line = el("div", "new-line");
      line.append(el("span", "", "New"));
      frag.append(line);
      group = null;
    }
    if (!prev || !sameDay(prev.time, m.time)) {
      const sep = el("div", "day");
      sep.append(el("span", "", dayLabel(m.time)));
      frag.append(sep);
      group = null;
      prev = null;
    }
    if (m.kind === "msg" && continuesGroup(prev, m) && group) {
      group.append(renderLine(m));
    } else if (m.kind === "msg") {
      group = el("div", "group");
      if (m.self) group.classList.add("self");
      const head = el("div", "group-head");
      const avatar = el("span", "avatar " + nickClass(m.nick), initial(m.nick));
      avatar.setAttribute("aria-hidden", "true");
      const nick = el("button", "nick " + nickClass(m.nick), m.nick);
      nick.type = "button";
      nick.dataset.nick = m.nick;
      nick.title = "Mention " + m.nick;
      head.append(avatar, nick);
      head.append(timeEl(m.time));
      group.append(head, renderLine(m));
      frag.append(group);
    } else {
      group = null;
      frag.append(renderLine(m));
    }
    prev = m;
  }
  if (!win.messages.length && !win.history.loading) {
    frag.append(el("div", "empty", win.kind === "query"
      ? "This is the start of your conversation with " + win.name + "."
      : "No messages yet. Say hello!"));
  }
  container.replaceChildren(frag);
}

/** The list of rooms and private conversations, with unread counts. */
export function renderWindowList(list, windows, currentKey, onSelect) {
  const frag = document.createDocumentFragment();
  const sections = [
    ["Rooms", windows.filter((w) => w.kind === "channel")],
    ["Private", windows.filter((w) => w.kind === "query")],
    ["Server", windows.filter((w) => w.kind === "server")],
  ];
  for (const [title, wins] of sections) {
    if (!wins.length) continue;
    frag.append(el("li", "section", title));
    for (const w of wins) {
      const li = el("li", "window-item");
      const button = el("button", "window-button");
      button.type = "button";
      button.dataset.window = w.name;
      if (w.key === currentKey) {
        button.classList.add("current");
        button.setAttribute("aria-current", "page");
      }
      if (w.unread) button.classList.add("unread");
      if (w.kind === "channel" && !w.joined) button.classList.add("parted");
      const icon = el("span", "window-icon", w.kind === "channel" ? "#" : w.kind === "query" ? "@" : "~");
      const name = el("span", "window-name", w.kind === "channel" ? w.name.replace(/^#/, "") : w.name);
      button.append(icon, name);
      if (w.unread) {
        const badge = el("span", "badge" + (w.mentions ? " mention" : ""), w.unread > 99 ? "99+" : String(w.unread));
        badge.setAttribute("aria-label", w.unread + " unread");
        button.append(badge);
      }
      button.addEventListener("click", () => onSelect(w.key));
      li.append(button);
      frag.append(li);
    }
  }
  list.replaceChildren(frag);
}

const PREFIX_ORDER = "~&@%+";

function rank(member) {
  const i = member.prefixes ? PREFIX_ORDER.indexOf(member.prefixes[0]) : -1;
  return i < 0 ? PREFIX_ORDER.length : i;
}

/** Members sorted operators first, then voiced, then by nick; away members dimmed. */
export function renderMembers(list, win, onPick) {
  // A big room's list is redrawn only when someone in it changed.
  const signature = win.key + "\n" + [...win.members.values()]
    .map((m) => `${m.prefixes} ${m.nick} ${m.away ? 1 : 0}`).join("\n");
  if (list.dataset.signature === signature) return win.members.size;
  list.dataset.signature = signature;
  const members = [...win.members.values()].sort((a, b) =>
    rank(a) - rank(b) || a.nick.localeCompare(b.nick, undefined, { sensitivity: "base" }));
  const frag = document.createDocumentFragment();
  for (const m of members) {
    const li = el("li", "member");
    if (m.away) li.classList.add("away");
    const button = el("button", "member-button");
    button.type = "button";
    button.title = m.away ? m.nick + " is away" : "Talk privately with " + m.nick;
    button.append(el("span", "prefix", m.prefixes[0] || ""), el("span", "nick " + nickClass(m.nick), m.nick));
    button.addEventListener("click", () => onPick(m.nick));
    li.append(button);
    frag.append(li);
  }
  list.replaceChildren(frag);
  return members.length;
}

/** The top bar: window name and topic (topic links clickable, the rest text). */
export function renderTitle(win) {
  $("window-title").textContent = win.name;
  const topic = $("window-topic");
  topic.replaceChildren();
  if (win.kind === "channel") appendLinkified(topic, win.topic || "");
  else if (win.kind === "query") topic.textContent = win.away ? "Away: " + win.away : "Private conversation";
  else topic.textContent = "Server messages";
  topic.title = win.topic || "";
}

/** "alice is typing…" for the people typing in this window. */
export function renderTyping(win) {
  const names = [...win.typing.keys()];
  const node = $("typing");
  if (!names.length) node.textContent = "";
  else if (names.length === 1) node.textContent = names[0] + " is typing…";
  else if (names.length === 2) node.textContent = names[0] + " and " + names[1] + " are typing…";
  else node.textContent = "Several people are typing…";
}
