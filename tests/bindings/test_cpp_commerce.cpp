/*
 * The C++ wrapper's business families (include/wabot.hpp): money,
 * products and the catalog, import/export, menus, the matcher, the cart of
 * a turn, invoices, templates, customers and audiences, health probes.
 * A plain program like test_cpp.cpp: each check prints what failed and
 * the program exits 1.
 */
#include "cpp_check.h"

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

static bool has(const std::string &s, const std::string &part)
{
    return s.find(part) != std::string::npos;
}

static wabot::message msg(const std::string &id, const std::string &text,
                          const std::string &org = {})
{
    auto m = wabot::message::make(id, "+15550001");
    m.text(text);
    if (!org.empty())
        m.organization(org);
    return m;
}

static wabot::bot plain_bot(wabot::transport &rec, wabot::options &o)
{
    o.set("dedup", false).transport(rec);
    return wabot::bot(o);
}

static void stock_shop(wabot::catalog &cat)
{
    auto coke = cat.make("coke", "Coke");
    coke.set_price(150, "USD").set_category("Drinks").add_alias("coca-cola");
    cat.create(coke);
    auto zero = cat.make("coke-zero", "Coke Zero");
    zero.set_price(160, "USD").set_category("Drinks");
    cat.create(zero);
    auto water = cat.make("water", "Water");
    water.set_price(100, "USD").set_category("Drinks").set_stock(5);
    cat.create(water);
    auto pizza = cat.make("pizza", "Pizza");
    pizza.set_price(900, "USD").set_category("Food");
    cat.create(pizza);
}

static void test_money_formats_parses_and_checks_overflow()
{
    CHECK(wabot::currency_exponent("USD") == 2);
    CHECK(wabot::currency_exponent("JPY") == 0);
    CHECK(code_of([] { wabot::currency_exponent("XXZ"); }) == WABOT_ERR_NOT_FOUND);
    auto a = wabot::money::parse("1.50", "USD");
    CHECK(a.minor == 150);
    CHECK(a.format() == "1.50 USD");
    CHECK(a.format(true) == "$1.50");
    CHECK((a + wabot::money{25, "USD"}) == (wabot::money{175, "USD"}));
    CHECK((a * 3).minor == 450);
    CHECK(code_of([] { wabot::money::parse("1.234", "USD"); }) == WABOT_ERR_PARSE);
    CHECK(code_of([] { (void)(wabot::money{INT64_MAX, "USD"} + wabot::money{1, "USD"}); }) ==
          WABOT_ERR_TOO_LARGE);
    CHECK(code_of([&] { (void)(a * INT64_MAX); }) == WABOT_ERR_TOO_LARGE);
    CHECK(code_of([&] { (void)(a + wabot::money{1, "EUR"}); }) == WABOT_ERR_INVAL);
}

static void test_catalog_products_versions_and_pages()
{
    auto rec = wabot::transport::recorder();
    wabot::options o;
    auto bot = plain_bot(rec, o);
    wabot::catalog cat(bot);
    stock_shop(cat);
    CHECK(cat.count() == 4);
    auto p = cat.get("coke");
    CHECK(p && p->name() == "Coke" && p->price() == 150 && p->currency() == "USD");
    CHECK(p && p->aliases() == std::vector<std::string>{"coca-cola"});
    CHECK(p && !p->stock() && p->active() && p->version() > 0);
    CHECK(cat.get("water")->stock() == 5);
    CHECK(!cat.get("nope"));
    CHECK(code_of([&] { cat.make("bad sku!", "X"); }) == WABOT_ERR_INVAL);
    CHECK(code_of([&] {
              auto dup = cat.make("coke", "Again");
              dup.set_price(1, "USD");
              cat.create(dup);
          }) == WABOT_ERR_EXISTS);
    std::uint64_t old = p->version();
    p->set_price(175, "USD");
    std::uint64_t v = cat.update(*p, old);
    CHECK(v != old && p->version() == v);
    CHECK(cat.get("coke")->money() == (wabot::money{175, "USD"}));
    CHECK(code_of([&] { cat.update(*p, old); }) == WABOT_ERR_CONFLICT);
    CHECK(has(p->to_json(), "\"price\":175"));

    for (int i = 0; i < 5; i++) {
        auto x = cat.make("p" + std::to_string(i), "P" + std::to_string(i));
        x.set_price(i, "USD").set_active(i % 2 == 0);
        cat.create(x);
    }
    std::vector<std::string> skus;
    cat.for_each([&](const wabot::product_view &pv) { skus.push_back(pv.sku()); }, {},
                 false, 2);
    CHECK(skus.size() == 9 && skus[0] == "coke" && skus[8] == "p4");
    skus.clear();
    cat.for_each([&](const wabot::product_view &pv) { skus.push_back(pv.sku()); }, {},
                 true, 3);
    CHECK(skus.size() == 7);
    auto page = cat.list("0", 2);
    CHECK(page.size() == 2 && !page.last() && page[1].sku() == "coke-zero");
    auto food = cat.list("0", 10, "Food");
    CHECK(food.size() == 1 && food[0].sku() == "pizza" && food.last());
    cat.remove("p4");
    CHECK(code_of([&] { cat.remove("p4"); }) == WABOT_ERR_NOT_FOUND);
    CHECK(has(cat.stats_json(), "\"products\":8"));
}

