"""libwabot for Python (ctypes over libwabot.so.0).

    import wabot

    bot = wabot.Bot(twilio_auth_token="...", public_url="https://bot.example")

    @bot.keyword("menu")
    def menu(turn):
        turn.reply("Our menu: ...")

See doc/python.md. The raw C functions, with their signatures, are
available as wabot.lib().wabot_* for anything the Pythonic layer does not
wrap.
"""
from ._loader import LibraryNotFound, load
from ._loader import lib
from .bot import (Bot, Category, HttpRequest, HttpResponseWriter, Job,
                  LoopThread, Message, MsgType, Options, OptionInfo,
                  OptionType, Outbound, Response, Session, Turn,
                  options_table, strerror, version)
from .errors import *  # noqa: F401,F403 - the exception hierarchy
from .errors import Status, WabotError, error_for
from . import storage, transport  # noqa: E402
from .redis import Redis, memory_limiter, memory_scheduler
from .module import (Module, ModuleContext, OptionDef,  # noqa: E402
                     STAGE_ADMIT, STAGE_TURN)
from .extras import (OutMessage, category_name, keyword_fold,  # noqa: E402
                     last_error, log_level_name, meta_signature_valid,
                     meta_signature, migration_bucket, msg_type_name,
                     record_decode, record_encode, twilio_signature,
                     twilio_signature_valid)
from . import commerce, invoices, campaign, orders, reminders  # noqa: E402
from .commerce import (Candidate, Cart, CartLine, CartView,  # noqa: E402
                       Catalog, ImportReport, Match, MatchLine, Money,
                       Product, currency_exponent, money_format,
                       money_parse)
from .invoices import InvoiceDraft, InvoiceStatus, Invoices  # noqa: E402
from .campaign import (Audiences, CampaignProgress,  # noqa: E402
                       CampaignSkip, CampaignStatus, Campaigns, Customers,
                       Feature, Template, TemplateScope)
from .orders import OrderStatus, Orders  # noqa: E402
from .reminders import ReminderStatus, ReminderType, Reminders  # noqa: E402

__version__ = "0.2.0"

__all__ = ["Bot", "Category", "HttpRequest", "HttpResponseWriter", "Job",
           "LibraryNotFound", "LoopThread", "Message", "MsgType", "Options",
           "OptionInfo", "OptionType", "Outbound", "Redis", "Response",
           "Session", "Status", "Turn", "WabotError", "error_for", "lib",
           "load", "memory_limiter", "memory_scheduler", "options_table",
           "storage", "strerror", "transport", "version", "OutMessage",
           "category_name", "keyword_fold", "log_level_name",
           "meta_signature_valid", "msg_type_name", "record_decode",
           "record_encode", "twilio_signature_valid", "Module",
           "ModuleContext", "OptionDef", "STAGE_ADMIT", "STAGE_TURN",
           "last_error", "migration_bucket", "meta_signature",
           "twilio_signature", "commerce", "invoices", "campaign",
           "Candidate", "Cart", "CartLine", "CartView", "Catalog",
           "ImportReport", "Match", "MatchLine", "Money", "Product",
           "currency_exponent", "money_format", "money_parse",
           "InvoiceDraft", "InvoiceStatus", "Invoices", "Audiences",
           "Customers", "Feature", "Template", "TemplateScope", "orders",
           "reminders", "CampaignProgress", "CampaignSkip", "CampaignStatus",
           "Campaigns", "OrderStatus", "Orders", "ReminderStatus",
           "ReminderType", "Reminders"]
