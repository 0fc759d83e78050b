/*
 * The C++ wrapper's orders, campaigns and reminders (include/wabot.hpp):
 * an order moved through its lifecycle with the illegal move throwing
 * WABOT_ERR_STATE and the library's message, an order placed from a
 * turn's cart, a campaign run to completion on the recorder transport
 * (one message per customer) with pause and resume, a reminder fired on
 * the fake clock. A plain program like test_cpp.cpp.
 */
#include "cpp_check.h"

#include <cstdio>
#include <set>
#include <string>

static bool has(const std::string &s, const std::string &part)
{
    return s.find(part) != std::string::npos;
}

/* The fake clock: time moves only when the test moves it; each bot
 * starts it at 2023-11-14T22:13:20Z. */
static const std::int64_t EPOCH_MS = 1700000000000;
static std::int64_t g_now = EPOCH_MS;

static wabot::bot make_bot(wabot::transport &rec)
{
    g_now = EPOCH_MS;
    wabot::options o;
    o.set("dedup", false)
        .set("window_ms", "0")
        .set("rate_sender_per_s", "0")
        .clock([] { return g_now; })
        .transport(rec);
    return wabot::bot(o);
}

static wabot::message msg(const std::string &id, const std::string &from,
                          const std::string &text, const std::string &org = {})
{
    auto m = wabot::message::make(id, from);
    m.text(text);
    if (!org.empty())
        m.organization(org);
    return m;
}

static std::int64_t pending(wabot::bot &b, const char *queue)
{
    auto c = b.queue_counts(queue);
    return c[WABOT_JOB_WAITING] + c[WABOT_JOB_DELAYED] + c[WABOT_JOB_ACTIVE];
}

/* Run the loop a fake second at a time until done() (10,000 at most). */
template <class F> static bool run_until(wabot::bot &b, F &&done)
{
    for (int i = 0; i < 10000; i++) {
        b.run_until_idle();
        if (done())
            return true;
        g_now += 1000;
    }
    return false;
}

static void test_order_lifecycle_and_the_illegal_move()
{
    auto rec = wabot::transport::recorder();
    auto bot = make_bot(rec);
    wabot::catalog cat(bot, "acme");
    auto water = cat.make("water", "Water");
    water.set_price(100, "USD").set_stock(5);
    cat.create(water);
    wabot::orders orders(bot, "acme");
    std::string id = orders.create("+15550001", R"([{"sku":"water","quantity":2}])", "SM1");
    CHECK(id == "ORD-000001");
    const char *one = R"([{"sku":"water","quantity":1}])";
    CHECK(code_of([&] { orders.create("+15550001", one, "SM1"); }) ==
          WABOT_ERR_EXISTS);
    CHECK(orders.create("+15550001", "[]", "SM1", true) == id);
    CHECK(code_of([&] { orders.create("+15550001", "{"); }) == WABOT_ERR_PARSE);
    CHECK(code_of([&] { orders.create("+15550001", R"([{"sku":"nope","quantity":1}])"); }) ==
          WABOT_ERR_NOT_FOUND);
    try {
        orders.set_status(id, WABOT_ORDER_FULFILLED);
        CHECK(!"an illegal move did not throw");
    } catch (const wabot::error &e) {
        CHECK(e.code() == WABOT_ERR_STATE);
        CHECK(e.detail() == "order ORD-000001 cannot go from pending to fulfilled");
    }
    orders.set_status(id, WABOT_ORDER_CONFIRMED);
    CHECK(cat.get("water")->stock() == 3);
    orders.set_status(id, WABOT_ORDER_PROCESSING);
    orders.set_status(id, WABOT_ORDER_FULFILLED);
    CHECK(code_of([&] { orders.cancel(id); }) == WABOT_ERR_STATE);
    auto j = orders.get(id);
    CHECK(j && has(*j, "\"status\":\"fulfilled\"") && has(*j, "\"total_minor\":200"));
    CHECK(!orders.get("ORD-999999"));

    std::string second = orders.create("+15550002", R"([{"sku":"water","quantity":1}])");
    orders.confirm(second);
    CHECK(code_of([&] { orders.confirm(second); }) == WABOT_ERR_EXISTS);
    run_until(bot, [&] { return pending(bot, WABOT_ORDER_QUEUE) == 0; });
    CHECK(has(*orders.get(second), "\"status\":\"processing\""));
    auto counts = orders.counts();
    CHECK(counts[0] == 2 && counts[WABOT_ORDER_FULFILLED] == 1 &&
          counts[WABOT_ORDER_PROCESSING] == 1);
    CHECK(has(orders.list_json("+15550002"), second) && !has(orders.list_json("+15550002"), id));
    CHECK(has(orders.list_json({}, WABOT_ORDER_FULFILLED), id));
    CHECK(has(orders.stats_json(), "\"count\":2"));
    CHECK(wabot::order_status_name(WABOT_ORDER_CANCELLED) == "cancelled");

    /* From a turn's cart. */
    std::string placed;
    bot.keyword("buy", [&](wabot::turn &t) {
        t.cart_add("water", 1);
        placed = t.place_order();
        t.confirm_order(placed);
    });
    bot.handle_message(msg("in-1", "+15550003", "buy", "acme"));
    run_until(bot, [&] { return pending(bot, WABOT_ORDER_QUEUE) == 0; });
    CHECK(!placed.empty() && has(*orders.get(placed), "\"status\":\"processing\""));
    CHECK(cat.get("water")->stock() == 1);
}

