"""Status codes and the WabotError exception hierarchy."""
import enum


class Status(enum.IntEnum):
    """wabot_status (include/wabot/core.h)."""
    OK = 0
    INVAL = -1
    NOMEM = -2
    NOT_FOUND = -3
    EXISTS = -4
    CONFLICT = -5
    PARSE = -6
    TOO_LARGE = -7
    UNSUPPORTED = -8
    STORAGE = -9
    TRANSPORT = -10
    STATE = -11
    HANDLER = -12
    AUTH = -13
    TIMEOUT = -14
    BUSY = -15
    RATE_LIMITED = -16
    PERMANENT = -17
    WINDOW_CLOSED = -18
    OPTED_OUT = -19
    CIRCUIT_OPEN = -20


class WabotError(Exception):
    """A libwabot call failed: `code` (a negative Status or int) and
    `detail` (the library's detail message, or its strerror text)."""
    code = Status.HANDLER

    def __init__(self, code=None, detail=""):
        if code is not None:
            self.code = code
        try:
            self.code = Status(self.code)
        except ValueError:
            pass
        self.detail = detail or ""
        name = self.code.name if isinstance(self.code, Status) else self.code
        super().__init__("%s: %s" % (name, self.detail) if self.detail
                         else str(name))


def _cls(name, code, doc):
    return type(name, (WabotError,), {"code": code, "__doc__": doc})


InvalidArgument = _cls("InvalidArgument", Status.INVAL, "invalid argument")
OutOfMemory = _cls("OutOfMemory", Status.NOMEM, "allocation failed")
NotFound = _cls("NotFound", Status.NOT_FOUND, "no such key or object")
Exists = _cls("Exists", Status.EXISTS, "already exists")
Conflict = _cls("Conflict", Status.CONFLICT, "version mismatch")
ParseError = _cls("ParseError", Status.PARSE, "malformed input")
TooLarge = _cls("TooLarge", Status.TOO_LARGE, "over a configured limit")
Unsupported = _cls("Unsupported", Status.UNSUPPORTED, "not supported")
StorageError = _cls("StorageError", Status.STORAGE, "storage failure")
TransportError = _cls("TransportError", Status.TRANSPORT,
                      "provider transport failure")
StateError = _cls("StateError", Status.STATE, "call not valid now")
HandlerError = _cls("HandlerError", Status.HANDLER, "a handler failed")
AuthError = _cls("AuthError", Status.AUTH, "authentication failure")
Timeout = _cls("Timeout", Status.TIMEOUT, "timed out")
Busy = _cls("Busy", Status.BUSY, "busy; retry later")
RateLimited = _cls("RateLimited", Status.RATE_LIMITED, "throttled")
Permanent = _cls("Permanent", Status.PERMANENT, "refused for good")
WindowClosed = _cls("WindowClosed", Status.WINDOW_CLOSED,
                    "outside the 24-hour window")
OptedOut = _cls("OptedOut", Status.OPTED_OUT, "the customer opted out")
CircuitOpen = _cls("CircuitOpen", Status.CIRCUIT_OPEN,
                   "the circuit breaker is open")

_BY_CODE = {c.code: c for c in (
    InvalidArgument, OutOfMemory, NotFound, Exists, Conflict, ParseError,
    TooLarge, Unsupported, StorageError, TransportError, StateError,
    HandlerError, AuthError, Timeout, Busy, RateLimited, Permanent,
    WindowClosed, OptedOut, CircuitOpen)}


def error_for(code, detail=""):
    """The WabotError subclass instance for a negative status."""
    return _BY_CODE.get(code, WabotError)(code, detail)


def status_of(exc):
    """The status a Python exception becomes when it crosses into C."""
    if isinstance(exc, WabotError) and isinstance(exc.code, int) \
            and exc.code < 0:
        return int(exc.code)
    return int(Status.HANDLER)
