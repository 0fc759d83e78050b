"""Campaigns and their building blocks (include/wabot/campaign.h,
template.h, doc/campaigns.md): message templates, customer profiles,
audiences, the campaign feature switches and the campaigns themselves.

    t = wabot.Template(bot, "Hi {{name|there}}, {{org.name}} opens at 9")
    t.render({"name": "Ana", "org": {"name": "Acme"}})
    bot.customers().upsert({"phone": "+15550001", "tags": ["vip"]})
    phones, excluded = bot.audiences().resolve({"type": "tags",
                                                "any": ["vip"]})
    c = bot.campaigns().create({"name": "Promo", "message": "Hi {{name}}",
                                "type": "PROMOTIONAL", "startImmediately":
                                True, "targetAudience": {"type": "all"}})
    bot.campaigns().progress(c["id"]).sent

Customers and audience pages cross as dicts (the JSON of campaign.h).
"""
import datetime
import enum
import json
from ctypes import (CFUNCTYPE, Structure, addressof, byref, c_char_p, c_int,
                    c_int32, c_int64, c_size_t, c_uint32, c_void_p,
                    create_string_buffer)
from dataclasses import dataclass
from typing import (Any, Callable, Dict, Iterator, List, Mapping, Optional,
                    Tuple, Union)

from ._loader import lib as _lib
from .bot import Bot, _b, _owned_ctx, _s
from ._handle import OrgScoped, OwnedHandle, follow_pages, owned_bytes
from .errors import Status, error_for

# wabot_template_lookup_fn: the result is an address (kept alive by the
# render call in Python) rather than c_char_p, which ctypes would not keep.
LOOKUP_FN = CFUNCTYPE(c_void_p, c_void_p, c_int, c_char_p)


class TemplateScope(enum.IntEnum):
    """Where a placeholder's value comes from."""
    NAME = 0        # {{name}}
    CUSTOMER = 1    # {{customer.<attr>}}
    ORG = 2         # {{org.<attr>}}


class Feature(enum.IntEnum):
    """wabot_campaign_feature."""
    CAMPAIGNS = 0   # campaign.enabled
    REMINDERS = 1   # campaign.reminders_enabled


class Template(OwnedHandle):
    """A compiled message template ({{name}}, {{customer.x}}, {{org.x}},
    {{key|default}}). Compiling checks it: InvalidArgument naming the
    byte position, TooLarge over 64 KiB. Owned: close() or the collector
    frees it (before its bot is closed)."""

    def __init__(self, bot: Bot, text: Union[str, bytes]):
        self._bot = bot
        self._p = None
        raw = _b(text)
        out = c_void_p()
        rc = _lib().wabot_template_compile(bot._ctx, raw, len(raw),
                                           byref(out))
        if rc < 0:
            raise error_for(rc, _s(_lib().wabot_errmsg()))
        self._p = out.value

    _free_fn, _what = "wabot_template_free", "template"

    @property
    def placeholders(self) -> int:
        """How many placeholders the template holds."""
        return _lib().wabot_template_placeholders(self._p)

    def render(self, values: Union[Mapping[str, Any], str, None,
                                   Callable[[TemplateScope, str],
                                            Optional[str]]] = None) -> str:
        """Render with `values`: a dict {"name", "customer": {..},
        "org": {..}} (or its JSON text), or a callable(scope, attr) ->
        str or None (missing: the default is used)."""
        if callable(values):
            return self._render_fn(values)
        if values is None:
            values = {}
        if not isinstance(values, (str, bytes)):
            values = json.dumps(values)
        raw = _b(values)
        L, out, n = _lib(), c_void_p(), c_size_t()
        rc = L.wabot_template_render_json(self._ptr(), raw, len(raw),
                                          byref(out), byref(n))
        if rc < 0:
            raise error_for(rc, _s(L.wabot_errmsg()))
        return self._take(out, n)

    def _render_fn(self, fn):
        keep, failure = [], []

        def lookup(_ud, scope, attr):
            try:
                v = fn(TemplateScope(scope), _s(attr))
            except BaseException as e:  # noqa: B902 - never unwind into C
                failure.append(e)
                return None
            if v is None:
                return None
            buf = create_string_buffer(_b(v))
            keep.append(buf)
            return addressof(buf)
        cfn = LOOKUP_FN(lookup)
        L, out, n = _lib(), c_void_p(), c_size_t()
        rc = L.wabot_template_render(self._ptr(), cfn, None, byref(out),
                                     byref(n))
        if rc < 0:
            raise error_for(rc, _s(L.wabot_errmsg()))
        text = self._take(out, n)
        if failure:
            raise failure[0]
        return text

    def _take(self, out, n):
        return owned_bytes(self._bot._ctx, out.value, n.value).decode(
            "utf-8", "replace")


