"""Storage backends: the built-in ones, and storage written in Python.

A Python backend subclasses Storage and implements the methods below
(keys are bytes, values bytes); the library calls them through the
wabot_storage_vtable from any thread, so they must be thread-safe. Failures
are WabotError subclasses: NotFound, Exists, Conflict (TxnConflict for a
transaction), StorageError; any other exception becomes WABOT_ERR_STORAGE.
The version-2 operations (scan, get_many, put_many, sorted_*, txn) are
optional: leave one out and the library emulates it or reports
Unsupported (a bot's turns need txn).
"""
import bisect
import logging
import threading
import time
from ctypes import (byref, c_char_p, c_int64, c_size_t, c_uint64,
                    c_void_p, string_at)

from . import _ffi
from ._loader import Borrowed, lib as _lib
from .errors import (Conflict, Exists, InvalidArgument, NotFound, Status,
                     error_for, status_of)

_log = logging.getLogger("wabot.storage")

OP_SET, OP_CAS, OP_DEL, OP_DEL_IF, OP_INCR, OP_SORTED_ADD, \
    OP_SORTED_REMOVE = range(1, 8)
SCAN_VALUES = 1
RANGE_DESC = 1
SCORE_MIN = -(1 << 53)
SCORE_MAX = 1 << 53
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


class TxnConflict(Conflict):
    """A transaction's condition failed at op `index`; nothing written."""

    def __init__(self, index, detail=""):
        super().__init__(Status.CONFLICT, detail or "txn op %d" % index)
        self.index = index


def _bk(k):
    return k if isinstance(k, bytes) else str(k).encode("utf-8")


def _bytes(ptr, n):
    return string_at(ptr, n) if n else b""


