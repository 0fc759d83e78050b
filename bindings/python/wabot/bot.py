"""Bot: a libwabot context with Python middlewares, routes and handlers."""
import enum
import json
import logging
import threading
from typing import (Any, Callable, Dict, Iterable, List, Mapping,
                    Optional, Sequence, Tuple, Union)
from ctypes import (byref, c_char_p, c_double, c_int64, c_size_t,
                    c_void_p, create_string_buffer, string_at)

from . import _ffi
from ._loader import lib as _lib
from .errors import Status, error_for, status_of

_log = logging.getLogger("wabot")


# ---------------------------------------------------------------------
# Text helpers

def _b(s):
    """str/bytes/None -> bytes/None for a const char * argument."""
    if s is None or isinstance(s, bytes):
        return s
    return str(s).encode("utf-8")


def _s(b):
    """bytes/None from a const char * result -> str/None."""
    return None if b is None else b.decode("utf-8", "replace")


def _owned_ctx(ctx, addr):
    """Text the library returned as owned by a context (rule 2)."""
    if not addr:
        return None
    try:
        return string_at(addr).decode("utf-8", "replace")
    finally:
        _lib().wabot_ctx_mem_free(ctx, addr)


def _owned_libc(addr):
    """Text returned owned without a context (rule 3: wabot_free)."""
    if not addr:
        return None
    try:
        return string_at(addr).decode("utf-8", "replace")
    finally:
        _lib().wabot_free(addr)


def _strv(items):
    arr = (c_char_p * max(len(items), 1))()
    for i, v in enumerate(items):
        arr[i] = _b(v)
    return arr


def version():
    """(version number 0xMMmmpp, "M.m.p") of the loaded library."""
    L = _lib()
    return L.wabot_version_num(), _s(L.wabot_version_str())


def strerror(code):
    return _s(_lib().wabot_strerror(int(code)))


# ---------------------------------------------------------------------
# Enumerations

class MsgType(enum.IntEnum):
    UNKNOWN = 0
    TEXT = 1
    IMAGE = 2
    AUDIO = 3
    VIDEO = 4
    DOCUMENT = 5
    STICKER = 6
    LOCATION = 7
    BUTTON_REPLY = 8
    LIST_REPLY = 9
    CONTACTS = 10
    REACTION = 11


class Category(enum.IntEnum):
    REPLY = 0
    NOTICE = 1
    REMINDER = 2
    CAMPAIGN = 3


class OptionType(enum.IntEnum):
    INT = 1
    STRING = 2
    BOOL = 3
    DURATION = 4
    BYTES = 5
    ENUM = 6


OPTION_PER_ORG = 0x1
OPTION_SECRET = 0x2


# ---------------------------------------------------------------------
# Options

class OptionInfo:
    """One row of the listable options table (wabot_options_*)."""
    __slots__ = ("name", "type", "flags", "doc", "group", "env", "default",
                 "value", "range", "choices")

    def __repr__(self):
        return "OptionInfo(%s, %s, default=%r)" % (self.name, self.type.name,
                                                    self.default)


class Options:
    """wabot_options: set by keyword arguments, validated by the library's
    own table (names as in doc/options.md; '.' for module options)."""

    def __init__(self, **kwargs):
        L = _lib()
        self._L = L
        self._p = L.wabot_options_new()
        if not self._p:
            raise error_for(Status.NOMEM, "wabot_options_new")
        self.update(kwargs)

    def close(self):
        if self._p:
            self._L.wabot_options_free(self._p)
            self._p = None

    def __del__(self):
        self.close()

    def _err(self, rc):
        return error_for(rc, _s(self._L.wabot_options_errmsg(self._p)))

    def index(self, name):
        i = c_size_t()
        rc = self._L.wabot_options_find(self._p, _b(name), byref(i))
        if rc != 0:
            raise error_for(Status.INVAL if rc == Status.NOT_FOUND else rc,
                            "unknown option %r (see wabot.options_table())"
                            % name)
        return i.value

    def update(self, values):
        for name, value in values.items():
            self.set(name, value)

    def set(self, name: str, value: Union[bool, int, str, bytes, None]) -> None:
        """Set one option; `value` may be bool, int or str (durations and
        sizes also as text: "30s", "1MiB"); None restores the default."""
        i = self.index(name)
        t = self._L.wabot_options_type(self._p, i)
        if value is None:
            text = self._format(i, 1)
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            if t == OptionType.STRING:
                raise error_for(Status.INVAL, "option %s takes a string" % name)
            text = str(value)
        elif isinstance(value, (str, bytes)):
            text = value
        else:
            raise error_for(Status.INVAL, "option %s: unsupported value type %s"
                            % (name, type(value).__name__))
        rc = self._L.wabot_options_set(self._p, _b(name), _b(text))
        if rc != 0:
            raise self._err(rc)

    def set_org(self, org, name, value):
        rc = self._L.wabot_options_set_org(self._p, _b(org), _b(name),
                                           _b(_text(value)))
        if rc != 0:
            raise self._err(rc)

    def apply_env(self, env=None):
        """Apply the environment (os.environ when None, else a mapping)."""
        if env is None:
            rc = self._L.wabot_options_apply_env(self._p, None)
        else:
            items = ["%s=%s" % kv for kv in env.items()] + [None]
            rc = self._L.wabot_options_apply_env(self._p, _strv(items))
        if rc != 0:
            raise self._err(rc)

    def get(self, name, default=False):
        """Current (or with default=True, default) value as text."""
        return self._format(self.index(name), 1 if default else 0)

    def _format(self, i, which):
        n = self._L.wabot_options_format(self._p, i, which, None, 0)
        buf = create_string_buffer(n + 1)
        self._L.wabot_options_format(self._p, i, which, buf, n + 1)
        return buf.value.decode("utf-8")

    def table(self) -> List["OptionInfo"]:
        """Every option as an OptionInfo (library's, then modules')."""
        L, p, out = self._L, self._p, []
        for i in range(L.wabot_options_count(p)):
            o = OptionInfo()
            o.name = _s(L.wabot_options_name(p, i))
            o.type = OptionType(L.wabot_options_type(p, i))
            o.flags = L.wabot_options_flags(p, i)
            o.doc = _s(L.wabot_options_doc(p, i))
            o.group = _s(L.wabot_options_group(p, i))
            o.env = _s(L.wabot_options_env(p, i))
            o.default = self._format(i, 1)
            o.value = self._format(i, 0)
            lo, hi = c_int64(), c_int64()
            o.range = ((lo.value, hi.value) if L.wabot_options_range(
                p, i, byref(lo), byref(hi)) == 0 else None)
            o.choices = []
            while True:
                c = L.wabot_options_choice(p, i, len(o.choices))
                if c is None:
                    break
                o.choices.append(_s(c))
            out.append(o)
        return out


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, (str, bytes)) else str(value)