def _dumps(data):
    return _b(data if isinstance(data, (str, bytes)) else json.dumps(data))


class Customers(OrgScoped):
    """One organisation's customer profiles (bot.customers(org))."""

    def upsert(self, customer: Union[Mapping[str, Any], str]
               ) -> Dict[str, Any]:
        """Create or update ("phone" required; absent members are kept,
        null removes one); returns the customer after the change."""
        raw, out = _dumps(customer), c_void_p()
        self.bot._check(_lib().wabot_customer_upsert_json(
            self.bot._ctx, self._o, raw, len(raw), byref(out)))
        return json.loads(_owned_ctx(self.bot._ctx, out.value))

    def import_(self, rows: Union[List[Mapping[str, Any]], str]
                ) -> Dict[str, Any]:
        """Bulk upsert; a refused row does not stop the others. Returns
        the report {"rows","created","updated","failed","errors"}."""
        raw, out = _dumps(rows), c_void_p()
        self.bot._check(_lib().wabot_customer_import_json(
            self.bot._ctx, self._o, raw, len(raw), byref(out)))
        return json.loads(_owned_ctx(self.bot._ctx, out.value))

    def get(self, phone: str) -> Optional[Dict[str, Any]]:
        """The customer, or None when there is none."""
        return self._json_or_none(lambda out: _lib().wabot_customer_get_json(
            self.bot._ctx, self._o, _b(phone), out))

    def delete(self, phone: str) -> None:
        """NotFound when there is no such customer."""
        self.bot._check(_lib().wabot_customer_delete(self.bot._ctx, self._o,
                                                     _b(phone)))

    def list(self, cursor: Optional[str] = None, count: int = 100
             ) -> Tuple[List[Dict[str, Any]], Optional[str]]:
        """One page: (customers, next cursor or None)."""
        out = c_void_p()
        self.bot._check(_lib().wabot_customer_list_json(
            self.bot._ctx, self._o, _b(cursor), count, byref(out)))
        page = json.loads(_owned_ctx(self.bot._ctx, out.value))
        nxt = page.get("cursor", "0")
        return page["customers"], (None if nxt == "0" else nxt)

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        return follow_pages(lambda cursor: self.list(cursor))


class Audiences(OrgScoped):
    """Resolve audiences of one organisation (bot.audiences(org))."""

    def resolve_page(self, audience: Union[Mapping[str, Any], str],
                     cursor: Optional[str] = None, count: int = 100
                     ) -> Dict[str, Any]:
        """One page {"recipients","cursor","excluded"} of an audience
        ({"type":"all"}, {"type":"tags","any":[..]}, {"type":"list",
        "customers":[..]}, {"type":"attribute","name":..,"equals":..})."""
        raw, out = _dumps(audience), c_void_p()
        self.bot._check(_lib().wabot_audience_resolve_json(
            self.bot._ctx, self._o, raw, len(raw), _b(cursor), count,
            byref(out)))
        return json.loads(_owned_ctx(self.bot._ctx, out.value))

    def resolve(self, audience: Union[Mapping[str, Any], str],
                page_size: int = 100) -> Tuple[List[str], Dict[str, int]]:
        """Every page: (recipients without repeats, in the order first
        seen; excluded counts summed over the pages)."""
        seen, phones, excluded, cursor = set(), [], {}, None
        while True:
            page = self.resolve_page(audience, cursor, page_size)
            for p in page["recipients"]:
                if p not in seen:
                    seen.add(p)
                    phones.append(p)
            for k, v in page.get("excluded", {}).items():
                excluded[k] = excluded.get(k, 0) + v
            cursor = page.get("cursor", "0")
            if cursor == "0":
                return phones, excluded


