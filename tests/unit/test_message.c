/* The message model: inbound construction and accessors, E.164
 * normalisation, outbound serialisation. */
#include <stdio.h>
#include <string.h>

#include "message.h"
#include "testutil.h"

START_TEST(test_e164_accepts_provider_and_typed_forms)
{
    char out[20];
    ck_assert_int_eq(wb_e164_normalize("whatsapp:+14155550100", out, sizeof out), WABOT_OK);
    ck_assert_str_eq(out, "+14155550100");
    ck_assert_int_eq(wb_e164_normalize("14155550100", out, sizeof out), WABOT_OK);
    ck_assert_str_eq(out, "+14155550100");
    ck_assert_int_eq(wb_e164_normalize("+1 (415) 555-0100", out, sizeof out), WABOT_OK);
    ck_assert_str_eq(out, "+14155550100");
}
END_TEST

START_TEST(test_e164_rejects_garbage_and_bad_lengths)
{
    char out[20];
    ck_assert_int_eq(wb_e164_normalize("+1415abc", out, sizeof out), WABOT_ERR_PARSE);
    ck_assert_int_eq(wb_e164_normalize("+12345", out, sizeof out), WABOT_ERR_PARSE);
    ck_assert_int_eq(wb_e164_normalize("+1234567890123456", out, sizeof out), WABOT_ERR_PARSE);
    ck_assert_int_eq(wb_e164_normalize("+0415555010", out, sizeof out), WABOT_ERR_PARSE);
    ck_assert_int_eq(wb_e164_normalize("", out, sizeof out), WABOT_ERR_PARSE);
    ck_assert_int_eq(wb_e164_normalize("+14155550100", out, 4), WABOT_ERR_INVAL);
}
END_TEST

START_TEST(test_message_new_normalises_and_defaults)
{
    wabot_message *m = wabot_message_new("SM1", "whatsapp:+14155550100",
                                         "whatsapp:+14155238886");
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(wabot_message_provider(m), WABOT_PROVIDER_TEST);
    ck_assert_str_eq(wabot_message_id(m), "SM1");
    ck_assert_str_eq(wabot_message_from(m), "+14155550100");
    ck_assert_str_eq(wabot_message_to(m), "+14155238886");
    ck_assert_int_eq(wabot_message_type(m), WABOT_MSG_TEXT);
    ck_assert_str_eq(wabot_message_text(m), "");
    ck_assert_str_eq(wabot_message_payload(m), "");
    ck_assert_str_eq(wabot_message_organization(m), "");
    ck_assert_str_eq(wabot_message_to_id(m), "");
    ck_assert_uint_eq(wabot_message_media_count(m), 0);
    ck_assert_ptr_null(wabot_message_media_url(m, 0));
    ck_assert_int_eq(wabot_message_location(m, NULL, NULL), 0);
    ck_assert_int_eq(wabot_message_timestamp_ms(m), 0);
    wabot_message_free(m);
}
END_TEST

START_TEST(test_message_new_rejects_bad_arguments)
{
    ck_assert_ptr_null(wabot_message_new(NULL, "+14155550100", NULL));
    ck_assert_ptr_null(wabot_message_new("", "+14155550100", NULL));
    ck_assert_ptr_null(wabot_message_new("SM1", "not-a-number", NULL));
    ck_assert_ptr_null(wabot_message_new("SM1", "+14155550100", "x"));
    wabot_message *m = wabot_message_new("SM1", "+14155550100", NULL);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(wabot_message_to(m), "");
    wabot_message_free(m);
}
END_TEST

