/* The message id of a provider's success answer read without a decode
 * (lib/transport/answer_id.c): the result must be the one jansson's decode
 * gives, and anything the scanner is not sure of is UNSURE (the transport
 * then decodes the answer as before). */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"
#include "testutil.h"

static const char *const SID[] = {"sid", NULL};
static const char *const META[] = {"messages", "#0", "id", NULL};

static const char TWILIO_201[] =
    "{\"account_sid\": \"AC00000000000000000000000000000000\", "
    "\"api_version\": \"2010-04-01\", \"body\": \"Ol\xc3\xa1 \\u00e9 "
    "\\ud83d\\ude00 caf\xc3\xa9\", \"date_created\": \"Thu, 24 Aug 2023 "
    "05:01:45 +0000\", \"direction\": \"outbound-api\", \"error_code\": "
    "null, \"from\": \"whatsapp:+14155238886\", \"num_media\": \"0\", "
    "\"num_segments\": \"1\", \"price\": null, \"price_unit\": \"USD\", "
    "\"sid\": \"SM1234567890abcdef1234567890abcdef\", \"status\": \"queued\", "
    "\"subresource_uris\": {\"media\": \"/2010-04-01/Accounts/AC0/Messages/"
    "SM1/Media.json\"}, \"to\": \"whatsapp:+14155550100\", \"uri\": "
    "\"/2010-04-01/Accounts/AC0/Messages/SM1.json\", \"n\": -12.5e3, "
    "\"ok\": true, \"list\": [1, {\"sid\": \"nested\"}, []]}";

static const char META_200[] =
    "{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":"
    "\"+14155550100\",\"wa_id\":\"14155550100\"}],\"messages\":[{\"id\":"
    "\"wamid.HBgLMTQxNTU1NTAxMDAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA\","
    "\"message_status\":\"accepted\"},{\"id\":\"second\"}]}";

static int scan(const char *body, const char *const *path, char *id,
                size_t n)
{
    return wb_answer_id(body, strlen(body), path, id, n);
}

/* What a decode says: the string at path, or NULL. */
static const char *decoded(json_t *j, const char *const *path)
{
    for (; j && *path; path++)
        j = strcmp(*path, "#0") == 0 ? json_array_get(j, 0)
                                     : json_object_get(j, *path);
    return json_string_value(j);
}

/* The scanner's answer agrees with jansson's on body (len bytes). */
static void agrees(const char *body, size_t len, const char *const *path)
{
    char id[WB_PROVIDER_ID_MAX];
    int rc = wb_answer_id(body, len, path, id, sizeof id);
    if (rc == WB_ANSWER_UNSURE)
        return;
    json_t *j = json_loadb(body, len, 0, NULL);
    ck_assert_msg(j != NULL, "scanner accepted what jansson refuses: %.*s",
                  (int)len, body);
    const char *want = decoded(j, path);
    if (rc == WB_ANSWER_FOUND)
        ck_assert_msg(want && strcmp(want, id) == 0, "found %s, decode %s",
                      id, want ? want : "(none)");
    else
        ck_assert_msg(want == NULL, "absent, decode %s", want);
    json_decref(j);
}

START_TEST(test_twilio_sid_is_read_from_a_real_shaped_answer)
{
    char id[64];
    ck_assert_int_eq(scan(TWILIO_201, SID, id, sizeof id), WB_ANSWER_FOUND);
    ck_assert_str_eq(id, "SM1234567890abcdef1234567890abcdef");
    agrees(TWILIO_201, strlen(TWILIO_201), SID);
}
END_TEST

START_TEST(test_meta_id_is_the_first_message_s)
{
    char id[128];
    ck_assert_int_eq(scan(META_200, META, id, sizeof id), WB_ANSWER_FOUND);
    ck_assert_str_eq(id, "wamid.HBgLMTQxNTU1NTAxMDAVAgARGBI5QTNDQTVCM0Q0Q0Q2"
                         "RTY3RTcA");
}
END_TEST

