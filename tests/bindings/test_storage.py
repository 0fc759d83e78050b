"""A storage backend written in Python (wabot.storage.DictStorage) through
the C vtable: a subset of tests/conformance/storage_suite.c, run through
the library's wrappers on the Python backend and, as the reference, on the
built-in memory backend. Then a bot whose every turn runs on it."""
import threading
import unittest

from wbtest import FakeClock, counting_bot, wabot

S = wabot.storage


class Conformance:
    """Check names follow storage_suite.c."""

    def make(self):
        raise NotImplementedError

    def setUp(self):
        self.clock = FakeClock()
        self.s = self.make()

    def tearDown(self):
        self.s.close()

    def test_get_absent_is_not_found(self):
        with self.assertRaises(wabot.NotFound):
            self.s.get("k")

    def test_set_then_get_round_trips_value_and_version(self):
        v = self.s.set("k", b"value")
        self.assertEqual(self.s.get("k"), (b"value", v))
        self.assertGreater(v, 0)

    def test_binary_value_with_nul_bytes_round_trips(self):
        self.s.set("k", b"a\x00b\x00")
        self.assertEqual(self.s.get("k")[0], b"a\x00b\x00")

    def test_empty_value_round_trips(self):
        self.s.set("k", b"")
        self.assertEqual(self.s.get("k")[0], b"")

    def test_version_grows_on_every_write(self):
        v1 = self.s.set("k", b"1")
        v2 = self.s.set("k", b"2")
        self.assertGreater(v2, v1)

    def test_version_grows_when_key_is_recreated(self):
        v1 = self.s.set("k", b"1")
        self.s.delete("k")
        self.assertGreater(self.s.set("k", b"2"), v1)

    def test_set_nx_on_existing_is_exists_and_value_unchanged(self):
        self.s.set("k", b"1")
        with self.assertRaises(wabot.Exists):
            self.s.set_nx("k", b"2")
        self.assertEqual(self.s.get("k")[0], b"1")

    def test_cas_expected_zero_creates_absent_key(self):
        v = self.s.cas("k", 0, b"x")
        self.assertEqual(self.s.get("k"), (b"x", v))

    def test_cas_stale_version_conflicts_and_value_unchanged(self):
        v = self.s.set("k", b"1")
        self.s.set("k", b"2")
        with self.assertRaises(wabot.Conflict):
            self.s.cas("k", v, b"3")
        self.assertEqual(self.s.get("k")[0], b"2")

    def test_del_absent_is_not_found(self):
        with self.assertRaises(wabot.NotFound):
            self.s.delete("k")

    def test_del_if_wrong_version_conflicts_and_keeps_key(self):
        v = self.s.set("k", b"1")
        with self.assertRaises(wabot.Conflict):
            self.s.del_if("k", v + 100)
        self.s.del_if("k", v)
        with self.assertRaises(wabot.NotFound):
            self.s.get("k")

    def test_incr_absent_starts_from_zero(self):
        self.assertEqual(self.s.incr("n", 5), 5)
        self.assertEqual(self.s.incr("n", -7), -2)

    def test_incr_non_integer_conflicts_and_value_unchanged(self):
        self.s.set("k", b"abc")
        with self.assertRaises(wabot.Conflict):
            self.s.incr("k", 1)
        self.assertEqual(self.s.get("k")[0], b"abc")

    def test_incr_overflow_conflicts_and_value_unchanged(self):
        self.s.incr("n", (1 << 63) - 1)
        with self.assertRaises(wabot.Conflict):
            self.s.incr("n", 1)
        self.assertEqual(self.s.get("n")[0], str((1 << 63) - 1).encode())

    def test_set_ttl_expires_key(self):
        self.s.set("k", b"1", ttl_ms=1000)
        self.clock.advance(999)
        self.assertEqual(self.s.get("k")[0], b"1")
        self.clock.advance(1)
        with self.assertRaises(wabot.NotFound):
            self.s.get("k")

    def test_expired_key_set_nx_succeeds(self):
        self.s.set("k", b"1", ttl_ms=10)
        self.clock.advance(10)
        self.s.set_nx("k", b"2")
        self.assertEqual(self.s.get("k")[0], b"2")

    def test_expire_zero_removes_ttl(self):
        self.s.set("k", b"1", ttl_ms=10)
        self.s.expire("k", 0)
        self.clock.advance(100)
        self.assertEqual(self.s.get("k")[0], b"1")

    def test_empty_key_is_inval(self):
        with self.assertRaises(wabot.InvalidArgument):
            self.s.set("", b"1")

    def test_key_over_1024_bytes_is_inval(self):
        with self.assertRaises(wabot.InvalidArgument):
            self.s.set("k" * 1025, b"1")
        self.s.set("k" * 1024, b"1")

    def test_negative_ttl_is_inval_and_writes_nothing(self):
        with self.assertRaises(wabot.InvalidArgument):
            self.s.set("k", b"1", ttl_ms=-1)
        with self.assertRaises(wabot.NotFound):
            self.s.get("k")

    def test_concurrent_incr_loses_no_update(self):
        def work():
            for _ in range(200):
                self.s.incr("n", 1)
        ts = [threading.Thread(target=work) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(self.s.incr("n", 0), 800)

    def test_scan_returns_every_key_across_small_pages(self):
        for i in range(25):
            self.s.set("p:%02d" % i, b"v")
        self.s.set("other", b"v")
        seen, cursor = [], "0"
        while True:
            items, cursor = self.s.scan("p:", cursor, 7)
            self.assertLessEqual(len(items), 7)
            seen += [k for k, _v, _ver in items]
            if cursor == "0":
                break
        self.assertEqual(sorted(set(seen)), [b"p:%02d" % i for i in range(25)])

    def test_scan_with_values_returns_values_and_versions(self):
        v = self.s.set("a", b"1")
        items, cur = self.s.scan("", "0", 10, values=True)
        self.assertEqual((items, cur), ([(b"a", b"1", v)], "0"))

    def test_scan_never_returns_expired_keys(self):
        self.s.set("a", b"1", ttl_ms=5)
        self.clock.advance(5)
        self.assertEqual(self.s.scan("", "0", 10)[0], [])

    def test_get_many_returns_each_key_in_order(self):
        va = self.s.set("a", b"1")
        vc = self.s.set("c", b"3")
        self.assertEqual(self.s.get_many(["a", "b", "c"]),
                         [(b"1", va), None, (b"3", vc)])

    def test_sorted_range_orders_by_score_then_member(self):
        for m, sc in [(b"b", 2), (b"a", 2), (b"c", 1), (b"d", 9)]:
            self.s.sorted_add("z", m, sc)
        self.assertEqual(self.s.sorted_range("z", 0, 5),
                         [(b"c", 1), (b"a", 2), (b"b", 2)])
        self.assertEqual(self.s.sorted_range("z", desc=True, limit=2),
                         [(b"d", 9), (b"b", 2)])
        self.assertEqual(self.s.sorted_count("z", 2, 9), 3)
        self.assertEqual(self.s.sorted_score("z", b"d"), 9)
        self.s.sorted_remove("z", b"d")
        with self.assertRaises(wabot.NotFound):
            self.s.sorted_score("z", b"d")

    def test_txn_applies_all_ops_atomically(self):
        v = self.s.set("{t}:a", b"1")
        res = self.s.txn([("cas", "{t}:a", v, b"2", 0),
                          ("incr", "{t}:n", 3, 0),
                          ("sorted_add", "{t}:z", b"m", 5)])
        self.assertEqual(self.s.get("{t}:a")[0], b"2")
        self.assertEqual(res[1][1], 3)
        self.assertEqual(self.s.sorted_score("{t}:z", b"m"), 5)

    def test_txn_failed_condition_writes_nothing_and_names_the_op(self):
        self.s.set("{t}:a", b"1")
        with self.assertRaises(S.TxnConflict) as cm:
            self.s.txn([("set", "{t}:b", b"x", 0),
                        ("cas", "{t}:a", 999, b"2", 0)])
        self.assertEqual(cm.exception.index, 1)
        with self.assertRaises(wabot.NotFound):
            self.s.get("{t}:b")

    def test_txn_keys_of_two_hash_tags_are_inval(self):
        with self.assertRaises(wabot.InvalidArgument):
            self.s.txn([("set", "{a}:x", b"1", 0), ("set", "{b}:y", b"1", 0)])


class TestPythonStorage(Conformance, unittest.TestCase):
    def make(self):
        s = S.DictStorage(clock=self.clock)
        self.assertEqual(s.name, "custom")
        return s


class TestMemoryStorageReference(Conformance, unittest.TestCase):
    """The same checks on the C memory backend, so a check that passed on
    the Python one only by the Python wrapper's doing would show here."""

    def make(self):
        from ctypes import byref
        from wabot import _ffi
        self._cc = _ffi.Clock(1, _ffi.NOW_MS_FN(lambda _u: self.clock()),
                              None)
        return S.StorageHandle(
            wabot.lib().wabot_storage_memory_new(byref(self._cc)))


class PartialStorage(S.Storage):
    """Only the version-1 operations (by way of a DictStorage)."""

    def __init__(self):
        self.inner = S.DictStorage()
        super().__init__()

    def backend_get(self, key):
        return self.inner.backend_get(key)

    def backend_set(self, key, value, ttl_ms):
        return self.inner.backend_set(key, value, ttl_ms)


class TestPartialBackends(unittest.TestCase):
    def test_missing_v2_ops_are_unsupported_and_v1_gaps_are_errors(self):
        s = PartialStorage()
        s.set("k", b"1")
        self.assertEqual(s.get_many(["k", "x"])[1], None)  # emulated
        with self.assertRaises(wabot.Unsupported):
            s.scan("", "0", 10)
        with self.assertRaises(wabot.StorageError):
            s.delete("k")  # NotImplementedError -> WABOT_ERR_STORAGE
        s.close()


class TestBotOnPythonStorage(unittest.TestCase):
    def test_turns_commit_state_through_the_python_storage(self):
        store = S.DictStorage()
        bot = counting_bot(storage=store)
        for i in range(3):
            bot.handle_message(id="m%d" % i, from_="+15550001", text="x")
        bot.handle_message(id="m2", from_="+15550001", text="x")  # dedup
        bot.run_until_idle()
        self.assertEqual(bot.sent.texts(), ["n=1", "n=2", "n=3"])
        self.assertEqual(bot.conversation("+15550001")[1], {"n": 3})
        keys = [k for k, _v, _ver in store.scan("", "0", 1000)[0]]
        self.assertTrue(any(b"+15550001" in k for k in keys))
        bot.close()
        store.close()


if __name__ == "__main__":
    unittest.main()
