"""More of the C API on the Pythonic classes: the outbound builder, jobs,
texts, metrics samples, signatures, records. Imported by the package."""
from ctypes import POINTER, addressof, byref, c_char_p, c_int, c_int64, \
    c_size_t, c_uint32, c_uint64, c_void_p, cast, string_at

from . import _ffi
from ._loader import lib as _lib
from .bot import Bot, Category, Job, Turn, _b, _owned_ctx, \
    _owned_libc, _s
from .errors import Status, error_for
from .storage import StorageHandle, _bk


class OutMessage:
    """wabot_out: a message built step by step (text, media, buttons, list
    rows, template), then queued (enqueue) or added to a turn's replies
    (turn.reply_out). Owned; freed by close() or the garbage collector."""

    def __init__(self, bot, to=None, text=None, org=None, from_=None,
                 category=None, locale=None):
        self._bot = bot
        self._p = _lib().wabot_out_new(bot._ctx)
        if not self._p:
            raise error_for(Status.NOMEM, "wabot_out_new")
        L = _lib()
        for fn, v in ((L.wabot_out_set_to, to), (L.wabot_out_set_org, org),
                      (L.wabot_out_set_from, from_),
                      (L.wabot_out_set_locale, locale),
                      (L.wabot_out_set_text, text)):
            if v is not None:
                self._c(fn(self._p, _b(v)))
        if category is not None:
            self._c(_lib().wabot_out_set_category(self._p, int(category)))

    def _c(self, rc):
        if rc < 0:
            raise error_for(rc, _s(_lib().wabot_ctx_errmsg(self._bot._ctx)))
        return self

    def close(self):
        if self._p:
            _lib().wabot_out_free(self._p)
            self._p = None

    def __del__(self):
        self.close()

    def media(self, url, caption=None):
        return self._c(_lib().wabot_out_set_media(self._p, _b(url),
                                                  _b(caption)))

    def button(self, id, title):
        return self._c(_lib().wabot_out_add_button(self._p, _b(id),
                                                   _b(title)))

    def row(self, id, title, description=None):
        return self._c(_lib().wabot_out_add_row(self._p, _b(id), _b(title),
                                                _b(description)))

    def list_button(self, text):
        return self._c(_lib().wabot_out_set_list_button(self._p, _b(text)))

    def template(self, name, language, params=()):
        self._c(_lib().wabot_out_set_template(self._p, _b(name),
                                              _b(language)))
        for p in params:
            self._c(_lib().wabot_out_add_template_param(self._p, _b(p)))
        return self

    def in_reply_to(self, message_id):
        return self._c(_lib().wabot_out_set_in_reply_to(self._p,
                                                        _b(message_id)))

    @property
    def idempotency_key(self):
        return _s(_lib().wabot_out_idempotency_key(self._p))

    @idempotency_key.setter
    def idempotency_key(self, key):
        self._c(_lib().wabot_out_set_idempotency_key(self._p, _b(key)))

    @property
    def correlation_id(self):
        return _s(_lib().wabot_out_correlation_id(self._p))

    @correlation_id.setter
    def correlation_id(self, cid):
        self._c(_lib().wabot_out_set_correlation_id(self._p, _b(cid)))

    def enqueue(self):
        """Queue it (outside a turn); returns its id."""
        out = c_void_p()
        self._c(_lib().wabot_out_enqueue(self._p, byref(out)))
        return _owned_ctx(self._bot._ctx, out.value)


def _bot_out(self, to=None, text=None, **kw):
    """A new OutMessage (see wabot.OutMessage)."""
    return OutMessage(self, to=to, text=text, **kw)


def _turn_out(self, text=None, **kw):
    """An OutMessage addressed by the library to this turn's customer."""
    return OutMessage(self.bot, text=text, **kw)


def _turn_reply_out(self, out):
    """Add a built message to this turn's replies."""
    self._check(_lib().wabot_turn_reply_out(self._ptr(), out._p))