def options_table():
    """The library's options table (name, type, default, doc, env, ...)."""
    o = Options()
    try:
        return o.table()
    finally:
        o.close()


# ---------------------------------------------------------------------
# Messages

class Message:
    """A message: borrowed from a turn (valid during the callback) or
    owned (Message.new, freed by close() or the garbage collector)."""
    __slots__ = ("_p", "_owned")

    def __init__(self, ptr, owned=False):
        self._p = ptr
        self._owned = owned

    @classmethod
    def new(cls, id, from_, to="", text=None, type=None, payload=None,
            payload_title=None, profile_name=None, organization=None,
            timestamp_ms=None, media=(), location=None):
        """Build an inbound message for Bot.handle_message()."""
        L = _lib()
        p = L.wabot_message_new(_b(id), _b(from_), _b(to))
        if not p:
            raise error_for(Status.INVAL, "wabot_message_new: bad id/from")
        m = cls(p, owned=True)
        chk = m._chk
        if type is not None:
            chk(L.wabot_message_set_type(p, _msg_type(type)))
        if text is not None:
            chk(L.wabot_message_set_text(p, _b(text)))
        if payload is not None:
            chk(L.wabot_message_set_payload(p, _b(payload),
                                            _b(payload_title)))
        if profile_name is not None:
            chk(L.wabot_message_set_profile_name(p, _b(profile_name)))
        if organization is not None:
            chk(L.wabot_message_set_organization(p, _b(organization)))
        if timestamp_ms is not None:
            chk(L.wabot_message_set_timestamp_ms(p, timestamp_ms))
        for url, ctype in media:
            chk(L.wabot_message_add_media(p, _b(url), _b(ctype)))
        if location is not None:
            lat, lon = location[0], location[1]
            name = location[2] if len(location) > 2 else None
            addr = location[3] if len(location) > 3 else None
            chk(L.wabot_message_set_location(p, lat, lon, _b(name),
                                             _b(addr)))
        return m

    def _chk(self, rc):
        if rc != 0:
            raise error_for(rc, "message setter")

    def close(self):
        if self._owned and self._p:
            _lib().wabot_message_free(self._p)
        self._p = None

    def __del__(self):
        self.close()

    def _str(self, fn):
        return _s(getattr(_lib(), fn)(self._p))

    provider = property(lambda s: _s(_lib().wabot_provider_name(
        _lib().wabot_message_provider(s._p))))
    id = property(lambda s: s._str("wabot_message_id"))
    from_ = property(lambda s: s._str("wabot_message_from"))
    to = property(lambda s: s._str("wabot_message_to"))
    to_id = property(lambda s: s._str("wabot_message_to_id"))
    profile_name = property(lambda s: s._str("wabot_message_profile_name"))
    type = property(lambda s: MsgType(_lib().wabot_message_type(s._p)))
    text = property(lambda s: s._str("wabot_message_text"))
    payload = property(lambda s: s._str("wabot_message_payload"))
    payload_title = property(lambda s: s._str("wabot_message_payload_title"))
    organization = property(lambda s: s._str("wabot_message_organization"))
    timestamp_ms = property(lambda s: _lib().wabot_message_timestamp_ms(s._p))

    @property
    def media(self):
        L = _lib()
        return [(_s(L.wabot_message_media_url(self._p, i)),
                 _s(L.wabot_message_media_type(self._p, i)))
                for i in range(L.wabot_message_media_count(self._p))]

    @property
    def location(self):
        """(lat, lon, name, address) or None."""
        L = _lib()
        lat, lon = c_double(), c_double()
        if not L.wabot_message_location(self._p, byref(lat), byref(lon)):
            return None
        return (lat.value, lon.value,
                _s(L.wabot_message_location_name(self._p)),
                _s(L.wabot_message_location_address(self._p)))


def _msg_type(t):
    if isinstance(t, str):
        v = _lib().wabot_msg_type_from_name(_b(t))
        if v == 0 and t != "unknown":
            raise error_for(Status.INVAL, "unknown message type %r" % t)
        return v
    return int(t)


