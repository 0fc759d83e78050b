"""Modules written in Python: a versioned descriptor with its own options
(listed as "<name>.<option>", settable per organisation), middlewares at
the admit or turn stage, hooks it emits, and whatever its create()
registers on the bot (routes, HTTP routes, workers) — registered with
Bot(modules=[...]) like any C module (include/wabot/module.h).

    class Greeter(wabot.Module):
        name = "greeter"
        options = [wabot.OptionDef("greeting", "string", default="Hi",
                                   doc="what to answer", per_org=True)]
        hooks = ["greeted"]

        def create(self, m):
            @m.use                              # turn stage
            def greet(turn, next):
                if turn.text != "hi":
                    return next()
                turn.reply(m.option("greeting", turn.organization))
                m.emit("greeted", {"customer": turn.customer})

    bot = wabot.Bot(modules=[Greeter()], options={"greeter.greeting": "Hello"})
"""
import json
from ctypes import (CFUNCTYPE, POINTER, Structure, byref, c_char_p, c_int,
                    c_int64, c_size_t, c_uint32, c_void_p)

from ._loader import lib as _lib
from .bot import _b, _s
from .errors import Status, error_for, status_of

_TYPES = {"int": 1, "string": 2, "bool": 3, "duration": 4, "bytes": 5,
          "enum": 6}
_CREATE_FN = CFUNCTYPE(c_int, c_void_p, c_void_p)
_DESTROY_FN = CFUNCTYPE(None, c_void_p, c_void_p)
_HOOK_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_void_p, c_size_t, c_void_p)
STAGE_TURN, STAGE_ADMIT = 1, 2


class _OptionDefC(Structure):
    _fields_ = [("version", c_uint32), ("name", c_char_p), ("type", c_int),
                ("flags", c_uint32), ("int_default", c_int64),
                ("int_min", c_int64), ("int_max", c_int64),
                ("str_default", c_char_p), ("doc", c_char_p),
                ("env", c_char_p), ("choices", POINTER(c_char_p)),
                ("check", c_void_p)]


class _ModuleDefC(Structure):
    _fields_ = [("version", c_uint32), ("name", c_char_p), ("doc", c_char_p),
                ("requires", POINTER(c_char_p)),
                ("options", POINTER(_OptionDefC)), ("n_options", c_size_t),
                ("hooks", POINTER(c_char_p)), ("create", _CREATE_FN),
                ("destroy", _DESTROY_FN)]


class OptionDef:
    """One option of a Python module (see wabot_option_def)."""

    def __init__(self, name, type="string", default=None, doc="",
                 min=None, max=None, choices=(), env=None, per_org=False,
                 secret=False, empty_ok=False):
        if type not in _TYPES:
            raise error_for(Status.INVAL, "option type %r" % type)
        self.name, self.type, self.default, self.doc = name, type, default, doc
        self.min, self.max, self.choices, self.env = min, max, choices, env
        self.flags = (1 if per_org else 0) | (2 if secret else 0) | \
            (4 if empty_ok else 0)


def _strv0(items, keep):
    """A NULL-terminated char * array (None for an empty list)."""
    if not items:
        return None
    arr = (c_char_p * (len(items) + 1))(*[_b(x) for x in items], None)
    keep.append(arr)
    return arr


