"""Orders (include/wabot/order.h, doc/commerce.md "Orders"): orders placed
from lines or from a turn's cart, priced at order time, moved through
PENDING -> CONFIRMED -> PROCESSING -> FULFILLED (or CANCELLED), confirmed
by the built-in order-processing worker, and the ready-made order flow.

    orders = bot.orders("acme")
    oid = orders.create("+15550001", [("coke", 2)], key="SM123")
    orders.set_status(oid, wabot.OrderStatus.CONFIRMED)  # takes the stock
    orders.get(oid)["status"]                            # "confirmed"

Orders cross as dicts (the JSON of order.h); money is ints of minor
units. Every call may be made from any thread; a failure raises the
WabotError subclass of its status with the library's detail message.
"""
import enum
import json
from ctypes import byref, c_int64, c_void_p
from typing import (Any, Dict, Iterator, List, Mapping, Optional, Sequence,
                    Tuple, Union)

from ._loader import lib as _lib
from .bot import Bot, Turn, _b, _owned_ctx, _s
from ._handle import OrgScoped, follow_pages
from .errors import Status, error_for

#: The queue whose built-in worker confirms orders.
QUEUE = "order-processing"
#: Most lines on one order.
MAX_LINES = 50
_STATUS_COUNT = 6   # WABOT_ORDER_STATUS_COUNT


class OrderStatus(enum.IntEnum):
    """wabot_order_status."""
    PENDING = 1
    CONFIRMED = 2
    PROCESSING = 3
    FULFILLED = 4
    CANCELLED = 5

    @property
    def label(self) -> str:
        """The library's lower-case name ("pending", ...), as in the
        order's JSON."""
        return _s(_lib().wabot_order_status_name(int(self)))


Lines = Union[str, bytes, Sequence[Union[Mapping[str, Any],
                                         Tuple[str, int]]]]


def _lines_json(lines: Lines) -> bytes:
    """Order lines as the JSON array order.h reads: a JSON text, or a list
    of {"sku","quantity"} dicts or (sku, quantity) pairs."""
    if isinstance(lines, (str, bytes)):
        return _b(lines)
    rows = [dict(ln) if isinstance(ln, Mapping)
            else {"sku": ln[0], "quantity": ln[1]} for ln in lines]
    return _b(json.dumps(rows))


def _raise_with_id(bot_ctx, rc, out, attr):
    """Raise rc's error carrying the id the call returned (on EXISTS the
    first order's) as the exception's `attr`."""
    oid = _owned_ctx(bot_ctx, out.value)
    if rc < 0:
        err = error_for(rc, _s(_lib().wabot_ctx_errmsg(bot_ctx)))
        setattr(err, attr, oid)
        raise err
    return oid