# ---------------------------------------------------------------------
# Campaigns

class CampaignStatus(enum.IntEnum):
    """wabot_campaign_status. DRAFT -> SCHEDULED -> RUNNING <-> PAUSED ->
    COMPLETED; DRAFT -> RUNNING; any but the final two -> CANCELLED."""
    DRAFT = 0
    SCHEDULED = 1
    RUNNING = 2
    PAUSED = 3
    COMPLETED = 4
    CANCELLED = 5

    @property
    def label(self) -> str:
        """The library's upper-case name ("RUNNING"), as in the JSON."""
        return _s(_lib().wabot_campaign_status_name(int(self)))


class CampaignSkip(enum.IntEnum):
    """wabot_campaign_skip: why a recipient got no message."""
    OPTED_OUT = 0
    WINDOW_CLOSED = 1
    NOT_FOUND = 2
    INVALID = 3


_SKIP_COUNT = 4             # WABOT_CAMPAIGN_SKIP_COUNT
_PROGRESS_VERSION = 1       # WABOT_CAMPAIGN_PROGRESS_VERSION


class _CProgress(Structure):
    """struct wabot_campaign_progress, version 1."""
    _fields_ = [("version", c_uint32), ("status", c_int32),
                ("total", c_int64), ("queued", c_int64), ("sent", c_int64),
                ("delivered", c_int64), ("read", c_int64),
                ("failed", c_int64), ("skipped", c_int64 * _SKIP_COUNT),
                ("percent", c_int32), ("eta_ms", c_int64)]


@dataclass(frozen=True)
class CampaignProgress:
    """A campaign's progress (wabot_campaign_progress): recipients seen
    (total = queued + skipped), messages sent, delivered, read and failed
    from receipts, recipients skipped by reason, percent done (0..100) and
    eta_ms (-1: unknown)."""
    status: CampaignStatus
    total: int
    queued: int
    sent: int
    delivered: int
    read: int
    failed: int
    skipped: Dict[CampaignSkip, int]
    percent: int
    eta_ms: int

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def _ms(at: Union[int, datetime.datetime]) -> int:
    """ms since the epoch of an int or a timezone-aware datetime."""
    if isinstance(at, datetime.datetime):
        if at.tzinfo is None:
            raise error_for(Status.INVAL, "a naive datetime has no time "
                            "zone: give tzinfo or ms since the epoch")
        return int(at.timestamp() * 1000)
    return int(at)


def _with_org(body, org):
    """A dict body gets organizationId = org unless it names one."""
    if isinstance(body, Mapping) and "organizationId" not in body:
        body = dict(body, organizationId=org)
    return _dumps(body)


