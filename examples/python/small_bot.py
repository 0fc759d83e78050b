"""The complete small bot of doc/python.md (the bindings suite runs it
and checks the doc shows this file verbatim)."""
import wabot

transport = wabot.transport.ListTransport()        # or wabot.transport.twilio(...)
bot = wabot.Bot(transport=transport,
                twilio_auth_token="secret",         # options by name, doc/options.md
                public_url="https://bot.example.com",
                window_ms="24h")

@bot.use                                           # Koa-style middleware
def timing(turn, next):
    started = bot.now_ms()
    next()                                         # raises what the rest raised
    turn.locals["ms"] = bot.now_ms() - started

@bot.keyword("menu")                               # "  Ménu! " matches too
def menu(turn):
    turn.reply_list("What would you like?", [("p:1", "Coffee"), ("p:2", "Tea")])
    turn.state = "choosing"

@bot.payload("p:*", state="choosing")
def chosen(turn):
    turn.session["choice"] = turn.message.payload_title
    turn.session["count"] = turn.session.get_int("count") + 1
    turn.state = ""
    turn.reply("Good choice: %s." % turn.session["choice"])

@bot.command("help")                               # "/help me" -> capture(1) == "me"
def help_(turn):
    turn.reply("Send *menu*.")

@bot.fallback
def fallback(turn):
    raise ValueError("no idea what %r means" % turn.text)   # a failed turn

@bot.error
def on_error(turn, error):                         # error: that ValueError
    turn.reply("Sorry, something went wrong.")

# Tests and hosts with their own parsing hand messages in directly:
bot.handle_message(from_="+15550001", text="Menu!")
bot.handle_message(from_="+15550001", text="Tea", type="list_reply",
                   payload="p:2", payload_title="Tea")
bot.run_until_idle()                               # replies leave through the loop
print(transport.texts())                           # ['What would you like?', 'Good choice: Tea.']
print(bot.conversation("+15550001")[:2])           # ('', {'choice': 'Tea', 'count': 1})
bot.close()
