"""Reminders (include/wabot/campaign.h "Reminders", doc/campaigns.md):
one message (or a few, repeated) to a customer at a given time, from a
template rendered when it fires, on the "reminders" queue.

    rem = bot.reminders("acme")
    r = rem.create({"customerPhone": "+15550001", "type": "APPOINTMENT",
                    "message": "Hi {{name}}, see you at 10:30",
                    "scheduledFor": "2026-03-01T09:30:00+01:00"})
    rem.get(r["id"])["status"]          # "SCHEDULED", later "SENT"

Reminders cross as dicts (the replaced system's JSON). Any thread; every
call raises Unsupported while campaign.reminders_enabled is off for the
organisation.
"""
import enum
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union

from ._loader import lib as _lib
from .bot import Bot, _b
from ._handle import OrgScoped, follow_pages
from .campaign import _with_org


class ReminderType(enum.IntEnum):
    """wabot_reminder_type; the JSON spells .name ("PAYMENT_DUE")."""
    PAYMENT_DUE = 0
    APPOINTMENT = 1
    ORDER_PICKUP = 2
    CUSTOM = 3


class ReminderStatus(enum.IntEnum):
    """wabot_reminder_status: SCHEDULED -> SENT, FAILED or CANCELLED (the
    three final); the JSON spells .name."""
    SCHEDULED = 0
    SENT = 1
    FAILED = 2
    CANCELLED = 3


class Reminders(OrgScoped):
    """One organisation's reminders (bot.reminders(org))."""

    def create(self, body: Union[Mapping[str, Any], str, bytes]
               ) -> Dict[str, Any]:
        """Create and schedule a reminder from the replaced system's body
        ({"customerPhone","type","message","scheduledFor"} and optionally
        "id", "customerId", "repeat", "cancelOnReply", "template",
        "metadata"; organizationId defaults to this organisation for a
        dict). A time in the past fires at the next loop step. Returns the
        stored reminder. ParseError, InvalidArgument naming the member,
        Exists (the id is taken), Unsupported."""
        raw = _with_org(body, self.org)
        return self._json(lambda out: _lib().wabot_reminder_create_json(
            self.bot._ctx, raw, len(raw), out))

    def get(self, reminder_id: str) -> Optional[Dict[str, Any]]:
        """The reminder as a dict, or None when there is none."""
        return self._json_or_none(lambda out: _lib().wabot_reminder_get_json(
            self.bot._ctx, self._o, _b(reminder_id), out))

    def cancel(self, reminder_id: str) -> None:
        """SCHEDULED -> CANCELLED (reason "cancelled"). StateError naming
        the status when it is final already; NotFound."""
        self.bot._check(_lib().wabot_reminder_cancel(
            self.bot._ctx, self._o, _b(reminder_id)))

    def list(self, customer: Optional[str] = None,
             status: Optional[ReminderStatus] = None,
             cursor: Optional[str] = None, count: int = 100
             ) -> Tuple[List[Dict[str, Any]], Optional[str]]:
        """One page, oldest first, of one customer (a phone) and/or in one
        status: (reminders, next cursor or None when done)."""
        st = None if status is None else ReminderStatus(status).name
        page = self._json(lambda out: _lib().wabot_reminder_list_json(
            self.bot._ctx, self._o, _b(customer), _b(st), _b(cursor),
            count, out))
        nxt = page.get("cursor", "0")
        return page["reminders"], (None if nxt == "0" else nxt)

    def iterate(self, customer: Optional[str] = None,
                status: Optional[ReminderStatus] = None,
                page_size: int = 100) -> Iterator[Dict[str, Any]]:
        """Every reminder (of a customer, in a status), page by page."""
        return follow_pages(lambda cursor: self.list(customer, status,
                                                     cursor, page_size))

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        return self.iterate()

    def stats(self) -> Dict[str, Any]:
        """{"by_status":{"SCHEDULED":n,..},"created_by_type":{..}}."""
        return self._json(lambda out: _lib().wabot_reminder_stats_json(
            self.bot._ctx, self._o, out))


def _bot_reminders(self, org: Optional[str] = None) -> Reminders:
    """The reminders of `org` (None: default_organization)."""
    return Reminders(self, org)


Bot.reminders = _bot_reminders

__all__ = ["ReminderStatus", "ReminderType", "Reminders"]
