#!/usr/bin/env python3
"""The web client in a real browser: headless Chromium (Debian's package)
driven by Playwright for Python, against the real natter-server.

    NATTER_SERVER=target/debug/natter-server python3 tests/browser/web_client.py

The server embeds src/web/ when it is built: rebuild it after changing the
page (`cargo test --test web_browser` does).

Scenarios, in order, on one server whose history lives in a temp dir:
  0. the page's IRC parser (irc.js) agrees with the public parser vectors;
  1. history loads when a room opens, and older pages load on scrolling up;
  2. two browser users and a raw IRC client (a plain socket) in #lobby see
     each other's messages, and each sees their own line exactly once;
     typing shows on the other page; Up recalls, Tab completes;
  3. a private message arrives in its own window;
  4. unread counts and the "New" line survive a reload (draft/read-marker);
  5. markup in a topic or a message shows as text: no element, no script,
     no dialog (nicks with < or > are refused by the server: checked too);
  6. the page served over https talks over wss;
  7. a registered nick logs in with its password (SASL SCRAM-SHA-256), and a wrong
     password is refused on the join screen;
  8. a nick still held (as by a connection the server has not seen drop)
     gets a suffix, and is taken back when it frees up;
  9. the server is killed (SIGKILL) and started again; the pages reconnect by
     themselves and show the lines sent while they were away, once each.

Each step waits for what a person would see and fails with a message that
says what was missing. Exit status 0 means every scenario passed.
Set NATTER_BROWSER_HEADFUL=1 to watch, NATTER_KEEP=1 to keep the temp dir.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from playwright.sync_api import expect, sync_playwright

CHROMIUM = os.environ.get("NATTER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
WAIT_MS = 15_000  # what a step may take before it counts as failed


def log(text):
    print(text, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"natter-server exited ({proc.returncode}) before {what} port {port} opened")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"natter-server's {what} port {port} did not open within {timeout} s")


class Server:
    """natter-server in its own process group, so a kill takes all of it."""

    def __init__(self, binary, data_dir):
        self.binary = binary
        self.data_dir = data_dir
        self.irc_port = free_port()
        self.web_port = free_port()
        self.tls_port = free_port()
        self.web_tls_port = free_port()
        # A self-signed certificate for the https page (the IRC TLS port's).
        self.cert = os.path.join(data_dir, "cert.pem")
        self.key = os.path.join(data_dir, "key.pem")
        subprocess.run([binary, "--tls-self-signed", "localhost", "--tls-cert", self.cert, "--tls-key", self.key],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.proc = None
        self.starts = 0

    def start(self, web=True):
        self.starts += 1
        args = [self.binary, str(self.irc_port), "--bind", "127.0.0.1",
                "--data-dir", self.data_dir, "--log-file", os.path.join(self.data_dir, "server.log")]
        if web:
            args += ["--web-port", str(self.web_port), "--web-tls-port", str(self.web_tls_port),
                     "--tls-cert", self.cert, "--tls-key", self.key, "--tls-port", str(self.tls_port)]
        out = open(os.path.join(self.data_dir, f"stderr-{self.starts}.txt"), "w")
        self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.irc_port, self.proc, "IRC")
        if web:
            wait_for_port(self.web_port, self.proc, "web")
            wait_for_port(self.web_tls_port, self.proc, "web TLS")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.web_port}/"


class IrcClient:
    """A raw IRC client on a plain socket: what irssi or a bot would be."""

    def __init__(self, port, nick, caps=("echo-message", "server-time", "message-tags")):
        self.nick = nick
        self.lines = []
        self.cond = threading.Condition()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.settimeout(None)
        threading.Thread(target=self._read, daemon=True).start()
        self.send("CAP LS 302")
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :raw socket")
        self.send("CAP REQ :" + " ".join(caps))
        self.send("CAP END")
        self.wait_for(lambda l: re.match(r"^(@\S+ )?:\S+ 001 ", l), f"{nick}: welcome (001)")

    def _read(self):
        buf = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                with self.cond:
                    self.lines.append("<closed>")
                    self.cond.notify_all()
                return
            buf += data
            *complete, buf = buf.split(b"\r\n")
            with self.cond:
                for raw in complete:
                    line = raw.decode("utf-8", "replace")
                    if " PING " in f" {line} " and line.startswith("PING"):
                        self.sock.sendall(("PONG " + line[5:] + "\r\n").encode())
                    self.lines.append(line)
                self.cond.notify_all()

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def wait_for(self, pred, what, timeout=WAIT_MS / 1000, start=0):
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for line in self.lines[start:]:
                    if pred(line):
                        return line
                left = deadline - time.time()
                if left <= 0:
                    tail = "\n    ".join(self.lines[-15:])
                    raise AssertionError(f"{self.nick} never got {what}; its last lines:\n    {tail}")
                self.cond.wait(left)

    def privmsg(self, target, text):
        """Sends and waits for the server's echo (so the line is in history)."""
        mark = len(self.lines)
        self.send(f"PRIVMSG {target} :{text}")
        self.wait_for(lambda l: f" PRIVMSG {target} " in l and l.endswith(text), f"the echo of {text!r}", start=mark)

    def close(self):
        try:
            self.send("QUIT :bye")
            self.sock.close()
        except OSError:
            pass