static void test_import_export_and_menus()
{
    auto rec = wabot::transport::recorder();
    wabot::options o;
    auto bot = plain_bot(rec, o);
    wabot::catalog cat(bot, "acme");
    stock_shop(cat);
    std::string exported = cat.export_json();
    wabot::catalog other(bot, "other");
    auto rep = other.import_json(exported);
    CHECK(rep.status == WABOT_OK && rep.written == 4 && rep.errors.empty());
    CHECK(other.export_json() == exported);
    auto bad = other.import_json(R"([{"sku":"tea","name":"Tea","price":"2.50","currency":"USD"},
                                     {"sku":"bad sku","name":"X","price":1,"currency":"USD"}])");
    CHECK(bad.status == WABOT_ERR_INVAL && bad.written == 0);
    CHECK(bad.errors.size() == 1 && bad.errors[0].row == 2 && bad.errors[0].field == "sku");
    CHECK(has(bad.json, "\"row\":2"));
    CHECK(!other.get("tea"));
    CHECK(code_of([&] { other.import_json("nope"); }) == WABOT_ERR_PARSE);

    auto menu = cat.menu_text();
    CHECK(menu.second == 1 && has(menu.first, "Coke Zero") && has(menu.first, "$1.50"));
    CHECK(!has(cat.menu_text(0, "Drinks").first, "Pizza"));
    CHECK(code_of([&] { cat.menu_text(1); }) == WABOT_ERR_NOT_FOUND);
    wabot::out list(bot.get());
    list.to("+15550001");
    CHECK(cat.menu_list(list) == 1);
}

static void test_matcher_and_cart_in_a_turn()
{
    auto rec = wabot::transport::recorder();
    wabot::options o;
    auto bot = plain_bot(rec, o);
    wabot::catalog cat(bot);
    stock_shop(cat);
    {
        auto m = cat.match("2 cokes and 3 x water");
        auto lines = m.lines();
        CHECK(lines.size() == 2);
        CHECK(lines.size() == 2 && lines[0].quantity == 2 && lines[0].ambiguous &&
              lines[0].candidates.size() == 2 && lines[0].candidates[0].sku == "coke");
        CHECK(lines.size() == 2 && lines[1].quantity == 3 && !lines[1].ambiguous);
        CHECK(m.unknown().empty() && !m.reply_text().empty());
        CHECK(has(m.json(), "\"lines\""));
        wabot::out choices(bot.get());
        choices.to("+15550001");
        m.choices(0, choices);
        CHECK(code_of([&] { m.choices(1, choices); }) == WABOT_ERR_INVAL);
    }
    auto unk = cat.match("a pizza and a unicorn");
    CHECK(unk.unknown() == std::vector<std::string>{"unicorn"});
    CHECK(cat.match("1 pizza").reply_text().empty());

    std::vector<wabot::cart_view::line> seen;
    std::int64_t total = -1;
    std::string text;
    bot.keyword("order", [](wabot::turn &t) {
        t.cart_add("coke", 2);
        t.cart_add("pizza");
    });
    bot.keyword("cart", [&](wabot::turn &t) {
        auto c = t.cart();
        seen = c.lines();
        total = c.total();
        text = c.text();
    });
    bot.keyword("less", [](wabot::turn &t) {
        t.cart_set_quantity("coke", 1);
        t.cart_remove("pizza");
    });
    bot.keyword("greedy", [](wabot::turn &t) { t.cart_add("water", 6); });
    bot.keyword("empty", [](wabot::turn &t) { t.cart_clear(); });
    bot.handle_message(msg("c1", "order"));
    bot.handle_message(msg("c2", "cart"));
    CHECK(seen.size() == 2 && total == 1200 && has(text, "Coke"));
    CHECK(seen.size() == 2 && seen[0].total == 300 && seen[1].orderable());
    cat.remove("pizza");
    bot.handle_message(msg("c3", "cart"));
    CHECK(seen.size() == 2 && seen[1].status == WABOT_ERR_NOT_FOUND && total == 300);
    bot.handle_message(msg("c4", "less"));
    bot.handle_message(msg("c4b", "cart"));
    CHECK(seen.size() == 1 && seen[0].sku == "coke" && seen[0].quantity == 1);
    CHECK(code_of([&] { bot.handle_message(msg("c5", "greedy")); }) == WABOT_ERR_TOO_LARGE);
    bot.handle_message(msg("c6", "empty"));
    bot.handle_message(msg("c7", "cart"));
    CHECK(seen.empty() && total == 0);
}

