/*
 * The demo shop bot: the first libwabot program most people read.
 *
 * Everything below is ordinary use of the public API:
 *   - routes (keyword, command, regex, payload) registered in a table,
 *   - conversation state ("order.product" -> "order.quantity" ->
 *     "order.confirm") that scopes which routes apply,
 *   - session values that carry the customer's choices between messages,
 *   - text, button and list replies.
 * The bot keeps no data of its own: the library loads and saves each
 * conversation around every message, so this code is safe to run from many
 * HTTP threads at once.
 */
#include "demo_bot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* The shop                                                            */

typedef struct product {
    const char *id;    /* list row id sent back when the customer picks it */
    const char *name;  /* also the list row title: at most 24 bytes */
    int price_cents;
} product;

static const product PRODUCTS[] = {
    {"product:1", "Coffee beans 250 g", 850},
    {"product:2", "Ceramic mug", 1200},
    {"product:3", "Gift box", 2500},
};
#define PRODUCT_COUNT (sizeof PRODUCTS / sizeof PRODUCTS[0])

/* Conversation states of the order flow ("" = browsing). */
#define STATE_PRODUCT "order.product"
#define STATE_QUANTITY "order.quantity"
#define STATE_CONFIRM "order.confirm"

/* Session keys. KEY_ORDERS survives finished and cancelled orders. */
#define KEY_PRODUCT "product"   /* 1-based index into PRODUCTS */
#define KEY_QUANTITY "quantity"
#define KEY_ORDERS "orders"     /* orders placed so far */

#define MAX_QUANTITY 999

/* The product stored in the session, or NULL if there is none (a session
 * that expired, or was edited by hand). */
static const product *session_product(const wabot_turn *turn)
{
    int64_t n = wabot_turn_session_int(turn, KEY_PRODUCT, 0);
    if (n < 1 || n > (int64_t)PRODUCT_COUNT)
        return NULL;
    return &PRODUCTS[n - 1];
}

static void format_money(char *buf, size_t size, int64_t cents)
{
    snprintf(buf, size, "$%lld.%02lld", (long long)(cents / 100),
             (long long)(cents % 100));
}

/* Forget the order in progress but keep the order counter. */
static int forget_order(wabot_turn *turn)
{
    int rc = wabot_turn_session_del(turn, KEY_PRODUCT);
    if (rc != WABOT_OK && rc != WABOT_ERR_NOT_FOUND)
        return rc;
    rc = wabot_turn_session_del(turn, KEY_QUANTITY);
    if (rc != WABOT_OK && rc != WABOT_ERR_NOT_FOUND)
        return rc;
    return wabot_turn_set_state(turn, "");
}

/* ------------------------------------------------------------------ */
/* Browsing                                                            */

static void format_menu(char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "Our menu:");
    for (size_t i = 0; i < PRODUCT_COUNT && used < size; i++) {
        char price[32];
        format_money(price, sizeof price, PRODUCTS[i].price_cents);
        used += (size_t)snprintf(buf + used, size - used, "\n%zu. %s - %s",
                                 i + 1, PRODUCTS[i].name, price);
    }
    if (used < size)
        snprintf(buf + used, size - used, "\nSend *order* to buy.");
}

static int on_menu(wabot_turn *turn, void *ud)
{
    (void)ud;
    char menu[512];
    format_menu(menu, sizeof menu);
    return wabot_reply_text(turn, menu);
}

/* The name the provider gave us for this customer, if any. */
static const char *customer_name(const wabot_turn *turn)
{
    const char *name = wabot_turn_customer_name(turn);
    if (name == NULL || name[0] == '\0')
        name = wabot_message_profile_name(wabot_turn_message(turn));
    return (name != NULL && name[0] != '\0') ? name : "there";
}

static int on_greeting(wabot_turn *turn, void *ud)
{
    (void)ud;
    char hello[160];
    snprintf(hello, sizeof hello, "Hello %s! Welcome to the Wabot coffee shop.",
             customer_name(turn));
    int rc = wabot_reply_text(turn, hello);
    return rc != WABOT_OK ? rc : on_menu(turn, NULL);
}

static int on_help(wabot_turn *turn, void *ud)
{
    (void)ud;
    return wabot_reply_text(turn,
        "I am the Wabot coffee shop bot. Send *menu* to see our products, "
        "*order* to buy one, *reset* to drop an order. (*STOP* unsubscribes.)");
}

