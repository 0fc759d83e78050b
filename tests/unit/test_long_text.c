/* Long texts (texts.long_text): split into ordered parts at line or word
 * boundaries, truncated with a marker, or refused at the call -- for
 * Twilio (1600 UTF-16 code units, numbered options included) and Meta
 * (4096 characters), never inside a UTF-8 sequence. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/message.h"
#include "internal/outbound.h"
#include "internal/transport.h"
#include "testutil.h"

static tu_env E;
static wabot_provider inbound_provider;
static const char *reply_text; /* what the handler answers */
static int reply_rc;           /* what wabot_reply_text returned */

static int answer(wabot_turn *t, void *ud)
{
    (void)ud;
    reply_rc = wabot_reply_text(t, reply_text);
    return WABOT_OK;
}

static int answer_buttons(wabot_turn *t, void *ud)
{
    (void)ud;
    const char *ids[] = {"yes", "no"};
    const char *titles[] = {"Yes", "No"};
    reply_rc = wabot_reply_buttons(t, reply_text, 2, ids, titles);
    return WABOT_OK;
}

static void setup(void)
{
    tu_env_init(&E);
    reply_rc = 1;
}

static void teardown(void)
{
    tu_env_free(&E);
}

/* The customer writes from `p`; the handler answers `text`. */
static void converse(wabot_provider p, const char *text, wabot_middleware_fn h)
{
    inbound_provider = p;
    reply_text = text;
    wabot_use(E.ctx, NULL, h, NULL, NULL);
    wabot_message *m = tu_text("SM1", "+14155550100", "hi");
    m->provider = p;
    ck_assert_int_eq(wabot_ctx_handle_message(E.ctx, m), WABOT_OK);
    wabot_message_free(m);
    tu_drain(E.ctx);
}

static const wabot_outbound *sent(size_t i)
{
    ck_assert_uint_gt(wabot_recorder_count(E.rec), i);
    return wabot_recorder_get(E.rec, i);
}

/* 1 if s is well-formed UTF-8 (no sequence cut short). */
static int utf8_whole(const char *s)
{
    for (size_t i = 0; s[i];) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3
                                   : c >= 0xC0 ? 2 : 0;
        if (n == 0)
            return 0;
        for (size_t k = 1; k < n; k++)
            if (((unsigned char)s[i + k] & 0xC0) != 0x80)
                return 0;
        i += n;
    }
    return 1;
}

START_TEST(test_twilio_long_reply_is_split_at_line_breaks_into_ordered_parts)
{
    char *line = tu_repeat("a", 700);
    char text[3 * 701 + 1];
    snprintf(text, sizeof text, "%s\n%s\n%s", line, line, line);
    text[700 * 2 + 2] = 'b'; /* the third line starts with b */
    converse(WABOT_PROVIDER_TWILIO, text, answer);
    ck_assert_int_eq(reply_rc, WABOT_OK);
    ck_assert_uint_eq(wabot_recorder_count(E.rec), 2);
    /* Two lines fit 1600; the cut is at the line break, which goes. */
    ck_assert_str_eq(wabot_outbound_id(sent(0)), "SM1:r0:p1");
    ck_assert_uint_eq(strlen(wabot_outbound_text(sent(0))), 1401);
    ck_assert_int_eq(strncmp(wabot_outbound_text(sent(0)), text, 1401), 0);
    ck_assert_str_eq(wabot_outbound_id(sent(1)), "SM1:r0");
    ck_assert_str_eq(wabot_outbound_text(sent(1)), text + 1402);
    ck_assert_int_eq(wabot_outbound_text(sent(1))[0], 'b');
    ck_assert_int_eq(wabot_metrics_counter(E.ctx, "outbound.long_text.split"),
                     1);
    free(line);
}
END_TEST

/* Words of two- and four-byte characters: every part ends at a blank,
 * fits 1600 UTF-16 units, is whole UTF-8, and together they are the
 * text. */
START_TEST(test_split_parts_end_at_words_and_never_inside_a_code_point)
{
    char *text = tu_repeat("h\xc3\xa9llo\xf0\x9f\x99\x82 ", 700); /* 8 units */
    text[strlen(text) - 1] = '\0';
    converse(WABOT_PROVIDER_TWILIO, text, answer);
    ck_assert_int_eq(reply_rc, WABOT_OK);
    size_t n = wabot_recorder_count(E.rec);
    ck_assert_uint_eq(n, 4); /* 5599 units */
    char *joined = calloc(1, strlen(text) + 8);
    for (size_t i = 0; i < n; i++) {
        const char *p = wabot_outbound_text(sent(i));
        ck_assert(utf8_whole(p));
        ck_assert_uint_le(wb_long_text_units(p, 1), 1600);
        ck_assert_int_eq(p[strlen(p) - 1], '\x82'); /* ends with a word */
        if (i)
            strcat(joined, " ");
        strcat(joined, p);
    }
    ck_assert_str_eq(joined, text);
    free(joined);
    free(text);
}
END_TEST