START_TEST(test_message_setters_round_trip)
{
    wabot_message *m = wabot_message_new("SM1", "+14155550100", NULL);
    ck_assert_int_eq(wabot_message_set_type(m, WABOT_MSG_BUTTON_REPLY), WABOT_OK);
    ck_assert_int_eq(wabot_message_set_payload(m, "confirm:yes", "Yes"), WABOT_OK);
    ck_assert_int_eq(wabot_message_set_profile_name(m, "Maria"), WABOT_OK);
    ck_assert_int_eq(wabot_message_add_media(m, "https://x/1.jpg", "image/jpeg"), WABOT_OK);
    ck_assert_int_eq(wabot_message_add_media(m, "https://x/2.pdf", NULL), WABOT_OK);
    ck_assert_int_eq(wabot_message_set_location(m, 52.5, 13.4, "Office", "Street 1"), WABOT_OK);
    ck_assert_int_eq(wabot_message_set_timestamp_ms(m, 1234), WABOT_OK);
    ck_assert_int_eq(wabot_message_set_organization(m, "acme"), WABOT_OK);
    ck_assert_int_eq(wabot_message_type(m), WABOT_MSG_BUTTON_REPLY);
    ck_assert_str_eq(wabot_message_payload(m), "confirm:yes");
    ck_assert_str_eq(wabot_message_payload_title(m), "Yes");
    ck_assert_str_eq(wabot_message_profile_name(m), "Maria");
    ck_assert_uint_eq(wabot_message_media_count(m), 2);
    ck_assert_str_eq(wabot_message_media_url(m, 1), "https://x/2.pdf");
    ck_assert_str_eq(wabot_message_media_type(m, 0), "image/jpeg");
    ck_assert_str_eq(wabot_message_media_type(m, 1), "");
    double lat = 0, lon = 0;
    ck_assert_int_eq(wabot_message_location(m, &lat, &lon), 1);
    ck_assert_double_eq(lat, 52.5);
    ck_assert_double_eq(lon, 13.4);
    ck_assert_str_eq(wabot_message_location_name(m), "Office");
    ck_assert_str_eq(wabot_message_location_address(m), "Street 1");
    ck_assert_int_eq(wabot_message_timestamp_ms(m), 1234);
    ck_assert_str_eq(wabot_message_organization(m), "acme");
    wabot_message_free(m);
}
END_TEST

/* Short fields share the message's own room, long ones get their own
 * block, and fields are replaced many times over: every value reads back
 * and nothing leaks (valgrind / ASan runs of this suite). */
START_TEST(test_message_fields_replaced_past_the_inline_room_read_back)
{
    wabot_message *m = wabot_message_new("SM1", "+14155550100", NULL);
    char text[600];
    for (int i = 0; i < 40; i++) {
        size_t n = (size_t)(i * 13 % 500);
        memset(text, 'a' + i % 26, n);
        text[n] = '\0';
        ck_assert_int_eq(wabot_message_set_text(m, text), WABOT_OK);
        char name[16];
        snprintf(name, sizeof name, "name-%d", i);
        ck_assert_int_eq(wabot_message_set_profile_name(m, name), WABOT_OK);
        ck_assert_str_eq(wabot_message_text(m), text);
        ck_assert_str_eq(wabot_message_profile_name(m), name);
    }
    ck_assert_int_eq(wabot_message_set_text(m, NULL), WABOT_OK);
    ck_assert_str_eq(wabot_message_text(m), "");
    ck_assert_str_eq(wabot_message_id(m), "SM1");
    ck_assert_str_eq(wabot_message_from(m), "+14155550100");
    wabot_message_free(m);
}
END_TEST

START_TEST(test_message_setters_reject_bad_values)
{
    wabot_message *m = wabot_message_new("SM1", "+14155550100", NULL);
    ck_assert_int_eq(wabot_message_set_type(m, (wabot_msg_type)99), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_message_set_location(m, 91, 0, NULL, NULL), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_message_set_location(m, 0, -181, NULL, NULL), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_message_add_media(m, "", NULL), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_message_set_payload(m, NULL, NULL), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_message_set_timestamp_ms(m, -1), WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_message_set_text(NULL, "x"), WABOT_ERR_INVAL);
    wabot_message_free(m);
}
END_TEST

START_TEST(test_accessors_tolerate_null)
{
    ck_assert_str_eq(wabot_message_id(NULL), "");
    ck_assert_str_eq(wabot_message_text(NULL), "");
    ck_assert_int_eq(wabot_message_type(NULL), WABOT_MSG_UNKNOWN);
    ck_assert_str_eq(wabot_outbound_text(NULL), "");
    ck_assert_ptr_null(wabot_outbound_option_id(NULL, 0));
    ck_assert_ptr_null(wabot_outbound_to_json(NULL));
}
END_TEST

