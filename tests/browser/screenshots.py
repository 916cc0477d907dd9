#!/usr/bin/env python3
"""Regenerates the web chat's screenshots in snapshots/web/: a realistic
conversation on the real natter-server, shown in headless Chromium at
desktop (1280x800) and phone (390x844) size, in light and dark mode.

    cargo build --bin natter-server
    NATTER_SERVER=target/debug/natter-server python3 tests/browser/screenshots.py

People on raw IRC sockets (what irssi or WeeChat would be) make the
conversation; the browser user is "sam".
"""

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from web_client import CHROMIUM, CHROMIUM_ARGS, IrcClient, Server  # noqa: E402

from playwright.sync_api import expect, sync_playwright  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "snapshots", "web")

LOBBY = [
    ("maya", "morning all! coffee's on"),
    ("jonas", "morning maya"),
    ("jonas", "did anyone try the new release yet?"),
    ("priya", "yes, upgraded last night. history survives restarts now, which is great"),
    ("priya", "the notes are at https://example.org/natter/releases/0.2"),
    ("lee", "\x01ACTION is still reading the changelog\x01"),
    ("maya", "jonas: the web page works on my phone too"),
    ("jonas", "nice, no app to install"),
    ("lee", "can someone review my PR before lunch?"),
    ("maya", "sure, send the link"),
]
RUST = [
    ("jonas", "anyone using smol 2 for a chat server?"),
    ("lee", "we do, one task owns the state, readers and writers per connection"),
    ("jonas", "and the slow reader problem?"),
]


def main():
    binary = os.environ.get("NATTER_SERVER", os.path.join(ROOT, "target", "debug", "natter-server"))
    if not os.path.exists(binary):
        sys.exit(f"no natter-server at {binary}: cargo build --bin natter-server, or set NATTER_SERVER")
    tmp = tempfile.mkdtemp(prefix="natter-shots-")
    os.makedirs(OUT, exist_ok=True)
    server = Server(binary, tmp)
    server.start()
    try:
        people = {nick: IrcClient(server.irc_port, nick) for nick in ("maya", "jonas", "priya", "lee")}
        for nick, c in people.items():
            c.send("JOIN #lobby")
            c.wait_for(lambda l: " 366 " in l, "NAMES")
        people["maya"].send("TOPIC #lobby :Welcome! Be kind, stay on topic-ish. Rules: https://example.org/rules")
        people["maya"].send("MODE #lobby +v jonas")
        for nick in ("jonas", "lee"):
            people[nick].send("JOIN #rust")
            people[nick].wait_for(lambda l: " 366 #rust" in l or (" 366 " in l and "#rust" in l), "NAMES #rust")
        people["jonas"].send("TOPIC #rust :Rust talk: async, smol, borrowck woes")
        for nick, text in LOBBY[:6]:
            people[nick].privmsg("#lobby", text)

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light")
            page = context.new_page()
            page.goto(server.url)
            page.fill("#join-nick", "sam")
            page.click("#join-button")
            expect(page.locator("#window-title")).to_have_text("#lobby", timeout=15_000)
            page.fill("#input", "/join #rust")
            page.press("#input", "Enter")
            expect(page.locator("#window-title")).to_have_text("#rust", timeout=15_000)
            page.locator('#window-list button[data-window="#lobby"]').click()
            for nick, text in LOBBY[6:8]:
                people[nick].privmsg("#lobby", text)
            page.fill("#input", "morning! just joined from the browser")
            page.press("#input", "Enter")
            for nick, text in LOBBY[8:]:
                people[nick].privmsg("#lobby", text)
            for nick, text in RUST:
                people[nick].privmsg("#rust", text)
            people["priya"].privmsg("sam", "hey sam, got a minute later?")
            people["lee"].send("AWAY :lunch")
            omar = IrcClient(server.irc_port, "omar")
            omar.send("JOIN #lobby")
            omar.wait_for(lambda l: " 366 " in l, "NAMES")
            omar.send("PART #lobby :wrong room, bye")
            omar.close()
            people["jonas"].send("@+typing=active TAGMSG #lobby")
            expect(page.locator("#typing")).to_contain_text("jonas", timeout=15_000)
            page.wait_for_timeout(300)

            for scheme in ("light", "dark"):
                page.emulate_media(color_scheme=scheme)
                page.set_viewport_size({"width": 1280, "height": 800})
                people["jonas"].send("@+typing=active TAGMSG #lobby")
                page.wait_for_timeout(400)
                page.screenshot(path=os.path.join(OUT, f"desktop-{scheme}.png"))
                page.set_viewport_size({"width": 390, "height": 844})
                page.wait_for_timeout(400)
                page.screenshot(path=os.path.join(OUT, f"phone-{scheme}.png"))
                page.click("#toggle-rooms")
                page.wait_for_timeout(400)
                page.screenshot(path=os.path.join(OUT, f"phone-rooms-{scheme}.png"))
                page.click("#scrim", position={"x": 370, "y": 400})
            browser.close()
        for c in people.values():
            c.close()
    finally:
        server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print("wrote", ", ".join(sorted(os.listdir(OUT))), "in", OUT)


if __name__ == "__main__":
    main()