class StorageHandle(Borrowed):
    """A wabot_storage handle, used through the library's wrappers (the
    argument checks the conformance suite relies on)."""

    _free_name = "wabot_storage_free"

    def __init__(self, handle, owned=True):
        self._init_handle(handle, owned, error_for(Status.NOMEM, "storage"))

    @property
    def name(self):
        return _lib().wabot_storage_name(self._handle).decode()

    def _c(self, rc):
        if rc < 0:
            raise error_for(rc, (_lib().wabot_storage_errmsg(self._handle)
                                 or b"").decode("utf-8", "replace"))
        return rc

    def get(self, key):
        """(value, version); raises NotFound."""
        L, val, n, ver = _lib(), c_void_p(), c_size_t(), c_uint64()
        self._c(L.wabot_storage_get(self._handle, _bk(key), byref(val),
                                    byref(n), byref(ver)))
        try:
            return _bytes(val.value, n.value), ver.value
        finally:
            L.wabot_free(val.value)

    def set(self, key, value, ttl_ms=0):
        v = c_uint64()
        self._c(_lib().wabot_storage_set(self._handle, _bk(key), value,
                                         len(value), ttl_ms, byref(v)))
        return v.value

    def set_nx(self, key, value, ttl_ms=0):
        v = c_uint64()
        self._c(_lib().wabot_storage_set_nx(self._handle, _bk(key), value,
                                            len(value), ttl_ms, byref(v)))
        return v.value

    def cas(self, key, expected, value, ttl_ms=0):
        v = c_uint64()
        self._c(_lib().wabot_storage_cas(self._handle, _bk(key), expected,
                                         value, len(value), ttl_ms,
                                         byref(v)))
        return v.value

    def delete(self, key):
        self._c(_lib().wabot_storage_del(self._handle, _bk(key)))

    def del_if(self, key, expected):
        self._c(_lib().wabot_storage_del_if(self._handle, _bk(key),
                                            expected))

    def incr(self, key, delta=1, ttl_ms=0):
        r = c_int64()
        self._c(_lib().wabot_storage_incr(self._handle, _bk(key), delta,
                                          ttl_ms, byref(r)))
        return r.value

    def expire(self, key, ttl_ms):
        self._c(_lib().wabot_storage_expire(self._handle, _bk(key), ttl_ms))

    def _items(self, it):
        L, out = _lib(), []
        try:
            for i in range(L.wabot_storage_items_count(it)):
                kn, vn = c_size_t(), c_size_t()
                k = L.wabot_storage_items_key(it, i, byref(kn))
                v = L.wabot_storage_items_value(it, i, byref(vn))
                out.append((string_at(k, kn.value) if kn.value else b"",
                            None if v is None else string_at(v, vn.value),
                            L.wabot_storage_items_version(it, i),
                            L.wabot_storage_items_score(it, i),
                            L.wabot_storage_items_status(it, i)))
            return out, L.wabot_storage_items_cursor(it).decode()
        finally:
            L.wabot_storage_items_free(it)

    def scan(self, prefix=b"", cursor="0", count=100, values=False):
        """([(key, value|None, version)], next cursor; "0" = done)."""
        it = c_void_p()
        self._c(_lib().wabot_storage_scan(
            self._handle, _bk(prefix), _bk(cursor), count,
            SCAN_VALUES if values else 0, byref(it)))
        items, cur = self._items(it.value)
        return [(k, v, ver) for k, v, ver, _s, _st in items], cur

    def get_many(self, keys):
        """[(value, version) or None] in the order of keys."""
        arr = (c_char_p * max(len(keys), 1))(*[_bk(k) for k in keys])
        it = c_void_p()
        self._c(_lib().wabot_storage_get_many(self._handle, len(keys), arr,
                                              byref(it)))
        items, _ = self._items(it.value)
        return [(v, ver) if st == 0 else None
                for _k, v, ver, _s, st in items]

    def sorted_add(self, key, member, score):
        self._c(_lib().wabot_storage_sorted_add(self._handle, _bk(key),
                                                member, len(member), score))

    def sorted_remove(self, key, member):
        self._c(_lib().wabot_storage_sorted_remove(self._handle, _bk(key),
                                                   member, len(member)))

    def sorted_score(self, key, member):
        s = c_int64()
        self._c(_lib().wabot_storage_sorted_score(
            self._handle, _bk(key), member, len(member), byref(s)))
        return s.value

    def sorted_count(self, key, lo=SCORE_MIN, hi=SCORE_MAX):
        n = c_int64()
        self._c(_lib().wabot_storage_sorted_count(self._handle, _bk(key), lo,
                                                  hi, byref(n)))
        return n.value

    def sorted_range(self, key, lo=SCORE_MIN, hi=SCORE_MAX, offset=0,
                     limit=100, desc=False):
        it = c_void_p()
        self._c(_lib().wabot_storage_sorted_range(
            self._handle, _bk(key), lo, hi, offset, limit,
            RANGE_DESC if desc else 0, byref(it)))
        items, _ = self._items(it.value)
        return [(k, score) for k, _v, _ver, score, _st in items]

    def txn(self, ops):
        """Commit ops atomically: ("set", key, val, ttl), ("cas", key,
        expected, val, ttl), ("del", key), ("del_if", key, expected),
        ("incr", key, delta, ttl), ("sorted_add", key, member, score),
        ("sorted_remove", key, member). Returns [(version, result)];
        raises TxnConflict(index)."""
        L = _lib()
        t = L.wabot_storage_txn_new(self._handle)
        if not t:
            raise error_for(Status.NOMEM, "txn")
        try:
            for op in ops:
                kind, key, args = op[0], _bk(op[1]), op[2:]
                if kind == "set":
                    rc = L.wabot_storage_txn_set(t, key, args[0],
                                                 len(args[0]), args[1])
                elif kind == "cas":
                    rc = L.wabot_storage_txn_cas(t, key, args[0], args[1],
                                                 len(args[1]), args[2])
                elif kind == "del":
                    rc = L.wabot_storage_txn_del(t, key)
                elif kind == "del_if":
                    rc = L.wabot_storage_txn_del_if(t, key, args[0])
                elif kind == "incr":
                    rc = L.wabot_storage_txn_incr(t, key, args[0], args[1])
                elif kind == "sorted_add":
                    rc = L.wabot_storage_txn_sorted_add(
                        t, key, args[0], len(args[0]), args[1])
                elif kind == "sorted_remove":
                    rc = L.wabot_storage_txn_sorted_remove(t, key, args[0],
                                                           len(args[0]))
                else:
                    raise InvalidArgument(Status.INVAL, "op %r" % kind)
                self._c(rc)
            failed = c_size_t()
            rc = L.wabot_storage_txn_commit(t, byref(failed))
            if rc == Status.CONFLICT:
                raise TxnConflict(failed.value)
            self._c(rc)
            return [(L.wabot_storage_txn_version(t, i),
                     L.wabot_storage_txn_result(t, i))
                    for i in range(L.wabot_storage_txn_count(t))]
        finally:
            L.wabot_storage_txn_free(t)


def memory(clock=None):
    """The built-in C memory backend (system clock)."""
    if clock is not None:
        raise InvalidArgument(Status.INVAL,
                              "use Bot(clock=...) for a fake clock")
    return StorageHandle(_lib().wabot_storage_memory_new(None))


