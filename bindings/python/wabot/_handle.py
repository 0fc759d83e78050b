"""Shared pieces of the business wrappers (commerce, invoices, campaign,
orders, reminders): an object owning one C handle, an organisation-scoped
view with its JSON calls, owned bytes, paging."""
import json
from ctypes import byref, c_void_p, string_at

from ._loader import lib as _lib
from .bot import _b, _owned_ctx, _s
from .errors import Status, error_for


class OwnedHandle:
    """Owns the C object at self._p, freed by the C function named by the
    subclass's _free_fn: close(), the with block or the collector."""
    _free_fn = ""
    _what = "object"
    _p = None

    def _ptr(self):
        if not self._p:
            raise error_for(Status.STATE, "the %s is closed" % self._what)
        return self._p

    def close(self):
        if self._p:
            getattr(_lib(), self._free_fn)(self._p)
            self._p = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class OrgScoped:
    """A view of one organisation: org None is the context's
    default_organization (the C calls here need a name)."""

    def __init__(self, bot, org=None):
        self.bot = bot
        o = bot._org(org)
        self.org = o if isinstance(o, str) else _s(o)
        self._o = _b(self.org)

    def _json(self, call):
        """The JSON document call(out) returns in *out, as a dict; raises
        the call's error."""
        out = c_void_p()
        self.bot._check(call(byref(out)))
        return json.loads(_owned_ctx(self.bot._ctx, out.value))

    def _json_or_none(self, call):
        """_json, but None when the call says NOT_FOUND."""
        out = c_void_p()
        rc = call(byref(out))
        if rc == Status.NOT_FOUND:
            return None
        self.bot._check(rc)
        return json.loads(_owned_ctx(self.bot._ctx, out.value))


def follow_pages(page):
    """Every item of every page: page(cursor) -> (items, next cursor or
    None), starting from cursor None."""
    cursor = None
    while True:
        items, cursor = page(cursor)
        yield from items
        if cursor is None:
            return


def owned_bytes(ctx, addr, n):
    """n bytes the library returned owned by ctx, freed here."""
    if not addr:
        return b""
    try:
        return string_at(addr, n)
    finally:
        _lib().wabot_ctx_mem_free(ctx, addr)