START_TEST(test_twilio_counts_characters_beyond_the_bmp_as_two)
{
    char *fits = tu_repeat("\xf0\x9f\x99\x82", 800); /* 800 emoji: 1600 */
    converse(WABOT_PROVIDER_TWILIO, fits, answer);
    ck_assert_uint_eq(wabot_recorder_count(E.rec), 1);
    teardown();
    setup();
    char *over = tu_repeat("\xf0\x9f\x99\x82", 801);
    converse(WABOT_PROVIDER_TWILIO, over, answer);
    ck_assert_uint_eq(wabot_recorder_count(E.rec), 2);
    ck_assert_uint_eq(strlen(wabot_outbound_text(sent(0))), 800 * 4);
    ck_assert_str_eq(wabot_outbound_text(sent(1)), "\xf0\x9f\x99\x82");
    free(fits);
    free(over);
}
END_TEST

START_TEST(test_meta_long_text_is_split_at_4096_characters)
{
    char *text = tu_repeat("ol\xc3\xa1 ", 2000); /* 8000 characters */
    converse(WABOT_PROVIDER_META, text, answer);
    ck_assert_int_eq(reply_rc, WABOT_OK);
    ck_assert_uint_eq(wabot_recorder_count(E.rec), 2);
    const char *p1 = wabot_outbound_text(sent(0));
    ck_assert_uint_eq(wb_long_text_units(p1, 0), 4095); /* 1024 words */
    /* The blank at the cut goes; the text's final blank stays. */
    ck_assert_uint_eq(wb_long_text_units(wabot_outbound_text(sent(1)), 0),
                      8000 - 4096);
    free(text);
}
END_TEST

START_TEST(test_truncate_cuts_at_a_word_and_adds_the_marker)
{
    ck_assert_int_eq(wabot_ctx_set_org_option(E.ctx, "default",
                                              "texts.long_text", "truncate"),
                     WABOT_OK);
    char *text = tu_repeat("word ", 400); /* 2000 characters */
    converse(WABOT_PROVIDER_TWILIO, text, answer);
    ck_assert_int_eq(reply_rc, WABOT_OK);
    ck_assert_uint_eq(wabot_recorder_count(E.rec), 1);
    const char *t = wabot_outbound_text(sent(0));
    ck_assert_uint_le(wb_long_text_units(t, 1), 1600);
    size_t len = strlen(t);
    ck_assert_str_eq(t + len - 7, "word\xe2\x80\xa6"); /* "word…" */
    ck_assert_int_eq(wabot_metrics_counter(E.ctx,
                                           "outbound.long_text.truncated"),
                     1);
    free(text);
}
END_TEST

/* The marker is the texts catalog's for the reply's locale, looked up
 * only when a text is truncated. */
static int answer_in_portuguese(wabot_turn *t, void *ud)
{
    (void)ud;
    wabot_out *o = wabot_out_new(wabot_turn_ctx(t));
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(wabot_out_set_locale(o, "pt-BR"), WABOT_OK);
    ck_assert_int_eq(wabot_out_set_text(o, reply_text), WABOT_OK);
    reply_rc = wabot_turn_reply_out(t, o);
    wabot_out_free(o);
    return WABOT_OK;
}

START_TEST(test_truncate_uses_the_marker_of_the_replys_locale)
{
    ck_assert_int_eq(wabot_ctx_set_org_option(E.ctx, "default",
                                              "texts.long_text", "truncate"),
                     WABOT_OK);
    ck_assert_int_eq(wabot_ctx_set_text(E.ctx, NULL, "pt", "truncation_marker",
                                        " (cont.)"),
                     WABOT_OK);
    char *text = tu_repeat("word ", 400);
    converse(WABOT_PROVIDER_TWILIO, text, answer_in_portuguese);
    ck_assert_int_eq(reply_rc, WABOT_OK);
    const char *t = wabot_outbound_text(sent(0));
    size_t len = strlen(t);
    ck_assert_uint_gt(len, 8);
    ck_assert_str_eq(t + len - 8, " (cont.)");
    free(text);
}
END_TEST