def _bot_enqueue(self, queue, payload=b"", job_id=None, delay_ms=0,
                 max_attempts=None, priority=None):
    """Enqueue a job outside a turn; returns its id (Exists when the id
    is already queued)."""
    L = _lib()
    spec = _ffi.JobSpec()
    L.wabot_job_spec_init(byref(spec))
    spec.job_id, spec.delay_ms = _b(job_id), delay_ms
    if max_attempts is not None:
        spec.max_attempts = max_attempts
    if priority is not None:
        spec.priority = priority
    payload = _b(payload) or b""
    out = c_void_p()
    rc = L.wabot_job_enqueue(self._ctx, _b(queue), payload, len(payload),
                             byref(spec), byref(out))
    jid = _owned_ctx(self._ctx, out.value)
    self._check(rc)
    return jid


def _bot_enqueue_many(self, queue, payloads, job_ids=None, delay_ms=0):
    """Enqueue several jobs at once (one round trip on Redis); returns
    [(id, enqueued)] in order: enqueued False when that id was queued
    already. job_ids: None (all generated) or one id (or None) per job."""
    L = _lib()
    n = len(payloads)
    if job_ids is not None and len(job_ids) != n:
        raise ValueError("job_ids must name one id (or None) per payload")
    data = [_b(p) or b"" for p in payloads]
    bufs = (c_char_p * max(n, 1))(*data)
    lens = (c_size_t * max(n, 1))(*[len(p) for p in data])
    specs = (_ffi.JobSpec * max(n, 1))()
    ptrs = (c_void_p * max(n, 1))()
    for i in range(n):
        L.wabot_job_spec_init(byref(specs[i]))
        specs[i].job_id = _b(job_ids[i]) if job_ids is not None else None
        specs[i].delay_ms = delay_ms
        ptrs[i] = addressof(specs[i])
    ids = (c_void_p * max(n, 1))()
    results = (c_int * max(n, 1))()
    rc = L.wabot_job_enqueue_many(self._ctx, _b(queue), n, bufs, lens, ptrs,
                                  ids, results)
    out = [_owned_ctx(self._ctx, ids[i]) for i in range(n)]
    self._check(rc)
    return [(out[i], results[i] == Status.OK) for i in range(n)]


def _bot_job(self, queue, job_id):
    """A job's record as a dict, or None."""
    L, info = _lib(), c_void_p()
    rc = L.wabot_job_get(self._ctx, _b(queue), _b(job_id), byref(info))
    if rc == Status.NOT_FOUND:
        return None
    self._check(rc)
    try:
        r = cast(L.wabot_job_info_record(info), POINTER(_ffi.JobRecord))[0]
        return {"id": _s(r.id), "state": _s(L.wabot_job_state_name(r.state)),
                "payload": string_at(r.payload, r.payload_len)
                if r.payload_len else b"",
                "attempts": r.attempts, "max_attempts": r.max_attempts,
                "run_at_ms": r.run_at_ms, "last_error": _s(r.last_error)}
    finally:
        L.wabot_job_info_free(info)


def _bot_cancel_job(self, queue, job_id):
    self._check(_lib().wabot_job_cancel(self._ctx, _b(queue), _b(job_id)))


def _bot_retention(self, queue, completed_keep_n=1000,
                   completed_keep_ms=86400000, failed_keep_n=10000,
                   failed_keep_ms=7 * 86400000):
    self._check(_lib().wabot_queue_set_retention(
        self._ctx, _b(queue), completed_keep_n, completed_keep_ms,
        failed_keep_n, failed_keep_ms))


def _bot_jobs_stats(self):
    import json
    return json.loads(_owned_ctx(self._ctx,
                                 _lib().wabot_jobs_stats_json(self._ctx)))


def _bot_set_text(self, key, value, org=None, locale=None):
    self._check(_lib().wabot_ctx_set_text(self._ctx, _b(org), _b(locale),
                                          _b(key), _b(value)))


