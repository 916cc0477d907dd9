"""A third-party IRC client (the `irc` package from PyPI) chatting on natter.

Usage: irc_client.py HOST PORT NICK SAY EXPECT
Connects as NICK, joins #lobby, says SAY once it is in, and waits for EXPECT
from someone else in #lobby. Prints one line per event it saw (JOINED, GOT,
SAW-JOIN nick) and exits 0 when EXPECT arrived, 1 on timeout or error.
"""
import sys
import time

try:
    import irc.client
except ImportError:
    print("MISSING: the Python irc package; install it with: pip install irc", flush=True)
    sys.exit(3)

host, port, nick, say, expect = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
state = {"done": False}


def on_welcome(conn, event):
    conn.join("#lobby")


def on_join(conn, event):
    who = event.source.nick
    if who == nick:
        print("JOINED", flush=True)
        conn.privmsg("#lobby", say)
    else:
        print("SAW-JOIN", who, flush=True)


def on_pubmsg(conn, event):
    text = event.arguments[0]
    print("GOT", event.source.nick, text, flush=True)
    if text == expect:
        state["done"] = True
        conn.quit("done")


def on_error(conn, event):
    print("ERROR", event.target, event.arguments, flush=True)


reactor = irc.client.Reactor()
try:
    c = reactor.server().connect(host, port, nick)
except irc.client.ServerConnectionError as e:
    print("CONNECT-FAILED", e, flush=True)
    sys.exit(1)
c.add_global_handler("welcome", on_welcome)
c.add_global_handler("join", on_join)
c.add_global_handler("pubmsg", on_pubmsg)
c.add_global_handler("error", on_error)
deadline = time.time() + 30
while not state["done"] and time.time() < deadline:
    reactor.process_once(0.1)
# Let the QUIT reach the server.
for _ in range(5):
    reactor.process_once(0.05)
sys.exit(0 if state["done"] else 1)
