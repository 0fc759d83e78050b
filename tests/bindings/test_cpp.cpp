/*
 * The C++17 wrapper (include/wabot.hpp): RAII handles, typed options,
 * capturing lambdas as middlewares/routes/error handlers/HTTP routes/
 * workers, exceptions carrying status and detail, a transport in C++.
 * A plain program (Check does not suit templates): each check prints what
 * failed and the program exits 1.
 */
#include "cpp_check.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

static wabot::message msg(const std::string &id, const std::string &text)
{
    auto m = wabot::message::make(id, "+15550001");
    m.text(text);
    return m;
}

static void test_options_are_typed_and_checked()
{
    wabot::options o;
    o.set("dedup", false).set("max_body_bytes", "2MiB").set("command_prefix", "!");
    o.set("state_max_retries", 7);
    CHECK(o.get("max_body_bytes") == "2MiB");
    CHECK(o.get("state_max_retries") == "7");
    CHECK(code_of([&] { o.set("no_such_option", "1"); }) == WABOT_ERR_INVAL);
    CHECK(code_of([&] { o.set("dedup", 3); }) == WABOT_ERR_INVAL);
    CHECK(code_of([&] { o.set("command_prefix", true); }) == WABOT_ERR_INVAL);
    try {
        o.set("max_body_bytes", "lots");
        CHECK(false);
    } catch (const wabot::error &e) {
        CHECK(e.code() == WABOT_ERR_INVAL);
        CHECK(e.detail().find("max_body_bytes") != std::string::npos);
    }
    CHECK(o.names().size() > 40);
}

static void test_routes_middlewares_and_state()
{
    auto rec = wabot::transport::recorder();
    wabot::options o;
    o.set("dedup", false).transport(rec);
    wabot::bot bot(o);
    std::vector<std::string> trail;
    int calls = 0;
    bot.use([&](wabot::turn &t, const wabot::next_fn &next) {
        trail.push_back("mw>" + t.text());
        next();
        trail.push_back("<mw");
    });
    bot.keyword("menu", [&](wabot::turn &t) {
        calls++;
        t.set_state("ordering");
        t.session_set("n", calls);
        t.session_set("who", "ann");
        t.reply("menu " + std::to_string(calls));
    });
    bot.regex("^([0-9]+)$", [&](wabot::turn &t) {
        t.reply("qty " + t.capture(1) + " of " + *t.session_str("who"));
        t.reply_buttons("ok?", {{"y", "Yes"}, {"n", "No"}});
        t.set_state("");
    }, "ordering");
    bot.command("help", [](wabot::turn &t) { t.reply("help:" + t.capture(1)); });
    bot.fallback([](wabot::turn &t) { t.reply("fallback"); });
    CHECK(bot.route_count() == 4);

    bot.handle_message(msg("m1", "  MENU! "));
    bot.handle_message(msg("m2", "3"));
    bot.handle_message(msg("m3", "/help me"));
    bot.handle_message(msg("m4", "3"));
    bot.run_until_idle();
    CHECK(rec.recorded() == 5);
    if (rec.recorded() == 5) {
        CHECK(rec.recorded(0).text == "menu 1");
        CHECK(rec.recorded(1).text == "qty 3 of ann");
        CHECK(rec.recorded(2).kind == "buttons");
        CHECK(rec.recorded(2).options.size() == 2);
        CHECK(rec.recorded(3).text == "help:me");
        CHECK(rec.recorded(4).text == "fallback");
    }
    CHECK(trail.size() == 8 && trail[0] == "mw>  MENU! " && trail[1] == "<mw");
    auto conv = bot.conversation("+15550001");
    CHECK(conv && conv->first.empty());
    CHECK(conv && conv->second.find("\"who\":\"ann\"") != std::string::npos);
}

static void test_exceptions_become_failed_turns()
{
    auto rec = wabot::transport::recorder();
    wabot::options o;
    o.set("dedup", false).transport(rec);
    wabot::bot bot(o);
    std::string seen;
    bot.fallback([](wabot::turn &t) {
        if (t.text() == "busy")
            throw wabot::error(WABOT_ERR_BUSY, "try later");
        throw std::runtime_error("bad " + t.text());
    });
    bot.on_error([&](wabot::turn &t, const wabot::error &e) {
        try {
            if (e.nested())
                std::rethrow_exception(e.nested());
        } catch (const std::exception &inner) {
            seen = inner.what();
        }
        t.reply("sorry");
    });
    try {
        bot.handle_message(msg("e1", "input"));
        CHECK(false);
    } catch (const wabot::error &e) {
        CHECK(e.code() == WABOT_ERR_HANDLER);
        CHECK(e.nested() != nullptr);
    }
    CHECK(seen == "bad input");
    CHECK(code_of([&] { bot.handle_message(msg("e2", "busy")); }) == WABOT_ERR_BUSY);
    bot.run_until_idle();
    CHECK(rec.recorded() == 2 && rec.recorded(0).text == "sorry");
    CHECK(!bot.conversation("+15550001"));
}