class Outbound:
    """A snapshot of an outbound message (safe to keep after the call)."""
    __slots__ = ("id", "kind", "category", "to", "from_", "organization",
                 "text", "media_url", "in_reply_to", "options",
                 "template_name", "template_language", "params",
                 "correlation_id", "provider", "list_button", "list_section")

    def __init__(self, ptr):
        L = _lib()
        g = lambda fn: _s(getattr(L, fn)(ptr))  # noqa: E731
        self.id = g("wabot_outbound_id")
        self.kind = _s(L.wabot_out_kind_name(L.wabot_outbound_kind(ptr)))
        self.category = Category(L.wabot_outbound_category(ptr))
        self.provider = _s(L.wabot_provider_name(
            L.wabot_outbound_provider(ptr)))
        self.to = g("wabot_outbound_to")
        self.from_ = g("wabot_outbound_from")
        self.organization = g("wabot_outbound_organization")
        self.text = g("wabot_outbound_text")
        self.media_url = g("wabot_outbound_media_url")
        self.in_reply_to = g("wabot_outbound_in_reply_to")
        self.correlation_id = g("wabot_outbound_correlation_id")
        self.options = [
            (_s(L.wabot_outbound_option_id(ptr, i)),
             _s(L.wabot_outbound_option_title(ptr, i)),
             _s(L.wabot_outbound_option_description(ptr, i)))
            for i in range(L.wabot_outbound_option_count(ptr))]
        self.list_button = g("wabot_outbound_list_button")
        self.list_section = g("wabot_outbound_list_section")
        self.template_name = g("wabot_outbound_template_name")
        self.template_language = g("wabot_outbound_template_language")
        self.params = [_s(L.wabot_outbound_param(ptr, i))
                       for i in range(L.wabot_outbound_param_count(ptr))]

    def __repr__(self):
        return "Outbound(%s to %s: %r)" % (self.kind, self.to, self.text)


def outbound_json(ptr):
    """wabot_outbound_to_json of a borrowed outbound pointer, parsed."""
    return json.loads(_owned_libc(_lib().wabot_outbound_to_json(ptr)))


# ---------------------------------------------------------------------
# The turn

_tls = threading.local()