class Orders(OrgScoped):
    """One organisation's orders (bot.orders(org)). Needs the `orders`
    module (on by default): without it every call raises StateError."""

    def create(self, customer: str, lines: Lines, key: Optional[str] = None,
               exist_ok: bool = False) -> str:
        """Place a PENDING order for `customer`; returns its id
        ("ORD-000042"). Names and prices are copied from the catalog now.
        `key` (e.g. the inbound message id) makes it idempotent: a second
        create with the same key raises Exists whose .order_id is the
        first order's, or with exist_ok returns that id. Raises
        ParseError, InvalidArgument, NotFound (unknown sku), StateError
        (inactive product), TooLarge (quantity, stock or total)."""
        raw, out = _lines_json(lines), c_void_p()
        rc = _lib().wabot_order_create(self.bot._ctx, self._o, _b(customer),
                                       raw, _b(key), byref(out))
        if rc == Status.EXISTS and exist_ok:
            return _owned_ctx(self.bot._ctx, out.value)
        return _raise_with_id(self.bot._ctx, rc, out, "order_id")

    def get(self, order_id: str) -> Optional[Dict[str, Any]]:
        """The order as a dict, or None when there is none."""
        return self._json_or_none(lambda out: _lib().wabot_order_get(
            self.bot._ctx, self._o, _b(order_id), out))

    def list(self, customer: Optional[str] = None,
             status: Optional[OrderStatus] = None,
             cursor: Optional[str] = None, limit: int = 100
             ) -> Tuple[List[Dict[str, Any]], Optional[str]]:
        """One page, newest first, of one customer and/or in one status:
        (orders, next cursor or None when there are no more)."""
        page = self._json(lambda out: _lib().wabot_order_list(
            self.bot._ctx, self._o, _b(customer), int(status or 0),
            _b(cursor), limit, out))
        nxt = page.get("cursor", "0")
        return page["orders"], (None if nxt == "0" else nxt)

    def iterate(self, customer: Optional[str] = None,
                status: Optional[OrderStatus] = None,
                page_size: int = 100) -> Iterator[Dict[str, Any]]:
        """Every order, newest first, page by page."""
        return follow_pages(lambda cursor: self.list(customer, status,
                                                     cursor, page_size))

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        return self.iterate()

    def confirm(self, order_id: str) -> None:
        """Queue the order for the order-processing worker, which confirms
        it (taking the stock), queues its invoice and moves it to
        PROCESSING when the loop runs. Exists when it is queued already,
        StateError when it is not PENDING. Inside a turn use
        turn.confirm_order()."""
        self.bot._check(_lib().wabot_order_confirm(self.bot._ctx, self._o,
                                                   _b(order_id)))

    def set_status(self, order_id: str, status: OrderStatus) -> None:
        """Move the order (the current status again is a no-op). StateError
        naming both statuses for a change not allowed; TooLarge when the
        stock cannot cover a confirmation; NotFound."""
        self.bot._check(_lib().wabot_order_set_status(
            self.bot._ctx, self._o, _b(order_id), int(status)))

    def cancel(self, order_id: str) -> None:
        """set_status(CANCELLED): a confirmed order's stock goes back."""
        self.bot._check(_lib().wabot_order_cancel(self.bot._ctx, self._o,
                                                  _b(order_id)))

    def counts(self) -> Dict[str, int]:
        """{"all": n, "pending": n, ...}: orders per status (one round
        trip)."""
        arr = (c_int64 * _STATUS_COUNT)()
        self.bot._check(_lib().wabot_order_counts(self.bot._ctx, self._o,
                                                  arr, _STATUS_COUNT))
        out = {"all": arr[0]}
        out.update((s.label, arr[int(s)]) for s in OrderStatus)
        return out

    def stats(self) -> Dict[str, Any]:
        """{"org","count","by_status":{..},"revenue":{currency: minor}}."""
        return self._json(lambda out: _lib().wabot_order_stats(
            self.bot._ctx, self._o, out))


# ---------------------------------------------------------------------
# Inside a turn

def _turn_place_order(self: Turn) -> str:
    """Place the turn's cart as an order for its customer, keyed by the
    message id (a re-run turn gives the same order), and empty the cart.
    Returns the order id. NotFound ("the cart is empty") and the errors of
    Orders.create. The turn's callback only."""
    out = c_void_p()
    rc = _lib().wabot_order_place_cart(self._ptr(), byref(out))
    oid = _owned_ctx(self.bot._ctx, out.value)
    self._check(rc)
    return oid


def _turn_confirm_order(self: Turn, order_id: str) -> None:
    """Orders.confirm as one of the turn's effects: queued only if the
    turn commits. The turn's callback only."""
    self._check(_lib().wabot_order_confirm_in_turn(self._ptr(),
                                                   _b(order_id)))


def _bot_orders(self, org: Optional[str] = None) -> Orders:
    """The orders of `org` (None: default_organization)."""
    return Orders(self, org)


def _bot_install_order_flow(self, org: Optional[str] = None) -> None:
    """Install the ready-made shop conversation (greeting, menu, cart,
    confirm, help, product buttons, free text read into the cart) on the
    router; `org` None serves every organisation. Once, before serving,
    from the thread that sets up routes. StateError without the orders
    module."""
    self._check(_lib().wabot_order_flow_install(self._ctx, _b(org)))


Bot.orders = _bot_orders
Bot.install_order_flow = _bot_install_order_flow
Turn.place_order = _turn_place_order
Turn.confirm_order = _turn_confirm_order

__all__ = ["MAX_LINES", "OrderStatus", "Orders", "QUEUE"]