def _guard(fn):
    """Run a backend method for C: exceptions become statuses."""
    def call(*a):
        try:
            r = fn(*a)
            return 0 if r is None else r
        except BaseException as e:  # noqa: B902 - never unwind into C
            if not isinstance(e, (NotFound, Exists, Conflict)):
                _log.warning("python storage: %r", e)
            return status_of(e) if hasattr(e, "code") else Status.STORAGE
    return call


class Storage(StorageHandle):
    """Base class of a storage backend written in Python."""

    def __init__(self):
        self._vt = self._vtable()
        super().__init__(_lib().wabot_storage_new(byref(self._vt), None))

    def _overrides(self, name):
        return getattr(type(self), name) is not getattr(Storage, name)

    def _vtable(self):  # noqa: C901 - one adapter per member
        L, me, vt = _lib(), self, _ffi.StorageVtable()
        vt.version = 2

        def get(_i, key, buf, ver):
            val, v = me.backend_get(key)
            ver[0] = v
            return L.wabot_buf_set(buf, val, len(val))

        def set_(_i, key, val, n, ttl, ver):
            v = me.backend_set(key, _bytes(val, n), ttl)
            if ver:
                ver[0] = v

        def set_nx(_i, key, val, n, ttl, ver):
            v = me.backend_set_nx(key, _bytes(val, n), ttl)
            if ver:
                ver[0] = v

        def cas(_i, key, exp, val, n, ttl, ver):
            v = me.backend_cas(key, exp, _bytes(val, n), ttl)
            if ver:
                ver[0] = v

        def incr(_i, key, delta, ttl, res):
            r = me.backend_incr(key, delta, ttl)
            if res:
                res[0] = r

        vt.get, vt.set = _ffi.S_GET(_guard(get)), _ffi.S_SET(_guard(set_))
        vt.set_nx = _ffi.S_SET(_guard(set_nx))
        vt.cas = _ffi.S_CAS(_guard(cas))
        vt.del_ = _ffi.S_DEL(_guard(lambda _i, k: me.backend_delete(k)))
        vt.del_if = _ffi.S_DEL_IF(_guard(
            lambda _i, k, e: me.backend_del_if(k, e)))
        vt.incr = _ffi.S_INCR(_guard(incr))
        # Nothing to release on the C side: the Python object owns its
        # data (the library requires a destroy member all the same).
        vt.destroy = _ffi.DESTROY_FN(lambda _i: None)
        vt.expire = _ffi.S_EXPIRE(_guard(
            lambda _i, k, t: me.backend_expire(k, t)))
        if self._overrides("backend_scan"):
            def scan(_i, prefix, cursor, count, flags, out, nxt):
                items, cur = me.backend_scan(prefix, cursor.decode(), count,
                                             bool(flags & SCAN_VALUES))
                for k, v, ver in items:
                    rc = L.wabot_storage_items_add(
                        out, k, len(k), v, 0 if v is None else len(v),
                        ver if v is not None else 0)
                    if rc:
                        return rc
                c = _bk(cur)
                return L.wabot_buf_set(nxt, c, len(c))
            vt.scan = _ffi.S_SCAN(_guard(scan))
        if self._overrides("backend_get_many"):
            def get_many(_i, n, keys, out):
                res = me.backend_get_many([keys[i] for i in range(n)])
                for i, r in enumerate(res):
                    if r is not None:
                        rc = L.wabot_storage_items_found(out, i, r[0],
                                                         len(r[0]), r[1])
                        if rc:
                            return rc
            vt.get_many = _ffi.S_GET_MANY(_guard(get_many))
        if self._overrides("backend_sorted_add"):
            self._sorted_members(vt, L, me)
        if self._overrides("backend_txn"):
            def txn(_i, n, ops, versions, numbers, failed):
                pyops = []
                for i in range(n):
                    o = ops[i].contents
                    pyops.append((o.kind, o.key, _bytes(o.val, o.len),
                                  o.ttl_ms, o.expected, o.number))
                try:
                    res = me.backend_txn(pyops)
                except TxnConflict as e:
                    failed[0] = e.index
                    return Status.CONFLICT
                for i, (ver, num) in enumerate(res):
                    versions[i], numbers[i] = ver, num
            vt.txn = _ffi.S_TXN(_guard(txn))
        return vt

    @staticmethod
    def _sorted_members(vt, L, me):
        def score(_i, key, m, n, out):
            out[0] = me.backend_sorted_score(key, _bytes(m, n))

        def count(_i, key, lo, hi, out):
            out[0] = me.backend_sorted_count(key, lo, hi)

        def rng(_i, key, lo, hi, off, lim, flags, out):
            for m, s in me.backend_sorted_range(key, lo, hi, off, lim,
                                                bool(flags & RANGE_DESC)):
                rc = L.wabot_storage_items_add_scored(out, m, len(m), s)
                if rc:
                    return rc

        def rm_range(_i, key, lo, hi, out):
            r = me.backend_sorted_remove_range(key, lo, hi)
            if out:
                out[0] = r
        vt.sorted_add = _ffi.S_SORTED_ADD(_guard(
            lambda _i, k, m, n, s: me.backend_sorted_add(k, _bytes(m, n), s)))
        vt.sorted_remove = _ffi.S_SORTED_REMOVE(_guard(
            lambda _i, k, m, n: me.backend_sorted_remove(k, _bytes(m, n))))
        vt.sorted_score = _ffi.S_SORTED_SCORE(_guard(score))
        vt.sorted_count = _ffi.S_SORTED_COUNT(_guard(count))
        vt.sorted_range = _ffi.S_SORTED_RANGE(_guard(rng))
        vt.sorted_remove_range = _ffi.S_SORTED_REMOVE_RANGE(_guard(rm_range))

    # The backend interface (override these) -----------------------
    def backend_get(self, key):
        """(value bytes, version); raise NotFound."""
        raise NotImplementedError

    def backend_set(self, key, value, ttl_ms):
        """Write; return the new version."""
        raise NotImplementedError

    def backend_set_nx(self, key, value, ttl_ms):
        """Write if absent (else raise Exists); return the version."""
        raise NotImplementedError

    def backend_cas(self, key, expected, value, ttl_ms):
        """Write if the version is `expected` (0: absent), else raise
        Conflict; return the new version."""
        raise NotImplementedError

    def backend_delete(self, key):
        raise NotImplementedError

    def backend_del_if(self, key, expected):
        raise NotImplementedError

    def backend_incr(self, key, delta, ttl_ms):
        raise NotImplementedError

    def backend_expire(self, key, ttl_ms):
        raise NotImplementedError

    def backend_scan(self, prefix, cursor, count, values):
        raise NotImplementedError

    def backend_get_many(self, keys):
        raise NotImplementedError

    def backend_sorted_add(self, key, member, score):
        raise NotImplementedError

    def backend_sorted_remove(self, key, member):
        raise NotImplementedError

    def backend_sorted_score(self, key, member):
        raise NotImplementedError

    def backend_sorted_count(self, key, lo, hi):
        raise NotImplementedError

    def backend_sorted_range(self, key, lo, hi, offset, limit, desc):
        raise NotImplementedError

    def backend_sorted_remove_range(self, key, lo, hi):
        raise NotImplementedError

    def backend_txn(self, ops):
        """ops: [(kind, key, val, ttl_ms, expected, number)]; all or
        nothing; return [(version, number)] or raise TxnConflict(i)."""
        raise NotImplementedError