START_TEST(test_absent_or_non_string_id_is_absent)
{
    char id[64];
    ck_assert_int_eq(scan("{\"status\":\"queued\"}", SID, id, sizeof id),
                     WB_ANSWER_ABSENT);
    ck_assert_int_eq(scan("{\"sid\":null}", SID, id, sizeof id),
                     WB_ANSWER_ABSENT);
    ck_assert_int_eq(scan("{\"sid\":42}", SID, id, sizeof id),
                     WB_ANSWER_ABSENT);
    ck_assert_int_eq(scan("{\"x\":{\"sid\":\"SM1\"}}", SID, id, sizeof id),
                     WB_ANSWER_ABSENT);
    ck_assert_int_eq(scan("[\"sid\",\"SM1\"]", SID, id, sizeof id),
                     WB_ANSWER_ABSENT);
    ck_assert_int_eq(scan("{\"messages\":[]}", META, id, sizeof id),
                     WB_ANSWER_ABSENT);
    ck_assert_int_eq(scan("{\"messages\":[{}, {\"id\":\"b\"}]}", META, id,
                          sizeof id),
                     WB_ANSWER_ABSENT);
}
END_TEST

START_TEST(test_duplicate_keys_last_one_wins_as_in_a_decode)
{
    char id[64];
    ck_assert_int_eq(scan("{\"sid\":\"A\",\"sid\":\"B\"}", SID, id, sizeof id),
                     WB_ANSWER_FOUND);
    ck_assert_str_eq(id, "B");
    ck_assert_int_eq(scan("{\"sid\":\"A\",\"sid\":null}", SID, id, sizeof id),
                     WB_ANSWER_ABSENT);
    ck_assert_int_eq(scan("{\"messages\":[{\"id\":\"a\"}],\"messages\":[{}]}",
                          META, id, sizeof id),
                     WB_ANSWER_ABSENT);
}
END_TEST

