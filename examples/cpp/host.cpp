/*
 * A webhook host in C++ on cpp-httplib (Debian libcpp-httplib-dev) with
 * the header-only wrapper include/wabot.hpp.
 *
 * Every request goes to bot.handle_http() (wabot_http_handle: both
 * providers' webhooks, Meta's handshake, the bot's HTTP routes such as
 * the admin endpoints below); one loop thread drives replies and retries.
 *
 *   TWILIO_AUTH_TOKEN=... build/examples/cpp/wabot-cpp-host [port]
 *
 * Options come from the environment (doc/options.md). WABOT_HOST_RECORD=1
 * keeps replies in a recorder instead of printing them, and serves them on
 * GET /admin/sent (the integration test reads them there).
 */
#include <wabot.hpp>

#include <httplib.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

std::string json_escape(const std::string &s)
{
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out;
}

/* The bot: a small shop conversation. */
void install(wabot::bot &bot, wabot::transport *recorder)
{
    bot.keyword("hello", [](wabot::turn &t) {
        std::string name = t.customer_name().empty() ? "there" : t.customer_name();
        t.reply("Hello " + name + "! Send *menu* to see what we have.");
    });
    bot.keyword("menu", [](wabot::turn &t) {
        t.reply_list("Our menu", {{"product:1", "Coffee beans"}, {"product:2", "Mug"}});
        t.set_state("choosing");
    });
    bot.payload("product:*", [](wabot::turn &t) {
        t.session_set("product", t.message().payload());
        t.set_state("");
        t.reply("Good choice: " + t.message().text() + ".");
    }, "choosing");
    bot.fallback([](wabot::turn &t) { t.reply("Sorry, I did not get that. Send *menu*."); });
    bot.on_error([](wabot::turn &t, const wabot::error &) {
        t.reply("Sorry, something went wrong.");
    });
    bot.http_route("GET", "/admin/customers/:phone",
                   [&bot](const wabot::http_request &rq, wabot::http_response_writer &w) {
                       auto conv = bot.conversation(rq.param("phone"));
                       if (!conv)
                           return w.json(404, "{\"error\":\"no conversation\"}");
                       w.json(200, "{\"state\":\"" + json_escape(conv->first) +
                                       "\",\"session\":" + conv->second + "}");
                   });
    if (recorder) {
        bot.http_route("GET", "/admin/sent",
                       [recorder](const wabot::http_request &, wabot::http_response_writer &w) {
                           std::string out = "[";
                           for (std::size_t i = 0; i < recorder->recorded(); i++)
                               out += (i ? ",\"" : "\"") +
                                      json_escape(recorder->recorded(i).text) + "\"";
                           w.json(200, out + "]");
                       });
    }
}

httplib::Server *server_for_signal = nullptr;

void on_signal(int)
{
    if (server_for_signal)
        server_for_signal->stop();
}

} // namespace

int main(int argc, char **argv)
{
    int port = argc > 1 ? std::atoi(argv[1]) : 8080;
    const char *rec_env = std::getenv("WABOT_HOST_RECORD");
    bool record = rec_env && rec_env[0] == '1';
    try {
        wabot::transport out = record ? wabot::transport::recorder()
                                      : wabot::transport::console();
        wabot::options opts;
        opts.apply_env().transport(out);
        wabot::bot bot(opts);
        install(bot, record ? &out : nullptr);

        std::atomic<bool> running{true};
        std::thread loop([&] {
            while (running)
                bot.poll(100);
        });

        httplib::Server svr;
        auto serve = [&bot](const httplib::Request &req, httplib::Response &res) {
            std::vector<std::pair<std::string, std::string>> headers(req.headers.begin(),
                                                                     req.headers.end());
            auto r = bot.handle_http(req.method, req.target, headers, req.body);
            for (auto &h : r.headers)
                res.set_header(h.first.c_str(), h.second);
            res.status = r.status;
            res.set_content(r.body, r.content_type.c_str());
        };
        svr.Get(".*", serve);
        svr.Post(".*", serve);
        svr.Put(".*", serve);
        svr.Delete(".*", serve);
        server_for_signal = &svr;
        std::signal(SIGTERM, on_signal);
        std::signal(SIGINT, on_signal);
        if (!svr.bind_to_port("127.0.0.1", port)) {
            std::fprintf(stderr, "wabot-cpp-host: cannot listen on port %d\n", port);
            running = false;
            loop.join();
            return 1;
        }
        std::printf("wabot c++ host on http://127.0.0.1:%d\n", port);
        std::fflush(stdout);
        svr.listen_after_bind();
        running = false;
        loop.join();
    } catch (const wabot::error &e) {
        std::fprintf(stderr, "wabot-cpp-host: %s\n", e.what());
        return 1;
    }
    return 0;
}
