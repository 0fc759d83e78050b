"""Redis backends selected from Python: two bots (two "processes") on one
real redis-server share conversations and the outbound queue."""
import shutil
import socket
import subprocess
import time
import unittest

from wbtest import counting_bot, free_port, wabot


@unittest.skipIf(shutil.which("redis-server") is None, "no redis-server")
class TestRedisBackends(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.proc = subprocess.Popen(
            ["redis-server", "--port", str(cls.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", cls.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)  # waiting for a real server to listen
        raise RuntimeError("redis-server did not start")

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(10)

    def test_two_bots_on_one_redis_share_conversations(self):
        r = wabot.Redis(host="127.0.0.1", port=self.port, prefix="pytest:")
        stores = [r.storage(), r.storage()]
        scheds = [r.scheduler(), r.scheduler()]
        bots = [counting_bot(storage=stores[i], scheduler=scheds[i],
                             limiter=r.limiter()) for i in range(2)]
        for i in range(4):
            bots[i % 2].handle_message(id="r%d" % i, from_="+15550001",
                                       text="x")
        bots[1].handle_message(id="r3", from_="+15550001", text="x")  # dup
        for b in bots:
            b.run_until_idle()
        texts = sorted(bots[0].sent.texts() + bots[1].sent.texts())
        self.assertEqual(texts, ["n=1", "n=2", "n=3", "n=4"])
        self.assertEqual(bots[0].conversation("+15550001")[1], {"n": 4})
        self.assertGreater(r.round_trips, 0)
        self.assertEqual(stores[0].name, "redis")
        for b in bots:
            b.close()
        for s in stores + scheds:
            s.close()
        r.close()

    def test_unreachable_redis_is_a_storage_error(self):
        with self.assertRaises(wabot.StorageError):
            wabot.Redis(host="127.0.0.1", port=free_port(),
                        connect_timeout_ms=200)


if __name__ == "__main__":
    unittest.main()