static int on_cancel(wabot_turn *turn, void *ud)
{
    (void)ud;
    if (wabot_turn_state(turn)[0] == '\0')
        return wabot_reply_text(turn,
            "There is no order to drop. Send *menu* to see our products.");
    int rc = forget_order(turn);
    if (rc != WABOT_OK)
        return rc;
    return wabot_reply_text(turn, "Order dropped. Send *menu* to start again.");
}

/* ------------------------------------------------------------------ */
/* The order flow                                                      */

static int ask_product(wabot_turn *turn)
{
    const char *ids[PRODUCT_COUNT];
    const char *titles[PRODUCT_COUNT];
    for (size_t i = 0; i < PRODUCT_COUNT; i++) {
        ids[i] = PRODUCTS[i].id;
        titles[i] = PRODUCTS[i].name;
    }
    return wabot_reply_list(turn,
                            "Which product would you like? Send 1, 2 or 3.",
                            PRODUCT_COUNT, ids, titles);
}

static int on_order(wabot_turn *turn, void *ud)
{
    (void)ud;
    int rc = forget_order(turn);
    if (rc == WABOT_OK)
        rc = wabot_turn_set_state(turn, STATE_PRODUCT);
    return rc != WABOT_OK ? rc : ask_product(turn);
}

/* Store product `number` (1-based) and ask for the quantity. */
static int choose_product(wabot_turn *turn, long number)
{
    if (number < 1 || number > (long)PRODUCT_COUNT)
        return ask_product(turn);
    int rc = wabot_turn_session_set_int(turn, KEY_PRODUCT, number);
    if (rc == WABOT_OK)
        rc = wabot_turn_set_state(turn, STATE_QUANTITY);
    if (rc != WABOT_OK)
        return rc;

    const product *p = &PRODUCTS[number - 1];
    char price[32], text[200];
    format_money(price, sizeof price, p->price_cents);
    snprintf(text, sizeof text, "%s, %s each. How many would you like?",
             p->name, price);
    return wabot_reply_text(turn, text);
}

/* "2" typed as text (regex route: capture 0 is the whole match). */
static int on_product_number(wabot_turn *turn, void *ud)
{
    (void)ud;
    return choose_product(turn, strtol(wabot_turn_capture(turn, 0), NULL, 10));
}

/* "product:2" chosen from the list. */
static int on_product_row(wabot_turn *turn, void *ud)
{
    (void)ud;
    const char *payload = wabot_message_payload(wabot_turn_message(turn));
    const char *colon = strchr(payload, ':');
    return choose_product(turn, colon ? strtol(colon + 1, NULL, 10) : 0);
}

static int restart_lost_order(wabot_turn *turn)
{
    int rc = forget_order(turn);
    if (rc != WABOT_OK)
        return rc;
    return wabot_reply_text(turn,
        "Sorry, I lost track of your order. Send *order* to start again.");
}

/* The summary is computed from what earlier messages stored. */
static int on_quantity(wabot_turn *turn, void *ud)
{
    (void)ud;
    long quantity = strtol(wabot_turn_capture(turn, 1), NULL, 10);
    if (quantity < 1)
        return wabot_reply_text(turn, "Please send a quantity from 1 to 999.");
    const product *p = session_product(turn);
    if (p == NULL)
        return restart_lost_order(turn);

    int rc = wabot_turn_session_set_int(turn, KEY_QUANTITY, quantity);
    if (rc == WABOT_OK)
        rc = wabot_turn_set_state(turn, STATE_CONFIRM);
    if (rc != WABOT_OK)
        return rc;

    char total[32], text[256];
    format_money(total, sizeof total, (int64_t)quantity * p->price_cents);
    snprintf(text, sizeof text, "Your order: %ld x %s, total %s. Place it?",
             quantity, p->name, total);
    static const char *const ids[] = {"confirm:yes", "confirm:no"};
    static const char *const titles[] = {"Yes", "No"};
    return wabot_reply_buttons(turn, text, 2, ids, titles);
}

