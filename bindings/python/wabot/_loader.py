"""Finding and loading libwabot.so.0, with its ctypes signatures applied."""
import ctypes
import ctypes.util
import os
import threading

from ._prototypes import PROTOTYPES

SONAME = "libwabot.so.0"
#: Oldest library this package speaks (0xMMmmpp): the 0.2 API.
MIN_VERSION = 0x000200

_lock = threading.Lock()
_lib = None


class LibraryNotFound(OSError):
    """libwabot could not be loaded; `tried` lists every attempt."""

    def __init__(self, tried):
        self.tried = tried
        lines = "\n".join("  %s: %s" % t for t in tried)
        super().__init__(
            "libwabot: could not load the library. Tried:\n%s\n"
            "Pass wabot.load(path), set WABOT_LIBRARY, install libwabot "
            "(meson install) or build it in <source>/build." % lines)


def _candidates(path):
    if path:
        yield "explicit path", path
    env = os.environ.get("WABOT_LIBRARY")
    if env:
        yield "WABOT_LIBRARY", env
    yield "SONAME", SONAME
    found = ctypes.util.find_library("wabot")
    if found and found != SONAME:
        yield "ctypes.util.find_library", found
    # The package inside a source tree: bindings/python/wabot -> <root>
    # (not when installed by pip).
    root = os.path.normpath(os.path.join(os.path.dirname(__file__),
                                         "..", "..", ".."))
    if os.path.exists(os.path.join(root, "meson.build")):
        yield "build tree", os.path.join(root, "build", SONAME)


def _apply(lib):
    for name, (restype, argtypes) in PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            continue  # an older library: the function stays unbound
        fn.restype = restype
        fn.argtypes = argtypes


def load(path=None):
    """Load libwabot once per process and return the ctypes library.

    Order: `path`, $WABOT_LIBRARY, the installed SONAME (the dynamic
    linker's search), ctypes.util.find_library, <source tree>/build.
    Raises LibraryNotFound naming every attempt, or ImportError when the
    loaded library is older than this package needs.
    """
    global _lib
    with _lock:
        if _lib is not None:
            return _lib
        tried = []
        for how, cand in _candidates(path):
            if how == "build tree" and not os.path.exists(cand):
                tried.append((how, cand + " (absent)"))
                continue
            try:
                lib = ctypes.CDLL(cand)
            except OSError as e:
                tried.append((how, "%s (%s)" % (cand, e)))
                continue
            if not hasattr(lib, "wabot_version_num"):
                tried.append((how, cand + " (not libwabot)"))
                continue
            _check_version(lib, cand)
            _apply(lib)
            lib._wabot_path = cand
            _lib = lib
            return lib
        raise LibraryNotFound(tried)


def _check_version(lib, where):
    lib.wabot_version_num.restype = ctypes.c_uint
    v = lib.wabot_version_num()
    if (v >> 16) != (MIN_VERSION >> 16) or v < MIN_VERSION:
        raise ImportError(
            "libwabot at %s is version %d.%d.%d; this package needs %d.%d "
            "or a later 0.x" % (where, v >> 16, (v >> 8) & 0xff, v & 0xff,
                                MIN_VERSION >> 16, (MIN_VERSION >> 8) & 0xff))


def lib():
    """The loaded library (loading it with the default search first)."""
    return _lib if _lib is not None else load()


class Borrowed:
    """Base of backend handles (storage, transport, scheduler, limiter):
    one C handle freed by the C function named `_free_name`. A Bot borrows
    them: closing one while a bot still uses it (explicitly, or by the
    garbage collector finalizing both in any order) is deferred until the
    last such bot has closed. `_parent` (a Redis pool) hears when it is
    gone."""
    _users = 0
    _close_requested = False
    _handle = None
    _owned = False
    _free_name = None
    _parent = None

    def _init_handle(self, handle, owned, error):
        if not handle:
            raise error
        self._handle = handle
        self._owned = owned

    def close(self):
        if self._defer_close():
            return
        if self._owned and self._handle:
            getattr(lib(), self._free_name)(self._handle)
        self._handle = None
        if self._parent is not None:
            self._parent._child_closed()

    def __del__(self):
        self.close()

    def _acquire(self):
        self._users += 1

    def _release(self):
        self._users -= 1
        if self._users == 0 and self._close_requested:
            self.close()

    def _defer_close(self):
        """True when close() must wait for the bots using this handle."""
        if self._users > 0:
            self._close_requested = True
            return True
        return False
