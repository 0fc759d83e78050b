"""The library's loop on an asyncio event loop (wabot.aio): replies leave
through the outbound queue with no poll() call and no extra thread."""
import asyncio
import threading
import unittest

from wbtest import wabot


class TestAsyncio(unittest.TestCase):
    def test_replies_are_sent_by_the_asyncio_loop(self):
        async def main():
            loop = asyncio.get_running_loop()
            sent = asyncio.Event()
            threads = set()

            class T(wabot.transport.Transport):
                def send(self, msg, op):
                    threads.add(threading.get_ident())
                    op.ok("a-1")
                    loop.call_soon(sent.set)
            t = T()
            bot = wabot.Bot(transport=t, asyncio_loop=loop, dedup=False)
            bot.fallback(lambda turn: turn.reply("async hello"))
            bot.handle_message(from_="+15550001", text="x")
            await asyncio.wait_for(sent.wait(), 10)
            self.assertEqual(threads, {threading.get_ident()})
            bot.close()
            t.close()
        asyncio.run(main())

    def test_webhook_handled_in_an_executor_wakes_the_loop(self):
        async def main():
            loop = asyncio.get_running_loop()
            got = []
            done = asyncio.Event()

            class T(wabot.transport.Transport):
                def send(self, msg, op):
                    got.append(msg.text)
                    op.ok(None)
                    loop.call_soon_threadsafe(done.set)
            t = T()
            bot = wabot.Bot(transport=t, asyncio_loop=loop,
                            verify_signatures=False, dedup=False)
            bot.keyword("ping")(lambda turn: turn.reply("pong"))
            body = b"MessageSid=SM1&From=whatsapp%3A%2B15550001&To=" \
                b"whatsapp%3A%2B15550002&Body=ping&AccountSid=AC1"
            r = await wabot.aio.handle_http_async(
                bot, "POST", "/whatsapp/webhook",
                {"Content-Type": "application/x-www-form-urlencoded",
                 "Host": "localhost"}, body)
            self.assertEqual(r.status, 200)
            await asyncio.wait_for(done.wait(), 10)
            self.assertEqual(got, ["pong"])
            bot.close()
            t.close()
        import wabot.aio  # noqa: F401
        asyncio.run(main())


if __name__ == "__main__":
    unittest.main()
