"""Commerce (include/wabot/commerce.h, doc/commerce.md): money, products,
the catalog with its import/export and menus, the product matcher and the
cart of a turn.

    cat = bot.catalog()                      # the default organisation
    cat.create(wabot.Product("coke", "Coke", 150, "USD", aliases=["cola"]))
    m = cat.match("2 cokes and a water")
    for line in m.lines: ...

Products, lists, reports and carts are copied into Python objects and the
C snapshots freed at once; a Match keeps its C result (for choices_out)
until close() or garbage collection. Money is always an int of minor units
with an ISO 4217 code; there is no float anywhere.
"""
import json
from ctypes import byref, c_int64, c_size_t, c_uint64, c_void_p, \
    create_string_buffer
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Tuple, Union

from ._loader import lib as _lib
from .bot import Bot, Turn, _b, _owned_ctx, _s
from ._handle import OrgScoped, OwnedHandle, owned_bytes
from .errors import Status, error_for

#: wabot_money_format flag: "$1.50" instead of "1.50 USD".
MONEY_SYMBOL = 1
#: Product.stock meaning "not tracked" (WABOT_PRODUCT_STOCK_UNLIMITED).
STOCK_UNLIMITED = -1
_ACTIVE_ONLY = 1   # WABOT_CATALOG_ACTIVE_ONLY
_PARTIAL = 1       # WABOT_IMPORT_PARTIAL


def _raise(rc, what):
    """Raise the exception of a context-less call's status."""
    if rc < 0:
        raise error_for(rc, _s(_lib().wabot_errmsg()) or what)
    return rc


# ---------------------------------------------------------------------
# Money

def currency_exponent(code: str) -> int:
    """Minor-unit digits of an ISO 4217 code ("USD" 2, "JPY" 0, "KWD" 3);
    NotFound for a code the library does not know."""
    return _raise(_lib().wabot_currency_exponent(_b(code)),
                  "unknown currency %r" % code)


def money_format(minor: int, currency: str, symbol: bool = False) -> str:
    """"-1234.50 USD", "500 JPY", or with symbol "$1.50"."""
    L, flags = _lib(), MONEY_SYMBOL if symbol else 0
    n = _raise(L.wabot_money_format(minor, _b(currency), flags, None, 0),
               "money_format")
    buf = create_string_buffer(n + 1)
    _raise(L.wabot_money_format(minor, _b(currency), flags, buf, n + 1),
           "money_format")
    return buf.value.decode("utf-8")


def money_parse(text: str, currency: str) -> int:
    """"12.50" of USD -> 1250 (ParseError, TooLarge, NotFound)."""
    out = c_int64()
    _raise(_lib().wabot_money_parse(_b(text), _b(currency), byref(out)),
           "cannot read %r as %s" % (text, currency))
    return out.value


@dataclass(frozen=True)
class Money:
    """An amount: `minor` units of `currency`. + and * (by an int) check
    for int64 overflow (TooLarge) and refuse mixed currencies."""
    minor: int
    currency: str

    @classmethod
    def parse(cls, text: str, currency: str) -> "Money":
        return cls(money_parse(text, currency), currency)

    def format(self, symbol: bool = False) -> str:
        return money_format(self.minor, self.currency, symbol)

    def __str__(self):
        return self.format()

    def __add__(self, other: "Money") -> "Money":
        if not isinstance(other, Money):
            return NotImplemented
        if other.currency != self.currency:
            raise error_for(Status.INVAL, "cannot add %s to %s"
                            % (other.currency, self.currency))
        out = c_int64()
        _raise(_lib().wabot_money_add(self.minor, other.minor, byref(out)),
               "money overflow")
        return Money(out.value, self.currency)

    def __mul__(self, quantity: int) -> "Money":
        if not isinstance(quantity, int):
            return NotImplemented
        out = c_int64()
        _raise(_lib().wabot_money_mul(self.minor, quantity, byref(out)),
               "money overflow")
        return Money(out.value, self.currency)

    __rmul__ = __mul__