class Person:
    """One browser user: their own context (storage), their page."""

    def __init__(self, browser, server, nick, viewport=(1280, 800), url=None):
        self.nick = nick
        self.context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}, ignore_https_errors=url is not None)
        self.page = self.context.new_page()
        self.dialogs = []
        self.errors = []
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.goto(url or server.url)
        self.page.fill("#join-nick", nick)
        self.page.click("#join-button")
        expect(self.page.locator("#window-title"), f"{nick} should land in #lobby").to_have_text("#lobby", timeout=WAIT_MS)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def say(self, text):
        self.page.fill("#input", text)
        self.page.press("#input", "Enter")

    def lines(self, text):
        """Message lines (in the open window) whose text is exactly `text`."""
        return self.page.locator("#messages .text").filter(has_text=re.compile("^" + re.escape(text) + "$"))

    def sees(self, text, why):
        expect(self.lines(text).first, f"{self.nick} should see {text!r}: {why}").to_be_visible(timeout=WAIT_MS)

    def sees_once(self, text, why):
        self.sees(text, why)
        time.sleep(0.3)  # a duplicate would arrive right behind
        n = self.lines(text).count()
        assert n == 1, f"{self.nick} sees {text!r} {n} times, expected once: {why}"

    def open_window(self, name):
        self.page.locator(f'#window-list button[data-window="{name}"]').click()
        expect(self.page.locator("#window-title")).to_have_text(name, timeout=WAIT_MS)

    def texts(self):
        return self.page.locator("#messages .text").all_inner_texts()


# ------------------------------------------------------------------ scenarios

def the_page_parses_irc_like_the_public_vectors(ctx):
    import yaml  # PyYAML, installed by .ci/run

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "vectors", "msg-split.yaml")) as f:
        cases = yaml.safe_load(f)["tests"]
    page = ctx["browser"].new_page()
    page.goto(ctx["server"].url)
    got = page.evaluate("""async (inputs) => {
        const { parseLine } = await import("/irc.js");
        return inputs.map((line) => parseLine(line));
    }""", [c["input"] for c in cases])
    page.close()
    for case, parsed in zip(cases, got):
        atoms = case["atoms"]
        want = {
            "tags": {k: ("" if v is None else v) for k, v in (atoms.get("tags") or {}).items()},
            "source": atoms.get("source") or "",
            "command": atoms["verb"].upper(),
            "params": atoms.get("params") or [],
        }
        have = {k: parsed[k] for k in want}
        assert have == want, f"irc.js parses {case['input']!r} as {have}, the vectors say {want}"
    return f"{len(cases)} lines of tests/vectors/msg-split.yaml parsed as the vectors say"


def history_loads_on_join_and_on_scroll(ctx):
    carol = ctx["carol"]
    for i in range(120):
        carol.privmsg("#lobby", f"history line {i:03}")
    alice = Person(ctx["browser"], ctx["server"], "alice")
    ctx["alice"] = alice
    alice.sees("history line 119", "the latest history shows when #lobby opens")
    n_first = len([t for t in alice.texts() if t.startswith("history line")])
    assert 0 < n_first < 120, f"on join alice sees {n_first} history lines; expected a first page, not all 120"
    box = alice.page.locator("#messages")
    deadline = time.time() + 30
    while not alice.lines("history line 000").count():
        if time.time() > deadline:
            raise AssertionError("scrolling to the top never loaded 'history line 000' (CHATHISTORY BEFORE)")
        box.evaluate("b => { b.scrollTop = 0; b.dispatchEvent(new Event('scroll')); }")
        time.sleep(0.3)
    got = [t for t in alice.texts() if t.startswith("history line")]
    want = [f"history line {i:03}" for i in range(120)]
    assert got == want, f"history after scrolling is not the 120 lines once each in order: {got[:5]}…{got[-5:]} ({len(got)})"
    expect(alice.page.locator(".history-edge"), "the top says the history begins here").to_contain_text("beginning", timeout=WAIT_MS)
    return f"{n_first} lines on join, all 120 after scrolling up"


