"""A third-party IRC client (the `irc` package from PyPI) chatting on natter.

Usage: irc_client.py [--tls CAFILE] HOST PORT NICK SAY EXPECT
With --tls, connects over TLS and trusts the certificate(s) in CAFILE (a
self-signed server certificate works as its own CA).
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

args = sys.argv[1:]
cafile = None
if args[:1] == ["--tls"]:
    cafile, args = args[1], args[2:]
host, port, nick, say, expect = args[0], int(args[1]), args[2], args[3], args[4]
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
    if cafile is None:
        c = reactor.server().connect(host, port, nick)
    else:
        import functools
        import ssl

        import irc.connection

        context = ssl.create_default_context(cafile=cafile)
        wrapper = functools.partial(context.wrap_socket, server_hostname=host)
        factory = irc.connection.Factory(wrapper=wrapper)
        c = reactor.server().connect(host, port, nick, connect_factory=factory)
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