START_TEST(test_malformed_answers_are_unsure)
{
    static const char *const bad[] = {
        "",
        "{",
        "{\"sid\":\"SM1\"",
        "{\"sid\":\"SM1\"} x",
        "{\"sid\":\"SM1\",}",
        "{\"sid\" \"SM1\"}",
        "{sid:\"SM1\"}",
        "{\"sid\":\"SM1\",\"n\":01}",
        "{\"sid\":\"SM1\",\"n\":1.}",
        "{\"sid\":\"SM1\",\"n\":-}",
        "{\"sid\":\"SM1\",\"t\":tru}",
        "{\"sid\":\"SM1\",\"t\":nul}",
        "{\"sid\":\"SM\x01\"}",
        "{\"sid\":\"SM1\",\"b\":\"\xc3\"}",
        "{\"sid\":\"SM1\",\"b\":\"\xc0\xaf\"}",
        "{\"sid\":\"SM1\",\"b\":\"\xed\xa0\x80\"}",
        "{\"sid\":\"SM1\",\"b\":\"\\ud83d\"}",
        "{\"sid\":\"SM1\",\"b\":\"\\ude00\"}",
        "{\"sid\":\"SM1\",\"b\":\"\\u0000\"}",
        "{\"sid\":\"SM1\",\"b\":\"\\x\"}",
        "{\"sid\":\"SM1\",\"n\":123456789012345678901234}",
        "{\"sid\":\"S\\u004d1\"}",
        "<html>502 Bad Gateway</html>",
    };
    char id[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(scan(bad[i], SID, id, sizeof id) == WB_ANSWER_UNSURE,
                      "not unsure: %s", bad[i]);
    /* NULs inside the text */
    ck_assert_int_eq(wb_answer_id("{\"sid\":\"S\0\"}", 11, SID, id, sizeof id),
                     WB_ANSWER_UNSURE);
}
END_TEST

START_TEST(test_id_longer_than_the_buffer_is_unsure)
{
    char id[4];
    ck_assert_int_eq(scan("{\"sid\":\"SM123\"}", SID, id, sizeof id),
                     WB_ANSWER_UNSURE);
    ck_assert_int_eq(scan("{\"sid\":\"SM1\"}", SID, id, sizeof id),
                     WB_ANSWER_FOUND);
}
END_TEST

START_TEST(test_deep_nesting_is_unsure_not_a_crash)
{
    char body[4096], id[16];
    size_t n = 0;
    body[n++] = '{';
    memcpy(body + n, "\"a\":", 4);
    n += 4;
    for (int i = 0; i < 1000; i++)
        body[n++] = '[';
    for (int i = 0; i < 1000; i++)
        body[n++] = ']';
    body[n++] = '}';
    ck_assert_int_eq(wb_answer_id(body, n, SID, id, sizeof id),
                     WB_ANSWER_UNSURE);
}
END_TEST

/* Every byte of both answers replaced by each of a few troublesome bytes,
 * and every prefix: whenever the scanner answers, jansson agrees. */
START_TEST(test_mutated_answers_agree_with_a_decode)
{
    static const char subst[] = {'"', '\\', '{', '}', '[', ']', ',', ':',
                                 '0', '-', 'e', 'n', ' ', '\x80', '\xff',
                                 'x'};
    const char *bodies[] = {TWILIO_201, META_200};
    const char *const *paths[] = {SID, META};
    for (int b = 0; b < 2; b++) {
        size_t len = strlen(bodies[b]);
        char *m = malloc(len + 1);
        for (size_t i = 0; i < len; i++) {
            agrees(bodies[b], i, paths[b]);
            for (size_t k = 0; k < sizeof subst; k++) {
                memcpy(m, bodies[b], len + 1);
                m[i] = subst[k];
                agrees(m, len, paths[b]);
            }
        }
        free(m);
    }
}
END_TEST

/* Strings are read a word (8 bytes) at a time while no byte in it needs
 * a look: every byte value at every offset of a word, and a two-byte
 * UTF-8 character across each word boundary, read as a decode reads. */
START_TEST(test_every_byte_at_every_offset_of_a_string_agrees_with_a_decode)
{
    char body[64];
    for (int c = 1; c < 256; c++) {
        for (int at = 0; at < 24; at++) {
            snprintf(body, sizeof body, "{\"sid\":\"%s\"}",
                     "SM0123456789abcdefghijklmn");
            body[8 + at] = (char)c;
            agrees(body, strlen(body), SID);
        }
    }
    for (int at = 0; at < 23; at++) {
        snprintf(body, sizeof body, "{\"x\":\"%s\",\"sid\":\"SM1\"}",
                 "0123456789abcdefghijklmn");
        body[6 + at] = '\xc3';
        body[7 + at] = '\xa9';
        char id[WB_PROVIDER_ID_MAX];
        ck_assert_int_eq(scan(body, SID, id, sizeof id), WB_ANSWER_FOUND);
        ck_assert_str_eq(id, "SM1");
    }
}
END_TEST

/* Strings are read sixteen bytes at a time where SSE2 is there, eight
 * otherwise, and the first byte that needs a look is found by its bit in
 * the block: every byte value at every offset of a string three blocks
 * long, before the quote and as the last bytes of the text (a short
 * tail), read as a decode reads. */
START_TEST(test_every_byte_at_every_offset_of_a_long_string_agrees)
{
    static const char id48[] =
        "SM0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJK";
    char body[160];
    for (int c = 1; c < 256; c++) {
        for (size_t at = 0; at < sizeof id48 - 1; at++) {
            int n = snprintf(body, sizeof body, "{\"sid\":\"%s\"}", id48);
            body[8 + at] = (char)c;
            agrees(body, (size_t)n, SID);
            agrees(body, 8 + at + 1, SID); /* cut right after it */
        }
    }
    char id[WB_PROVIDER_ID_MAX];
    int n = snprintf(body, sizeof body, "{\"a\":\"%s\",\"sid\":\"%s\"}",
                     id48, id48);
    ck_assert_int_eq(wb_answer_id(body, (size_t)n, SID, id, sizeof id),
                     WB_ANSWER_FOUND);
    ck_assert_str_eq(id, id48);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("answer_id");
    TCase *tc = tcase_create("scan");
    tcase_add_test(tc, test_twilio_sid_is_read_from_a_real_shaped_answer);
    tcase_add_test(tc, test_meta_id_is_the_first_message_s);
    tcase_add_test(tc, test_absent_or_non_string_id_is_absent);
    tcase_add_test(tc, test_duplicate_keys_last_one_wins_as_in_a_decode);
    tcase_add_test(tc, test_malformed_answers_are_unsure);
    tcase_add_test(tc, test_id_longer_than_the_buffer_is_unsure);
    tcase_add_test(tc, test_deep_nesting_is_unsure_not_a_crash);
    tcase_add_test(tc, test_mutated_answers_agree_with_a_decode);
    tcase_add_test(tc, test_every_byte_at_every_offset_of_a_string_agrees_with_a_decode);
    tcase_add_test(tc, test_every_byte_at_every_offset_of_a_long_string_agrees);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