def _bot_text(self, key, org=None, locale=None):
    return _s(_lib().wabot_ctx_text(self._ctx, _b(org), _b(locale), _b(key)))


def _bot_window_template(self, category, name, language=None):
    self._check(_lib().wabot_ctx_set_window_template(
        self._ctx, int(category), _b(name), _b(language)))


def _bot_metrics_add(self, name, delta=1):
    self._check(_lib().wabot_metrics_add(self._ctx, _b(name), delta))


def _bot_metrics_samples(self):
    """[(name, {label: value}, value)] of every metric sample."""
    L, snap = _lib(), c_void_p()
    self._check(L.wabot_metrics_snapshot_take(self._ctx, byref(snap)))
    try:
        out = []
        for i in range(L.wabot_metrics_snapshot_count(snap)):
            labels = {_s(L.wabot_metrics_snapshot_label_name(snap, i, j)):
                      _s(L.wabot_metrics_snapshot_label_value(snap, i, j))
                      for j in range(L.wabot_metrics_snapshot_label_count(
                          snap, i))}
            out.append((_s(L.wabot_metrics_snapshot_name(snap, i)), labels,
                        L.wabot_metrics_snapshot_value(snap, i)))
        return out
    finally:
        L.wabot_metrics_snapshot_free(snap)


def _bot_delivery(self, provider_id):
    """dict(state, error_code, outbound_id, provider_id, to, organization,
    provider, updated_ms, correlation_id) or None."""
    L, out = _lib(), c_void_p()
    rc = L.wabot_delivery_get(self._ctx, _b(provider_id), byref(out))
    if rc == Status.NOT_FOUND:
        return None
    self._check(rc)
    try:
        return {"state": _s(L.wabot_delivery_state_name(
                    L.wabot_delivery_state_of(out))),
                "error_code": _s(L.wabot_delivery_error_code(out)),
                "outbound_id": _s(L.wabot_delivery_outbound_id(out)),
                "provider_id": _s(L.wabot_delivery_provider_id(out)),
                "to": _s(L.wabot_delivery_to(out)),
                "organization": _s(L.wabot_delivery_organization(out)),
                "provider": _s(L.wabot_provider_name(
                    L.wabot_delivery_provider(out))),
                "updated_ms": L.wabot_delivery_updated_ms(out),
                "correlation_id": _s(L.wabot_delivery_correlation_id(out))}
    finally:
        L.wabot_delivery_free(out)


def _bot_storage(self):
    """The context's storage (borrowed: valid while the bot lives)."""
    return StorageHandle(_lib().wabot_ctx_storage(self._ctx), owned=False)


def _bot_transport(self):
    from .transport import TransportHandle
    return TransportHandle(_lib().wabot_ctx_transport(self._ctx),
                           owned=False)


Bot.out = _bot_out
Bot.enqueue = _bot_enqueue
Bot.enqueue_many = _bot_enqueue_many
Bot.job = _bot_job
Bot.cancel_job = _bot_cancel_job
Bot.set_retention = _bot_retention
Bot.jobs_stats = _bot_jobs_stats
Bot.set_text = _bot_set_text
Bot.text = _bot_text
Bot.set_window_template = _bot_window_template
Bot.metrics_add = _bot_metrics_add
Bot.metrics_samples = _bot_metrics_samples
Bot.delivery = _bot_delivery
Bot.storage = property(_bot_storage)
Bot.transport = property(_bot_transport)
Turn.out = _turn_out
Turn.reply_out = _turn_reply_out


# ---------------------------------------------------------------------
# Jobs inside a worker: more control than return/raise

def _job_retry_in(self, ms):
    """Retry after ms (throttling), whatever the worker returns."""
    _lib().wabot_job_retry_in(self._p, ms)


def _job_set_permanent(self):
    """The failure this attempt reports is final (no retry)."""
    _lib().wabot_job_set_permanent(self._p)


Job.retry_in = _job_retry_in
Job.set_permanent = _job_set_permanent