static int on_confirm_yes(wabot_turn *turn, void *ud)
{
    (void)ud;
    const product *p = session_product(turn);
    int64_t quantity = wabot_turn_session_int(turn, KEY_QUANTITY, 0);
    if (p == NULL || quantity < 1 || quantity > MAX_QUANTITY)
        return restart_lost_order(turn);

    int64_t number = wabot_turn_session_int(turn, KEY_ORDERS, 0) + 1;
    int rc = wabot_turn_session_set_int(turn, KEY_ORDERS, number);
    if (rc == WABOT_OK)
        rc = forget_order(turn);
    if (rc != WABOT_OK)
        return rc;

    char total[32], text[256];
    format_money(total, sizeof total, quantity * p->price_cents);
    snprintf(text, sizeof text,
             "Order #%lld placed: %lld x %s, total %s. Thank you!",
             (long long)number, (long long)quantity, p->name, total);
    return wabot_reply_text(turn, text);
}

static int on_confirm_no(wabot_turn *turn, void *ud)
{
    (void)ud;
    int rc = forget_order(turn);
    if (rc != WABOT_OK)
        return rc;
    return wabot_reply_text(turn,
        "OK, I dropped that order. Send *menu* whenever you like.");
}

/* ------------------------------------------------------------------ */
/* Fallbacks: what the bot says when no route matched                  */

static int on_product_unknown(wabot_turn *turn, void *ud)
{
    (void)ud;
    return wabot_reply_text(turn,
        "Please choose a product: send 1, 2 or 3 (or *reset*).");
}

static int on_quantity_unknown(wabot_turn *turn, void *ud)
{
    (void)ud;
    return wabot_reply_text(turn,
        "Please send a number, for example 2 (or *reset*).");
}

static int on_confirm_unknown(wabot_turn *turn, void *ud)
{
    (void)ud;
    return wabot_reply_text(turn, "Please answer *yes* or *no*.");
}

static int on_anything_else(wabot_turn *turn, void *ud)
{
    (void)ud;
    return wabot_reply_text(turn,
        "Sorry, I didn't get that. Send *menu* to see our products, "
        "or */help*.");
}

/* ------------------------------------------------------------------ */
/* Routing table                                                       */

typedef enum route_kind { KEYWORD, COMMAND, REGEX, PAYLOAD } route_kind;

typedef struct demo_route {
    route_kind kind;
    const char *state; /* NULL: in every state */
    const char *pattern;
    wabot_handler_fn handler;
} demo_route;

/* Routes scoped to the current state are tried before the unscoped ones,
 * so "1" means a product only while the bot is asking for one. */
static const demo_route ROUTES[] = {
    {KEYWORD, NULL, "hi", on_greeting},
    {KEYWORD, NULL, "hello", on_greeting},
    {KEYWORD, NULL, "hola", on_greeting},
    {KEYWORD, NULL, "olá", on_greeting},
    {KEYWORD, NULL, "menu", on_menu},
    {KEYWORD, NULL, "order", on_order},
    {KEYWORD, NULL, "reset", on_cancel}, /* not "cancel": an opt-out word */
    {COMMAND, NULL, "help", on_help},

    {REGEX, STATE_PRODUCT, "^[1-3]$", on_product_number},
    {PAYLOAD, STATE_PRODUCT, "product:*", on_product_row},

    {REGEX, STATE_QUANTITY, "^([0-9]{1,3})$", on_quantity},

    {KEYWORD, STATE_CONFIRM, "yes", on_confirm_yes},
    {PAYLOAD, STATE_CONFIRM, "confirm:yes", on_confirm_yes},
    {KEYWORD, STATE_CONFIRM, "no", on_confirm_no},
    {PAYLOAD, STATE_CONFIRM, "confirm:no", on_confirm_no},
};

static const struct {
    const char *state; /* NULL: the global fallback */
    wabot_handler_fn handler;
} FALLBACKS[] = {
    {STATE_PRODUCT, on_product_unknown},
    {STATE_QUANTITY, on_quantity_unknown},
    {STATE_CONFIRM, on_confirm_unknown},
    {NULL, on_anything_else},
};

static int add_route(wabot_ctx *ctx, const demo_route *r)
{
    switch (r->kind) {
    case KEYWORD:
        return wabot_route_keyword(ctx, r->state, r->pattern, r->handler,
                                   NULL, NULL);
    case COMMAND:
        return wabot_route_command(ctx, r->state, r->pattern, r->handler,
                                   NULL, NULL);
    case REGEX:
        return wabot_route_regex(ctx, r->state, r->pattern, 0, r->handler,
                                 NULL, NULL);
    case PAYLOAD:
        return wabot_route_payload(ctx, r->state, r->pattern, r->handler,
                                   NULL, NULL);
    }
    return WABOT_ERR_INVAL;
}

