/*
 * The example bots that wabot-server can run (WABOT_BOT=demo|echo).
 *
 * Both only register routes on a context with libwabot's public router API;
 * they hold no state of their own (everything a conversation needs lives in
 * the library's conversation state), so one bot serves any number of
 * customers from any number of HTTP threads.
 */
#ifndef WABOT_EXAMPLES_DEMO_BOT_H
#define WABOT_EXAMPLES_DEMO_BOT_H

#include <wabot.h>

/**
 * The demo shop: greetings, a menu, and an order flow that walks the
 * customer through states "order.product" -> "order.quantity" ->
 * "order.confirm" with the choices kept in the session.
 * Call before serving. Returns WABOT_OK or the failing registration's status
 * (wabot_ctx_errmsg() says why).
 */
int demo_bot_install(wabot_ctx *ctx);

/**
 * The shop (wabot-server's default bot): seeds a small catalog into the
 * default organisation when it has no products (coke, coke zero, water,
 * pizza, fries) and installs the library's ready-made order flow
 * (wabot_order_flow_install): hi, menu, "2 coke", cart, confirm; the
 * order-processing worker confirms the order and the invoice worker sends
 * the invoice. Returns WABOT_OK or the failing call's status.
 */
int shop_bot_install(wabot_ctx *ctx);

/** The echo bot: answers every message with "echo: <its text>". */
int echo_bot_install(wabot_ctx *ctx);
/* The counter bot: counts the customer's messages in the conversation and
 * answers "count <n>: <text>". */
int counter_bot_install(wabot_ctx *ctx);

#endif /* WABOT_EXAMPLES_DEMO_BOT_H */