static void test_next_rethrows_and_middleware_recovers()
{
    auto rec = wabot::transport::recorder();
    wabot::options o;
    o.set("dedup", false).transport(rec);
    wabot::bot bot(o);
    bot.use([](wabot::turn &t, const wabot::next_fn &next) {
        try {
            next();
        } catch (const std::logic_error &) {
            t.reply("recovered");
        }
    });
    bot.fallback([](wabot::turn &) { throw std::logic_error("route"); });
    bot.handle_message(msg("n1", "x"));
    bot.run_until_idle();
    CHECK(rec.recorded() == 1 && rec.recorded(0).text == "recovered");
}

static void test_custom_transport_http_route_and_worker()
{
    std::vector<std::string> sent;
    auto tr = wabot::transport::custom("cpp", [&](const wabot::outbound &m, wabot_send_op *op) {
        sent.push_back(m.text);
        wabot::transport::ok(op, "cpp-" + std::to_string(sent.size()));
    });
    CHECK(tr.name() == "cpp");
    wabot::options o;
    o.set("dedup", false).set("verify_signatures", false).transport(tr);
    wabot::bot bot(o);
    std::vector<std::string> jobs;
    bot.add_worker("cpp-jobs", [&](wabot::job &j) {
        jobs.push_back(std::string(j.payload()) + "#" + std::to_string(j.attempt()));
    });
    bot.keyword("ping", [](wabot::turn &t) {
        t.reply("pong");
        t.enqueue("cpp-jobs", "job-payload");
    });
    bot.http_route("GET", "/admin/hello/:name",
                   [](const wabot::http_request &rq, wabot::http_response_writer &w) {
                       w.header("X-Cpp", "1");
                       w.json(200, "{\"hello\":\"" + rq.param("name") + "\"}");
                   });
    auto r = bot.handle_http(
        "POST", "/whatsapp/webhook",
        {{"Content-Type", "application/x-www-form-urlencoded"}, {"Host", "localhost"}},
        "MessageSid=SM1&From=whatsapp%3A%2B15550001&To=whatsapp%3A%2B15550002"
        "&Body=ping&AccountSid=AC1");
    CHECK(r.status == 200);
    bot.run_until_idle();
    CHECK(sent.size() == 1 && sent[0] == "pong");
    CHECK(jobs.size() == 1 && jobs[0] == "job-payload#1");
    auto h = bot.handle_http("GET", "/admin/hello/zoe", {}, "");
    CHECK(h.status == 200 && h.body == "{\"hello\":\"zoe\"}");
    bool has_header = false;
    for (auto &kv : h.headers)
        has_header |= kv.first == "X-Cpp";
    CHECK(has_header);
    CHECK(bot.handle_http("GET", "/nope", {}, "").status == 404);
}

static void test_handles_are_move_only_raii()
{
    wabot::bot a;
    wabot_ctx *ctx = a.get();
    wabot::bot b(std::move(a));
    CHECK(b.get() == ctx && a.get() == nullptr);
    auto s = wabot::storage::memory();
    s.set("k", "v");
    CHECK(s.get("k") == std::optional<std::string>("v"));
    CHECK(!s.get("absent"));
    auto s2 = std::move(s);
    CHECK(s2.name() == "memory" && s.get() == nullptr);
    CHECK(wabot::version() == WABOT_VERSION_STR);
}

static void test_storage_wrappers_and_transactions()
{
    auto s = wabot::storage::memory();
    std::uint64_t v = s.set("{t}:a", "1");
    CHECK(!s.set_nx("{t}:a", "2"));
    CHECK(!s.cas("{t}:a", v + 99, "3"));
    CHECK(s.cas("{t}:a", v, "4"));
    CHECK(s.incr("{t}:n", 5) == 5);
    {
        wabot::storage::txn t(s);
        t.set("{t}:b", "x").incr("{t}:n", 2).sorted_add("{t}:z", "m", 7);
        CHECK(t.size() == 3);
        CHECK(!t.commit());
        CHECK(t.result(1) == 7);
    }
    {
        wabot::storage::txn t(s);
        t.set("{t}:c", "x").cas("{t}:a", 1, "nope");
        auto failed = t.commit();
        CHECK(failed && *failed == 1);
    }
    CHECK(!s.get("{t}:c"));
    CHECK(s.sorted_score("{t}:z", "m") == std::optional<std::int64_t>(7));
    auto page = s.scan("{t}:", "0", 10, true);
    CHECK(page.second == "0" && page.first.size() == 3);
    auto many = s.get_many({"{t}:b", "absent"});
    CHECK(many.size() == 2 && many[0] == std::optional<std::string>("x") && !many[1]);
    CHECK(s.del("{t}:b") && !s.del("{t}:b"));
    auto rec = wabot::record_encode(2, "p");
    CHECK(wabot::record_decode(2, rec).first == "p");
    CHECK(code_of([&] { wabot::storage::txn t(s); t.set("{a}x", "1").set("{b}y", "1").commit(); }) ==
          WABOT_ERR_INVAL);
}