int demo_bot_install(wabot_ctx *ctx)
{
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
        int rc = add_route(ctx, &ROUTES[i]);
        if (rc != WABOT_OK)
            return rc;
    }
    for (size_t i = 0; i < sizeof FALLBACKS / sizeof FALLBACKS[0]; i++) {
        int rc = wabot_route_fallback(ctx, FALLBACKS[i].state,
                                      FALLBACKS[i].handler, NULL, NULL);
        if (rc != WABOT_OK)
            return rc;
    }
    return WABOT_OK;
}

/* ------------------------------------------------------------------ */
/* The echo bot                                                        */

/* Longest text a reply may carry (see wabot_reply_text). */
#define MAX_REPLY_BYTES 4096

/* Cut `s` to at most `max` bytes without splitting a UTF-8 sequence. */
static size_t utf8_prefix_len(const char *s, size_t max)
{
    size_t len = strlen(s);
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

static int on_echo(wabot_turn *turn, void *ud)
{
    (void)ud;
    const wabot_message *m = wabot_turn_message(turn);
    const char *text = wabot_message_text(m);
    if (text[0] == '\0')
        text = wabot_msg_type_name(wabot_message_type(m));

    static const char prefix[] = "echo: ";
    char reply[MAX_REPLY_BYTES + 1];
    size_t n = utf8_prefix_len(text, MAX_REPLY_BYTES - (sizeof prefix - 1));
    snprintf(reply, sizeof reply, "%s%.*s", prefix, (int)n, text);
    return wabot_reply_text(turn, reply);
}

/* ------------------------------------------------------------------ */
/* The shop: the library's order flow over a small catalog              */

/* Imported only into an empty catalog, so products an operator changed
 * (through the admin API) are kept across restarts. */
static const char SHOP_CATALOG[] =
    "["
    "{\"sku\":\"coke\",\"name\":\"Coke\",\"aliases\":[\"coca-cola\"],"
    "\"category\":\"Drinks\",\"price\":150,\"currency\":\"USD\","
    "\"stock\":500},"
    "{\"sku\":\"coke-zero\",\"name\":\"Coke Zero\",\"category\":\"Drinks\","
    "\"price\":160,\"currency\":\"USD\",\"stock\":500},"
    "{\"sku\":\"water\",\"name\":\"Water\",\"category\":\"Drinks\","
    "\"price\":100,\"currency\":\"USD\"},"
    "{\"sku\":\"pizza\",\"name\":\"Pizza Margherita\",\"aliases\":"
    "[\"pizza\"],\"category\":\"Food\",\"price\":900,"
    "\"currency\":\"USD\",\"stock\":100},"
    "{\"sku\":\"fries\",\"name\":\"French Fries\",\"category\":\"Food\","
    "\"price\":350,\"currency\":\"USD\"}"
    "]";

int shop_bot_install(wabot_ctx *ctx)
{
    int64_t n = 0;
    int rc = wabot_catalog_count(ctx, NULL, &n);
    if (rc == WABOT_ERR_INVAL) /* NULL is not a name: the default one */
        rc = wabot_catalog_count(ctx, "default", &n);
    if (rc == WABOT_OK && n == 0)
        rc = wabot_catalog_import(ctx, "default", SHOP_CATALOG,
                                  sizeof SHOP_CATALOG - 1, 0, NULL);
    if (rc == WABOT_OK)
        rc = wabot_order_flow_install(ctx, NULL);
    return rc;
}

int echo_bot_install(wabot_ctx *ctx)
{
    return wabot_route_fallback(ctx, NULL, on_echo, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* The counter bot                                                     */

/* Counts the customer's messages in the conversation and answers with the
 * count: "count 3: <text>". A message handled twice, or a conversation
 * saved twice, shows in the numbers (the crash tests rely on it). */
static int on_count(wabot_turn *turn, void *ud)
{
    (void)ud;
    int64_t n = wabot_turn_session_int(turn, "count", 0) + 1;
    int rc = wabot_turn_session_set_int(turn, "count", n);
    if (rc != WABOT_OK)
        return rc;
    const char *text = wabot_message_text(wabot_turn_message(turn));
    char reply[256];
    snprintf(reply, sizeof reply, "count %lld: %.200s", (long long)n, text);
    return wabot_reply_text(turn, reply);
}

int counter_bot_install(wabot_ctx *ctx)
{
    return wabot_route_fallback(ctx, NULL, on_count, NULL, NULL);
}
