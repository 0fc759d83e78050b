/* Opt-out keywords: STOP and its kin set the customer's opted-out flag
 * (campaigns and reminders are then refused by the outbound path), START
 * and its kin clear it. The whole message must be the keyword, compared
 * folded as keyword routes compare (case, accents, surrounding punctuation
 * and white space do not matter): "Stop!" opts out, "don't stop" does
 * not.
 *
 * An opt-in keyword only counts for a customer who is opted out: "start"
 * is also what many bots' menus answer to, and a subscribed customer
 * saying it means the menu, not a subscription. */
#include <string.h>

#include "inbound.h"
#include "keyword_fold.h"
#include "message.h"
#include "metrics.h"
#include "options.h"
#include "pipeline.h"
#include "state.h"
#include "wabot/module.h"
#include "wabot/state.h"

/* Keywords are words; longer texts are not compared at all. */
#define MAX_KEYWORD 256

/* 0 when keyword kw[0..n) cannot fold to folded[0..flen), decided
 * without folding it (every message is compared with every word of two
 * lists): folding never lengthens text, and a keyword that starts with an
 * ASCII letter or digit folds to a word that starts with it, lower-cased.
 * 1: fold and compare. */
static int could_match(const char *kw, size_t n, const char *folded,
                       size_t flen)
{
    if (n < flen)
        return 0;
    unsigned char c = (unsigned char)kw[0];
    if (c >= 'A' && c <= 'Z')
        c = (unsigned char)(c - 'A' + 'a');
    int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    return !alnum || c == (unsigned char)folded[0];
}

int wb_keyword_in_list(const char *list, const char *text)
{
    size_t tlen = strlen(text);
    if (tlen == 0 || tlen > MAX_KEYWORD)
        return 0;
    char folded[MAX_KEYWORD + 1];
    size_t flen = wb_keyword_fold_to(text, tlen, folded);
    if (flen == 0)
        return 0;
    for (const char *p = list; *p != '\0';) {
        size_t n = strcspn(p, ",");
        if (n > 0 && n <= MAX_KEYWORD && could_match(p, n, folded, flen)) {
            char kw[MAX_KEYWORD + 1];
            size_t klen = wb_keyword_fold_to(p, n, kw);
            if (klen == flen && memcmp(kw, folded, flen) == 0)
                return 1;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* Set the flag, confirm, end the turn. */
static int switch_to(wabot_turn *t, int opted_out, const char *reply)
{
    wabot_ctx *ctx = t->ctx;
    int rc = wb_profile_set_opt(ctx, t->org, t->customer, opted_out,
                                "keyword");
    if (rc != WABOT_OK)
        return rc;
    if (t->opted_out != opted_out)
        wb_count(ctx, opted_out ? "optout.opted_out" : "optout.opted_in", 1);
    wb_log(ctx, WABOT_LOG_INFO, "pipeline", "%s %s by keyword", t->customer,
           opted_out ? "opted out" : "opted in");
    t->opted_out = opted_out;
    wabot_turn_set_handled(t);
    return reply[0] != '\0' ? wabot_reply_text(t, reply) : WABOT_OK;
}

/* The module's middleware: a keyword ends the turn (marked handled, the
 * confirmation queued, the router not run); anything else goes on. */
static int optout_step(wabot_turn *t, void *ud)
{
    (void)ud;
    const wabot_message *m = t->msg;
    const wabot_ctx *ctx = t->ctx;
    if (wabot_message_type(m) != WABOT_MSG_TEXT)
        return wabot_next(t);
    const char *text = wabot_message_text(m);
    if (wb_keyword_in_list(wb_opt_str(ctx, t->org, WABOT_OPT_OPTOUT_KEYWORDS),
                           text))
        return switch_to(t, 1, wb_opt_str(ctx, t->org, WABOT_OPT_OPTOUT_REPLY));
    if (t->opted_out &&
        wb_keyword_in_list(wb_opt_str(ctx, t->org, WABOT_OPT_OPTIN_KEYWORDS),
                           text))
        return switch_to(t, 0, wb_opt_str(ctx, t->org, WABOT_OPT_OPTIN_REPLY));
    return wabot_next(t);
}

static int optout_create(wabot_module *m, void *ud)
{
    (void)ud;
    return wabot_module_use(m, WABOT_STAGE_TURN, "keywords", optout_step,
                            NULL);
}

const wabot_module_def wb_optout_module = {
    WABOT_MODULE_DEF_VERSION, "optout",
    "STOP/START keywords set and clear the customer's opt-out flag",
    NULL, NULL, 0, NULL, optout_create, NULL};