# ---------------------------------------------------------------------
# Functions without a context

def keyword_fold(text):
    """Fold text as keyword routes compare it ("  Ménu! " -> "menu")."""
    return _owned_libc(_lib().wabot_route_keyword_fold(_b(text)))


def twilio_signature_valid(auth_token, url, body, signature, raw=False):
    """Check an X-Twilio-Signature (form body, or raw with bodySHA256)."""
    body = _b(body) or b""
    rc = _lib().wabot_twilio_signature_check(_b(auth_token), _b(url),
                                             1 if raw else 0, body,
                                             len(body), _b(signature))
    if rc not in (0, Status.AUTH):
        raise error_for(rc, "twilio signature check")
    return rc == 0


def meta_signature_valid(app_secret, body, header_value):
    body = _b(body) or b""
    rc = _lib().wabot_meta_signature_check(_b(app_secret), body, len(body),
                                           _b(header_value))
    if rc not in (0, Status.AUTH):
        raise error_for(rc, "meta signature check")
    return rc == 0


def msg_type_name(t):
    return _s(_lib().wabot_msg_type_name(int(t)))


def category_name(c):
    return _s(_lib().wabot_out_category_name(int(c)))


def log_level_name(level):
    return _s(_lib().wabot_log_level_name(int(level)))


# ---------------------------------------------------------------------
# Storage: the remaining wrappers

def _put_many(self, items):
    """items: [(key, value, ttl_ms)] -> versions."""
    n = len(items)
    keys = (c_char_p * max(n, 1))(*[_bk(k) for k, _v, _t in items])
    vals = (c_char_p * max(n, 1))(*[v for _k, v, _t in items])
    lens = (c_size_t * max(n, 1))(*[len(v) for _k, v, _t in items])
    ttls = (c_int64 * max(n, 1))(*[t for _k, _v, t in items])
    vers = (c_uint64 * max(n, 1))()
    self._c(_lib().wabot_storage_put_many(self._handle, n, keys, vals, lens,
                                          ttls, vers))
    return list(vers)[:n]


def _sorted_remove_range(self, key, lo, hi):
    n = c_int64()
    self._c(_lib().wabot_storage_sorted_remove_range(self._handle, _bk(key),
                                                     lo, hi, byref(n)))
    return n.value


def _memory_count(self):
    """Live keys of a built-in memory backend."""
    return self._c(_lib().wabot_storage_memory_count(self._handle))


def _get_record(self, key, schema, upgrade=None):
    """A record's payload at `schema` (older ones read as stored unless
    upgrade(from_schema, payload) -> payload is given) and version."""
    sc = _schema(schema, upgrade)
    out, n, ver = c_void_p(), c_size_t(), c_uint64()
    self._c(_lib().wabot_storage_get_record(self._handle, _bk(key),
                                            byref(sc), byref(out), byref(n),
                                            byref(ver)))
    try:
        return string_at(out.value, n.value), ver.value
    finally:
        _lib().wabot_free(out.value)


StorageHandle.put_many = _put_many
StorageHandle.sorted_remove_range = _sorted_remove_range
StorageHandle.memory_count = _memory_count
StorageHandle.get_record = _get_record


_UPGRADE_FN = None


def _schema(current, upgrade):
    global _UPGRADE_FN
    from ctypes import CFUNCTYPE, c_int
    sc = _ffi.Schema(1, current, None, None)
    if upgrade is not None:
        if _UPGRADE_FN is None:
            _UPGRADE_FN = CFUNCTYPE(c_int, c_void_p, c_uint32, c_void_p,
                                    c_size_t, c_void_p)

        def call(_ud, frm, payload, n, buf):
            try:
                new = upgrade(frm, string_at(payload, n) if n else b"")
                return _lib().wabot_buf_set(buf, new, len(new))
            except Exception:  # noqa: BLE001 - never unwind into C
                return int(Status.PARSE)
        fn = _UPGRADE_FN(call)
        sc.upgrade = cast(fn, c_void_p)
        sc._keep = fn
    return sc