static void test_order_flow_takes_an_order()
{
    auto rec = wabot::transport::recorder();
    auto bot = make_bot(rec);
    wabot::catalog cat(bot, "acme");
    auto coke = cat.make("coke", "Coke");
    coke.set_price(150, "USD");
    cat.create(coke);
    wabot::install_order_flow(bot, "acme");
    bot.handle_message(msg("f1", "+15550001", "hi", "acme"));
    bot.handle_message(msg("f2", "+15550001", "2 coke", "acme"));
    bot.handle_message(msg("f3", "+15550001", "confirm", "acme"));
    run_until(bot, [&] { return pending(bot, WABOT_ORDER_QUEUE) == 0; });
    std::string all;
    for (std::size_t i = 0; i < rec.recorded(); i++)
        all += rec.recorded(i).text + "\n";
    CHECK(has(all, "Welcome"));
    CHECK(has(all, "ORD-000001"));
    CHECK(has(*wabot::orders(bot, "acme").get("ORD-000001"), "\"total_minor\":300"));
}

static const char *BODY =
    R"({"organizationId":"acme","name":"Promo","message":"Hi {{name}}",)"
    R"("type":"PROMOTIONAL","targetAudience":{"type":"all"},"startImmediately":true,)"
    R"("batchSize":4,"sendRate":4,)"
    R"("providerTemplate":{"name":"promo","language":"en","parameters":["{{name}}"]}})";

static std::string id_of(const std::string &json)
{
    auto at = json.find("\"id\":\"");
    if (at == std::string::npos)
        return {};
    at += 6;
    return json.substr(at, json.find('"', at) - at);
}