static void test_builder_clock_log_and_jobs()
{
    std::int64_t now = 1700000000000;
    std::vector<std::string> logs;
    auto rec = wabot::transport::recorder();
    wabot::options o;
    o.set("dedup", false).set("log_level", "debug").transport(rec);
    o.clock([&] { return now; });
    o.log([&](wabot_log_level, std::string_view module, std::string_view) {
        logs.push_back(std::string(module));
    });
    CHECK(o.table().size() == o.names().size());
    wabot::bot bot(o);
    CHECK(bot.now_ms() == now);
    bot.fallback([](wabot::turn &) { throw std::runtime_error("logged"); });
    CHECK(code_of([&] { bot.handle_message(msg("b1", "hi")); }) == WABOT_ERR_HANDLER);
    auto id = bot.out().to("+15550001").text("built").button("a", "A").enqueue();
    CHECK(!id.empty());
    bot.run_until_idle();
    CHECK(rec.recorded() == 1 && rec.recorded(0).kind == "buttons");
    CHECK(!logs.empty());
    auto spec = wabot::bot::job_spec();
    spec.delay_ms = 60000;
    spec.job_id = "later-1";
    CHECK(bot.enqueue("later", "p", &spec) == "later-1");
    CHECK(bot.job_state("later", "later-1") == std::optional<std::string>("delayed"));
    CHECK(bot.queue_counts("later")[WABOT_JOB_DELAYED] == 1);
    auto many = bot.enqueue_many("later", {"a", "p"}, {nullptr, &spec});
    CHECK(many.size() == 2 && many[0].added && !many[0].id.empty());
    CHECK(many[1].id == "later-1" && !many[1].added); /* queued already */
    CHECK(code_of([&] { bot.enqueue_many("later", {}); }) == WABOT_ERR_INVAL);
    CHECK(code_of([&] { bot.enqueue_many("later", {"a"}, {nullptr, nullptr}); }) ==
          WABOT_ERR_INVAL);
    bot.cancel_job("later", many[0].id);
    bot.cancel_job("later", "later-1");
    CHECK(!bot.job_state("later", "later-1"));
    bot.metrics_add("cpp.custom", 3);
    CHECK(bot.metrics_counter("cpp.custom") == 3);
    CHECK(wabot::keyword_fold("  Ménu! ") == "menu");
    CHECK(wabot::msg_type_from_name("image") == WABOT_MSG_IMAGE);
    std::string sig = wabot::twilio_signature("tok", "https://x/hook", "Body=hi&From=x");
    CHECK(wabot::twilio_signature_valid("tok", "https://x/hook", "Body=hi&From=x", sig));
    CHECK(!wabot::twilio_signature_valid("other", "https://x/hook", "Body=hi&From=x", sig));
    CHECK(wabot::meta_signature_valid("sec", "{}", wabot::meta_signature("sec", "{}")));
}

static void test_module_written_in_cpp()
{
    auto rec = wabot::transport::recorder();
    auto def = std::make_shared<wabot::module_def>("greeter", "answers hi");
    bool destroyed = false;
    def->option("greeting", "Hi", "what to answer", true)
        .option("limit", 3, 1, 10, "greetings per customer")
        .hook("greeted")
        .on_create([&, d = def.get()](wabot::module &m) {
            d->use(m, WABOT_STAGE_TURN, "greet", [m](wabot::turn &t, const wabot::next_fn &next) mutable {
                if (t.text() != "hi")
                    return next();
                t.reply(m.option_str(0, t.organization().c_str()));
                t.set_handled();
                m.emit("greeted", "{\"customer\":\"" + t.customer() + "\"}");
            });
            wabot::bot::borrow(m.ctx()).http_route(
                "GET", "/greeter/limit",
                [m](const wabot::http_request &, wabot::http_response_writer &w) {
                    w.json(200, "{\"limit\":" + std::to_string(m.option_int(1)) + "}");
                });
        })
        .on_destroy([&](wabot::module &) { destroyed = true; });
    {
        wabot::options o;
        o.set("dedup", false).transport(rec).add_module(def);
        o.set("greeter.greeting", "Hello");
        CHECK(code_of([&] { o.set("greeter.limit", 11); }) == WABOT_ERR_INVAL);
        wabot::bot bot(o);
        std::vector<std::string> events;
        bot.subscribe("greeter.greeted", [&](std::string_view, std::string_view json) {
            events.push_back(std::string(json));
        });
        CHECK(bot.hook_subscribers("greeter.greeted") == 1);
        bot.set_org_option("acme", "greeter.greeting", "Ola");
        bot.fallback([](wabot::turn &t) { t.reply("fallback"); });
        bot.handle_message(msg("g1", "hi"));
        auto m2 = wabot::message::make("g2", "+15550002");
        m2.text("hi").organization("acme");
        bot.handle_message(m2);
        bot.handle_message(msg("g3", "other"));
        bot.run_until_idle();
        CHECK(rec.recorded() == 3);
        if (rec.recorded() == 3) {
            CHECK(rec.recorded(0).text == "Hello");
            CHECK(rec.recorded(1).text == "Ola");
            CHECK(rec.recorded(2).text == "fallback");
        }
        CHECK(events.size() == 2 && events[0] == "{\"customer\":\"+15550001\"}");
        CHECK(bot.handle_http("GET", "/greeter/limit", {}, "").body == "{\"limit\":3}");
        auto names = bot.module_names();
        CHECK(std::find(names.begin(), names.end(), "greeter") != names.end());
        CHECK(bot.module_doc("greeter") == std::optional<std::string>("answers hi"));
    }
    CHECK(destroyed);
}