def record_encode(schema, payload):
    out, n = c_void_p(), c_size_t()
    rc = _lib().wabot_storage_record_encode(schema, payload, len(payload),
                                            byref(out), byref(n))
    if rc:
        raise error_for(rc, "record encode")
    try:
        return string_at(out.value, n.value)
    finally:
        _lib().wabot_free(out.value)


def record_decode(schema, value, upgrade=None):
    """(payload at `schema`, schema it was stored with)."""
    sc = _schema(schema, upgrade)
    out, n, stored = c_void_p(), c_size_t(), c_uint32()
    rc = _lib().wabot_storage_record_decode(byref(sc), value, len(value),
                                            byref(out), byref(n),
                                            byref(stored))
    if rc:
        raise error_for(rc, "record decode")
    try:
        return string_at(out.value, n.value), stored.value
    finally:
        _lib().wabot_free(out.value)


__all__ = ["OutMessage", "keyword_fold", "twilio_signature_valid",
           "meta_signature_valid", "msg_type_name", "category_name",
           "log_level_name", "record_encode", "record_decode", "Category"]


# ---------------------------------------------------------------------
# The admin API's mount point and the migration off a legacy bot
# (include/wabot/admin.h, migration.h; doc/admin.md, doc/migration.md)

def last_error():
    """Detail of the last failed libwabot call on this thread ("" if
    none), whatever object it was made on."""
    return _s(_lib().wabot_errmsg())


def _bot_admin_enabled(self):
    return bool(_lib().wabot_admin_enabled(self._ctx))


def _bot_admin_route(self, method, subpath):
    """Decorator: fn(request, response) on admin.prefix + subpath, behind
    the admin token check (nothing is registered while the admin API is
    off)."""
    from .bot import HttpRequest, HttpResponseWriter
    from .errors import status_of

    def deco(f):
        def call(_ctx, req, resp, _ud):
            try:
                rc = f(HttpRequest(req), HttpResponseWriter(resp))
                return int(rc) if isinstance(rc, int) else 0
            except BaseException as e:  # noqa: B902 - never unwind into C
                return status_of(e)
        c = self._keep_cfn(_ffi.HTTP_HANDLER_FN(call))
        self._check(_lib().wabot_admin_route_add(self._ctx, _b(method),
                                                 _b(subpath), c, None, None))
        return f
    return deco


def _resp_admin_error(self, http_status, code, message, field=None):
    """{"error":{"code","message","field"}} with `http_status`."""
    self._c(_lib().wabot_admin_error(self._p, http_status, _b(code),
                                     _b(field), _b(message)))


SYSTEM_LEGACY, SYSTEM_NEW = 0, 1


def _bot_migration_decide(self, customer):
    """"new" or "legacy": which system handles `customer` now."""
    return "new" if _lib().wabot_migration_decide(
        self._ctx, _b(customer)) == SYSTEM_NEW else "legacy"


def migration_bucket(customer):
    """The customer's stable bucket, 0..99."""
    return _lib().wabot_migration_bucket(_b(customer))


def _bot_migration_percent(self, percent):
    self._check(_lib().wabot_migration_set_percent(self._ctx, percent))


def _bot_migration_enabled(self, use_new_bot):
    self._check(_lib().wabot_migration_set_enabled(self._ctx,
                                                   1 if use_new_bot else 0))


def _bot_migration_pin(self, customer, system="new"):
    self._check(_lib().wabot_migration_pin(
        self._ctx, _b(customer), SYSTEM_NEW if system == "new"
        else SYSTEM_LEGACY))


def _bot_migration_unpin(self, customer):
    self._check(_lib().wabot_migration_unpin(self._ctx, _b(customer)))


def _bot_migration_state(self):
    import json
    p = _lib().wabot_migration_json(self._ctx)
    if not p:
        raise error_for(Status.STATE, last_error())
    return json.loads(_owned_ctx(self._ctx, p))


