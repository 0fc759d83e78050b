// The complete small bot of doc/cpp.md (built and run by the bindings
// suite, which also checks the doc shows this file verbatim).
#include <wabot.hpp>

#include <cstdio>

int main()
{
    try {
        auto transport = wabot::transport::recorder();  // or transport::twilio(...)
        wabot::options opts;
        opts.set("twilio_auth_token", "secret")         // typed setters, by name
            .set("public_url", "https://bot.example.com")
            .set("window_ms", "24h")
            .transport(transport);
        wabot::bot bot(opts);

        int turns = 0;                                  // lambdas may capture
        bot.use([&](wabot::turn &, const wabot::next_fn &next) {
            turns++;
            next();                                     // throws what the rest threw
        });
        bot.keyword("menu", [](wabot::turn &t) {        // "  Ménu! " matches too
            t.reply_list("What would you like?", {{"p:1", "Coffee"}, {"p:2", "Tea"}});
            t.set_state("choosing");
        });
        bot.payload("p:*", [](wabot::turn &t) {
            t.session_set("choice", t.message().payload_title());
            t.session_set("count", t.session_int("count") + 1);
            t.set_state("");
            t.reply("Good choice: " + t.message().payload_title() + ".");
        }, "choosing");
        bot.fallback([](wabot::turn &t) {
            throw std::runtime_error("no idea what '" + t.text() + "' means");
        });
        bot.on_error([](wabot::turn &t, const wabot::error &) {
            t.reply("Sorry, something went wrong.");
        });

        bot.handle_message(wabot::message::make("m1", "+15550001").text("Menu!"));
        bot.handle_message(wabot::message::make("m2", "+15550001")
                               .type(WABOT_MSG_LIST_REPLY)
                               .payload("p:2", "Tea"));
        try {
            bot.handle_message(wabot::message::make("m3", "+15550001").text("?"));
        } catch (const wabot::error &e) {               // the failed turn
            std::printf("turn failed: %s\n", e.what());
        }
        bot.run_until_idle();                           // replies leave through the loop
        for (std::size_t i = 0; i < transport.recorded(); i++)
            std::printf("sent: %s\n", transport.recorded(i).text.c_str());
        auto conv = bot.conversation("+15550001");
        std::printf("session: %s after %d turns\n", conv->second.c_str(), turns);
        return 0;
    } catch (const wabot::error &e) {
        std::fprintf(stderr, "error %d: %s\n", e.code(), e.detail().c_str());
        return 1;
    }
}
