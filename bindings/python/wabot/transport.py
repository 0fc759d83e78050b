"""Transports: built-in ones, and transports written in Python.

A Python transport subclasses Transport and implements send(msg, op):
`msg` is an Outbound snapshot, `op` a SendOp to complete exactly once with
op.ok(provider_id) or op.fail(status, ...), inside send() or later from
the loop thread. Raising from send() means the op was not taken (the
library treats the send as failed and retries per its policy).
"""
import logging
import threading
from ctypes import Structure, byref, c_char_p, c_int64, c_uint32

from . import _ffi
from ._loader import Borrowed, lib as _lib
from .bot import Outbound, _b, _s
from .errors import Status, error_for, status_of

_log = logging.getLogger("wabot.transport")


class TransportHandle(Borrowed):
    """A wabot_transport handle (owned unless owned=False)."""

    _free_name = "wabot_transport_free"

    def __init__(self, handle, owned=True):
        self._init_handle(handle, owned,
                          error_for(Status.INVAL, "transport creation failed"))

    @property
    def name(self):
        return _s(_lib().wabot_transport_name(self._handle))


class SendOp:
    """One send to complete exactly once."""
    __slots__ = ("_p", "organization")

    def __init__(self, p):
        self._p = p
        self.organization = _s(_lib().wabot_send_op_organization(p))

    def ok(self, provider_id=None):
        p, self._p = self._p, None
        if p is None:
            raise error_for(Status.STATE, "op already completed")
        _lib().wabot_send_op_ok(p, _b(provider_id))

    def fail(self, status=Status.TRANSPORT, provider_code=0, message=None,
             retry_after_ms=0):
        p, self._p = self._p, None
        if p is None:
            raise error_for(Status.STATE, "op already completed")
        _lib().wabot_send_op_fail(p, int(status), provider_code, _b(message),
                                  retry_after_ms)


class Transport(TransportHandle):
    """Base class of a transport written in Python."""

    def __init__(self, name="python"):
        def send(_impl, msg, op):
            try:
                self.send(Outbound(msg), SendOp(op))
                return 0
            except BaseException as e:  # noqa: B902 - never unwind into C
                _log.warning("python transport send: %r", e)
                return status_of(e)
        self._vt = _ffi.TransportVtable(1, _ffi.TRANSPORT_SEND_FN(send))
        super().__init__(_lib().wabot_transport_new(byref(self._vt), None,
                                                    _b(name)))

    def send(self, msg, op):
        raise NotImplementedError


class ListTransport(Transport):
    """Keeps every message in .sent and completes it at once ("py-<n>")."""

    def __init__(self, name="python-list"):
        self.sent = []
        self._lock = threading.Lock()
        super().__init__(name)

    def send(self, msg, op):
        with self._lock:
            self.sent.append(msg)
            n = len(self.sent)
        op.ok("py-%d" % n)

    def texts(self):
        with self._lock:
            return [m.text for m in self.sent]


def console():
    """Prints each message on stdout."""
    return TransportHandle(_lib().wabot_transport_console_new(None))


class Recorder(TransportHandle):
    """The library's recorder transport (the C test kit)."""

    def __init__(self):
        super().__init__(_lib().wabot_transport_recorder_new())

    def __len__(self):
        return _lib().wabot_transport_recorder_count(self._handle)

    def __getitem__(self, i):
        if not 0 <= i < len(self):
            raise IndexError(i)
        return Outbound(_lib().wabot_transport_recorder_get(self._handle, i))

    def messages(self):
        return [self[i] for i in range(len(self))]

    def clear(self):
        _lib().wabot_transport_recorder_clear(self._handle)

    def fail_next(self, count, status=Status.TRANSPORT, provider_code=0,
                  message=None):
        rc = _lib().wabot_transport_recorder_fail_next(
            self._handle, count, int(status), provider_code, _b(message))
        if rc:
            raise error_for(rc, "fail_next")


class _TwilioConfig(Structure):
    _fields_ = [("version", c_uint32), ("account_sid", c_char_p),
                ("auth_token", c_char_p), ("from_", c_char_p),
                ("messaging_service_sid", c_char_p),
                ("status_callback_url", c_char_p), ("base_url", c_char_p),
                ("timeout_ms", c_int64)]


class _MetaConfig(Structure):
    _fields_ = [("version", c_uint32), ("access_token", c_char_p),
                ("phone_number_id", c_char_p), ("api_version", c_char_p),
                ("base_url", c_char_p), ("timeout_ms", c_int64)]


def _fill(cfg, fields):
    for k, v in fields.items():
        if v is not None:
            setattr(cfg, k, _b(v) if isinstance(v, str) else v)


def twilio(account_sid, auth_token, from_=None, messaging_service_sid=None,
           status_callback_url=None, base_url=None, timeout_ms=None):
    """Twilio Programmable Messaging transport (sends on the bot's loop)."""
    cfg = _TwilioConfig()
    _lib().wabot_twilio_config_init(byref(cfg))
    _fill(cfg, dict(account_sid=account_sid, auth_token=auth_token,
                    from_=from_, messaging_service_sid=messaging_service_sid,
                    status_callback_url=status_callback_url,
                    base_url=base_url, timeout_ms=timeout_ms))
    return TransportHandle(_lib().wabot_transport_twilio_new(byref(cfg)))


def meta(access_token, phone_number_id, api_version=None, base_url=None,
         timeout_ms=None):
    """Meta WhatsApp Cloud API transport."""
    cfg = _MetaConfig()
    _lib().wabot_meta_config_init(byref(cfg))
    _fill(cfg, dict(access_token=access_token,
                    phone_number_id=phone_number_id, api_version=api_version,
                    base_url=base_url, timeout_ms=timeout_ms))
    return TransportHandle(_lib().wabot_transport_meta_new(byref(cfg)))


def classify(provider, http_code, code=0):
    """The status a transport reports for a provider answer."""
    p = {"twilio": 1, "meta": 2}.get(provider, provider)
    return _lib().wabot_provider_classify(p, http_code, code)
