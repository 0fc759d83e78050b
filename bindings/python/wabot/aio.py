"""asyncio integration: the library's loop hooks on an asyncio loop.

    loop = asyncio.get_running_loop()
    bot = wabot.Bot(asyncio_loop=loop, ...)

The library's descriptors are watched with loop.add_reader/add_writer and
its one timer is a loop.call_later handle, so replies, retries and delayed
jobs run on the asyncio loop's thread with no extra thread. Webhooks can be
served from the same loop (bot.handle_http is short and synchronous) or
from an executor with handle_http_async().
"""
import asyncio
import logging
import threading

from . import _ffi

_log = logging.getLogger("wabot.aio")
POLL_IN, POLL_OUT = 1, 2


class AsyncioDriver:
    def __init__(self, loop):
        self.loop = loop
        self._bot = None
        self._timer = None
        self._fds = {}
        self._thread = None
        self.hooks = _ffi.LoopHooks(1, _ffi.WATCH_FD_FN(self._watch_fd),
                                    _ffi.SET_TIMER_FN(self._set_timer), None)

    def bind(self, bot):
        self._bot = bot

    def unbind(self):
        self._bot = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for fd in list(self._fds):
            self._apply_watch(fd, 0)

    def _on_loop_thread(self):
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def _run(self, fn, *args):
        # Hooks may be called from another thread (wabot_ctx_new/free, a
        # webhook thread waking the loop): hop onto the loop then.
        if self._on_loop_thread():
            fn(*args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)

    def _watch_fd(self, fd, events, _ud):
        try:
            self._run(self._apply_watch, fd, events)
            return 0
        except BaseException:  # noqa: B902 - never unwind into C
            _log.exception("watch_fd")
            return -1

    def _apply_watch(self, fd, events):
        old = self._fds.get(fd, 0)
        if old & POLL_IN:
            self.loop.remove_reader(fd)
        if old & POLL_OUT:
            self.loop.remove_writer(fd)
        if events & POLL_IN:
            self.loop.add_reader(fd, self._ready, fd, POLL_IN)
        if events & POLL_OUT:
            self.loop.add_writer(fd, self._ready, fd, POLL_OUT)
        if events:
            self._fds[fd] = events
        else:
            self._fds.pop(fd, None)

    def _set_timer(self, ms, _ud):
        try:
            self._run(self._apply_timer, ms)
            return 0
        except BaseException:  # noqa: B902
            _log.exception("set_timer")
            return -1

    def _apply_timer(self, ms):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if ms >= 0:
            self._timer = self.loop.call_later(ms / 1000.0, self._fire)

    def _ready(self, fd, events):
        if self._bot is not None and self._bot._ctx:
            try:
                self._bot.on_fd(fd, events)
            except Exception:  # noqa: BLE001
                _log.exception("on_fd")

    def _fire(self):
        self._timer = None
        if self._bot is not None and self._bot._ctx:
            try:
                self._bot.on_timeout()
            except Exception:  # noqa: BLE001
                _log.exception("on_timeout")


async def handle_http_async(bot, method, target, headers=(), body=b""):
    """bot.handle_http on the loop's default executor (for handlers that
    block, e.g. a storage doing network I/O)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, bot.handle_http, method, target,
                                      headers, body)


__all__ = ["AsyncioDriver", "handle_http_async", "threading"]