# ---------------------------------------------------------------------
# Products

@dataclass
class Product:
    """A catalog product. price is in minor units of currency; stock None
    is unlimited. version is the stored version (0: never stored), set by
    Catalog.get/list and by successful writes."""
    sku: str
    name: str
    price: int = 0
    currency: str = ""
    aliases: List[str] = field(default_factory=list)
    description: str = ""
    category: str = ""
    stock: Optional[int] = None
    active: bool = True
    image_url: str = ""
    version: int = 0

    @property
    def money(self) -> Money:
        return Money(self.price, self.currency)

    @classmethod
    def _from_c(cls, p) -> "Product":
        L = _lib()
        stock = L.wabot_product_stock(p)
        return cls(sku=_s(L.wabot_product_sku(p)),
                   name=_s(L.wabot_product_name(p)),
                   price=L.wabot_product_price(p),
                   currency=_s(L.wabot_product_currency(p)),
                   aliases=[_s(L.wabot_product_alias(p, i)) for i in
                            range(L.wabot_product_alias_count(p))],
                   description=_s(L.wabot_product_description(p)),
                   category=_s(L.wabot_product_category(p)),
                   stock=None if stock == STOCK_UNLIMITED else stock,
                   active=bool(L.wabot_product_active(p)),
                   image_url=_s(L.wabot_product_image_url(p)),
                   version=L.wabot_product_version(p))

    def _to_c(self, bot: Bot):
        """A new wabot_product (the caller frees it); InvalidArgument
        naming the rule a field breaks."""
        L = _lib()
        p = L.wabot_product_new(bot._ctx)
        if not p:
            raise error_for(Status.NOMEM, "wabot_product_new")
        try:
            chk = bot._check
            chk(L.wabot_product_set_sku(p, _b(self.sku)))
            chk(L.wabot_product_set_name(p, _b(self.name)))
            chk(L.wabot_product_clear_aliases(p))
            for a in self.aliases:
                chk(L.wabot_product_add_alias(p, _b(a)))
            chk(L.wabot_product_set_description(p, _b(self.description)))
            chk(L.wabot_product_set_category(p, _b(self.category)))
            if self.currency:
                chk(L.wabot_product_set_price(p, self.price,
                                              _b(self.currency)))
            chk(L.wabot_product_set_stock(
                p, STOCK_UNLIMITED if self.stock is None else self.stock))
            chk(L.wabot_product_set_active(p, 1 if self.active else 0))
            chk(L.wabot_product_set_image_url(p, _b(self.image_url)))
            return p
        except BaseException:
            L.wabot_product_free(p)
            raise

    def to_json(self, bot: Bot) -> str:
        """The import/export JSON of this product (checked by the
        library's rules, so InvalidArgument for a bad field)."""
        L = _lib()
        p = self._to_c(bot)
        try:
            text = _owned_ctx(bot._ctx, L.wabot_product_to_json(p))
        finally:
            L.wabot_product_free(p)
        if text is None:
            raise error_for(Status.NOMEM, "wabot_product_to_json")
        return text


@dataclass
class ImportReport:
    """What Catalog.import_json did: rows written and the problems found
    as (row from 1 (0: the whole document), field, reason)."""
    written: int
    errors: List[Tuple[int, str, str]]
    json: str

    @classmethod
    def _from_c(cls, ctx, r) -> "ImportReport":
        L = _lib()
        errs = [(L.wabot_import_report_error_row(r, i),
                 _s(L.wabot_import_report_error_field(r, i)),
                 _s(L.wabot_import_report_error_reason(r, i)))
                for i in range(L.wabot_import_report_error_count(r))]
        return cls(L.wabot_import_report_written(r), errs,
                   _owned_ctx(ctx, L.wabot_import_report_json(r)) or "")


# ---------------------------------------------------------------------
# The matcher

