"""Library discovery, version, errors, options and messages."""
import os
import subprocess
import sys
import unittest

from wbtest import ROOT, wabot


def run_py(code, env):
    e = dict(os.environ)
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], env=e,
                          capture_output=True, text=True, timeout=60)


PRELUDE = ("import sys; sys.path.insert(0, %r); import wabot\n"
           % os.path.join(ROOT, "bindings", "python"))


class TestLoading(unittest.TestCase):
    def test_explicit_path_wins_over_environment(self):
        lib = os.environ["WABOT_LIBRARY"]
        r = run_py(PRELUDE + "print(wabot.load(%r)._wabot_path)" % lib,
                   {"WABOT_LIBRARY": "/nonexistent/libwabot.so.0"})
        self.assertEqual(r.stdout.strip(), lib, r.stderr)

    def test_missing_library_error_lists_every_attempt(self):
        r = run_py(PRELUDE + "wabot.load('/nope/libwabot.so.0')",
                   {"WABOT_LIBRARY": "/also/missing.so",
                    "LD_LIBRARY_PATH": "/nonexistent"})
        # The build tree is found last; with it present the load succeeds,
        # so only check the explicit and environment attempts are named
        # when everything fails or that the build tree was used.
        if r.returncode != 0:
            self.assertIn("explicit path: /nope/libwabot.so.0", r.stderr)
            self.assertIn("WABOT_LIBRARY: /also/missing.so", r.stderr)
            self.assertIn("SONAME", r.stderr)
        else:
            self.assertEqual(r.stderr, "")

    def test_error_names_attempts_when_nothing_loads(self):
        from wabot._loader import LibraryNotFound
        e = LibraryNotFound([("explicit path", "/x (missing)"),
                             ("SONAME", "libwabot.so.0 (missing)")])
        self.assertIn("explicit path: /x (missing)", str(e))
        self.assertIn("WABOT_LIBRARY", str(e))

    def test_version_matches_loaded_library(self):
        num, text = wabot.version()
        self.assertEqual(text, "%d.%d.%d" % (num >> 16, (num >> 8) & 255,
                                             num & 255))
        self.assertGreaterEqual(num, 0x000200)

    def test_older_library_is_refused(self):
        from wabot import _loader

        class Fake:
            class wabot_version_num:
                restype = None

                def __new__(cls):
                    return 0x000100
        with self.assertRaises(ImportError) as cm:
            _loader._check_version(Fake, "fake.so")
        self.assertIn("0.1.0", str(cm.exception))


class TestErrors(unittest.TestCase):
    def test_every_status_maps_to_its_subclass(self):
        for st in wabot.Status:
            if st == 0:
                continue
            e = wabot.error_for(st, "detail")
            self.assertIsInstance(e, wabot.WabotError)
            self.assertEqual(e.code, st)
            self.assertEqual(e.detail, "detail")
            self.assertEqual(type(e).code, st)
            self.assertNotEqual(wabot.strerror(st), "unknown status")

    def test_unknown_code_is_plain_wabot_error(self):
        e = wabot.error_for(-999, "x")
        self.assertIs(type(e), wabot.WabotError)
        self.assertEqual(e.code, -999)


class TestOptions(unittest.TestCase):
    def test_keyword_options_reach_the_context(self):
        with wabot.Bot(max_body_bytes="2MiB", dedup=False,
                       command_prefix="!", window_ms="2h") as bot:
            self.assertEqual(bot.option("max_body_bytes"), 2 << 20)
            self.assertEqual(bot.option("dedup"), 0)
            self.assertEqual(bot.option("command_prefix"), "!")
            self.assertEqual(bot.option("window_ms"), 7200000)

    def test_unknown_option_is_invalid_argument(self):
        with self.assertRaises(wabot.InvalidArgument) as cm:
            wabot.Bot(no_such_option=1)
        self.assertIn("no_such_option", cm.exception.detail)

    def test_bad_value_carries_the_library_detail(self):
        with self.assertRaises(wabot.InvalidArgument) as cm:
            wabot.Bot(max_body_bytes="lots")
        self.assertIn("max_body_bytes", cm.exception.detail)

    def test_int_for_string_option_is_refused(self):
        with self.assertRaises(wabot.InvalidArgument):
            wabot.Bot(command_prefix=5)

    def test_table_lists_every_option_with_types_and_defaults(self):
        table = {o.name: o for o in wabot.options_table()}
        self.assertEqual(len(table), wabot.Options().table().__len__())
        self.assertEqual(table["max_body_bytes"].type, wabot.OptionType.BYTES)
        self.assertEqual(table["max_body_bytes"].default, "1MiB")
        self.assertTrue(table["twilio_auth_token"].flags &
                        wabot.bot.OPTION_SECRET)
        self.assertIsNotNone(table["max_body_bytes"].range)
        self.assertTrue(table["dedup"].doc)

    def test_options_apply_env_mapping(self):
        o = wabot.Options()
        env = o.table()[[x.name for x in o.table()].index(
            "command_prefix")].env
        o.apply_env({env: "#"})
        self.assertEqual(o.get("command_prefix"), "#")
        o.close()

    def test_per_org_override(self):
        with wabot.Bot() as bot:
            per_org = [o.name for o in wabot.options_table()
                       if o.flags & wabot.bot.OPTION_PER_ORG]
            self.assertTrue(per_org)
            name = per_org[0]
            before = bot.option(name)
            value = "1h" if isinstance(before, int) else "override"
            bot.set_org_option("acme", name, value)
            self.assertNotEqual(bot.option(name, org="acme"), before)
            self.assertEqual(bot.option(name), before)


class TestMessages(unittest.TestCase):
    def test_built_message_reads_back_utf8(self):
        m = wabot.Message.new("m1", "whatsapp:+15550001", "+15550002",
                              text="Olá ☕", profile_name="Zoë",
                              media=[("https://x/y.jpg", "image/jpeg")],
                              location=(1.5, -2.25, "Café", "Rua 1"))
        self.assertEqual(m.text, "Olá ☕")
        self.assertEqual(m.from_, "+15550001")
        self.assertEqual(m.profile_name, "Zoë")
        self.assertEqual(m.media, [("https://x/y.jpg", "image/jpeg")])
        self.assertEqual(m.location, (1.5, -2.25, "Café", "Rua 1"))
        self.assertEqual(m.type, wabot.MsgType.TEXT)
        self.assertEqual(m.provider, "test")
        m.close()
        m.close()  # idempotent

    def test_bad_sender_is_invalid(self):
        with self.assertRaises(wabot.InvalidArgument):
            wabot.Message.new("m1", "not a number")

    def test_unknown_type_name_is_invalid(self):
        with self.assertRaises(wabot.InvalidArgument):
            wabot.Message.new("m1", "+15550001", type="hologram")


if __name__ == "__main__":
    unittest.main()
