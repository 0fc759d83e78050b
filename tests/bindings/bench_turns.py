#!/usr/bin/env python3
"""Turns per second through a Python middleware + route, next to the same
bot in C (bench_turns.c), run alternately in the same session so machine
load hits both alike. Only handle_message is timed; messages are built
beforehand in both.

    bench_turns.py <path to bench_turns (C)> [N] [rounds]
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wbtest import wabot  # noqa: E402


def python_round(n):
    seen = [0]
    rec = wabot.transport.Recorder()
    bot = wabot.Bot(transport=rec, inbound_rate_count=0)

    @bot.use
    def counter(turn, next):
        seen[0] += 1
        next()

    @bot.keyword("menu")
    def menu(turn):
        turn.session["n"] = turn.session.get_int("n", 0) + 1
        turn.reply("1. Coffee  2. Tea")
    msgs = [wabot.Message.new("b%d" % i, "+1555%07d" % (i % 100), "",
                              text="menu") for i in range(n)]
    t0 = time.perf_counter()
    for m in msgs:
        bot.handle_message(m)
    dt = time.perf_counter() - t0
    assert seen[0] == n
    for m in msgs:
        m.close()
    bot.close()
    rec.close()
    return dt


def main():
    cbin = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    c_times, py_times = [], []
    for _ in range(rounds):
        out = subprocess.run([cbin, str(n)], capture_output=True, text=True,
                             check=True).stdout.split()
        c_times.append(float(out[2]))
        py_times.append(python_round(n))
    c, py = min(c_times), min(py_times)
    print("turns: %d per round, best of %d rounds, alternating" % (n, rounds))
    print("C      : %8.0f turns/s  %7.2f us/turn" % (n / c, c * 1e6 / n))
    print("Python : %8.0f turns/s  %7.2f us/turn" % (n / py, py * 1e6 / n))
    print("Python overhead: %.2f us/turn (middleware + route + session + "
          "reply through ctypes)" % ((py - c) * 1e6 / n))


if __name__ == "__main__":
    main()