static void test_invoices_issue_change_render_and_queue()
{
    auto rec = wabot::transport::recorder();
    wabot::options o;
    o.set("public_url", "https://bot.example").set("invoices.secret", "s3cret-0123456789");
    auto bot = plain_bot(rec, o);
    wabot::invoices inv(bot, "acme");
    auto d = inv.draft("+15550001", "USD");
    d.key("order-42").add_line("A1", "Coke", 2, 150, 825).add_line("B2", "Pizza", 1, 900, 0);
    std::string n = d.issue();
    CHECK(n.rfind("INV-", 0) == 0);
    CHECK(code_of([&] { d.issue(); }) == WABOT_ERR_EXISTS);
    CHECK(d.issue(true) == n);
    auto j = inv.get(n);
    CHECK(j && has(*j, "\"total_minor\":1225") && has(*j, "\"status\":\"issued\""));
    CHECK(!inv.get("INV-0000-999999"));
    CHECK(code_of([&] { inv.draft("+15550001", "XXZ"); }) == WABOT_ERR_INVAL);
    CHECK(code_of([&] { inv.draft("+15550001", "USD").add_line("A", "A", 0, 1); }) ==
          WABOT_ERR_INVAL);
    std::string n2 = inv.draft("+15550002", "USD").add_line("A", "A", 1, 100).issue();
    CHECK(has(inv.list_json(), n2));
    CHECK(!has(inv.list_json("+15550002"), "\"" + n + "\""));
    inv.set_status(n, WABOT_INVOICE_SENT);
    inv.mark_paid(n);
    inv.mark_void(n2);
    CHECK(code_of([&] { inv.mark_paid(n2); }) == WABOT_ERR_STATE);
    CHECK(has(inv.list_json({}, WABOT_INVOICE_PAID), n));
    CHECK(!has(inv.list_json({}, WABOT_INVOICE_PAID), n2));
    CHECK(inv.mark_overdue() == 0);
    CHECK(has(inv.stats_json(), "\"revenue\":{\"USD\":1225}"));
    CHECK(wabot::invoice_status_name(WABOT_INVOICE_OVERDUE) == "overdue");
    CHECK(has(inv.render_text(n), n));
    std::string pdf = inv.render_pdf(n);
    CHECK(pdf.rfind("%PDF-", 0) == 0);
    std::string url = inv.document_url(n);
    CHECK(url.rfind("https://bot.example/invoices/doc/acme/", 0) == 0);
    auto r = bot.handle_http("GET", url.substr(std::string("https://bot.example").size()), {}, "");
    CHECK(r.status == 200 && r.body == pdf);

    bot.handle_message(msg("w1", "hi", "acme")); /* opens the window */
    std::string job = R"({"org":"acme","customer":"+15550001","currency":"USD","key":"order-7",
                         "lines":[{"sku":"A1","name":"Coke","quantity":1,"unit_minor":150}]})";
    CHECK(inv.enqueue(job) == "invoice:acme:order-7");
    CHECK(code_of([&] { inv.enqueue(job); }) == WABOT_ERR_EXISTS);
    bot.run_until_idle();
    CHECK(rec.recorded() == 1 && has(rec.recorded(0).media_url, "/invoices/doc/acme/"));
}