static void test_campaign_runs_once_per_customer_with_pause_and_resume()
{
    auto rec = wabot::transport::recorder();
    auto bot = make_bot(rec);
    wabot::customers cust(bot, "acme");
    std::string rows = "[";
    for (int i = 0; i < 30; i++)
        rows += std::string(i ? "," : "") + "{\"phone\":\"+1555000" + std::to_string(1000 + i) +
                "\",\"name\":\"C" + std::to_string(i) + "\"" +
                (i % 10 == 0 ? ",\"opted_out\":true" : "") + "}";
    CHECK(has(cust.import_json(rows + "]"), "\"failed\":0"));
    wabot::campaigns camps(bot, "acme");
    std::string id = id_of(camps.create_json(BODY));
    CHECK(!id.empty());
    auto settled = [&] {
        return pending(bot, "campaigns") == 0 && pending(bot, WABOT_QUEUE_OUTBOUND) == 0;
    };
    CHECK(run_until(bot, [&] { return camps.progress(id).queued >= 10; }));
    camps.pause(id);
    CHECK(code_of([&] { camps.pause(id); }) == WABOT_ERR_STATE);
    CHECK(run_until(bot, settled));
    std::size_t at_pause = rec.recorded();
    CHECK(at_pause < 27);
    g_now += 3600000;
    CHECK(run_until(bot, settled));
    CHECK(rec.recorded() == at_pause);
    CHECK(camps.progress(id).status == WABOT_CAMPAIGN_PAUSED);
    camps.resume(id);
    CHECK(run_until(bot, [&] {
        return camps.progress(id).status == WABOT_CAMPAIGN_COMPLETED && settled();
    }));
    std::set<std::string> to;
    for (std::size_t i = 0; i < rec.recorded(); i++)
        to.insert(rec.recorded(i).to);
    CHECK(rec.recorded() == 27 && to.size() == 27);
    auto p = camps.progress(id);
    CHECK(p.total == 30 && p.queued == 27 && p.sent == 27 &&
          p.skipped[WABOT_CAMPAIGN_SKIP_OPTED_OUT] == 3 && p.percent == 100);
    CHECK(has(camps.progress_json(id), "\"opted_out\":3"));
    CHECK(has(*camps.get_json(id), "\"status\":\"COMPLETED\""));
    CHECK(!camps.get_json("cmp-none"));
    std::string listed, cursor = "0";
    do { /* a page may be empty before the end: follow the cursor */
        std::string page = camps.list_json("COMPLETED", cursor, 2);
        listed += page;
        auto at = page.find("\"cursor\":\"") + 10;
        cursor = page.substr(at, page.find('"', at) - at);
    } while (cursor != "0");
    CHECK(has(listed, id));
    CHECK(wabot::campaign_status_name(WABOT_CAMPAIGN_RUNNING) == "RUNNING");

    /* A draft: scheduled, then cancelled; bad bodies carry the message. */
    std::string draft = id_of(camps.create_json(
        R"({"organizationId":"acme","name":"D","message":"x","type":"UTILITY",)"
        R"("targetAudience":{"type":"all"}})"));
    camps.schedule(draft, g_now + 3600000);
    CHECK(has(*camps.get_json(draft), "\"status\":\"SCHEDULED\""));
    camps.cancel(draft);
    CHECK(code_of([&] { camps.start(draft); }) == WABOT_ERR_STATE);
    CHECK(code_of([&] { camps.create_json("{"); }) == WABOT_ERR_PARSE);
    try {
        camps.create_json(R"({"organizationId":"acme","name":"B","message":"Hi {{nope}}",)"
                          R"("type":"PROMOTIONAL","targetAudience":{"type":"all"}})");
        CHECK(!"a bad template did not throw");
    } catch (const wabot::error &e) {
        CHECK(e.code() == WABOT_ERR_INVAL && has(e.detail(), "message"));
    }
}

static void test_reminder_fires_on_the_fake_clock()
{
    auto rec = wabot::transport::recorder();
    auto bot = make_bot(rec);
    wabot::customers(bot).upsert_json(R"({"phone":"+15550100","name":"Ana"})");
    bot.handle_message(msg("w1", "+15550100", "hello")); /* opens the window */
    bot.run_until_idle();
    std::size_t base = rec.recorded();
    wabot::reminders rem(bot);
    /* Due an hour after EPOCH_MS. */
    const std::string body =
        R"({"organizationId":"default","customerPhone":"+15550100","type":"APPOINTMENT",)"
        R"("id":"r-1","message":"Hi {{name}}","scheduledFor":"2023-11-14T23:13:20Z"})";
    CHECK(has(rem.create_json(body), "\"status\":\"SCHEDULED\""));
    CHECK(code_of([&] { rem.create_json(body); }) == WABOT_ERR_EXISTS);
    g_now += 3600000 - 1;
    bot.run_until_idle();
    CHECK(rec.recorded() == base);
    g_now += 1;
    CHECK(run_until(bot, [&] {
        return has(*rem.get_json("r-1"), "\"status\":\"SENT\"") &&
               pending(bot, WABOT_QUEUE_OUTBOUND) == 0;
    }));
    CHECK(rec.recorded() == base + 1 && rec.recorded(base).text == "Hi Ana");
    CHECK(code_of([&] { rem.cancel("r-1"); }) == WABOT_ERR_STATE);
    CHECK(has(rem.list_json("+15550100", "SENT"), "r-1"));
    CHECK(has(rem.stats_json(), "\"SENT\":1"));
    CHECK(!rem.get_json("nope"));
    try {
        rem.create_json(R"({"organizationId":"default","type":"CUSTOM","message":"x",)"
                        R"("scheduledFor":"2023-11-14T23:13:20Z"})");
        CHECK(!"a body without customerPhone did not throw");
    } catch (const wabot::error &e) {
        CHECK(e.code() == WABOT_ERR_INVAL && has(e.detail(), "customerPhone"));
    }
}

int main()
{
    test_order_lifecycle_and_the_illegal_move();
    test_order_flow_takes_an_order();
    test_campaign_runs_once_per_customer_with_pause_and_resume();
    test_reminder_fires_on_the_fake_clock();
    if (failures)
        std::fprintf(stderr, "%d check(s) failed\n", failures);
    else
        std::printf("c++ orders/campaigns/reminders wrapper: all checks passed\n");
    return failures ? 1 : 0;
}
