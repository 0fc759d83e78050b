"""ctypes structures and callback types of the public headers that the
package fills (vtables, hooks, configs). Layouts follow include/wabot/*.h."""
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_int, c_int32,
                    c_int64, c_size_t, c_uint, c_uint32, c_uint64, c_void_p)

MIDDLEWARE_FN = CFUNCTYPE(c_int, c_void_p, c_void_p)
HANDLER_FN = MIDDLEWARE_FN
ERROR_FN = CFUNCTYPE(None, c_void_p, c_int, c_char_p, c_void_p)
LOG_FN = CFUNCTYPE(None, c_void_p, c_int, c_char_p, c_char_p)
HTTP_HANDLER_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, c_void_p, c_void_p)
JOB_FN = CFUNCTYPE(c_int, c_void_p, c_void_p)
WATCH_FD_FN = CFUNCTYPE(c_int, c_int, c_uint, c_void_p)
SET_TIMER_FN = CFUNCTYPE(c_int, c_int64, c_void_p)
NOW_MS_FN = CFUNCTYPE(c_int64, c_void_p)
DESTROY_FN = CFUNCTYPE(None, c_void_p)


class HttpHeader(Structure):
    _fields_ = [("name", c_char_p), ("value", c_char_p)]


class LoopHooks(Structure):
    _fields_ = [("version", c_uint32), ("watch_fd", WATCH_FD_FN),
                ("set_timer", SET_TIMER_FN), ("ud", c_void_p)]


class Clock(Structure):
    _fields_ = [("version", c_uint32), ("now_ms", NOW_MS_FN),
                ("ud", c_void_p)]


class RedisConfig(Structure):
    _fields_ = [("version", c_uint32), ("host", c_char_p), ("port", c_int32),
                ("password", c_char_p), ("db", c_int32), ("prefix", c_char_p),
                ("connect_timeout_ms", c_int64),
                ("command_timeout_ms", c_int64), ("pool_size", c_int32)]


class JobSpec(Structure):
    _fields_ = [("version", c_uint32), ("job_id", c_char_p),
                ("run_at_ms", c_int64), ("delay_ms", c_int64),
                ("max_attempts", c_int32), ("backoff", c_int32),
                ("backoff_ms", c_int64), ("backoff_max_ms", c_int64),
                ("jitter_pct", c_int32), ("priority", c_int32)]


TRANSPORT_SEND_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, c_void_p)


class TransportVtable(Structure):
    _fields_ = [("version", c_uint32), ("send", TRANSPORT_SEND_FN),
                ("destroy", DESTROY_FN)]


class StorageOp(Structure):
    _fields_ = [("version", c_uint32), ("kind", c_uint32), ("key", c_char_p),
                ("val", c_void_p), ("len", c_size_t), ("ttl_ms", c_int64),
                ("expected", c_uint64), ("number", c_int64)]


_V = c_void_p
S_GET = CFUNCTYPE(c_int, _V, c_char_p, _V, POINTER(c_uint64))
S_SET = CFUNCTYPE(c_int, _V, c_char_p, _V, c_size_t, c_int64,
                  POINTER(c_uint64))
S_CAS = CFUNCTYPE(c_int, _V, c_char_p, c_uint64, _V, c_size_t, c_int64,
                  POINTER(c_uint64))
S_DEL = CFUNCTYPE(c_int, _V, c_char_p)
S_DEL_IF = CFUNCTYPE(c_int, _V, c_char_p, c_uint64)
S_INCR = CFUNCTYPE(c_int, _V, c_char_p, c_int64, c_int64, POINTER(c_int64))
S_EXPIRE = CFUNCTYPE(c_int, _V, c_char_p, c_int64)
S_SCAN = CFUNCTYPE(c_int, _V, c_char_p, c_char_p, c_size_t, c_uint32, _V, _V)
S_GET_MANY = CFUNCTYPE(c_int, _V, c_size_t, POINTER(c_char_p), _V)
S_PUT_MANY = CFUNCTYPE(c_int, _V, c_size_t, POINTER(c_char_p), POINTER(_V),
                       POINTER(c_size_t), POINTER(c_int64), POINTER(c_uint64))
S_SORTED_ADD = CFUNCTYPE(c_int, _V, c_char_p, _V, c_size_t, c_int64)
S_SORTED_REMOVE = CFUNCTYPE(c_int, _V, c_char_p, _V, c_size_t)
S_SORTED_SCORE = CFUNCTYPE(c_int, _V, c_char_p, _V, c_size_t,
                           POINTER(c_int64))
S_SORTED_COUNT = CFUNCTYPE(c_int, _V, c_char_p, c_int64, c_int64,
                           POINTER(c_int64))
S_SORTED_RANGE = CFUNCTYPE(c_int, _V, c_char_p, c_int64, c_int64, c_int64,
                           c_int64, c_uint32, _V)
S_SORTED_REMOVE_RANGE = CFUNCTYPE(c_int, _V, c_char_p, c_int64, c_int64,
                                  POINTER(c_int64))
S_TXN = CFUNCTYPE(c_int, _V, c_size_t, POINTER(POINTER(StorageOp)),
                  POINTER(c_uint64), POINTER(c_int64), POINTER(c_size_t))


class StorageVtable(Structure):
    _fields_ = [("version", c_uint32), ("get", S_GET), ("set", S_SET),
                ("set_nx", S_SET), ("cas", S_CAS), ("del_", S_DEL),
                ("del_if", S_DEL_IF), ("incr", S_INCR), ("expire", S_EXPIRE),
                ("destroy", DESTROY_FN),
                ("scan", S_SCAN), ("get_many", S_GET_MANY),
                ("put_many", S_PUT_MANY), ("sorted_add", S_SORTED_ADD),
                ("sorted_remove", S_SORTED_REMOVE),
                ("sorted_score", S_SORTED_SCORE),
                ("sorted_count", S_SORTED_COUNT),
                ("sorted_range", S_SORTED_RANGE),
                ("sorted_remove_range", S_SORTED_REMOVE_RANGE),
                ("txn", S_TXN)]


class JobRecord(Structure):
    _fields_ = [("version", c_uint32), ("id", c_char_p), ("payload", c_void_p),
                ("payload_len", c_size_t), ("state", c_int32),
                ("attempts", c_int32), ("max_attempts", c_int32),
                ("stalls", c_int32), ("token", c_uint64),
                ("created_ms", c_int64), ("run_at_ms", c_int64),
                ("lease_until_ms", c_int64), ("finished_ms", c_int64),
                ("backoff", c_int32), ("backoff_ms", c_int64),
                ("backoff_max_ms", c_int64), ("jitter_pct", c_int32),
                ("priority", c_int32), ("last_error", c_char_p)]


class Schema(Structure):
    _fields_ = [("version", c_uint32), ("current", c_uint32),
                ("upgrade", c_void_p), ("ud", c_void_p)]