@dataclass
class Candidate:
    sku: str
    name: str
    score: int          # 0..1000, 1000: every word matched exactly
    price: int
    currency: str


@dataclass
class MatchLine:
    text: str           # the (folded) words the line was read from
    quantity: int
    ambiguous: bool
    candidates: List[Candidate]   # best first


class Match(OwnedHandle):
    """The matcher's reading of one text: lines (order lines with ranked
    candidates) and unknown (words that matched nothing). Holds the C
    result for choices_out() until close() (or the garbage collector);
    use it while its bot is open."""

    def __init__(self, bot: Bot, ptr):
        self._bot, self._p = bot, ptr
        L = _lib()
        self.lines = [MatchLine(
            _s(L.wabot_match_line_text(ptr, i)),
            L.wabot_match_line_quantity(ptr, i),
            bool(L.wabot_match_line_ambiguous(ptr, i)),
            [Candidate(_s(L.wabot_match_candidate_sku(ptr, i, j)),
                       _s(L.wabot_match_candidate_name(ptr, i, j)),
                       L.wabot_match_candidate_score(ptr, i, j),
                       L.wabot_match_candidate_price(ptr, i, j),
                       _s(L.wabot_match_candidate_currency(ptr, i, j)))
             for j in range(L.wabot_match_candidate_count(ptr, i))])
            for i in range(L.wabot_match_line_count(ptr))]
        self.unknown = [_s(L.wabot_match_unknown(ptr, i))
                        for i in range(L.wabot_match_unknown_count(ptr))]

    _free_fn, _what = "wabot_match_free", "match"

    @property
    def clear(self) -> bool:
        """True when every line is unambiguous and no word is unknown."""
        return bool(self.lines) and not self.unknown and \
            not any(ln.ambiguous for ln in self.lines)

    def reply_text(self) -> str:
        """What to tell the customer when the match is not a clean order
        ("" when it is)."""
        t = _owned_ctx(self._bot._ctx, _lib().wabot_match_reply_text(
            self._ptr()))
        if t is None:
            raise error_for(Status.NOMEM, "wabot_match_reply_text")
        return t

    def to_json(self) -> str:
        return _owned_ctx(self._bot._ctx, _lib().wabot_match_json(
            self._ptr()))

    def choices_out(self, line: int, out) -> "object":
        """Fill `out` (a wabot.OutMessage of the same bot) with buttons or
        rows to pick among ambiguous line `line`'s candidates; returns
        out."""
        self._bot._check(_lib().wabot_match_choices_out(self._ptr(), line,
                                                        out._p))
        return out


# ---------------------------------------------------------------------
# The catalog

