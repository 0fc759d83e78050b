"""Redis backends: several processes on one Redis (doc/redis.md)."""
from ctypes import byref, c_char_p

from . import _ffi
from ._loader import Borrowed, lib as _lib
from .bot import _b
from .errors import Status, error_for
from .storage import StorageHandle


class Handle(Borrowed):
    """A scheduler or limiter handle (freed with its own function)."""

    def __init__(self, handle, free_name, parent=None):
        self._free_name, self._parent = free_name, parent
        self._init_handle(handle, True, error_for(Status.NOMEM, "backend"))


class Redis:
    """A pool of connections to one Redis; make backends from it and
    keep it open longer than every one of them (and every Bot using
    them)."""

    def __init__(self, host=None, port=None, password=None, db=None,
                 prefix=None, pool_size=None, connect_timeout_ms=None,
                 command_timeout_ms=None, from_env=False):
        L = _lib()
        cfg = self._cfg = _ffi.RedisConfig()
        L.wabot_redis_config_init(byref(cfg))
        if from_env and L.wabot_redis_config_from_env(byref(cfg)) < 0:
            raise error_for(Status.INVAL, "bad REDIS_* variable")
        self._strings = []
        for k, v in dict(host=host, port=port, password=password, db=db,
                         prefix=prefix, pool_size=pool_size,
                         connect_timeout_ms=connect_timeout_ms,
                         command_timeout_ms=command_timeout_ms).items():
            if v is not None:
                if isinstance(v, str):
                    v = _b(v)
                    self._strings.append(v)
                setattr(cfg, k, v)
        err = c_char_p()
        self._handle = L.wabot_redis_new(byref(cfg), byref(err))
        if not self._handle:
            raise error_for(Status.STORAGE, (err.value or b"").decode())
        self._children = []

    def storage(self):
        s = StorageHandle(_lib().wabot_storage_redis_new(self._handle))
        s._parent = self
        self._acquire_child(s)
        return s

    def _acquire_child(self, h):
        # The pool is freed only after every backend made from it.
        self._children.append(h)

    def scheduler(self):
        h = Handle(_lib().wabot_scheduler_redis_new(self._handle),
                   "wabot_scheduler_free", self)
        self._acquire_child(h)
        return h

    def limiter(self):
        h = Handle(_lib().wabot_limiter_redis_new(self._handle),
                   "wabot_limiter_free", self)
        self._acquire_child(h)
        return h

    @property
    def round_trips(self):
        return _lib().wabot_redis_round_trips(self._handle)

    def close(self):
        """Close every backend made from the pool (deferred while a bot
        uses one), then the pool once all are gone."""
        if not self._handle:
            return
        for h in self._children:
            h.close()
        if any(h._handle for h in self._children):
            self._close_requested = True
            return
        _lib().wabot_redis_free(self._handle)
        self._handle = None

    _close_requested = False

    def _child_closed(self):
        if self._close_requested:
            self.close()

    def __del__(self):
        self.close()


def memory_scheduler():
    return Handle(_lib().wabot_scheduler_memory_new(),
                  "wabot_scheduler_free")


def memory_limiter():
    return Handle(_lib().wabot_limiter_memory_new(), "wabot_limiter_free")