static void test_admin_and_migration()
{
    auto rec = wabot::transport::recorder();
    wabot::options o;
    o.set("dedup", false).set("verify_signatures", false).set("admin.token", "tok").transport(rec);
    wabot::bot bot(o);
    CHECK(bot.admin_enabled());
    bot.admin_route("GET", "/ping/:n", [](const wabot::http_request &rq,
                                          wabot::http_response_writer &w) {
        if (rq.param("n") == "0")
            return w.admin_error(400, "bad_n", "n must not be 0", "n");
        w.json(200, "{\"pong\":" + rq.param("n") + "}");
    });
    CHECK(bot.handle_http("GET", "/whatsapp-v2/ping/3", {{"Authorization", "Bearer tok"}}, "")
              .body == "{\"pong\":3}");
    CHECK(bot.handle_http("GET", "/whatsapp-v2/ping/0", {{"Authorization", "Bearer tok"}}, "")
              .status == 400);
    CHECK(bot.handle_http("GET", "/whatsapp-v2/ping/3", {}, "").status == 401);

    CHECK(bot.migration_decide("+15550001") == WABOT_SYSTEM_NEW);
    bot.migration_set_percent(0);
    CHECK(bot.migration_decide("+15550001") == WABOT_SYSTEM_LEGACY);
    CHECK(code_of([&] { bot.migration_set_percent(101); }) == WABOT_ERR_INVAL);
    CHECK(wabot::last_error().find("101") != std::string::npos);
    bot.migration_pin("+15550001", WABOT_SYSTEM_NEW);
    CHECK(bot.migration_decide("+15550001") == WABOT_SYSTEM_NEW);
    CHECK(bot.migration_unpin("+15550001") && !bot.migration_unpin("+15550001"));
    bot.migration_set_enabled(true);
    bot.migration_update("{\"percent\":100}");
    CHECK(bot.migration_json().find("\"percent\":100") != std::string::npos);
    int b = wabot::migration_bucket("+15550001");
    CHECK(b >= 0 && b < 100);

    int legacy_calls = 0;
    bot.set_legacy([&](std::string_view, std::string_view, const auto &, std::string_view,
                       wabot::http_response_writer &w) {
        legacy_calls++;
        w.text(200, "legacy");
    });
    bot.migration_pin("+15550009", WABOT_SYSTEM_LEGACY);
    auto r = bot.handle_http(
        "POST", "/whatsapp/webhook",
        {{"Content-Type", "application/x-www-form-urlencoded"}, {"Host", "localhost"}},
        "MessageSid=SM9&From=whatsapp%3A%2B15550009&To=whatsapp%3A%2B15550002&Body=hi"
        "&AccountSid=AC1");
    CHECK(r.status == 200 && r.body == "legacy" && legacy_calls == 1);
    bot.set_legacy(nullptr);
}

int main()
{
    test_options_are_typed_and_checked();
    test_routes_middlewares_and_state();
    test_exceptions_become_failed_turns();
    test_next_rethrows_and_middleware_recovers();
    test_custom_transport_http_route_and_worker();
    test_handles_are_move_only_raii();
    test_storage_wrappers_and_transactions();
    test_builder_clock_log_and_jobs();
    test_module_written_in_cpp();
    test_admin_and_migration();
    if (failures)
        std::fprintf(stderr, "%d check(s) failed\n", failures);
    else
        std::printf("c++ wrapper: all checks passed\n");
    return failures ? 1 : 0;
}