class Catalog(OrgScoped):
    """One organisation's product catalog (bot.catalog(org))."""

    def _c(self, rc):
        return self.bot._check(rc)

    # Products ---------------------------------------------------------
    def create(self, product: Product) -> int:
        """Store a new product (Exists when its sku is taken); returns the
        stored version, also set on product.version."""
        return self._write(product, lambda p, v: _lib().wabot_catalog_create(
            self.bot._ctx, self._o, p, byref(v)))

    def update(self, product: Product, expected: int = 0) -> int:
        """Replace the product of product.sku. expected: the version read
        (Conflict when it changed since), 0: whatever is stored."""
        return self._write(product, lambda p, v: _lib().wabot_catalog_update(
            self.bot._ctx, self._o, p, expected, byref(v)))

    def _write(self, product, call):
        L, p = _lib(), product._to_c(self.bot)
        try:
            v = c_uint64()
            self._c(call(p, v))
            product.version = v.value
            return v.value
        finally:
            L.wabot_product_free(p)

    def get(self, sku: str) -> Optional[Product]:
        """The product, or None when there is none."""
        L, out = _lib(), c_void_p()
        rc = L.wabot_catalog_get(self.bot._ctx, self._o, _b(sku), byref(out))
        if rc == Status.NOT_FOUND:
            return None
        self._c(rc)
        try:
            return Product._from_c(out)
        finally:
            L.wabot_product_free(out)

    def __getitem__(self, sku):
        p = self.get(sku)
        if p is None:
            raise KeyError(sku)
        return p

    def __contains__(self, sku):
        return self.get(sku) is not None

    def delete(self, sku: str, expected: int = 0) -> None:
        """Delete (NotFound, Conflict when expected is set and stale)."""
        self._c(_lib().wabot_catalog_delete(self.bot._ctx, self._o, _b(sku),
                                            expected))

    def count(self) -> int:
        n = c_int64()
        self._c(_lib().wabot_catalog_count(self.bot._ctx, self._o, byref(n)))
        return n.value

    __len__ = count

    def list(self, category: Optional[str] = None, active_only: bool = False,
             cursor: Optional[str] = None, limit: int = 100
             ) -> Tuple[List[Product], Optional[str]]:
        """One page in creation order: (products, next cursor or None)."""
        L, out = _lib(), c_void_p()
        self._c(L.wabot_catalog_list(self.bot._ctx, self._o, _b(category),
                                     _ACTIVE_ONLY if active_only else 0,
                                     _b(cursor), limit, byref(out)))
        try:
            items = [Product._from_c(L.wabot_product_list_at(out, i))
                     for i in range(L.wabot_product_list_count(out))]
            nxt = _s(L.wabot_product_list_cursor(out))
        finally:
            L.wabot_product_list_free(out)
        return items, (None if nxt in (None, "0") else nxt)

    def iterate(self, category: Optional[str] = None,
                active_only: bool = False, page_size: int = 100
                ) -> Iterator[Product]:
        """Every product, page by page (the cursor followed for you)."""
        cursor = None
        while True:
            items, cursor = self.list(category, active_only, cursor,
                                      page_size)
            yield from items
            if cursor is None:
                return

    def __iter__(self):
        return self.iterate()

    # Import / export -------------------------------------------------
    def import_json(self, data: Union[str, bytes, list, dict],
                    partial: bool = False) -> ImportReport:
        """Import products (a JSON text, or a list / {"products": [...]}
        to be dumped). All or nothing unless partial: a bad row raises
        InvalidArgument whose .report is the ImportReport."""
        if not isinstance(data, (str, bytes)):
            data = json.dumps(data)
        raw = _b(data)
        L, rep = _lib(), c_void_p()
        rc = L.wabot_catalog_import(self.bot._ctx, self._o, raw, len(raw),
                                    _PARTIAL if partial else 0, byref(rep))
        report = None
        if rep.value:
            try:
                report = ImportReport._from_c(self.bot._ctx, rep)
            finally:
                L.wabot_import_report_free(rep)
        if rc < 0:
            err = error_for(rc, _s(L.wabot_ctx_errmsg(self.bot._ctx)))
            err.report = report
            raise err
        return report

    def export_json(self) -> str:
        """Every product as a JSON array in the import shape."""
        L, out, n = _lib(), c_void_p(), c_size_t()
        self._c(L.wabot_catalog_export(self.bot._ctx, self._o, byref(out),
                                       byref(n)))
        return owned_bytes(self.bot._ctx, out.value, n.value).decode("utf-8")

    def export(self) -> list:
        return json.loads(self.export_json())

    # Menus, matching, stats ------------------------------------------
    def menu_text(self, category: Optional[str] = None, page: int = 0,
                  max_chars: int = 0) -> Tuple[str, int]:
        """(page `page` of the menu text, number of pages)."""
        L, out, pages = _lib(), c_void_p(), c_size_t()
        self._c(L.wabot_catalog_menu_text(self.bot._ctx, self._o,
                                          _b(category), max_chars, page,
                                          byref(out), byref(pages)))
        return _owned_ctx(self.bot._ctx, out.value), pages.value

    def menu_list(self, out, category: Optional[str] = None,
                  page: int = 0) -> int:
        """Fill `out` (a wabot.OutMessage) as an interactive list of the
        menu's page `page`; returns the number of pages of 10."""
        pages = c_size_t()
        self._c(_lib().wabot_catalog_menu_list(self.bot._ctx, self._o,
                                               _b(category), page, out._p,
                                               byref(pages)))
        return pages.value

    def match(self, text: str, locale: Optional[str] = None) -> Match:
        """Read free text ("2 cokes and a water") as order lines."""
        out = c_void_p()
        self._c(_lib().wabot_catalog_match(self.bot._ctx, self._o,
                                           _b(locale), _b(text), byref(out)))
        return Match(self.bot, out.value)

    def stats(self) -> dict:
        out = c_void_p()
        self._c(_lib().wabot_commerce_stats_json(self.bot._ctx, self._o,
                                                 byref(out)))
        return json.loads(_owned_ctx(self.bot._ctx, out.value))


