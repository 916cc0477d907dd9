"""A third-party IRC client (the `irc` package from PyPI) using message tags on natter.

Usage: irc_typing.py HOST PORT NICK ROLE PEER
Connects as NICK, enables the IRCv3 `message-tags` capability with
CAP REQ once registered, and joins #lobby once the server ACKs it.

ROLE `typist`: once in #lobby, says it is typing (`@+typing=active TAGMSG
#lobby`), then sends `@+typing=done;+example.com/note=a\\sb PRIVMSG #lobby
:hello` (the note's value is "a b", escaped), and quits.
ROLE `listener`: waits in #lobby for PEER's typing notification and then for
PEER's message, and quits.

Prints one line per event it saw (CAP-ACK caps, JOINED, SENT, GOT-TYPING
nick value, GOT-MSG nick text tags…, where tags are the client-only tags as
key=value, unescaped) and exits 0 when its part is done, 1 on timeout or
error, 3 if the irc package is missing.
"""
import sys
import time

try:
    import irc.client
except ImportError:
    print("MISSING: the Python irc package; install it with: pip install irc", flush=True)
    sys.exit(3)

host, port, nick, role, peer = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ROOM = "#lobby"
state = {"done": False, "typing": False}


def client_tags(event):
    """The event's client-only tags as "key=value" words, in order."""
    tags = event.tags or []
    return ["%s=%s" % (t["key"], t["value"] or "") for t in tags if t["key"].startswith("+")]


def on_welcome(conn, event):
    conn.cap("REQ", "message-tags")


def on_cap(conn, event):
    # ":natter CAP Nick ACK :message-tags": arguments ["ACK", "message-tags"]
    if event.arguments[:1] == ["ACK"]:
        print("CAP-ACK", event.arguments[1].strip(), flush=True)
        conn.join(ROOM)
    elif event.arguments[:1] == ["NAK"]:
        print("CAP-NAK", event.arguments[1:], flush=True)
        conn.quit("no message-tags")


def on_join(conn, event):
    if event.source.nick != nick:
        return
    print("JOINED", flush=True)
    if role == "typist":
        conn.send_raw("@+typing=active TAGMSG " + ROOM)
        conn.send_raw("@+typing=done;+example.com/note=a\\sb PRIVMSG " + ROOM + " :hello")
        print("SENT", flush=True)
        state["done"] = True
        conn.quit("done")


def on_tagmsg(conn, event):
    # ":Typist!u@h TAGMSG #lobby" with tags [{'key': '+typing', 'value': 'active'}, …]
    if event.source.nick != peer:
        return
    for tag in event.tags or []:
        if tag["key"] == "+typing":
            print("GOT-TYPING", event.source.nick, tag["value"], flush=True)
            state["typing"] = True


def on_pubmsg(conn, event):
    text = event.arguments[0]
    print("GOT-MSG", event.source.nick, text, *client_tags(event), flush=True)
    if role == "listener" and event.source.nick == peer and state["typing"]:
        state["done"] = True
        conn.quit("done")


def on_error(conn, event):
    print("ERROR", event.target, event.arguments, flush=True)


def on_any(conn, event):
    # Error replies (4xx, 5xx) say why a step went nowhere.
    code = getattr(event.type, "code", "")
    if code[:1] in ("4", "5") and code != "422":  # 422: no MOTD, not an error here
        print("NUMERIC", event.type, code, event.arguments, flush=True)


reactor = irc.client.Reactor()
try:
    c = reactor.server().connect(host, port, nick)
except irc.client.ServerConnectionError as e:
    print("CONNECT-FAILED", e, flush=True)
    sys.exit(1)
c.add_global_handler("welcome", on_welcome)
c.add_global_handler("cap", on_cap)
c.add_global_handler("join", on_join)
c.add_global_handler("tagmsg", on_tagmsg)
c.add_global_handler("pubmsg", on_pubmsg)
c.add_global_handler("error", on_error)
c.add_global_handler("all_events", on_any)
deadline = time.time() + 20
while not state["done"] and time.time() < deadline:
    reactor.process_once(0.1)
if not state["done"]:
    print("TIMEOUT", flush=True)
# Let the QUIT reach the server.
for _ in range(5):
    reactor.process_once(0.05)
sys.exit(0 if state["done"] else 1)