def three_people_see_each_other(ctx):
    alice, carol = ctx["alice"], ctx["carol"]
    bob = Person(ctx["browser"], ctx["server"], "bob")
    ctx["bob"] = bob
    members = alice.page.locator("#member-list")
    expect(members, "alice's member list shows bob").to_contain_text("bob", timeout=WAIT_MS)
    expect(members.locator(".member", has_text="carol").locator(".prefix"),
           "carol opened #lobby, so she is an operator (@)").to_have_text("@", timeout=WAIT_MS)

    mark = len(carol.lines)
    alice.say("hi from alice")
    bob.sees("hi from alice", "alice said it in #lobby")
    carol.wait_for(lambda l: re.search(r":alice!\S+ PRIVMSG #lobby :?hi from alice$", l), "alice's line", start=mark)
    alice.sees_once("hi from alice", "echo-message: her own line, as the server sent it")

    mark = len(carol.lines)
    bob.say("hello from bob")
    alice.sees("hello from bob", "bob said it in #lobby")
    carol.wait_for(lambda l: re.search(r":bob!\S+ PRIVMSG #lobby :?hello from bob$", l), "bob's line", start=mark)
    bob.sees_once("hello from bob", "his own line once")

    carol.privmsg("#lobby", "hello from a raw IRC socket")
    alice.sees("hello from a raw IRC socket", "carol is on plain IRC")
    bob.sees("hello from a raw IRC socket", "carol is on plain IRC")

    bob.say("/me waves")
    expect(alice.page.locator("#messages .line-action").last, "a /me shows as an action").to_contain_text("bob waves", timeout=WAIT_MS)

    # Typing shows on the other page (TAGMSG +typing), and goes when the line is sent.
    bob.page.locator("#input").press_sequentially("let me th")
    expect(alice.page.locator("#typing"), "alice sees that bob is typing").to_have_text("bob is typing…", timeout=WAIT_MS)
    bob.page.fill("#input", "")
    bob.page.locator("#input").press_sequentially("x")
    bob.page.press("#input", "Enter")
    expect(alice.page.locator("#typing"), "the typing line goes once bob's line arrives").to_have_text("", timeout=WAIT_MS)

    # Keyboard: Up brings back the last line sent, Tab completes a nick.
    alice.page.press("#input", "ArrowUp")
    expect(alice.page.locator("#input"), "Up recalls alice's last line").to_have_value("hi from alice")
    alice.page.fill("#input", "")
    alice.page.locator("#input").press_sequentially("ca")
    alice.page.press("#input", "Tab")
    expect(alice.page.locator("#input"), "Tab completes carol's nick").to_have_value("carol: ")
    alice.page.fill("#input", "")

    # A paste longer than one IRC line (510 bytes) goes as several lines, split at spaces.
    long = " ".join(f"wörd{i}" for i in range(200))
    alice.say(long)
    expect(bob.page.locator("#messages .text", has_text="wörd199"), "bob sees the end of alice's long paste").to_have_count(1, timeout=WAIT_MS)
    parts = [t for t in bob.texts() if t.startswith("wörd")]
    assert " ".join(parts) == long and len(parts) > 1, f"the long paste arrived as {len(parts)} lines that do not add up"
    return "alice, bob (browsers) and carol (socket) saw each other's lines; typing, Up, Tab, long pastes work"


