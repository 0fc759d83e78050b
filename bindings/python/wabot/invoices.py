"""Invoices (include/wabot/invoice.h, doc/invoices.md): drafts issued with
gap-free numbers, status changes, the WhatsApp text and PDF renderings,
signed document URLs and the invoice-processing queue.

    inv = bot.invoices()                       # the default organisation
    d = inv.draft("+15550001", "USD", key="order-42")
    d.add_line("A1", "Coke", 2, 150, tax_bp=825)
    number = d.issue()
    inv.mark_paid(number)

Invoices cross as dicts (the JSON of invoice.h); amounts are ints of minor
units.
"""
import enum
import json
from ctypes import byref, c_int64, c_size_t, c_void_p
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from ._loader import lib as _lib
from .bot import Bot, _b, _owned_ctx, _s
from ._handle import OwnedHandle, owned_bytes
from .errors import Status, error_for

#: The queue whose built-in worker issues and sends invoices.
QUEUE = "invoice-processing"
#: The hook emitted once per newly issued invoice (its JSON).
HOOK_ISSUED = "invoices.issued"
_TAX_DEFAULT = -1


class InvoiceStatus(enum.IntEnum):
    """wabot_invoice_status."""
    ISSUED = 1
    SENT = 2
    PAID = 3
    OVERDUE = 4
    VOID = 5

    @property
    def label(self) -> str:
        """The library's lower-case name ("issued", ...)."""
        return _s(_lib().wabot_invoice_status_name(int(self)))


class InvoiceDraft(OwnedHandle):
    """An invoice being put together; issue() stores it under the next
    number. Owned: freed by close(), the with block or the collector."""

    def __init__(self, bot: Bot, customer: str, currency: str,
                 org: Optional[str] = None, key: Optional[str] = None):
        self._bot = bot
        self._p = _lib().wabot_invoice_draft_new(bot._ctx, _b(org),
                                                 _b(customer), _b(currency))
        if not self._p:
            raise error_for(Status.INVAL, _s(_lib().wabot_ctx_errmsg(
                bot._ctx)) or "wabot_invoice_draft_new")
        if key is not None:
            try:
                self.set_key(key)
            except BaseException:
                self.close()
                raise

    _free_fn, _what = "wabot_invoice_draft_free", "draft"

    def set_key(self, key: str) -> "InvoiceDraft":
        """Idempotency key (an order id): issuing the same key twice in
        an organisation issues one invoice."""
        self._bot._check(_lib().wabot_invoice_draft_set_key(self._ptr(),
                                                            _b(key)))
        return self

    def add_line(self, sku: str, name: str, quantity: int, unit_minor: int,
                 tax_bp: Optional[int] = None) -> "InvoiceDraft":
        """Append a line; tax_bp None: the organisation's invoices.tax_bp."""
        self._bot._check(_lib().wabot_invoice_draft_add_line(
            self._ptr(), _b(sku), _b(name), quantity, unit_minor,
            _TAX_DEFAULT if tax_bp is None else tax_bp))
        return self

    def issue(self, exist_ok: bool = False) -> str:
        """Issue it; returns the invoice number. When the key was issued
        already: that invoice's number with exist_ok, else Exists (whose
        .number is that invoice's)."""
        L, out = _lib(), c_void_p()
        rc = L.wabot_invoice_issue(self._ptr(), byref(out))
        number = _owned_ctx(self._bot._ctx, out.value)
        if rc == Status.EXISTS and exist_ok:
            return number
        if rc < 0:
            err = error_for(rc, _s(L.wabot_ctx_errmsg(self._bot._ctx)))
            err.number = number
            raise err
        return number


