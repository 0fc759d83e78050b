"""Shared pieces of the business wrappers (commerce, invoices, campaign):
an object owning one C handle, an organisation-scoped view, owned bytes."""
from ctypes import string_at

from ._loader import lib as _lib
from .bot import _b, _s
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


def owned_bytes(ctx, addr, n):
    """n bytes the library returned owned by ctx, freed here."""
    if not addr:
        return b""
    try:
        return string_at(addr, n)
    finally:
        _lib().wabot_ctx_mem_free(ctx, addr)