static void test_templates_customers_audiences_and_health()
{
    auto rec = wabot::transport::recorder();
    wabot::options o;
    auto bot = plain_bot(rec, o);
    wabot::message_template t(bot, "Hi {{name|there}}, {{org.name}} in {{customer.city}}");
    CHECK(t.placeholders() == 3);
    CHECK(t.render_json(R"({"name":"Ana","org":{"name":"Acme"},"customer":{"city":"Porto"}})") ==
          "Hi Ana, Acme in Porto");
    CHECK(t.render_json("{}") == "Hi there,  in ");
    CHECK(code_of([&] { t.render_json("[1]"); }) == WABOT_ERR_PARSE);
    std::string via_fn = t.render([](wabot_template_scope s, std::string_view attr)
                                      -> std::optional<std::string> {
        if (s == WABOT_TEMPLATE_NAME)
            return std::nullopt;
        return "<" + std::string(attr) + ">";
    });
    CHECK(via_fn == "Hi there, <name> in <city>");
    bool threw = false;
    try {
        t.render([](wabot_template_scope, std::string_view) -> std::optional<std::string> {
            throw std::runtime_error("lookup failed");
        });
    } catch (const std::runtime_error &e) {
        threw = std::string(e.what()) == "lookup failed";
    }
    CHECK(threw);
    try {
        wabot::message_template bad(bot, "Hello {{nope}}");
        CHECK(false);
    } catch (const wabot::error &e) {
        CHECK(e.code() == WABOT_ERR_INVAL && has(e.detail(), "6"));
    }

    wabot::customers cust(bot, "acme");
    std::string c = cust.upsert_json(R"({"phone":"whatsapp:+351 912 345 678","name":"Ana",
                                         "tags":["vip"]})");
    CHECK(has(c, "\"phone\":\"+351912345678\""));
    CHECK(has(*cust.get_json("+351912345678"), "\"name\":\"Ana\""));
    CHECK(code_of([&] { cust.upsert_json(R"({"phone":"+351912345678","created_ms":1})"); }) ==
          WABOT_ERR_INVAL);
    std::string rep = cust.import_json(R"([{"phone":"+15550100","tags":["vip"]},
                                           {"phone":"+15550101","opted_out":true,"tags":["vip"]},
                                           {"phone":"nope"}])");
    CHECK(has(rep, "\"created\":2") && has(rep, "\"failed\":1"));
    CHECK(has(cust.list_json("0", 100), "+15550100"));
    std::string aud = cust.audience_json(R"({"type":"tags","any":["vip"]})", "0", 100);
    CHECK(has(aud, "+15550100") && !has(aud, "+15550101") && has(aud, "\"opted_out\":1"));
    CHECK(code_of([&] { cust.audience_json(R"({"type":"nope"})"); }) == WABOT_ERR_INVAL);
    cust.remove("+351912345678");
    CHECK(!cust.get_json("+351912345678"));
    CHECK(code_of([&] { cust.remove("+351912345678"); }) == WABOT_ERR_NOT_FOUND);
    CHECK(wabot::campaign_feature_enabled(bot, WABOT_CAMPAIGN_FEATURE_CAMPAIGNS));
    {
        auto rec2 = wabot::transport::recorder();
        wabot::options o2;
        o2.set("campaign.enabled", false);
        auto off = plain_bot(rec2, o2);
        CHECK(!wabot::campaign_feature_enabled(off, WABOT_CAMPAIGN_FEATURE_CAMPAIGNS, "acme"));
        CHECK(wabot::campaign_feature_enabled(off, WABOT_CAMPAIGN_FEATURE_REMINDERS));
    }

    auto ready = bot.readiness();
    CHECK(ready.first && has(ready.second, "\"status\":\"ready\""));
    bot.health_routes();
    auto live = bot.handle_http("GET", "/healthz", {}, "");
    CHECK(live.status == 200 && has(live.body, "\"ok\""));
    CHECK(bot.handle_http("GET", "/readyz", {}, "").status == 200);
    CHECK(code_of([&] { bot.health_routes(); }) == WABOT_ERR_EXISTS);
}

int main()
{
    test_money_formats_parses_and_checks_overflow();
    test_catalog_products_versions_and_pages();
    test_import_export_and_menus();
    test_matcher_and_cart_in_a_turn();
    test_invoices_issue_change_render_and_queue();
    test_templates_customers_audiences_and_health();
    if (failures)
        std::fprintf(stderr, "%d check(s) failed\n", failures);
    else
        std::printf("c++ commerce wrapper: all checks passed\n");
    return failures ? 1 : 0;
}
