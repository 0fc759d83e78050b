"""The demo coffee-shop conversation (examples/demo_bot.c) in Python.

Routes by keyword, command, regex and payload; conversation states scope
the order flow; session values carry the choices; text and list replies.
"""
import wabot

PRODUCTS = [("product:1", "Coffee beans 250 g", 850),
            ("product:2", "Ceramic mug", 1200),
            ("product:3", "Gift box", 2500)]
PRODUCT, QUANTITY, CONFIRM = "order.product", "order.quantity", \
    "order.confirm"


def money(cents):
    return "$%d.%02d" % (cents // 100, cents % 100)


def menu_text():
    lines = ["Our menu:"] + ["%d. %s - %s" % (i + 1, name, money(price))
                             for i, (_id, name, price) in
                             enumerate(PRODUCTS)]
    return "\n".join(lines + ["Send *order* to buy."])


def forget_order(turn):
    turn.session.pop("product")
    turn.session.pop("quantity")
    turn.state = ""


def ask_product(turn):
    turn.reply_list("Which product would you like? Send 1, 2 or 3.",
                    [(pid, name) for pid, name, _p in PRODUCTS])


def choose_product(turn, number):
    if not 1 <= number <= len(PRODUCTS):
        return ask_product(turn)
    turn.session["product"] = number
    turn.state = QUANTITY
    turn.reply("How many %s? (1-999)" % PRODUCTS[number - 1][1])


def install(bot):
    """Register the demo's routes and handlers on `bot`."""

    @bot.use
    def count_messages(turn, next):
        turn.locals["started"] = bot.now_ms()
        next()

    @bot.keyword("hi")
    @bot.keyword("hello")
    def greet(turn):
        name = turn.customer_name or turn.message.profile_name or "there"
        turn.reply("Hello %s! Welcome to the Wabot coffee shop." % name)
        turn.reply(menu_text())

    @bot.keyword("menu")
    def menu(turn):
        turn.reply(menu_text())

    @bot.command("help")
    @bot.keyword("help")
    def help_(turn):
        turn.reply("I am the Wabot coffee shop bot. Send *menu* to see our "
                   "products, *order* to buy one, *reset* to drop an order."
                   " (*STOP* unsubscribes.)")

    @bot.keyword("reset")
    @bot.keyword("cancel")
    def cancel(turn):
        if not turn.state:
            return turn.reply("There is no order to drop. Send *menu* to "
                              "see our products.")
        forget_order(turn)
        turn.reply("Order dropped. Send *menu* to start again.")

    @bot.keyword("order")
    def order(turn):
        forget_order(turn)
        turn.state = PRODUCT
        ask_product(turn)

    @bot.payload("product:*", state=PRODUCT)
    def picked(turn):
        choose_product(turn, int(turn.message.payload.split(":")[1]))

    @bot.regex(r"^[0-9]+$", state=PRODUCT)
    def product_number(turn):
        choose_product(turn, int(turn.captures[0]))

    @bot.regex(r"^([0-9]{1,3})$", state=QUANTITY)
    def quantity(turn):
        qty = int(turn.capture(1))
        number = turn.session.get_int("product", 0)
        if qty < 1 or not 1 <= number <= len(PRODUCTS):
            return turn.reply("Please send a number from 1 to 999.")
        _pid, name, price = PRODUCTS[number - 1]
        turn.session["quantity"] = qty
        turn.state = CONFIRM
        turn.reply_buttons("%d x %s = %s. Confirm?" % (qty, name,
                                                       money(qty * price)),
                           [("confirm:yes", "Yes"), ("confirm:no", "No")])

    @bot.fallback(state=QUANTITY)
    def quantity_again(turn):
        turn.reply("Please send a number from 1 to 999.")

    @bot.keyword("yes", state=CONFIRM)
    @bot.payload("confirm:yes", state=CONFIRM)
    def confirm(turn):
        orders = turn.session.get_int("orders", 0) + 1
        turn.session["orders"] = orders
        forget_order(turn)
        turn.reply("Thank you! Order #%d is on its way." % orders)

    @bot.keyword("no", state=CONFIRM)
    @bot.payload("confirm:no", state=CONFIRM)
    def decline(turn):
        forget_order(turn)
        turn.reply("No problem. Send *menu* to start again.")

    @bot.fallback
    def fallback(turn):
        turn.reply("Sorry, I did not get that. Send *help*.")

    @bot.error
    def on_error(turn, error):
        turn.reply("Sorry, something went wrong. Please try again.")

    @bot.http_route("GET", "/admin/customers/:phone")
    def admin_customer(req, resp):
        conv = bot.conversation(req.param("phone"))
        if conv is None:
            return resp.set_json(404, {"error": "no conversation"})
        state, session, version = conv
        resp.set_json(200, {"state": state, "session": session,
                            "version": version})
    return bot


__all__ = ["install", "wabot"]