class Invoices:
    """One organisation's invoices (bot.invoices(org))."""

    def __init__(self, bot: Bot, org: Optional[str] = None):
        self.bot, self.org = bot, org
        self._o = _b(org)     # NULL: the library's default organisation

    def _json_call(self, call) -> Any:
        out = c_void_p()
        self.bot._check(call(byref(out)))
        return _owned_ctx(self.bot._ctx, out.value)

    def draft(self, customer: str, currency: str,
              key: Optional[str] = None) -> InvoiceDraft:
        return InvoiceDraft(self.bot, customer, currency, self.org, key)

    def get(self, number: str) -> Optional[Dict[str, Any]]:
        """The invoice as a dict, or None when there is none."""
        L, out = _lib(), c_void_p()
        rc = L.wabot_invoice_get(self.bot._ctx, self._o, _b(number),
                                 byref(out))
        if rc == Status.NOT_FOUND:
            return None
        self.bot._check(rc)
        return json.loads(_owned_ctx(self.bot._ctx, out.value))

    def list(self, customer: Optional[str] = None,
             status: Optional[InvoiceStatus] = None, offset: int = 0,
             limit: int = 100) -> Tuple[List[Dict[str, Any]], Optional[int]]:
        """One page, newest first: (invoices, next offset or None)."""
        page = json.loads(self._json_call(
            lambda out: _lib().wabot_invoice_list(
                self.bot._ctx, self._o, _b(customer), int(status or 0),
                offset, limit, out)))
        nxt = page.get("next_offset", -1)
        return page["invoices"], (None if nxt < 0 else nxt)

    def iterate(self, customer: Optional[str] = None,
                status: Optional[InvoiceStatus] = None,
                page_size: int = 100) -> Iterator[Dict[str, Any]]:
        offset = 0
        while offset is not None:
            items, offset = self.list(customer, status, offset, page_size)
            yield from items

    def set_status(self, number: str, status: InvoiceStatus) -> None:
        """StateError when the change is not allowed (PAID and VOID are
        final); setting the current status again is a no-op."""
        self.bot._check(_lib().wabot_invoice_set_status(
            self.bot._ctx, self._o, _b(number), int(status)))

    def mark_paid(self, number: str) -> None:
        self.bot._check(_lib().wabot_invoice_mark_paid(self.bot._ctx,
                                                       self._o, _b(number)))

    def void(self, number: str) -> None:
        self.bot._check(_lib().wabot_invoice_void(self.bot._ctx, self._o,
                                                  _b(number)))

    def mark_overdue(self, limit: int = 100) -> int:
        """Mark past-due ISSUED/SENT invoices OVERDUE; returns how many."""
        n = c_int64()
        self.bot._check(_lib().wabot_invoice_mark_overdue(
            self.bot._ctx, self._o, limit, byref(n)))
        return n.value

    def stats(self) -> Dict[str, Any]:
        return json.loads(self._json_call(
            lambda out: _lib().wabot_invoice_stats(self.bot._ctx, self._o,
                                                   out)))

    def render_text(self, number: str) -> str:
        return self._json_call(lambda out: _lib().wabot_invoice_render_text(
            self.bot._ctx, self._o, _b(number), out))

    def render_pdf(self, number: str) -> bytes:
        L, out, n = _lib(), c_void_p(), c_size_t()
        self.bot._check(L.wabot_invoice_render_pdf(
            self.bot._ctx, self._o, _b(number), byref(out), byref(n)))
        return owned_bytes(self.bot._ctx, out.value, n.value)

    def document_url(self, number: str) -> str:
        """A signed, expiring URL of the PDF (StateError without
        invoices.secret or public_url)."""
        return self._json_call(
            lambda out: _lib().wabot_invoice_document_url(
                self.bot._ctx, self._o, _b(number), out))

    def enqueue(self, job: Union[str, bytes, Dict[str, Any]]) -> str:
        """Queue an invoice for the built-in worker (dict or JSON with
        customer, currency, key, lines; org defaults to this one);
        returns the job id. Exists (with .job_id) when that key is queued
        already."""
        if isinstance(job, dict):
            if self.org and "org" not in job:
                job = dict(job, org=self.org)
            job = json.dumps(job)
        raw = _b(job)
        L, out = _lib(), c_void_p()
        rc = L.wabot_invoice_enqueue(self.bot._ctx, raw, len(raw), byref(out))
        job_id = _owned_ctx(self.bot._ctx, out.value)
        if rc < 0:
            err = error_for(rc, _s(L.wabot_ctx_errmsg(self.bot._ctx)))
            err.job_id = job_id
            raise err
        return job_id


def _bot_invoices(self, org: Optional[str] = None) -> Invoices:
    """The invoices of `org` (None: the default organisation)."""
    return Invoices(self, org)


Bot.invoices = _bot_invoices

__all__ = ["HOOK_ISSUED", "InvoiceDraft", "InvoiceStatus", "Invoices",
           "QUEUE"]