class Module:
    """Base class of a module written in Python: set name, doc, options,
    hooks and requires, and override create(m) (and destroy(m))."""
    name = None
    doc = ""
    options = ()
    hooks = ()
    requires = ()

    def create(self, m):
        """Register what the module does; `m` is its ModuleContext."""

    def destroy(self, m):
        """Release what create made (the context is still usable)."""

    def _descriptor(self, bot):
        keep = []
        opts = (_OptionDefC * max(len(self.options), 1))()
        for i, o in enumerate(self.options):
            c = opts[i]
            c.version, c.name, c.type, c.flags = 1, _b(o.name), \
                _TYPES[o.type], o.flags
            if o.type == "string":
                c.str_default = _b(o.default or "")
            elif o.type == "enum":
                c.int_default = list(o.choices).index(o.default) \
                    if isinstance(o.default, str) else int(o.default or 0)
                c.choices = _strv0(list(o.choices), keep)
            else:
                c.int_default = int(o.default or 0)
            c.int_min = o.min if o.min is not None else -(1 << 63)
            c.int_max = o.max if o.max is not None else (1 << 63) - 1
            c.doc, c.env = _b(o.doc), _b(o.env)
        handle = {}

        def create(mp, _ud):
            try:
                bot._ctx = bot._ctx or _lib().wabot_module_ctx(mp)
                handle["m"] = ModuleContext(mp, bot, self)
                self.create(handle["m"])
                return 0
            except BaseException as e:  # noqa: B902 - never unwind into C
                bot._module_error = e
                return status_of(e)

        def destroy(mp, _ud):
            try:
                self.destroy(handle.get("m") or ModuleContext(mp, bot, self))
            except BaseException:  # noqa: B902
                pass
        d = _ModuleDefC(1, _b(self.name), _b(self.doc),
                        _strv0(list(self.requires), keep), opts,
                        len(self.options), _strv0(list(self.hooks), keep),
                        _CREATE_FN(create), _DESTROY_FN(destroy))
        keep += [opts, d]
        return d, keep


class ModuleContext:
    """A module's instance in one bot (inside and after create)."""

    def __init__(self, ptr, bot, module):
        self._p, self.bot, self.module = ptr, bot, module
        self._index = {o.name: i for i, o in enumerate(module.options)}

    @property
    def name(self):
        return _s(_lib().wabot_module_name(self._p))

    def option(self, name, org=None):
        """This module's option `name` as `org` (None: global) sees it."""
        i = self._index[name]
        if self.module.options[i].type == "string":
            return _s(_lib().wabot_module_option_str(self._p, _b(org), i))
        v = c_int64()
        rc = _lib().wabot_module_option_int(self._p, _b(org), i, byref(v))
        if rc:
            raise error_for(rc, "module option %s" % name)
        return v.value

    def use(self, fn=None, *, stage=STAGE_TURN, name=None):
        """Decorator: a middleware fn(turn, next) at the turn stage (before
        the host's middlewares) or STAGE_ADMIT. Only inside create()."""
        def deco(f):
            from . import _ffi
            c = self.bot._keep_cfn(_ffi.MIDDLEWARE_FN(
                self.bot._wrap_middleware(f)))
            rc = _lib().wabot_module_use(self._p, stage, _b(
                name or getattr(f, "__name__", "python")), c, None)
            if rc:
                raise error_for(rc, "wabot_module_use")
            return f
        return deco(fn) if fn is not None else deco

    def emit(self, hook, event):
        """Emit hook `hook` (declared in hooks) with a JSON-able event."""
        text = _b(event if isinstance(event, (str, bytes))
                  else json.dumps(event))
        rc = _lib().wabot_hook_emit(self._p, _b(hook), text, len(text))
        if rc:
            raise error_for(rc, "hook %s.%s" % (self.name, hook))


def subscribe(bot, hook, fn):
    """Run fn(hook, event) for every emit of "<module>.<hook>"."""
    def call(_ctx, h, data, n, _ud):
        try:
            from ctypes import string_at
            fn(_s(h), json.loads(string_at(data, n)) if n else None)
            return 0
        except BaseException as e:  # noqa: B902
            return status_of(e)
    c = bot._keep_cfn(_HOOK_FN(call))
    bot._check(_lib().wabot_hook_subscribe(bot._ctx, _b(hook), c, None,
                                           None))


def subscriber_count(bot, hook):
    return _lib().wabot_hook_subscriber_count(bot._ctx, _b(hook))


def module_names(bot):
    """Every module of the bot, library ones included, in creation
    order."""
    L = _lib()
    return [_s(L.wabot_module_name(L.wabot_ctx_module_at(bot._ctx, i)))
            for i in range(L.wabot_ctx_module_count(bot._ctx))]


def module_doc(bot, name):
    """The descriptor's one-line doc of module `name` (None if absent)."""
    L = _lib()
    m = L.wabot_ctx_module(bot._ctx, _b(name))
    if not m:
        return None
    d = _ModuleDefC.from_address(L.wabot_module_descriptor(m))
    return _s(d.doc)


def _install():
    from .bot import Bot
    Bot.subscribe = subscribe
    Bot.hook_subscribers = subscriber_count
    Bot.module_names = module_names
    Bot.module_doc = module_doc


_install()
