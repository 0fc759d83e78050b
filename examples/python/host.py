#!/usr/bin/env python3
"""A webhook host in Python on the standard library's HTTP server.

Every request goes to bot.handle_http() (wabot_http_handle: webhooks of
both providers, the Meta handshake, the bot's HTTP routes such as the
admin endpoint of demo_bot.py); a loop thread drives replies and retries.

    WABOT_LIBRARY=build/libwabot.so.0 PYTHONPATH=bindings/python \\
    TWILIO_AUTH_TOKEN=secret python3 examples/python/host.py --port 8080

Options come from the environment as for wabot-server (doc/options.md).
"""
import argparse
import http.server
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_bot  # noqa: E402
import wabot  # noqa: E402


def make_handler(bot):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            resp = bot.handle_http(self.command, self.path,
                                   list(self.headers.items()), body)
            self.send_response(resp.status)
            if resp.content_type:
                self.send_header("Content-Type", resp.content_type)
            for name, value in resp.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)

        do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _serve

        def log_message(self, fmt, *args):  # quiet by default
            if os.environ.get("WABOT_HOST_VERBOSE"):
                super().log_message(fmt, *args)
    return Handler


class Host:
    """The HTTP server and the bot's loop thread, startable in-process."""

    def __init__(self, bot, host="127.0.0.1", port=0):
        self.bot = bot
        self.server = http.server.ThreadingHTTPServer(
            (host, port), make_handler(bot))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        daemon=True)

    def start(self):
        self.bot.start_loop_thread(interval_ms=50)
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    args = ap.parse_args()
    bot = demo_bot.install(wabot.Bot(env=True))
    host = Host(bot, args.host, args.port).start()
    print("wabot python host on http://%s:%d" % (args.host, host.port),
          flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        host.stop()
        bot.close()


if __name__ == "__main__":
    main()
