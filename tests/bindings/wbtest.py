"""Shared set-up of the bindings suite: import paths, a fake clock, a free
port. meson sets WABOT_LIBRARY to the build tree's library."""
import os
import socket
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
sys.path.insert(0, os.path.join(ROOT, "examples", "python"))

import wabot  # noqa: E402

wabot.load()


class FakeClock:
    """Time moves only when a test moves it (never sleeps)."""

    def __init__(self, start_ms=1_700_000_000_000):
        self.now = start_ms
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            return self.now

    def advance(self, ms):
        with self._lock:
            self.now += ms


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plain_bot(**kw):
    """A bot on a Python list transport, unsigned webhooks allowed."""
    t = wabot.transport.ListTransport()
    kw.setdefault("verify_signatures", False)
    bot = wabot.Bot(transport=t, **kw)
    bot.sent = t
    return bot


def counting_bot(**kw):
    """plain_bot whose fallback counts the customer's turns in the session
    and replies "n=<count>"."""
    bot = plain_bot(**kw)

    @bot.fallback
    def count(turn):
        n = turn.session.get_int("n", 0) + 1
        turn.session["n"] = n
        turn.reply("n=%d" % n)
    return bot