class Campaigns(OrgScoped):
    """One organisation's campaigns (bot.campaigns(org)). Campaigns cross
    as dicts (the JSON of campaign.h); the fan-out runs on the "campaigns"
    queue as the bot's loop runs. Any thread. Every call raises
    Unsupported while campaign.enabled is off for the organisation."""

    def create(self, body: Union[Mapping[str, Any], str, bytes]
               ) -> Dict[str, Any]:
        """Create from the replaced system's body ({"name", "message",
        "type", "targetAudience", "startImmediately" or "scheduledFor",
        ...}; organizationId defaults to this organisation for a dict).
        Returns the campaign with its "id" and "status". ParseError,
        InvalidArgument naming the member (a template error with its byte
        position), TooLarge, Unsupported."""
        raw = _with_org(body, self.org)
        return self._json(lambda out: _lib().wabot_campaign_create_json(
            self.bot._ctx, raw, len(raw), out))

    def get(self, campaign_id: str) -> Optional[Dict[str, Any]]:
        """The campaign as a dict, or None when there is none."""
        return self._json_or_none(lambda out: _lib().wabot_campaign_get_json(
            self.bot._ctx, self._o, _b(campaign_id), out))

    def list(self, status: Optional[CampaignStatus] = None,
             cursor: Optional[str] = None, count: int = 100
             ) -> Tuple[List[Dict[str, Any]], Optional[str]]:
        """One storage page (possibly empty before the end): (campaigns,
        next cursor or None when done)."""
        st = None if status is None else CampaignStatus(status).label
        page = self._json(lambda out: _lib().wabot_campaign_list_json(
            self.bot._ctx, self._o, _b(st), _b(cursor), count, out))
        nxt = page.get("cursor", "0")
        return page["campaigns"], (None if nxt == "0" else nxt)

    def iterate(self, status: Optional[CampaignStatus] = None,
                page_size: int = 100) -> Iterator[Dict[str, Any]]:
        """Every campaign (in one status), the cursor followed for you."""
        return follow_pages(lambda cursor: self.list(status, cursor,
                                                     page_size))

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        return self.iterate()

    def _move(self, fn, campaign_id, *args):
        self.bot._check(getattr(_lib(), fn)(self.bot._ctx, self._o,
                                            _b(campaign_id), *args))

    # Lifecycle: StateError (naming both states) for a move not allowed,
    # NotFound, Unsupported, Conflict.
    def start(self, campaign_id: str) -> None:
        """DRAFT or SCHEDULED -> RUNNING now."""
        self._move("wabot_campaign_start", campaign_id)

    def schedule(self, campaign_id: str,
                 at: Union[int, datetime.datetime]) -> None:
        """DRAFT -> SCHEDULED at `at` (ms since the epoch, or an aware
        datetime)."""
        self._move("wabot_campaign_schedule", campaign_id, _ms(at))

    def pause(self, campaign_id: str) -> None:
        """RUNNING -> PAUSED: no new batch starts (queued messages go)."""
        self._move("wabot_campaign_pause", campaign_id)

    def resume(self, campaign_id: str) -> None:
        """PAUSED -> RUNNING where the fan-out stopped."""
        self._move("wabot_campaign_resume", campaign_id)

    def cancel(self, campaign_id: str) -> None:
        """Any state but COMPLETED and CANCELLED -> CANCELLED."""
        self._move("wabot_campaign_cancel", campaign_id)

    def progress(self, campaign_id: str) -> CampaignProgress:
        """The campaign's counts (NotFound for an unknown id)."""
        p = _CProgress(version=_PROGRESS_VERSION)
        self.bot._check(_lib().wabot_campaign_progress_get(
            self.bot._ctx, self._o, _b(campaign_id), byref(p)))
        return CampaignProgress(
            CampaignStatus(p.status), p.total, p.queued, p.sent,
            p.delivered, p.read, p.failed,
            {k: p.skipped[int(k)] for k in CampaignSkip}, p.percent,
            p.eta_ms)

    def progress_json(self, campaign_id: str) -> Dict[str, Any]:
        """The same as the library's JSON ({"id","status",...,"skipped":
        {"opted_out",...},"percent","eta_ms"})."""
        return self._json(lambda out: _lib().wabot_campaign_progress_json(
            self.bot._ctx, self._o, _b(campaign_id), out))


def _bot_customers(self, org: Optional[str] = None) -> Customers:
    return Customers(self, org)


def _bot_audiences(self, org: Optional[str] = None) -> Audiences:
    return Audiences(self, org)


def _bot_feature_enabled(self, feature: Feature,
                         org: Optional[str] = None) -> bool:
    """Whether a campaign feature is on (for `org`, or context-wide)."""
    rc = _lib().wabot_campaign_feature_check(self._ctx, _b(org),
                                             int(feature))
    if rc == Status.UNSUPPORTED:
        return False
    self._check(rc)
    return True


def _bot_template(self, text: Union[str, bytes]) -> Template:
    return Template(self, text)


def _bot_campaigns(self, org: Optional[str] = None) -> Campaigns:
    """The campaigns of `org` (None: default_organization)."""
    return Campaigns(self, org)


Bot.customers = _bot_customers
Bot.audiences = _bot_audiences
Bot.campaign_feature_enabled = _bot_feature_enabled
Bot.template = _bot_template
Bot.campaigns = _bot_campaigns

__all__ = ["Audiences", "CampaignProgress", "CampaignSkip", "CampaignStatus",
           "Campaigns", "Customers", "Feature", "Template", "TemplateScope"]