# ---------------------------------------------------------------------
# The cart of a turn (kept in the conversation session)

@dataclass
class CartLine:
    sku: str
    name: str           # "" when the product was deleted
    quantity: int
    unit_price: int
    total: int
    status: int         # Status.OK, or why the line cannot be ordered

    @property
    def orderable(self) -> bool:
        return self.status == Status.OK


@dataclass
class CartView:
    """The cart priced from the catalog at the time it was read."""
    lines: List[CartLine]
    total: int
    currency: str
    text: str           # the cart as a message

    @property
    def money(self) -> Money:
        return Money(self.total, self.currency)


class Cart:
    """turn.cart: the customer's cart, saved with the turn. Valid only in
    the callback that received the turn."""

    def __init__(self, turn: Turn):
        self._turn = turn

    def add(self, sku: str, quantity: int = 1) -> None:
        t = self._turn
        t._check(_lib().wabot_cart_add(t._ptr(), _b(sku), quantity))

    def remove(self, sku: str) -> None:
        t = self._turn
        t._check(_lib().wabot_cart_remove(t._ptr(), _b(sku)))

    def set_quantity(self, sku: str, quantity: int) -> None:
        """0 removes the line."""
        t = self._turn
        t._check(_lib().wabot_cart_set_quantity(t._ptr(), _b(sku), quantity))

    def clear(self) -> None:
        t = self._turn
        t._check(_lib().wabot_cart_clear(t._ptr()))

    def get(self) -> CartView:
        L, t, out = _lib(), self._turn, c_void_p()
        t._check(L.wabot_cart_get(t._ptr(), byref(out)))
        c = out.value
        try:
            lines = [CartLine(_s(L.wabot_cart_line_sku(c, i)),
                              _s(L.wabot_cart_line_name(c, i)),
                              L.wabot_cart_line_quantity(c, i),
                              L.wabot_cart_line_unit_price(c, i),
                              L.wabot_cart_line_total(c, i),
                              _status(L.wabot_cart_line_status(c, i)))
                     for i in range(L.wabot_cart_line_count(c))]
            text = _owned_ctx(t.bot._ctx, L.wabot_cart_text(c))
            if text is None:
                raise error_for(Status.NOMEM, "wabot_cart_text")
            return CartView(lines, L.wabot_cart_total(c),
                            _s(L.wabot_cart_currency(c)), text)
        finally:
            L.wabot_cart_free(c)


def _status(rc):
    try:
        return Status(rc)
    except ValueError:
        return rc


def _bot_catalog(self, org: Optional[str] = None) -> Catalog:
    """The product catalog of `org` (default: default_organization)."""
    return Catalog(self, org)


Bot.catalog = _bot_catalog
Turn.cart = property(lambda self: Cart(self))

__all__ = ["Candidate", "Cart", "CartLine", "CartView", "Catalog",
           "ImportReport", "MONEY_SYMBOL", "Match", "MatchLine", "Money",
           "Product", "STOCK_UNLIMITED", "currency_exponent", "money_format",
           "money_parse"]