class DictStorage(Storage):
    """A complete storage backend in pure Python (a dict and a lock):
    the reference for writing one, and what the tests run the bot on."""

    def __init__(self, clock=None):
        self._clock = clock or (lambda: int(time.time() * 1000))
        self._lock = threading.RLock()
        self._data = {}      # key -> [value, version, expires_at_ms or 0]
        self._sorted = {}    # key -> {member: score}
        self._version = 0
        super().__init__()

    def _live(self, key):
        e = self._data.get(key)
        if e is not None and e[2] and e[2] <= self._clock():
            del self._data[key]
            return None
        return e

    def _write(self, key, value, ttl_ms):
        self._version += 1
        self._data[key] = [value, self._version,
                           self._clock() + ttl_ms if ttl_ms else 0]
        return self._version

    def backend_get(self, key):
        with self._lock:
            e = self._live(key)
            if e is None:
                raise NotFound()
            return e[0], e[1]

    def backend_set(self, key, value, ttl_ms):
        with self._lock:
            return self._write(key, value, ttl_ms)

    def backend_set_nx(self, key, value, ttl_ms):
        with self._lock:
            if self._live(key) is not None:
                raise Exists()
            return self._write(key, value, ttl_ms)

    def backend_cas(self, key, expected, value, ttl_ms):
        with self._lock:
            e = self._live(key)
            if (e[1] if e else 0) != expected:
                raise Conflict()
            return self._write(key, value, ttl_ms)

    def backend_delete(self, key):
        with self._lock:
            if self._live(key) is None:
                raise NotFound()
            del self._data[key]

    def backend_del_if(self, key, expected):
        with self._lock:
            e = self._live(key)
            if e is None:
                raise NotFound()
            if e[1] != expected:
                raise Conflict()
            del self._data[key]

    def _incr_value(self, key, delta):
        e = self._live(key)
        try:
            cur = int(e[0]) if e else 0
        except ValueError:
            raise Conflict(Status.CONFLICT, "not an integer") from None
        r = cur + delta
        if not INT64_MIN <= r <= INT64_MAX:
            raise Conflict(Status.CONFLICT, "overflow")
        return e, r

    def backend_incr(self, key, delta, ttl_ms):
        with self._lock:
            e, r = self._incr_value(key, delta)
            self._version += 1
            self._data[key] = [str(r).encode(), self._version,
                               e[2] if e else (self._clock() + ttl_ms
                                               if ttl_ms else 0)]
            return r

    def backend_expire(self, key, ttl_ms):
        with self._lock:
            e = self._live(key)
            if e is None:
                raise NotFound()
            e[2] = self._clock() + ttl_ms if ttl_ms else 0

    def backend_scan(self, prefix, cursor, count, values):
        with self._lock:
            if cursor != "0" and not cursor.startswith("k"):
                raise InvalidArgument(Status.INVAL, "bad cursor")
            after = bytes.fromhex(cursor[1:]) if cursor != "0" else None
            keys = sorted(k for k in list(self._data)
                          if k.startswith(prefix) and self._live(k))
            start = 0 if after is None else bisect.bisect_right(keys, after)
            page = keys[start:start + count]
            items = [(k, self._data[k][0] if values else None,
                      self._data[k][1] if values else 0) for k in page]
            done = start + count >= len(keys)
            return items, "0" if done else "k" + page[-1].hex()

    def backend_get_many(self, keys):
        with self._lock:
            out = []
            for k in keys:
                e = self._live(k)
                out.append(None if e is None else (e[0], e[1]))
            return out

    def backend_sorted_add(self, key, member, score):
        with self._lock:
            self._sorted.setdefault(key, {})[member] = score

    def backend_sorted_remove(self, key, member):
        with self._lock:
            z = self._sorted.get(key, {})
            if member not in z:
                raise NotFound()
            del z[member]
            if not z:
                del self._sorted[key]

    def backend_sorted_score(self, key, member):
        with self._lock:
            z = self._sorted.get(key, {})
            if member not in z:
                raise NotFound()
            return z[member]

    def _range(self, key, lo, hi):
        z = self._sorted.get(key, {})
        return sorted(((s, m) for m, s in z.items() if lo <= s <= hi))

    def backend_sorted_count(self, key, lo, hi):
        with self._lock:
            return len(self._range(key, lo, hi))

    def backend_sorted_range(self, key, lo, hi, offset, limit, desc):
        with self._lock:
            r = self._range(key, lo, hi)
            if desc:
                r.reverse()
            return [(m, s) for s, m in r[offset:offset + limit]]

    def backend_sorted_remove_range(self, key, lo, hi):
        with self._lock:
            r = self._range(key, lo, hi)
            for _s, m in r:
                del self._sorted[key][m]
            if key in self._sorted and not self._sorted[key]:
                del self._sorted[key]
            return len(r)

    def backend_txn(self, ops):
        with self._lock:
            # Judge every condition against the store as it was.
            for i, (kind, key, _v, _t, exp, num) in enumerate(ops):
                e = self._live(key)
                ver = e[1] if e else 0
                if kind == OP_CAS and ver != exp:
                    raise TxnConflict(i)
                if kind == OP_DEL_IF and (e is None or ver != exp):
                    raise TxnConflict(i)
                if kind == OP_INCR:
                    try:
                        self._incr_value(key, num)
                    except Conflict:
                        raise TxnConflict(i) from None
            out = []
            for kind, key, val, ttl, _exp, num in ops:
                if kind in (OP_SET, OP_CAS):
                    out.append((self._write(key, val, ttl), 0))
                elif kind in (OP_DEL, OP_DEL_IF):
                    self._data.pop(key, None)
                    out.append((0, 0))
                elif kind == OP_INCR:
                    r = self.backend_incr(key, num, ttl)
                    out.append((self._data[key][1], r))
                elif kind == OP_SORTED_ADD:
                    self.backend_sorted_add(key, val, num)
                    out.append((0, 0))
                elif kind == OP_SORTED_REMOVE:
                    self._sorted.get(key, {}).pop(val, None)
                    if key in self._sorted and not self._sorted[key]:
                        del self._sorted[key]
                    out.append((0, 0))
            return out


__all__ = ["Storage", "StorageHandle", "DictStorage", "TxnConflict",
           "memory", "SCORE_MIN", "SCORE_MAX"]