START_TEST(test_type_names_round_trip)
{
    for (int t = WABOT_MSG_UNKNOWN; t <= WABOT_MSG_REACTION; t++)
        ck_assert_int_eq(wabot_msg_type_from_name(wabot_msg_type_name(t)), t);
    ck_assert_str_eq(wabot_msg_type_name(WABOT_MSG_LIST_REPLY), "list_reply");
    ck_assert_int_eq(wabot_msg_type_from_name("IMAGE"), WABOT_MSG_IMAGE);
    ck_assert_int_eq(wabot_msg_type_from_name("nope"), WABOT_MSG_UNKNOWN);
    ck_assert_int_eq(wabot_msg_type_from_name(NULL), WABOT_MSG_UNKNOWN);
    ck_assert_str_eq(wabot_msg_type_name((wabot_msg_type)77), "unknown");
    ck_assert_str_eq(wabot_provider_name(WABOT_PROVIDER_META), "meta");
    ck_assert_str_eq(wabot_out_kind_name(WABOT_OUT_BUTTONS), "buttons");
    ck_assert_str_eq(wabot_out_category_name(WABOT_CAT_CAMPAIGN), "campaign");
}
END_TEST

static int reply_buttons(wabot_turn *t, void *ud)
{
    (void)ud;
    const char *ids[] = {"confirm:yes", "confirm:no"};
    const char *titles[] = {"Yes \"sure\"", "No"};
    return wabot_reply_buttons(t, "Confirm?\nReally", 2, ids, titles);
}

START_TEST(test_outbound_json_has_every_field)
{
    tu_env e;
    tu_env_init(&e);
    wabot_use(e.ctx, NULL, reply_buttons, NULL, NULL);
    wabot_message *m = tu_text("SM9", "+14155550100", "x");
    ck_assert_int_eq(wabot_ctx_handle_message(e.ctx, m), WABOT_OK);
    wabot_message_free(m);
    tu_drain(e.ctx);
    ck_assert_uint_eq(wabot_recorder_count(e.rec), 1);
    char *s = wabot_outbound_to_json(wabot_recorder_get(e.rec, 0));
    json_error_t err;
    json_t *j = json_loads(s, 0, &err);
    ck_assert_msg(j != NULL, "%s: %s", s, err.text);
    ck_assert_str_eq(json_string_value(json_object_get(j, "id")), "SM9:r0");
    ck_assert_str_eq(json_string_value(json_object_get(j, "kind")), "buttons");
    ck_assert_str_eq(json_string_value(json_object_get(j, "category")), "reply");
    ck_assert_str_eq(json_string_value(json_object_get(j, "to")), "+14155550100");
    ck_assert_str_eq(json_string_value(json_object_get(j, "from")), "+15550001111");
    ck_assert_str_eq(json_string_value(json_object_get(j, "organization")), "default");
    ck_assert_str_eq(json_string_value(json_object_get(j, "text")), "Confirm?\nReally");
    ck_assert_str_eq(json_string_value(json_object_get(j, "in_reply_to")), "SM9");
    json_t *opts = json_object_get(j, "options");
    ck_assert_uint_eq(json_array_size(opts), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(opts, 0), "title")),
                     "Yes \"sure\"");
    json_decref(j);
    wabot_free(s);
    tu_env_free(&e);
}
END_TEST

static Suite *message_suite(void)
{
    Suite *s = suite_create("message");
    TCase *tc = tcase_create("message");
    tcase_add_test(tc, test_e164_accepts_provider_and_typed_forms);
    tcase_add_test(tc, test_e164_rejects_garbage_and_bad_lengths);
    tcase_add_test(tc, test_message_new_normalises_and_defaults);
    tcase_add_test(tc, test_message_new_rejects_bad_arguments);
    tcase_add_test(tc, test_message_setters_round_trip);
    tcase_add_test(tc,
        test_message_fields_replaced_past_the_inline_room_read_back);
    tcase_add_test(tc, test_message_setters_reject_bad_values);
    tcase_add_test(tc, test_accessors_tolerate_null);
    tcase_add_test(tc, test_type_names_round_trip);
    tcase_add_test(tc, test_outbound_json_has_every_field);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(message_suite());
}