def private_message_gets_its_own_window(ctx):
    alice, bob, carol = ctx["alice"], ctx["bob"], ctx["carol"]
    carol.privmsg("bob", "psst bob, just between us")
    entry = bob.page.locator('#window-list button[data-window="carol"]')
    expect(entry, "bob's window list gets a conversation with carol").to_be_visible(timeout=WAIT_MS)
    expect(entry.locator(".badge"), "with one unread message").to_have_text("1", timeout=WAIT_MS)
    assert bob.lines("psst bob, just between us").count() == 0, "the private line leaked into #lobby's view"
    bob.open_window("carol")
    bob.sees("psst bob, just between us", "the private window shows carol's message")
    mark = len(carol.lines)
    bob.say("got it")
    carol.wait_for(lambda l: re.search(r":bob!\S+ PRIVMSG carol :?got it$", l), "bob's private answer", start=mark)
    assert alice.lines("psst bob, just between us").count() == 0, "alice saw a private message meant for bob"

    alice.say("/msg bob a word in private")
    entry = bob.page.locator('#window-list button[data-window="alice"]')
    expect(entry, "bob gets a window for alice's /msg").to_be_visible(timeout=WAIT_MS)
    bob.open_window("alice")
    bob.sees("a word in private", "alice's /msg")
    bob.open_window("#lobby")
    return "carol -> bob and alice -> bob arrived in windows of their own"


def unread_counts_survive_a_reload(ctx):
    carol, server = ctx["carol"], ctx["server"]
    carol.send("JOIN #side")
    carol.wait_for(lambda l: " 366 " in l and "#side" in l, "the end of NAMES for #side")
    carol.privmsg("#side", "read before the reload")
    fern = Person(ctx["browser"], server, "fern")
    fern.say("/join #side")
    expect(fern.page.locator("#window-title")).to_have_text("#side", timeout=WAIT_MS)
    fern.sees("read before the reload", "#side's history")
    time.sleep(1.5)  # the page tells the server how far it has read (MARKREAD, once a second)
    fern.open_window("#lobby")
    carol.privmsg("#side", "unread one")
    carol.privmsg("#side", "unread two")
    badge = fern.page.locator('#window-list button[data-window="#side"] .badge')
    expect(badge, "two unread lines in #side").to_have_text("2", timeout=WAIT_MS)

    mark = len(carol.lines)
    fern.page.goto("about:blank")
    carol.wait_for(lambda l: " :fern!" in f" {l}" and " QUIT " in l, "fern leaving", start=mark)
    fern.page.goto(server.url)
    fern.page.fill("#join-nick", "fern")
    fern.page.click("#join-button")
    expect(fern.page.locator("#window-title")).to_have_text("#lobby", timeout=WAIT_MS)
    expect(badge, "after a reload the server's read marker (draft/read-marker) gives the same 2 unread").to_have_text(
        "2", timeout=WAIT_MS)
    fern.open_window("#side")
    new_line = fern.page.locator("#messages .new-line")
    expect(new_line, "a 'New' line marks where the unread lines start").to_have_count(1, timeout=WAIT_MS)
    after = fern.page.locator("#messages .new-line ~ .group .text").all_inner_texts()
    assert after[:2] == ["unread one", "unread two"] and "read before the reload" not in after, \
        f"the 'New' line should sit just above 'unread one'; below it: {after}"
    fern.context.close()
    return "2 unread in #side before and after a reload, the 'New' line above the first"


def markup_shows_as_text(ctx):
    alice, bob, carol, server = ctx["alice"], ctx["bob"], ctx["carol"], ctx["server"]
    # A nick with markup: the server refuses it, so no page ever gets one.
    probe = socket.create_connection(("127.0.0.1", server.irc_port), timeout=10)
    probe.sendall(b"NICK <script>\r\nNICK <b>x</b>\r\n")
    got = b""
    deadline = time.time() + 10
    while got.count(b" 432 ") < 2 and time.time() < deadline:
        got += probe.recv(4096)
    probe.close()
    assert got.count(b" 432 ") >= 2, f"nicks with < > were not refused with 432: {got!r}"

    evil = "<script>window.__pwned=1;alert(1)</script> and <b>html</b> <img src=x onerror=alert(2)>"
    carol.privmsg("#lobby", evil)
    carol.send("TOPIC #lobby :<b>bold topic</b><script>alert(3)</script> see https://example.org/rules")
    link_line = "docs at https://example.org/a?b=1, not javascript:alert(4)"
    carol.privmsg("#lobby", link_line)
    for person in (alice, bob):
        person.sees(evil, "markup in a message is plain text")
        expect(person.page.locator("#window-topic"), "markup in a topic is plain text").to_contain_text(
            "<b>bold topic</b><script>alert(3)</script>", timeout=WAIT_MS)
        for tag in ("script", "b", "img", "iframe"):
            n = person.page.locator(f"#messages {tag}, #window-topic {tag}").count()
            assert n == 0, f"{person.nick}'s page made {n} <{tag}> element(s) from chat text"
        assert person.page.evaluate("window.__pwned") is None, "a script from a message ran"
        assert not person.dialogs, f"a dialog opened on {person.nick}'s page: {person.dialogs}"
        link = person.page.locator("#messages a", has_text="https://example.org/a?b=1")
        expect(link, "a web address becomes a link").to_have_count(1, timeout=WAIT_MS)
        assert link.get_attribute("href") == "https://example.org/a?b=1"
        assert link.get_attribute("target") == "_blank"
        assert set(link.get_attribute("rel").split()) >= {"noopener", "noreferrer"}
        assert person.page.locator('#messages a[href^="javascript"]').count() == 0, "a javascript: link was made"
        topic_link = person.page.locator("#window-topic a")
        expect(topic_link, "the topic's address is a link").to_have_attribute("href", "https://example.org/rules")
    return "nicks with <> refused (432); message and topic markup shown as text, links only for http(s)"