class Session:
    """The conversation's session values (a JSON object) inside a turn."""
    __slots__ = ("_t",)

    def __init__(self, turn):
        self._t = turn

    def _p(self):
        return self._t._ptr()

    def to_dict(self):
        L = _lib()
        p = self._p()
        return json.loads(_owned_ctx(L.wabot_turn_ctx(p),
                                     L.wabot_turn_session_json(p)))

    def __getitem__(self, key):
        return self.to_dict()[key]

    def get(self, key, default=None):
        return self.to_dict().get(key, default)

    def get_int(self, key, default=0):
        return _lib().wabot_turn_session_int(self._p(), _b(key), default)

    def get_str(self, key):
        return _s(_lib().wabot_turn_session_str(self._p(), _b(key)))

    def __contains__(self, key):
        return key in self.to_dict()

    def __setitem__(self, key, value):
        L, p = _lib(), self._p()
        if isinstance(value, str):
            rc = L.wabot_turn_session_set_str(p, _b(key), _b(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            rc = L.wabot_turn_session_set_int(p, _b(key), value)
        else:
            text = json.dumps(value).encode("utf-8")
            rc = L.wabot_turn_session_set_json(p, _b(key), text, len(text))
        self._t._check(rc)

    def __delitem__(self, key):
        rc = _lib().wabot_turn_session_del(self._p(), _b(key))
        if rc == Status.NOT_FOUND:
            raise KeyError(key)
        self._t._check(rc)

    def pop(self, key, default=None):
        d = self.to_dict()
        if key in d:
            del self[key]
        return d.get(key, default)

    def clear(self):
        self._t._check(_lib().wabot_turn_session_clear(self._p()))


class Turn:
    """One message's trip through the pipeline. Valid only while the
    callback that received it runs (the C turn lives on the C stack)."""
    __slots__ = ("_p", "bot", "locals", "__weakref__")

    def __init__(self, ptr, bot):
        self._p = ptr
        self.bot = bot
        self.locals = {}

    def _ptr(self):
        if not self._p:
            raise error_for(Status.STATE, "the turn has ended")
        return self._p

    def _check(self, rc):
        if rc < 0:
            raise error_for(rc, _s(_lib().wabot_ctx_errmsg(
                self.bot._ctx)) or strerror(rc))
        return rc

    @property
    def message(self):
        return Message(_lib().wabot_turn_message(self._ptr()))

    @property
    def text(self):
        """The message text (shortcut for turn.message.text)."""
        L = _lib()
        return _s(L.wabot_message_text(L.wabot_turn_message(self._ptr())))

    organization = property(lambda s: _s(_lib().wabot_turn_organization(
        s._ptr())))
    customer = property(lambda s: _s(_lib().wabot_turn_customer(s._ptr())))
    customer_name = property(lambda s: _s(_lib().wabot_turn_customer_name(
        s._ptr())))
    opted_out = property(lambda s: bool(_lib().wabot_turn_customer_opted_out(
        s._ptr())))
    handled = property(lambda s: bool(_lib().wabot_turn_handled(s._ptr())))
    reply_count = property(lambda s: _lib().wabot_turn_reply_count(s._ptr()))

    def set_handled(self):
        _lib().wabot_turn_set_handled(self._ptr())

    @property
    def state(self):
        return _s(_lib().wabot_turn_state(self._ptr()))

    @state.setter
    def state(self, name):
        self._check(_lib().wabot_turn_set_state(self._ptr(), _b(name)))

    @property
    def session(self):
        return Session(self)

    @property
    def captures(self):
        L, p = _lib(), self._ptr()
        return [_s(L.wabot_turn_capture(p, i))
                for i in range(L.wabot_turn_capture_count(p))]

    def capture(self, i: int) -> Optional[str]:
        return _s(_lib().wabot_turn_capture(self._ptr(), i))

    def option(self, name: str) -> Union[int, str]:
        """An option as seen by this turn's organisation (int or str)."""
        L, p = _lib(), self._ptr()
        v = c_int64()
        if L.wabot_turn_option_int(p, _b(name), byref(v)) == 0:
            return v.value
        s = L.wabot_turn_option_str(p, _b(name))
        if s is None:
            raise error_for(Status.NOT_FOUND, "unknown option %r" % name)
        return _s(s)

    # Replies
    def reply(self, text: str) -> None:
        self._check(_lib().wabot_reply_text(self._ptr(), _b(text)))

    def reply_media(self, url: str, caption: Optional[str] = None) -> None:
        self._check(_lib().wabot_reply_media(self._ptr(), _b(url),
                                             _b(caption)))

    def reply_buttons(self, body: str,
                      buttons: Sequence[Tuple[str, str]]) -> None:
        """buttons: [(id, title), ...] (1..3)."""
        ids, titles = _strv([b[0] for b in buttons]), \
            _strv([b[1] for b in buttons])
        self._check(_lib().wabot_reply_buttons(self._ptr(), _b(body),
                                               len(buttons), ids, titles))

    def reply_list(self, body: str, rows: Sequence[Tuple[str, str]]) -> None:
        """rows: [(id, title), ...] (1..10)."""
        ids, titles = _strv([r[0] for r in rows]), _strv([r[1] for r in rows])
        self._check(_lib().wabot_reply_list(self._ptr(), _b(body), len(rows),
                                            ids, titles))

    def reply_template(self, name: str, language: str,
                       params: Sequence[str] = ()) -> None:
        self._check(_lib().wabot_reply_template(
            self._ptr(), _b(name), _b(language), len(params),
            _strv(list(params))))

    def enqueue(self, queue: str, payload: Union[bytes, str] = b"",
                job_id: Optional[str] = None, delay_ms: int = 0) -> str:
        """Enqueue a job with the turn's effects (the turn outbox)."""
        L = _lib()
        spec = _ffi.JobSpec()
        L.wabot_job_spec_init(byref(spec))
        spec.job_id = _b(job_id)
        spec.delay_ms = delay_ms
        payload = _b(payload) or b""
        out = c_void_p()
        self._check(L.wabot_turn_enqueue(self._ptr(), _b(queue), payload,
                                         len(payload), byref(spec),
                                         byref(out)))
        return _owned_ctx(self.bot._ctx, out.value)


# ---------------------------------------------------------------------
# HTTP

class Response:
    """What the host sends back for a request handled by the library."""
    __slots__ = ("status", "content_type", "headers", "body")

    def __init__(self, status, content_type, headers, body):
        self.status = status
        self.content_type = content_type
        self.headers = headers
        self.body = body

    def __repr__(self):
        return "Response(%d, %r, %r)" % (self.status, self.content_type,
                                         self.body[:80])


class HttpRequest:
    """The request an HTTP route handler serves (valid during the call)."""
    __slots__ = ("_p",)

    def __init__(self, p):
        self._p = p

    method = property(lambda s: _s(
        _lib().wabot_http_server_request_method(s._p)))
    path = property(lambda s: _s(_lib().wabot_http_server_request_path(s._p)))
    query = property(lambda s: _s(
        _lib().wabot_http_server_request_query(s._p)))

    def param(self, name):
        return _s(_lib().wabot_http_server_request_param(self._p, _b(name)))

    def query_param(self, name):
        n = c_size_t()
        v = _lib().wabot_http_server_request_query_param(self._p, _b(name),
                                                         byref(n))
        return None if v is None else \
            string_at(v, n.value).decode("utf-8", "replace")

    def header(self, name):
        return _s(_lib().wabot_http_server_request_header(self._p, _b(name)))

    @property
    def body(self):
        n = c_size_t()
        p = _lib().wabot_http_server_request_body(self._p, byref(n))
        return string_at(p, n.value) if n.value else b""


class HttpResponseWriter:
    """The response an HTTP route handler fills."""
    __slots__ = ("_p",)

    def __init__(self, p):
        self._p = p

    def _c(self, rc):
        if rc != 0:
            raise error_for(rc, "http response")

    def set_status(self, status):
        self._c(_lib().wabot_http_response_set_status(self._p, status))

    def add_header(self, name, value):
        self._c(_lib().wabot_http_response_add_header(self._p, _b(name),
                                                      _b(value)))

    def set_body(self, content_type, body):
        body = _b(body)
        self._c(_lib().wabot_http_response_set_body(
            self._p, _b(content_type), body, len(body)))

    def set_json(self, status, obj):
        text = obj if isinstance(obj, (str, bytes)) else json.dumps(obj)
        self._c(_lib().wabot_http_response_set_json(self._p, status,
                                                    _b(text)))

    def set_text(self, status, text):
        self._c(_lib().wabot_http_response_set_text(self._p, status,
                                                    _b(text)))


def _read_response(L, r):
    n = c_size_t()
    body_p = L.wabot_http_response_body(r, byref(n))
    body = string_at(body_p, n.value) if n.value else b""
    headers = [(_s(L.wabot_http_response_header_name(r, i)),
                _s(L.wabot_http_response_header_value(r, i)))
               for i in range(L.wabot_http_response_header_count(r))]
    return Response(L.wabot_http_response_status(r),
                    _s(L.wabot_http_response_content_type(r)), headers, body)


# ---------------------------------------------------------------------
# The bot

def _next_fn(turn):
    def next_():
        rc = _lib().wabot_pipeline_next(turn._ptr())
        if rc < 0:
            exc = getattr(_tls, "exc", None)
            if exc is not None:
                _tls.exc = None
                raise exc
            turn._check(rc)
        return rc
    return next_


class Bot:
    """A libwabot context configured from Python.

    Options are keyword arguments named as in doc/options.md
    (``Bot(twilio_auth_token="...", dedup=False, window_ms="24h")``);
    module options ("toy.greeting") go in ``options={...}``.

    modules: wabot.Module instances (their options then join the table).
    storage / transport / scheduler / limiter: backends (wabot.storage,
    wabot.transport, wabot.Redis). log: a callable(level, module, msg) or
    True for the logging module. clock: a callable returning ms.
    asyncio_loop: drive the library from this asyncio loop (wabot.aio).

    Use as a context manager, or call close(); a Bot keeps every Python
    callback it handed to C alive until then.
    """

    def __init__(self, *, storage=None, transport=None, scheduler=None,
                 limiter=None, log=None, clock=None, loop_hooks=None,
                 asyncio_loop=None, options=None, env=False, modules=(),
                 **kwargs):
        L = _lib()
        self._L = L
        self._ctx = None
        self._keep = []          # callbacks and objects C points to
        self._backends = []
        self._aio = None
        self._error_handler = None
        self._loop_thread = None
        opts = Options()
        self._module_error = None
        try:
            # Modules first: their options join the table at once.
            for mod in modules:
                d, keep = mod._descriptor(self)
                self._keep += keep
                rc = L.wabot_options_add_module(opts._p, byref(d), None)
                if rc != 0:
                    raise opts._err(rc)
            if env:
                opts.apply_env(None if env is True else env)
            opts.update(kwargs)
            if options:
                opts.update(options)
            self._setup_options(opts, storage, transport, scheduler, limiter,
                                log, clock, loop_hooks, asyncio_loop)
            out = c_void_p()
            rc = L.wabot_ctx_new(byref(out), opts._p)
            if rc != 0:
                self._ctx = None
                raise opts._err(rc) from self._module_error
            self._ctx = out.value
        finally:
            opts.close()
        self._backends = [b for b in (storage, transport, scheduler, limiter)
                          if b is not None]
        for b in self._backends:
            b._acquire()
        if self._aio is not None:
            self._aio.bind(self)
        self._install_turn_scope()

    def _setup_options(self, opts, storage, transport, scheduler, limiter,
                       log, clock, loop_hooks, asyncio_loop):
        L, p = self._L, opts._p
        if storage is not None:
            L.wabot_options_set_storage(p, storage._handle)
        if transport is not None:
            L.wabot_options_set_transport(p, transport._handle)
        if scheduler is not None:
            L.wabot_options_set_scheduler(p, scheduler._handle)
        if limiter is not None:
            L.wabot_options_set_limiter(p, limiter._handle)
        if log is not None:
            fn = _ffi.LOG_FN(_log_adapter(log))
            self._keep.append(fn)
            L.wabot_options_set_log(p, fn, None)
        if clock is not None:
            def now(_ud, clock=clock):
                try:
                    return int(clock())
                except BaseException:  # noqa: B902 - never unwind into C
                    _log.exception("wabot clock")
                    return 0
            c = _ffi.Clock(1, _ffi.NOW_MS_FN(now), None)
            self._keep.append(c)
            rc = L.wabot_options_set_clock(p, byref(c))
            if rc != 0:
                raise opts._err(rc)
        self._aio = None
        if asyncio_loop is not None:
            from .aio import AsyncioDriver
            self._aio = AsyncioDriver(asyncio_loop)
            loop_hooks = self._aio.hooks
        if loop_hooks is not None:
            self._keep.append(loop_hooks)
            rc = L.wabot_options_set_loop(p, byref(loop_hooks))
            if rc != 0:
                raise opts._err(rc)

    # Lifetime -------------------------------------------------------
    def close(self):
        """Stop the loop thread, free the context, release callbacks."""
        if self._loop_thread is not None:
            self._loop_thread.stop()
            self._loop_thread = None
        if self._ctx:
            self._L.wabot_ctx_free(self._ctx)
            self._ctx = None
            backends, self._backends = self._backends, []
            for b in backends:
                b._release()
        if self._aio is not None:
            self._aio.unbind()
        self._keep = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    @property
    def handle(self):
        """The wabot_ctx * address (for the raw layer, wabot.lib())."""
        return self._ctx

    def _check(self, rc):
        if rc < 0:
            raise error_for(rc, _s(self._L.wabot_ctx_errmsg(self._ctx)))
        return rc

    def _org(self, org):
        return org or self._L.wabot_ctx_option_str(
            self._ctx, None, b"default_organization")

    # Callbacks ------------------------------------------------------
    def _install_turn_scope(self):
        """The outermost middleware: one Turn object per C turn, shared
        by every Python callback of that turn (turn.locals)."""
        def scope(tp, _ud):
            prev = getattr(_tls, "turn", None)
            t = Turn(tp, self)
            _tls.turn, _tls.exc = t, None
            try:
                return self._L.wabot_pipeline_next(tp)
            finally:
                t._p = None
                _tls.turn = prev
        fn = _ffi.MIDDLEWARE_FN(scope)
        self._keep.append(fn)
        self._check(self._L.wabot_pipeline_use(self._ctx, b"python.turn",
                                               fn, None, None))

    def _turn(self, tp):
        t = getattr(_tls, "turn", None)
        if t is None or t._p != tp:
            t = Turn(tp, self)
        return t

    def _wrap_handler(self, fn):
        def call(tp, _ud):
            turn = self._turn(tp)
            try:
                rc = fn(turn)
                return int(rc) if isinstance(rc, int) else 0
            except BaseException as e:  # noqa: B902 - becomes a failed turn
                _tls.exc = e
                return status_of(e)
        return call

    def _wrap_middleware(self, fn):
        def call(tp, _ud):
            turn = self._turn(tp)
            try:
                rc = fn(turn, _next_fn(turn))
                return int(rc) if isinstance(rc, int) else 0
            except BaseException as e:  # noqa: B902
                _tls.exc = e
                return status_of(e)
        return call

    def _keep_cfn(self, cfn):
        self._keep.append(cfn)
        return cfn

    # Registration ---------------------------------------------------
    def use(self, fn: Optional[Callable[["Turn", Callable[[], int]], Any]] = None,
            *, name: Optional[str] = None):
        """Decorator: a middleware fn(turn, next). Call next() to run the
        rest of the pipeline (it raises what the rest raised)."""
        def deco(f):
            c = self._keep_cfn(_ffi.MIDDLEWARE_FN(self._wrap_middleware(f)))
            self._check(self._L.wabot_pipeline_use(
                self._ctx, _b(name or getattr(f, "__name__", "python")),
                c, None, None))
            return f
        return deco(fn) if fn is not None else deco

    def _route(self, register):
        def deco(f):
            c = self._keep_cfn(_ffi.HANDLER_FN(self._wrap_handler(f)))
            self._check(register(c))
            return f
        return deco

    def keyword(self, keyword: str, state: Optional[str] = None):
        """Decorator: a route for a keyword ("menu" matches " Ménu! ")."""
        return self._route(lambda c: self._L.wabot_route_keyword(
            self._ctx, _b(state), _b(keyword), c, None, None))

    def command(self, name: str, state: Optional[str] = None):
        """Decorator: "/name args" (turn.capture(1) is the argument)."""
        return self._route(lambda c: self._L.wabot_route_command(
            self._ctx, _b(state), _b(name), c, None, None))

    def regex(self, pattern: str, state: Optional[str] = None,
              icase: bool = False):
        """Decorator: a POSIX extended regex (turn.captures)."""
        return self._route(lambda c: self._L.wabot_route_regex(
            self._ctx, _b(state), _b(pattern), 1 if icase else 0, c, None,
            None))

    def payload(self, payload: str, state: Optional[str] = None):
        """Decorator: a button/list payload ("order:*" is a prefix)."""
        return self._route(lambda c: self._L.wabot_route_payload(
            self._ctx, _b(state), _b(payload), c, None, None))

    def type(self, msg_type: Union["MsgType", str, int],
             state: Optional[str] = None):
        """Decorator: a message type (MsgType or name, e.g. "image")."""
        return self._route(lambda c: self._L.wabot_route_type(
            self._ctx, _b(state), _msg_type(msg_type), c, None, None))

    def fallback(self, fn: Optional[Callable[["Turn"], Any]] = None, *,
                 state: Optional[str] = None):
        """Decorator: the fallback (for `state`, or global)."""
        deco = self._route(lambda c: self._L.wabot_route_fallback(
            self._ctx, _b(state), c, None, None))
        return deco(fn) if fn is not None else deco

    @property
    def route_count(self):
        return self._L.wabot_route_count(self._ctx)

    def error(self, fn: Callable[["Turn", BaseException], Any]):
        """Decorator: the error handler fn(turn, error). `error` is the
        Python exception a callback raised, or a WabotError(code, detail).
        It may still reply."""
        def call(tp, status, detail, _ud):
            turn = self._turn(tp)
            exc = getattr(_tls, "exc", None)
            _tls.exc = None
            if exc is None:
                exc = error_for(status, _s(detail))
            _tls.turn_exc = exc
            try:
                fn(turn, exc)
            except BaseException:  # noqa: B902 - nowhere left to report
                _log.exception("wabot error handler raised")
        c = _ffi.ERROR_FN(call)
        self._check(self._L.wabot_pipeline_set_error_handler(self._ctx, c,
                                                             None, None))
        self._keep.append(c)
        self._error_handler = fn
        return fn

    def http_route(self, method: str, pattern: str):
        """Decorator: an HTTP route fn(request, response) served by
        handle_http (e.g. an admin endpoint "/admin/customers/:phone")."""
        def deco(f):
            def call(_ctx, req, resp, _ud):
                try:
                    rc = f(HttpRequest(req), HttpResponseWriter(resp))
                    return int(rc) if isinstance(rc, int) else 0
                except BaseException as e:  # noqa: B902
                    _log.exception("wabot http route %s %s", method, pattern)
                    return status_of(e)
            c = self._keep_cfn(_ffi.HTTP_HANDLER_FN(call))
            self._check(self._L.wabot_http_route_add(
                self._ctx, _b(method), _b(pattern), c, None, None))
            return f
        return deco

    def worker(self, queue: str, concurrency: int = 1):
        """Decorator: a job worker fn(job) for `queue`; job.payload is
        bytes. Return normally (done) or raise (retried with backoff)."""
        def deco(f):
            def call(jp, _ud):
                L = self._L
                n = c_size_t()
                p = L.wabot_job_payload(jp, byref(n))
                job = Job(_s(L.wabot_job_id(jp)), _s(L.wabot_job_queue(jp)),
                          string_at(p, n.value) if n.value else b"",
                          L.wabot_job_attempt(jp), jp)
                try:
                    f(job)
                    return 0
                except BaseException as e:  # noqa: B902
                    L.wabot_job_set_error(jp, _b(repr(e)))
                    return status_of(e)
            c = self._keep_cfn(_ffi.JOB_FN(call))
            self._check(self._L.wabot_queue_add_worker(
                self._ctx, _b(queue), c, None, None, concurrency))
            return f
        return deco

    # Handling -------------------------------------------------------
    def handle_message(self, message: Optional["Message"] = None,
                       **fields: Any) -> None:
        """Run one message through the pipeline on this thread.
        `message` is a Message, or pass Message.new() keyword arguments
        (id=, from_=, text=, ...). Raises the failing turn's error."""
        own = message is None
        if own:
            fields.setdefault("id", "py-%d" % _next_id())
            message = Message.new(**fields)
        _tls.exc = _tls.turn_exc = None
        try:
            rc = self._L.wabot_ctx_handle_message(self._ctx, message._p)
            if rc < 0:
                cause = getattr(_tls, "turn_exc", None) or \
                    getattr(_tls, "exc", None)
                _tls.exc = _tls.turn_exc = None
                err = error_for(rc, _s(self._L.wabot_ctx_errmsg(self._ctx))
                                or (repr(cause) if cause else ""))
                raise err from cause
        finally:
            if own:
                message.close()

    def handle_http(self, method: str, target: str,
                    headers: Union[Mapping[str, str],
                                   Iterable[Tuple[str, str]]] = (),
                    body: Union[bytes, str] = b"") -> "Response":
        """Serve one HTTP request (webhooks, routes); thread-safe.
        headers: a mapping or (name, value) pairs. Returns a Response."""
        L = self._L
        if hasattr(headers, "items"):
            headers = list(headers.items())
        arr = (_ffi.HttpHeader * max(len(headers), 1))()
        for i, (k, v) in enumerate(headers):
            arr[i].name, arr[i].value = _b(k), _b(v)
        body = _b(body) or b""
        resp = c_void_p()
        rc = L.wabot_http_handle(self._ctx, _b(method), _b(target), arr,
                                 len(headers), body, len(body), byref(resp))
        self._check(rc)
        try:
            return _read_response(L, resp.value)
        finally:
            L.wabot_http_response_free(resp.value)

    # The loop -------------------------------------------------------
    def poll(self, max_wait_ms: int = 0) -> int:
        """One loop step: wait up to max_wait_ms for fds/timers, run what
        is due. Returns jobs started. Loop thread only."""
        return self._check(self._L.wabot_ctx_poll(self._ctx, max_wait_ms))

    def run_until_idle(self, deadline_ms: Optional[int] = None) -> int:
        """Run until nothing is due before deadline_ms (default: now)."""
        if deadline_ms is None:
            deadline_ms = self.now_ms()
        return self._check(self._L.wabot_ctx_run_until_idle(self._ctx,
                                                            deadline_ms))

    def next_timeout_ms(self):
        return self._L.wabot_ctx_next_timeout_ms(self._ctx)

    def on_timeout(self):
        return self._check(self._L.wabot_ctx_on_timeout(self._ctx))

    def on_fd(self, fd, events):
        return self._check(self._L.wabot_ctx_on_fd(self._ctx, fd, events))

    def start_loop_thread(self, interval_ms: int = 100) -> "LoopThread":
        """Drive the loop from a daemon thread (poll in a loop) until
        close() or the returned thread's stop()."""
        if self._loop_thread is None:
            self._loop_thread = LoopThread(self, interval_ms)
            self._loop_thread.start()
        return self._loop_thread

    # Outside a turn -------------------------------------------------
    def now_ms(self) -> int:
        return self._L.wabot_ctx_now_ms(self._ctx)

    def send_text(self, to: str, text: str, org: Optional[str] = None,
                  category: "Category" = Category.NOTICE,
                  id: Optional[str] = None) -> str:
        """Queue a text message outside a turn; returns its id."""
        out = c_void_p()
        self._check(self._L.wabot_send_text(self._ctx, _b(org), _b(to),
                                            _b(text), int(category), _b(id),
                                            byref(out)))
        return _owned_ctx(self._ctx, out.value)

    def send_template(self, to, name, language, params=(), org=None,
                      category=Category.NOTICE, id=None):
        out = c_void_p()
        self._check(self._L.wabot_send_template(
            self._ctx, _b(org), _b(to), _b(name), _b(language), len(params),
            _strv(list(params)), int(category), _b(id), byref(out)))
        return _owned_ctx(self._ctx, out.value)

    def conversation(self, customer: str, org: Optional[str] = None
                     ) -> Optional[Tuple[str, Dict[str, Any], int]]:
        """(state, session dict, version) or None when there is none."""
        L, out = self._L, c_void_p()
        rc = L.wabot_conversation_get(self._ctx, _b(self._org(org)), _b(customer),
                                      byref(out))
        if rc == Status.NOT_FOUND:
            return None
        self._check(rc)
        try:
            return (_s(L.wabot_conversation_state(out)),
                    json.loads(_s(L.wabot_conversation_session(out))),
                    L.wabot_conversation_version(out))
        finally:
            L.wabot_conversation_free(out)

    def reset_conversation(self, customer, org=None):
        rc = self._L.wabot_conversation_reset(self._ctx, _b(self._org(org)),
                                              _b(customer))
        if rc != Status.NOT_FOUND:
            self._check(rc)

    def customer(self, phone: str,
                 org: Optional[str] = None) -> Optional[Dict[str, Any]]:
        """dict(phone, name, last_inbound_ms, opted_out) or None."""
        L, out = self._L, c_void_p()
        rc = L.wabot_customer_get(self._ctx, _b(self._org(org)), _b(phone),
                                  byref(out))
        if rc == Status.NOT_FOUND:
            return None
        self._check(rc)
        try:
            return {"phone": _s(L.wabot_customer_phone(out)),
                    "name": _s(L.wabot_customer_name(out)),
                    "last_inbound_ms": L.wabot_customer_last_inbound_ms(out),
                    "opted_out": bool(L.wabot_customer_opted_out(out))}
        finally:
            L.wabot_customer_free(out)

    def set_opted_out(self, phone, opted_out=True, org=None):
        self._check(self._L.wabot_customer_set_opted_out(
            self._ctx, _b(self._org(org)), _b(phone), 1 if opted_out else 0))

    def set_org_option(self, org, name, value):
        self._check(self._L.wabot_ctx_set_org_option(
            self._ctx, _b(org), _b(name), _b(_text(value))))

    def option(self, name: str, org: Optional[str] = None) -> Union[int, str]:
        """An option's value as seen by `org` (int or str)."""
        v = c_int64()
        if self._L.wabot_ctx_option_int(self._ctx, _b(org), _b(name),
                                        byref(v)) == 0:
            return v.value
        s = self._L.wabot_ctx_option_str(self._ctx, _b(org), _b(name))
        if s is None:
            raise error_for(Status.NOT_FOUND, "unknown option %r" % name)
        return _s(s)

    def add_sender(self, org, number, transport):
        """Business number `number` of `org`, sent through `transport`."""
        self._check(self._L.wabot_transport_sender_add(
            self._ctx, _b(org), _b(number), transport._handle))
        transport._acquire()
        self._backends.append(transport)

    def sender_org(self, number):
        return _s(self._L.wabot_transport_sender_org(self._ctx, _b(number)))

    def metrics_json(self):
        return json.loads(_owned_ctx(self._ctx,
                                     self._L.wabot_metrics_json(self._ctx)))

    def metrics_prometheus(self):
        return _owned_ctx(self._ctx,
                          self._L.wabot_metrics_prometheus(self._ctx))

    def counter(self, name):
        return self._L.wabot_metrics_counter(self._ctx, _b(name))

    def queue_counts(self, queue):
        """{state name: count} of a job queue."""
        n = 5  # WABOT_JOB_STATE_COUNT
        arr = (c_int64 * n)()
        self._check(self._L.wabot_queue_counts(self._ctx, _b(queue), arr, n))
        return {_s(self._L.wabot_job_state_name(i)): arr[i]
                for i in range(n)}


class Job:
    """A job handed to a Python worker (valid during the call)."""
    __slots__ = ("id", "queue", "payload", "attempt", "max_attempts", "_p",
                 "__dict__")

    def __init__(self, id, queue, payload, attempt, ptr=None):
        self.id, self.queue, self.payload, self.attempt = \
            id, queue, payload, attempt
        self._p = ptr
        self.max_attempts = _lib().wabot_job_max_attempts(ptr) if ptr else 0


_id_lock = threading.Lock()
_id_counter = [0]


def _next_id():
    with _id_lock:
        _id_counter[0] += 1
        return _id_counter[0]


def _log_adapter(log):
    levels = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)

    def call(_ud, level, module, msg):
        try:
            if log is True:
                logging.getLogger("wabot." + _s(module)).log(
                    levels[min(level, 3)], "%s", _s(msg))
            else:
                log(level, _s(module), _s(msg))
        except BaseException:  # noqa: B902 - never unwind into C
            pass
    return call


class LoopThread(threading.Thread):
    """A daemon thread calling bot.poll() until stop()."""

    def __init__(self, bot, interval_ms):
        super().__init__(name="wabot-loop", daemon=True)
        self._bot, self._interval = bot, interval_ms
        self._stopping = threading.Event()
        self.error = None

    def run(self):
        L, ctx = self._bot._L, self._bot._ctx
        while not self._stopping.is_set():
            rc = L.wabot_ctx_poll(ctx, self._interval)
            if rc < 0 and rc != Status.STATE:
                self.error = error_for(rc, _s(L.wabot_ctx_errmsg(ctx)))

    def stop(self):
        self._stopping.set()
        if self is not threading.current_thread():
            self.join()
