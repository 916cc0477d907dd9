"""A third-party IRC client (the `irc` package from PyPI) moderating a channel.

Usage: irc_moderation.py HOST PORT VICTIM
Connects as Mod and joins #mod first, so it should be the channel operator
(`@Mod` in the NAMES reply). When VICTIM joins #mod it does what irssi's
/op, /deop, /kick and /ban put on the wire: MODE #mod +o VICTIM, MODE #mod -o
VICTIM, KICK #mod VICTIM :bye now, MODE #mod +b VICTIM!*@*, each once the
server has echoed the one before. It then waits for VICTIM's private message
"rejoin refused" (sent once VICTIM's JOIN was refused with 474), asks for
the ban list (MODE #mod +b) and quits with "done" once the list holds
VICTIM!*@*.
Prints one line per event it saw (OPPED-SELF, SAW-JOIN nick, SAW-MODE +o
nick, SAW-MODE -o nick, SAW-KICK nick reason, SAW-BAN, GOT nick text,
BANLIST masks; NUMERIC name args for error replies) and exits 0 when the
ban list was right, 1 on timeout or error, 3 if the irc package is missing.
"""
import sys
import time

try:
    import irc.client
    import irc.strings
except ImportError:
    print("MISSING: the Python irc package; install it with: pip install irc", flush=True)
    sys.exit(3)

host, port, victim = sys.argv[1], int(sys.argv[2]), sys.argv[3]
NICK = "Mod"
ROOM = "#mod"
REASON = "bye now"
MASK = victim + "!*@*"
# What the script waits for next; "done" when the ban list was right.
state = {"step": "names", "opped": False, "bans": [], "failed": None}


def same(a, b):
    return irc.strings.lower(a) == irc.strings.lower(b)


def fail(conn, why):
    print("FAILED", why, flush=True)
    state["failed"] = why
    conn.quit("failed")


def on_welcome(conn, event):
    conn.join(ROOM)


def on_namreply(conn, event):
    # arguments: [channel type, channel, "nick1 @nick2 ..."]
    channel, names = event.arguments[1], event.arguments[2].split()
    if state["step"] == "names" and same(channel, ROOM):
        if any(same(n, "@" + NICK) for n in names):
            state["opped"] = True


def on_endofnames(conn, event):
    if state["step"] != "names" or not same(event.arguments[0], ROOM):
        return
    if not state["opped"]:
        fail(conn, "Mod is not a channel operator after joining " + ROOM + " first")
        return
    print("OPPED-SELF", flush=True)
    state["step"] = "victim"


def on_join(conn, event):
    who = event.source.nick
    if same(who, NICK) or not same(event.target, ROOM):
        return
    print("SAW-JOIN", who, flush=True)
    if not same(who, victim):
        return
    if state["step"] == "victim":
        state["step"] = "+o"
        conn.mode(ROOM, "+o " + victim)
    elif state["step"] in ("+b", "refused", "banlist"):
        fail(conn, victim + " joined " + ROOM + " although banned")


def on_mode(conn, event):
    # ":Mod!u@h MODE #mod +o Rusty": target #mod, arguments ["+o", "Rusty"]
    if not same(event.target, ROOM) or not same(event.source.nick, NICK):
        return
    change = event.arguments[:2]
    if len(change) != 2:
        return
    flag, arg = change
    step = state["step"]
    if step == "+o" and flag == "+o" and same(arg, victim):
        print("SAW-MODE +o", arg, flush=True)
        state["step"] = "-o"
        conn.mode(ROOM, "-o " + victim)
    elif step == "-o" and flag == "-o" and same(arg, victim):
        print("SAW-MODE -o", arg, flush=True)
        state["step"] = "kick"
        conn.kick(ROOM, victim, REASON)
    elif step == "+b" and flag == "+b" and same(arg, MASK):
        print("SAW-BAN", flush=True)
        state["step"] = "refused"


def on_kick(conn, event):
    # ":Mod!u@h KICK #mod Rusty :bye now": target #mod, arguments ["Rusty", "bye now"]
    if state["step"] != "kick" or not same(event.target, ROOM):
        return
    kicked = event.arguments[0]
    reason = event.arguments[1] if len(event.arguments) > 1 else ""
    if not same(kicked, victim):
        return
    print("SAW-KICK", kicked, reason, flush=True)
    if reason != REASON:
        fail(conn, "kick reason was " + repr(reason))
        return
    state["step"] = "+b"
    conn.mode(ROOM, "+b " + MASK)


def on_privmsg(conn, event):
    text = event.arguments[0]
    print("GOT", event.source.nick, text, flush=True)
    if state["step"] == "refused" and same(event.source.nick, victim) and text == "rejoin refused":
        state["step"] = "banlist"
        conn.mode(ROOM, "+b")


def on_banlist(conn, event):
    # "367 Mod #mod Rusty!*@* [setter [time]]": arguments ["#mod", "Rusty!*@*", ...]
    if state["step"] == "banlist" and same(event.arguments[0], ROOM):
        state["bans"].append(event.arguments[1])


def on_endofbanlist(conn, event):
    if state["step"] != "banlist" or not same(event.arguments[0], ROOM):
        return
    print("BANLIST", " ".join(state["bans"]), flush=True)
    if not any(same(b, MASK) for b in state["bans"]):
        fail(conn, "the ban list lacks " + MASK)
        return
    state["step"] = "done"
    conn.quit("done")


def on_any(conn, event):
    # Error replies (4xx, 5xx) say why a step went nowhere.
    code = getattr(event.type, "code", "")
    if code[:1] in ("4", "5") and code != "422":  # 422: no MOTD, not an error here
        print("NUMERIC", event.type, code, event.arguments, flush=True)


def on_error(conn, event):
    print("ERROR", event.target, event.arguments, flush=True)


def on_disconnect(conn, event):
    if state["step"] != "done" and state["failed"] is None:
        state["failed"] = "disconnected while waiting for " + state["step"]
        print("FAILED", state["failed"], flush=True)


reactor = irc.client.Reactor()
try:
    c = reactor.server().connect(host, port, NICK)
except irc.client.ServerConnectionError as e:
    print("CONNECT-FAILED", e, flush=True)
    sys.exit(1)
c.add_global_handler("welcome", on_welcome)
c.add_global_handler("namreply", on_namreply)
c.add_global_handler("endofnames", on_endofnames)
c.add_global_handler("join", on_join)
c.add_global_handler("mode", on_mode)
c.add_global_handler("kick", on_kick)
c.add_global_handler("privmsg", on_privmsg)
c.add_global_handler("banlist", on_banlist)
c.add_global_handler("endofbanlist", on_endofbanlist)
c.add_global_handler("all_events", on_any)
c.add_global_handler("error", on_error)
c.add_global_handler("disconnect", on_disconnect)
deadline = time.time() + 20
while state["step"] != "done" and state["failed"] is None and time.time() < deadline:
    reactor.process_once(0.1)
if state["step"] != "done" and state["failed"] is None:
    print("TIMEOUT waiting for", state["step"], flush=True)
# Let the QUIT reach the server.
for _ in range(5):
    reactor.process_once(0.05)
sys.exit(0 if state["step"] == "done" else 1)