def _bot_migration_update(self, update):
    import json
    text = _b(update if isinstance(update, (str, bytes))
              else json.dumps(update))
    self._check(_lib().wabot_migration_update_json(self._ctx, text,
                                                   len(text)))


_LEGACY_FN = None


def _bot_set_legacy(self, fn):
    """fn(method, target, headers [(name, value)], body bytes, response)
    answers the requests of customers the migration sends to the legacy
    bot (the writer as in HTTP routes); None clears it."""
    global _LEGACY_FN
    from ctypes import CFUNCTYPE, c_int
    from .bot import HttpResponseWriter
    from .errors import status_of
    if _LEGACY_FN is None:
        _LEGACY_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_char_p,
                               POINTER(_ffi.HttpHeader), c_size_t, c_void_p,
                               c_size_t, c_void_p)
    if fn is None:
        self._check(_lib().wabot_migration_set_legacy(self._ctx, None, None))
        return

    def call(_ud, method, target, headers, n, body, blen, resp):
        try:
            hs = [(_s(headers[i].name), _s(headers[i].value))
                  for i in range(n)]
            rc = fn(_s(method), _s(target), hs,
                    string_at(body, blen) if blen else b"",
                    HttpResponseWriter(resp))
            return int(rc) if isinstance(rc, int) else 0
        except BaseException as e:  # noqa: B902
            return status_of(e)
    c = self._keep_cfn(_LEGACY_FN(call))
    self._check(_lib().wabot_migration_set_legacy(self._ctx, c, None))


def _install_admin():
    from .bot import HttpResponseWriter
    Bot.admin_enabled = property(_bot_admin_enabled)
    Bot.admin_route = _bot_admin_route
    HttpResponseWriter.admin_error = _resp_admin_error
    Bot.migration_decide = _bot_migration_decide
    Bot.migration_set_percent = _bot_migration_percent
    Bot.migration_set_enabled = _bot_migration_enabled
    Bot.migration_pin = _bot_migration_pin
    Bot.migration_unpin = _bot_migration_unpin
    Bot.migration_state = _bot_migration_state
    Bot.migration_update = _bot_migration_update
    Bot.set_legacy = _bot_set_legacy


_install_admin()


def twilio_signature(auth_token, url, body):
    """The X-Twilio-Signature Twilio would send for form `body` at `url`."""
    from ctypes import create_string_buffer
    body = _b(body) or b""
    out = create_string_buffer(29)  # WABOT_TWILIO_SIGNATURE_SIZE
    rc = _lib().wabot_twilio_signature_compute(_b(auth_token), _b(url), body,
                                               len(body), out, len(out))
    if rc:
        raise error_for(rc, last_error())
    return out.value.decode()


def meta_signature(app_secret, body):
    """The X-Hub-Signature-256 value Meta would send for `body`."""
    from ctypes import create_string_buffer
    body = _b(body) or b""
    out = create_string_buffer(72)  # WABOT_META_SIGNATURE_SIZE
    rc = _lib().wabot_meta_signature_compute(_b(app_secret), body, len(body),
                                             out, len(out))
    if rc:
        raise error_for(rc, last_error())
    return out.value.decode()


# ---------------------------------------------------------------------
# Health probes

def _bot_readiness(self):
    """(ready, report dict): storage reachable, breakers, backlog."""
    import json
    ready, out = c_int(), c_void_p()
    self._check(_lib().wabot_health_readiness(self._ctx, byref(ready),
                                              byref(out)))
    return bool(ready.value), json.loads(_owned_ctx(self._ctx, out.value))


def _bot_health_routes(self, liveness="/healthz", readiness="/readyz"):
    """Serve GET liveness (200 {"status":"ok"}) and readiness (200 or 503
    with readiness()'s report) through handle_http."""
    self._check(_lib().wabot_health_routes_add(self._ctx, _b(liveness),
                                               _b(readiness)))


Bot.readiness = _bot_readiness
Bot.add_health_routes = _bot_health_routes