def a_taken_nick_is_taken_back_when_it_frees_up(ctx):
    # As after a dropped connection the server has not noticed yet: the
    # nick is held, the page comes in as "dora_", then gets "dora" back.
    server = ctx["server"]
    holder = IrcClient(server.irc_port, "dora")
    holder.send("JOIN #lobby")
    holder.wait_for(lambda l: " 366 " in l, "the end of NAMES for #lobby")
    dora = Person(ctx["browser"], server, "dora")
    expect(dora.page.locator("#my-nick"), "the nick is taken: the page picks another").to_have_text("dora_", timeout=WAIT_MS)
    holder.close()
    expect(dora.page.locator("#my-nick"), "the nick is taken back once free").to_have_text("dora", timeout=WAIT_MS)
    dora.context.close()
    return "came in as dora_ while dora was held, became dora when it left"


def reconnects_after_restart_and_fills_the_gap(ctx):
    alice, bob, server = ctx["alice"], ctx["bob"], ctx["server"]
    server.kill()
    ctx["carol"] = None
    for person in (alice, bob):
        expect(person.page.locator("#banner"), f"{person.nick}'s page says the connection is gone").to_contain_text(
            re.compile("Reconnect|Connection lost"), timeout=WAIT_MS)
    # Lines sent while the pages are away: the server runs without its web
    # port for a moment, so no page can be back before they are sent.
    server.start(web=False)
    dave = IrcClient(server.irc_port, "dave")
    dave.send("JOIN #lobby")
    dave.wait_for(lambda l: " 366 " in l, "the end of NAMES for #lobby")
    away = [f"while you were away {i:02}" for i in range(70)]
    for line in away:
        dave.privmsg("#lobby", line)
    dave.close()
    server.kill()
    server.start(web=True)
    for person in (alice, bob):
        expect(person.page.locator("#banner"), f"{person.nick}'s page reconnects by itself").to_be_hidden(timeout=45_000)
        person.sees(away[-1], "the last line sent while the page was away")
        got = [t for t in person.texts() if t.startswith("while you were away")]
        assert got == away, f"{person.nick} should see the 70 lines sent while away, once each in order; got {len(got)}: {got[:3]}…"
        for before in ("hi from alice", "hello from bob", "history line 119"):
            n = person.lines(before).count()
            assert n <= 1, f"{person.nick} sees {before!r} {n} times after reconnecting"
        assert person.lines("hi from alice").count() == 1, f"{person.nick} lost 'hi from alice' on reconnecting"
    alice.say("back again")
    bob.sees("back again", "live chat works after the reconnect")
    return "both pages came back on their own and showed all 70 missed lines once"


def the_page_works_over_https_and_wss(ctx):
    alice, server = ctx["alice"], ctx["server"]
    url = f"https://localhost:{server.web_tls_port}/"
    tess = Person(ctx["browser"], server, "tess", url=url)
    assert tess.page.evaluate("location.protocol") == "https:"
    tess.say("hello over wss")
    alice.sees("hello over wss", "tess's page is on https and its WebSocket on wss")
    alice.say("and back to tess")
    tess.sees("and back to tess", "lines reach the https page too")
    tess.context.close()
    return f"{url} (the IRC TLS port's self-signed certificate) chats with the http page"