START_TEST(test_refuse_gives_too_large_at_the_reply_and_sends_nothing)
{
    ck_assert_int_eq(wabot_ctx_set_org_option(E.ctx, "default",
                                              "texts.long_text", "refuse"),
                     WABOT_OK);
    char *text = tu_repeat("x", 1601);
    converse(WABOT_PROVIDER_TWILIO, text, answer);
    ck_assert_int_eq(reply_rc, WABOT_ERR_TOO_LARGE);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(E.ctx), "1600"));
    ck_assert_uint_eq(wabot_recorder_count(E.rec), 0);
    free(text);
    /* Meta's limit is 4096: 1601 characters are fine there. */
    teardown();
    setup();
    wabot_ctx_set_org_option(E.ctx, "default", "texts.long_text", "refuse");
    text = tu_repeat("x", 4097);
    converse(WABOT_PROVIDER_META, text, answer);
    ck_assert_int_eq(reply_rc, WABOT_ERR_TOO_LARGE);
    free(text);
}
END_TEST

/* Buttons become numbered options in a Twilio Body: they stay with the
 * last part, whose text is shortened to leave them room. */
START_TEST(test_long_button_body_keeps_its_options_on_the_last_part)
{
    char *text = tu_repeat("ask ", 500); /* 2000 characters */
    converse(WABOT_PROVIDER_TWILIO, text, answer_buttons);
    ck_assert_int_eq(reply_rc, WABOT_OK);
    ck_assert_uint_eq(wabot_recorder_count(E.rec), 2);
    ck_assert_int_eq(wabot_outbound_kind(sent(0)), WABOT_OUT_TEXT);
    ck_assert_int_eq(wabot_outbound_kind(sent(1)), WABOT_OUT_BUTTONS);
    ck_assert_uint_eq(wabot_outbound_option_count(sent(1)), 2);
    ck_assert_uint_le(wb_twilio_body_chars(sent(1)), 1600);
    free(text);
}
END_TEST

/* Outside a turn the builder queues the parts under the idempotency key
 * ("k:p1", ..., "k"); queueing it again sends nothing twice. */
START_TEST(test_enqueued_long_text_uses_part_keys_and_stays_idempotent)
{
    char *text = tu_repeat("y ", 2500); /* 5000 characters, WhatsApp's 4096 */
    /* The customer never wrote: no 24-hour window for this test. */
    ck_assert_int_eq(wabot_ctx_set_org_option(E.ctx, "default", "window_ms",
                                              "0"), WABOT_OK);
    wabot_out *o = wabot_out_new(E.ctx);
    wabot_out_set_to(o, "+14155550100");
    ck_assert_int_eq(wabot_out_set_text(o, text), WABOT_OK);
    wabot_out_set_idempotency_key(o, "k");
    char *id = NULL;
    ck_assert_int_eq(wabot_out_enqueue(o, &id), WABOT_OK);
    ck_assert_str_eq(id, "k");
    wabot_ctx_mem_free(E.ctx, id);
    ck_assert_int_eq(wabot_out_enqueue(o, NULL), WABOT_ERR_EXISTS);
    wabot_out_free(o);
    tu_drain(E.ctx);
    ck_assert_uint_eq(wabot_recorder_count(E.rec), 2);
    ck_assert_str_eq(wabot_outbound_id(sent(0)), "k:p1");
    ck_assert_str_eq(wabot_outbound_id(sent(1)), "k");
    free(text);
}
END_TEST

static Suite *long_text_suite(void)
{
    Suite *s = suite_create("long_text");
    TCase *tc = tcase_create("long_text");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc,
        test_twilio_long_reply_is_split_at_line_breaks_into_ordered_parts);
    tcase_add_test(tc,
        test_split_parts_end_at_words_and_never_inside_a_code_point);
    tcase_add_test(tc, test_twilio_counts_characters_beyond_the_bmp_as_two);
    tcase_add_test(tc, test_meta_long_text_is_split_at_4096_characters);
    tcase_add_test(tc, test_truncate_cuts_at_a_word_and_adds_the_marker);
    tcase_add_test(tc, test_truncate_uses_the_marker_of_the_replys_locale);
    tcase_add_test(tc,
        test_refuse_gives_too_large_at_the_reply_and_sends_nothing);
    tcase_add_test(tc, test_long_button_body_keeps_its_options_on_the_last_part);
    tcase_add_test(tc,
        test_enqueued_long_text_uses_part_keys_and_stays_idempotent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(long_text_suite());
}