def a_registered_nick_logs_in_with_its_password(ctx):
    server, browser = ctx["server"], ctx["browser"]
    erin = IrcClient(server.irc_port, "erin")
    mark = len(erin.lines)
    erin.send("PRIVMSG NickServ :REGISTER tulip-garden-42")
    erin.wait_for(lambda l: l.startswith(":NickServ") and "erin" in l.lower() and "regist" in l.lower(),
                  "NickServ's answer to REGISTER", start=mark)
    erin.close()
    time.sleep(0.3)

    wrong = browser.new_context()
    page = wrong.new_page()
    page.goto(server.url)
    page.fill("#join-nick", "erin")
    page.fill("#join-password", "not-the-password")
    page.click("#join-button")
    expect(page.locator("#join-error"), "a wrong password is refused on the join screen").to_contain_text(
        "Login failed", timeout=30_000)
    wrong.close()
    deadline = time.time() + 10
    while True:
        with open(os.path.join(server.data_dir, "server.log")) as f:
            logged = f.read()
        if "failed to log in as erin (SASL" in logged or time.time() > deadline:
            break
        time.sleep(0.2)
    assert "failed to log in as erin (SASL SCRAM-SHA-256)" in logged, \
        "the page should log in with SCRAM-SHA-256 (the password never leaves it); server.log says:\n" + logged[-600:]

    right = browser.new_context()
    page = right.new_page()
    page.goto(server.url)
    page.fill("#join-nick", "erin")
    page.fill("#join-password", "tulip-garden-42")
    page.click("#join-button")
    expect(page.locator("#window-title"), "erin lands in #lobby").to_have_text("#lobby", timeout=30_000)
    expect(page.locator("#my-nick"), "logged in as erin (SASL)").to_have_attribute(
        "title", re.compile("logged in as erin"), timeout=WAIT_MS)
    right.close()
    return "SASL SCRAM-SHA-256: the wrong password is refused, the right one logs in"


SCENARIOS = [
    the_page_parses_irc_like_the_public_vectors,
    history_loads_on_join_and_on_scroll,
    three_people_see_each_other,
    private_message_gets_its_own_window,
    unread_counts_survive_a_reload,
    markup_shows_as_text,
    the_page_works_over_https_and_wss,
    a_registered_nick_logs_in_with_its_password,
    a_taken_nick_is_taken_back_when_it_frees_up,
    reconnects_after_restart_and_fills_the_gap,
]


def main():
    binary = os.environ.get("NATTER_SERVER")
    if not binary or not os.path.exists(binary):
        sys.exit(f"NATTER_SERVER must name the natter-server binary (got {binary!r})")
    if not os.path.exists(CHROMIUM):
        sys.exit(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    tmp = tempfile.mkdtemp(prefix="natter-web-")
    server = Server(binary, tmp)
    failed = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS,
            headless=not os.environ.get("NATTER_BROWSER_HEADFUL"))
        ctx = {"browser": browser, "server": server}
        try:
            server.start()
            ctx["carol"] = IrcClient(server.irc_port, "carol")
            ctx["carol"].send("JOIN #lobby")
            ctx["carol"].wait_for(lambda l: " 366 " in l, "the end of NAMES for #lobby")
            for scenario in SCENARIOS:
                name = scenario.__name__
                start = time.time()
                try:
                    detail = scenario(ctx)
                    log(f"ok   {name} ({time.time() - start:.1f} s): {detail}")
                except Exception as e:  # noqa: BLE001 - every failure is reported, then the run stops
                    log(f"FAIL {name} ({time.time() - start:.1f} s): {e}")
                    for key in ("alice", "bob"):
                        person = ctx.get(key)
                        if person:
                            shot = os.path.join(tmp, f"fail-{name}-{key}.png")
                            person.page.screenshot(path=shot)
                            log(f"     {key}'s page: {shot}")
                            if person.errors:
                                log(f"     {key}'s console errors: {person.errors}")
                    failed.append(name)
                    break  # later scenarios build on earlier ones
            for key in ("alice", "bob"):
                person = ctx.get(key)
                if person and person.errors:
                    log(f"note: {key}'s page logged errors: {person.errors}")
        finally:
            browser.close()
            server.kill()
    if failed:
        log(f"server output and screenshots kept in {tmp}")
        sys.exit(1)
    if os.environ.get("NATTER_KEEP"):
        log(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"all {len(SCENARIOS)} browser scenarios passed")


if __name__ == "__main__":
    main()
