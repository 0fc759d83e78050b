/* The router and keyword folding, through the public API. */
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define CUSTOMER "+15551230001"
#define BUSINESS "+15550001111"

/* ------------------------------------------------------------------ */
/* Keyword folding, directly                                           */

/* Assert that folding `in` gives `want`. */
#define ck_fold(in, want)                                                     \
    do {                                                                      \
        char *got_ = wabot_keyword_fold(in);                                  \
        ck_assert_ptr_nonnull(got_);                                          \
        ck_assert_str_eq(got_, want);                                         \
        wabot_free(got_);                                                     \
    } while (0)

START_TEST(test_fold_lowercases_ascii)
{
    ck_fold("MENU", "menu");
    ck_fold("MeNu", "menu");
    ck_fold("menu 2 GO", "menu 2 go");
}
END_TEST

START_TEST(test_fold_strips_latin1_accents)
{
    ck_fold("Ménu", "menu");
    ck_fold("ÀÁÂÃÄÅ àáâãäå", "aaaaaa aaaaaa");
    ck_fold("ÇÈÉÊËÌÍÎÏÑ", "ceeeeiiiin");
    ck_fold("ÒÓÔÕÖØÙÚÛÜÝ", "oooooouuuuy");
    ck_fold("ñ ü ç ÿ ø", "n u c y o");
    ck_fold("Menú", "menu");
}
END_TEST

START_TEST(test_fold_maps_latin_extended_a)
{
    ck_fold("Łódź", "lodz");
    ck_fold("Đak đ", "dak d");
    ck_fold("ŠŽČĆ šžčć", "szcc szcc");
    ck_fold("İı", "ii");
    ck_fold("Ős Űr ſ", "os ur s");
}
END_TEST

START_TEST(test_fold_expands_ligatures_and_special_letters)
{
    ck_fold("Straße", "strasse");
    ck_fold("Æther æ", "aether ae");
    ck_fold("Œuvre œ", "oeuvre oe");
    ck_fold("Þorn þ ð Ð", "thorn th d d");
    ck_fold("Ĳssel", "ijssel");
}
END_TEST

START_TEST(test_fold_keeps_non_letters_of_latin1)
{
    /* × and ÷ are not letters; ª º µ are outside the letter range. */
    ck_fold("2×3÷1", "2×3÷1");
    ck_fold("1ª 2º", "1ª 2º");
}
END_TEST

START_TEST(test_fold_collapses_white_space)
{
    ck_fold("ver   menu", "ver menu");
    ck_fold("ver\t\n\r menu", "ver menu");
    ck_fold("  menu  ", "menu");
    ck_fold("a \v\f b", "a b");
}
END_TEST

START_TEST(test_fold_treats_nbsp_and_unicode_spaces_as_space)
{
    ck_fold("ver\xc2\xa0menu", "ver menu");         /* NBSP */
    ck_fold("\xc2\xa0menu\xc2\xa0", "menu");
    ck_fold("a\xe2\x80\x83" "b", "a b");            /* EM SPACE */
    ck_fold("a\xe2\x80\xaf" "b", "a b");            /* NARROW NBSP */
    ck_fold("a\xe3\x80\x80" "b", "a b");            /* IDEOGRAPHIC SPACE */
    ck_fold("a \xc2\xa0\xe2\x80\x89 b", "a b");      /* a mixed run */
}
END_TEST

START_TEST(test_fold_trims_surrounding_punctuation)
{
    ck_fold("menu!!", "menu");
    ck_fold("!!menu", "menu");
    ck_fold("  Ménu! ", "menu");
    ck_fold("¿Qué?", "que");
    ck_fold("¡Hola!", "hola");
    ck_fold("menu . ! ? , ; :", "menu");
    ck_fold("...menu...", "menu");
}
END_TEST

START_TEST(test_fold_keeps_inner_punctuation)
{
    ck_fold("a.b", "a.b");
    ck_fold("a  ,  b!", "a , b");
    ck_fold("order #12", "order #12");
    ck_fold("sí, por favor", "si, por favor");
}
END_TEST

START_TEST(test_fold_of_only_punctuation_is_empty)
{
    ck_fold("", "");
    ck_fold("   ", "");
    ck_fold("?!.", "");
    ck_fold(" ¿? ", "");
}
END_TEST

START_TEST(test_fold_passes_non_latin_through)
{
    /* Only ASCII is lower-cased: Cyrillic capitals stay. */
    ck_fold("ПРИВЕТ!", "ПРИВЕТ");
    ck_fold("привет", "привет");
    ck_fold("こんにちは。", "こんにちは。");
    ck_fold(" 👍 OK ", "👍 ok");
    ck_fold("Ωmega", "Ωmega");
}
END_TEST

START_TEST(test_fold_passes_invalid_utf8_through)
{
    ck_fold("caf\xff", "caf\xff");
    ck_fold("A\xc3", "a\xc3");                  /* truncated sequence */
    ck_fold("\xc0\xaf" "X", "\xc0\xaf" "x");     /* overlong '/' */
    ck_fold("\xed\xa0\x80", "\xed\xa0\x80");     /* a surrogate */
    ck_fold("\x80" "A\x80", "\x80" "a\x80");     /* lone continuations */
    ck_fold("\xc2 A", "\xc2 a");                 /* lead byte then space */
}
END_TEST

START_TEST(test_fold_null_is_null)
{
    ck_assert_ptr_null(wabot_keyword_fold(NULL));
    ck_assert_ptr_null(wabot_route_keyword_fold(NULL));
    wabot_free(NULL);
}
END_TEST

/* Encode code point cp as UTF-8 into b (4 bytes + NUL). */
static size_t utf8_encode(unsigned cp, char *b)
{
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | cp >> 6), b[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | cp >> 12);
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    } else {
        b[0] = (char)(0xF0 | cp >> 18);
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    }
    b[n] = '\0';
    return n;
}

/* Two properties the router relies on, over the whole BMP: folding never
 * lengthens text (the output buffer is sized by the input) and folding is
 * idempotent (a pre-folded keyword compares equal to itself). */
START_TEST(test_fold_never_lengthens_and_is_idempotent)
{
    for (unsigned cp = 1; cp < 0x10000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        char in[32], c[5];
        utf8_encode(cp, c);
        snprintf(in, sizeof in, "x%sY%s", c, c);
        char *once = wabot_keyword_fold(in);
        ck_assert_ptr_nonnull(once);
        ck_assert_uint_le(strlen(once), strlen(in));
        char *twice = wabot_route_keyword_fold(once); /* the new spelling */
        ck_assert_msg(strcmp(once, twice) == 0, "U+%04X not idempotent", cp);
        wabot_free(once);
        wabot_free(twice);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Routing fixtures                                                    */

static tu_env E;
static char g_log[256];                /* names of the handlers that ran */
static char g_caps[10][64];            /* captures seen by h_caps */
static size_t g_ncaps;
static int g_seq;

static void log_name(const char *name)
{
    if (g_log[0])
        strncat(g_log, ",", sizeof g_log - strlen(g_log) - 1);
    strncat(g_log, name, sizeof g_log - strlen(g_log) - 1);
}

/* Records its name (the user data) and replies with it. */
static int h_name(wabot_turn *turn, void *ud)
{
    log_name(ud);
    ck_assert_int_eq(wabot_reply_text(turn, ud), WABOT_OK);
    return WABOT_OK;
}

/* Records the captures, then behaves like h_name. */
static int h_caps(wabot_turn *turn, void *ud)
{
    g_ncaps = wabot_turn_capture_count(turn);
    for (size_t i = 0; i < g_ncaps && i < 10; i++) {
        const char *c = wabot_turn_capture(turn, i);
        ck_assert_ptr_nonnull(c);
        snprintf(g_caps[i], sizeof g_caps[i], "%s", c);
    }
    return h_name(turn, ud);
}

/* Moves the conversation to the state named by ud. */
static int h_goto(wabot_turn *turn, void *ud)
{
    log_name("goto");
    return wabot_turn_set_state(turn, ud);
}

static int h_fail(wabot_turn *turn, void *ud)
{
    (void)turn;
    (void)ud;
    log_name("fail");
    return WABOT_ERR_HANDLER;
}

static void count_destroy(void *ud)
{
    (*(int *)ud)++;
}

static void setup(void)
{
    tu_env_init(&E);
    g_log[0] = '\0';
    g_ncaps = 0;
    memset(g_caps, 0, sizeof g_caps);
}

static void teardown(void)
{
    tu_env_free(&E);
}

static wabot_message *msg_from(const char *from)
{
    char id[32];
    snprintf(id, sizeof id, "wamid.%d", ++g_seq);
    wabot_message *m = wabot_message_new(id, from, BUSINESS);
    ck_assert_ptr_nonnull(m);
    return m;
}

/* Handle m (freed here) on ctx; g_log then names the handler that ran. */
static int handle(wabot_ctx *ctx, wabot_message *m)
{
    g_log[0] = '\0';
    int rc = wabot_ctx_handle_message(ctx, m);
    wabot_message_free(m);
    tu_drain(ctx); /* replies leave through the outbound queue */
    return rc;
}

/* Route a text message from `from` on ctx; returns the handler's name or
 * "" when nothing ran. */
static const char *route_text_on(wabot_ctx *ctx, const char *from,
                                 const char *text)
{
    wabot_message *m = msg_from(from);
    ck_assert_int_eq(wabot_message_set_text(m, text), WABOT_OK);
    ck_assert_int_eq(handle(ctx, m), WABOT_OK);
    return g_log;
}

static const char *route_text(const char *text)
{
    return route_text_on(E.ctx, CUSTOMER, text);
}

static const char *route_payload(const char *payload)
{
    wabot_message *m = msg_from(CUSTOMER);
    ck_assert_int_eq(wabot_message_set_type(m, WABOT_MSG_BUTTON_REPLY),
                     WABOT_OK);
    ck_assert_int_eq(wabot_message_set_payload(m, payload, "Title"),
                     WABOT_OK);
    ck_assert_int_eq(handle(E.ctx, m), WABOT_OK);
    return g_log;
}

static void add_keyword(const char *state, const char *kw, const char *name)
{
    ck_assert_int_eq(wabot_route_keyword(E.ctx, state, kw, h_name,
                                         (void *)name, NULL),
                     WABOT_OK);
}

/* ------------------------------------------------------------------ */
/* Keyword routes                                                      */

START_TEST(test_keyword_ignores_case)
{
    add_keyword(NULL, "menu", "menu");
    ck_assert_str_eq(route_text("MENU"), "menu");
    ck_assert_str_eq(route_text("Menu"), "menu");
}
END_TEST

START_TEST(test_keyword_ignores_accents)
{
    add_keyword(NULL, "menu", "menu");
    add_keyword(NULL, "Café", "cafe");
    ck_assert_str_eq(route_text("Ménu"), "menu");
    ck_assert_str_eq(route_text("MENÚ"), "menu");
    ck_assert_str_eq(route_text("cafe"), "cafe");
}
END_TEST

START_TEST(test_keyword_ignores_spaces_and_surrounding_punctuation)
{
    add_keyword(NULL, "ver menu", "ver");
    ck_assert_str_eq(route_text("  ver    menu  "), "ver");
    ck_assert_str_eq(route_text("ver menu!!"), "ver");
    ck_assert_str_eq(route_text("¿Ver menú?"), "ver");
    ck_assert_str_eq(route_text("ver\xc2\xa0menu"), "ver"); /* NBSP */
    ck_assert_str_eq(route_text("ver\tmenu\n"), "ver");
}
END_TEST

START_TEST(test_keyword_matches_the_whole_text_only)
{
    add_keyword(NULL, "menu", "menu");
    ck_assert_str_eq(route_text("menu please"), "");
    ck_assert_str_eq(route_text("the menu"), "");
    ck_assert_str_eq(route_text("me nu"), "");
    ck_assert_str_eq(route_text("menu."), "menu");
}
END_TEST

START_TEST(test_keyword_passes_non_latin_through)
{
    add_keyword(NULL, "привет", "ru");
    add_keyword(NULL, "こんにちは", "ja");
    ck_assert_str_eq(route_text("привет!"), "ru");
    ck_assert_str_eq(route_text("ПРИВЕТ"), ""); /* no Cyrillic case folding */
    ck_assert_str_eq(route_text(" こんにちは "), "ja");
}
END_TEST

START_TEST(test_keyword_compares_invalid_utf8_bytewise)
{
    add_keyword(NULL, "caf\xe9", "latin1"); /* Latin-1 bytes, not UTF-8 */
    ck_assert_str_eq(route_text("CAF\xe9!"), "latin1");
    ck_assert_str_eq(route_text("café"), "");
}
END_TEST

START_TEST(test_keyword_empty_after_folding_is_rejected)
{
    ck_assert_int_eq(wabot_route_keyword(E.ctx, NULL, " ?! ", h_name, "x",
                                         NULL),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(E.ctx), "empty"));
    ck_assert_uint_eq(wabot_route_count(E.ctx), 0);
}
END_TEST

START_TEST(test_keyword_capture_zero_is_the_text)
{
    ck_assert_int_eq(wabot_route_keyword(E.ctx, NULL, "menu", h_caps, "m",
                                         NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text(" Menu! "), "m");
    ck_assert_uint_eq(g_ncaps, 1);
    ck_assert_str_eq(g_caps[0], " Menu! ");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Command routes                                                      */

START_TEST(test_command_captures_arguments)
{
    ck_assert_int_eq(wabot_route_command(E.ctx, NULL, "order", h_caps, "o",
                                         NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text("/order  2 pizzas, 1 cola  "), "o");
    ck_assert_uint_eq(g_ncaps, 2);
    ck_assert_str_eq(g_caps[0], "/order  2 pizzas, 1 cola  ");
    ck_assert_str_eq(g_caps[1], "2 pizzas, 1 cola");
}
END_TEST

START_TEST(test_command_without_arguments_captures_empty)
{
    ck_assert_int_eq(wabot_route_command(E.ctx, NULL, "help", h_caps, "h",
                                         NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text("/help"), "h");
    ck_assert_uint_eq(g_ncaps, 2);
    ck_assert_str_eq(g_caps[1], "");
    ck_assert_str_eq(route_text("/help \xc2\xa0 "), "h");
    ck_assert_str_eq(g_caps[1], "");
}
END_TEST

START_TEST(test_command_name_ignores_case)
{
    ck_assert_int_eq(wabot_route_command(E.ctx, NULL, "Help", h_name, "h",
                                         NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text("/HELP"), "h");
    ck_assert_str_eq(route_text("/help me"), "h");
}
END_TEST

START_TEST(test_command_name_must_end_at_space_or_end)
{
    ck_assert_int_eq(wabot_route_command(E.ctx, NULL, "help", h_name, "h",
                                         NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text("/helpme"), "");
    ck_assert_str_eq(route_text("/help!"), "");
    ck_assert_str_eq(route_text("/hel"), "");
    ck_assert_str_eq(route_text("/help\tnow"), "h");
    ck_assert_str_eq(route_text("/help\xc2\xa0now"), "h");
}
END_TEST

START_TEST(test_command_needs_the_prefix_at_the_start)
{
    ck_assert_int_eq(wabot_route_command(E.ctx, NULL, "help", h_name, "h",
                                         NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text("help"), "");
    ck_assert_str_eq(route_text(" /help"), "");
    ck_assert_str_eq(route_text("!help"), "");
}
END_TEST

START_TEST(test_command_prefix_option)
{
    wabot_options *o = wabot_options_new();
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(wabot_options_set_str(o, WABOT_OPT_COMMAND_PREFIX, "!"),
                     WABOT_OK);
    tu_env env;
    tu_env_init_opts(&env, o);
    wabot_options_free(o);
    ck_assert_int_eq(wabot_route_command(env.ctx, NULL, "help", h_caps, "h",
                                         NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text_on(env.ctx, CUSTOMER, "!help topics"), "h");
    ck_assert_str_eq(g_caps[1], "topics");
    ck_assert_str_eq(route_text_on(env.ctx, CUSTOMER, "/help"), "");
    tu_env_free(&env);
}
END_TEST

START_TEST(test_command_name_with_space_or_prefix_is_rejected)
{
    ck_assert_int_eq(wabot_route_command(E.ctx, NULL, "help me", h_name, "h",
                                         NULL),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(E.ctx), "white space"));
    ck_assert_int_eq(wabot_route_command(E.ctx, NULL, "help\xc2\xa0me",
                                         h_name, "h", NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_route_command(E.ctx, NULL, "/help", h_name, "h",
                                         NULL),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(E.ctx), "prefix"));
    ck_assert_int_eq(wabot_route_command(E.ctx, NULL, "", h_name, "h", NULL),
                     WABOT_ERR_INVAL);
    ck_assert_uint_eq(wabot_route_count(E.ctx), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Regex routes                                                        */

START_TEST(test_regex_captures_groups)
{
    ck_assert_int_eq(wabot_route_regex(E.ctx, NULL,
                                       "^order ([0-9]+) x ([a-z]+)$", 0,
                                       h_caps, "re", NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text("order 12 x pizza"), "re");
    ck_assert_uint_eq(g_ncaps, 3);
    ck_assert_str_eq(g_caps[0], "order 12 x pizza");
    ck_assert_str_eq(g_caps[1], "12");
    ck_assert_str_eq(g_caps[2], "pizza");
}
END_TEST

START_TEST(test_regex_searches_unless_anchored)
{
    ck_assert_int_eq(wabot_route_regex(E.ctx, NULL, "[0-9]{3}", 0, h_caps,
                                       "re", NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text("my code is 4821 thanks"), "re");
    ck_assert_str_eq(g_caps[0], "482");
}
END_TEST

START_TEST(test_regex_unmatched_optional_group_is_empty)
{
    ck_assert_int_eq(wabot_route_regex(E.ctx, NULL, "^(a)(b)?(c)$", 0,
                                       h_caps, "re", NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text("ac"), "re");
    ck_assert_uint_eq(g_ncaps, 4);
    ck_assert_str_eq(g_caps[1], "a");
    ck_assert_str_eq(g_caps[2], "");
    ck_assert_str_eq(g_caps[3], "c");
}
END_TEST

START_TEST(test_regex_keeps_at_most_ten_captures)
{
    ck_assert_int_eq(
        wabot_route_regex(E.ctx, NULL,
                          "^(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)$", 0, h_caps,
                          "re", NULL),
        WABOT_OK);
    ck_assert_str_eq(route_text("abcdefghijkl"), "re");
    ck_assert_uint_eq(g_ncaps, 10);
    ck_assert_str_eq(g_caps[9], "i");
}
END_TEST

START_TEST(test_regex_is_case_sensitive_by_default)
{
    ck_assert_int_eq(wabot_route_regex(E.ctx, NULL, "^yes$", 0, h_name, "re",
                                       NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text("YES"), "");
    ck_assert_str_eq(route_text("yes"), "re");
}
END_TEST

START_TEST(test_regex_icase_flag)
{
    ck_assert_int_eq(wabot_route_regex(E.ctx, NULL, "^(yes|si)$",
                                       WABOT_REGEX_ICASE, h_caps, "re", NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text("YES"), "re");
    ck_assert_str_eq(g_caps[1], "YES");
    ck_assert_str_eq(route_text("Si"), "re");
}
END_TEST

START_TEST(test_regex_bad_pattern_reports_regerror_text)
{
    const char *bad = "order ([0-9]+";
    regex_t re;
    int err = regcomp(&re, bad, REG_EXTENDED);
    ck_assert_int_ne(err, 0);
    char why[160];
    regerror(err, &re, why, sizeof why);

    int destroyed = 0;
    ck_assert_int_eq(wabot_route_regex(E.ctx, NULL, bad, 0, h_name,
                                       &destroyed, count_destroy),
                     WABOT_ERR_INVAL);
    const char *msg = wabot_ctx_errmsg(E.ctx);
    ck_assert_ptr_nonnull(strstr(msg, why));
    ck_assert_ptr_nonnull(strstr(msg, bad));
    ck_assert_int_eq(destroyed, 0);
    ck_assert_uint_eq(wabot_route_count(E.ctx), 0);
}
END_TEST

START_TEST(test_regex_unknown_flags_are_rejected)
{
    ck_assert_int_eq(wabot_route_regex(E.ctx, NULL, "x", 0x80, h_name, "re",
                                       NULL),
                     WABOT_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(wabot_ctx_errmsg(E.ctx), "flags"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Payload and type routes                                             */

START_TEST(test_payload_exact_match)
{
    ck_assert_int_eq(wabot_route_payload(E.ctx, NULL, "menu", h_caps, "p",
                                         NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_payload("menu"), "p");
    ck_assert_uint_eq(g_ncaps, 1);
    ck_assert_str_eq(g_caps[0], "menu");
    ck_assert_str_eq(route_payload("menu:2"), "");
    ck_assert_str_eq(route_payload("MENU"), "");
    ck_assert_str_eq(route_text("menu"), ""); /* text, no payload */
}
END_TEST

START_TEST(test_payload_prefix_captures_rest)
{
    ck_assert_int_eq(wabot_route_payload(E.ctx, NULL, "order:*", h_caps, "p",
                                         NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_payload("order:42"), "p");
    ck_assert_uint_eq(g_ncaps, 2);
    ck_assert_str_eq(g_caps[0], "order:42");
    ck_assert_str_eq(g_caps[1], "42");
    ck_assert_str_eq(route_payload("order:"), "p");
    ck_assert_str_eq(g_caps[1], "");
    ck_assert_str_eq(route_payload("orders"), "");
}
END_TEST

START_TEST(test_payload_empty_never_matches)
{
    ck_assert_int_eq(wabot_route_payload(E.ctx, NULL, "*", h_name, "any",
                                         NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text("hello"), "");
    ck_assert_str_eq(route_payload("x"), "any");
    ck_assert_int_eq(wabot_route_payload(E.ctx, NULL, "", h_name, "p", NULL),
                     WABOT_ERR_INVAL);
}
END_TEST

START_TEST(test_type_route_matches_message_type)
{
    ck_assert_int_eq(wabot_route_type(E.ctx, NULL, WABOT_MSG_IMAGE, h_name,
                                      "image", NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_route_type(E.ctx, NULL, WABOT_MSG_LOCATION,
                                      h_name, "loc", NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text("hello"), "");

    wabot_message *m = msg_from(CUSTOMER);
    ck_assert_int_eq(wabot_message_set_type(m, WABOT_MSG_IMAGE), WABOT_OK);
    ck_assert_int_eq(wabot_message_add_media(m, "https://x.test/a.jpg",
                                             "image/jpeg"),
                     WABOT_OK);
    ck_assert_int_eq(handle(E.ctx, m), WABOT_OK);
    ck_assert_str_eq(g_log, "image");

    m = msg_from(CUSTOMER);
    ck_assert_int_eq(wabot_message_set_location(m, 1.5, 2.5, "Home", ""),
                     WABOT_OK);
    ck_assert_int_eq(wabot_message_set_type(m, WABOT_MSG_LOCATION), WABOT_OK);
    ck_assert_int_eq(handle(E.ctx, m), WABOT_OK);
    ck_assert_str_eq(g_log, "loc");
}
END_TEST

START_TEST(test_type_route_rejects_unknown_type)
{
    ck_assert_int_eq(wabot_route_type(E.ctx, NULL, (wabot_msg_type)999,
                                      h_name, "t", NULL),
                     WABOT_ERR_INVAL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Order and state scoping                                             */

START_TEST(test_unscoped_routes_run_in_registration_order)
{
    ck_assert_int_eq(wabot_route_regex(E.ctx, NULL, "^m", 0, h_name,
                                       "regex", NULL),
                     WABOT_OK);
    add_keyword(NULL, "menu", "keyword");
    ck_assert_str_eq(route_text("menu"), "regex");

    tu_env env;
    tu_env_init(&env);
    ck_assert_int_eq(wabot_route_keyword(env.ctx, NULL, "menu", h_name,
                                         "keyword", NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_route_regex(env.ctx, NULL, "^m", 0, h_name,
                                       "regex", NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text_on(env.ctx, CUSTOMER, "menu"), "keyword");
    ck_assert_str_eq(route_text_on(env.ctx, CUSTOMER, "more"), "regex");
    tu_env_free(&env);
}
END_TEST

START_TEST(test_scoped_routes_run_before_unscoped)
{
    add_keyword(NULL, "menu", "global");
    add_keyword(NULL, "start", "start");
    ck_assert_int_eq(wabot_route_keyword(E.ctx, NULL, "order", h_goto,
                                         "ordering", NULL),
                     WABOT_OK);
    add_keyword("ordering", "menu", "scoped");
    ck_assert_str_eq(route_text("menu"), "global");
    ck_assert_str_eq(route_text("order"), "goto");
    ck_assert_str_eq(route_text("menu"), "scoped");
    /* Unscoped routes still apply in the state. */
    ck_assert_str_eq(route_text("start"), "start");
}
END_TEST

/* Sets the state named by ud before the router runs. */
static int mw_set_state(wabot_turn *turn, void *ud)
{
    int rc = wabot_turn_set_state(turn, ud);
    return rc < 0 ? rc : wabot_next(turn);
}

START_TEST(test_scoped_routes_follow_the_turn_state)
{
    ck_assert_int_eq(wabot_use(E.ctx, "state", mw_set_state, "ordering",
                               NULL),
                     WABOT_OK);
    add_keyword(NULL, "menu", "global");
    add_keyword("", "menu", "new");
    add_keyword("paying", "menu", "paying");
    add_keyword("ordering", "menu", "ordering");
    ck_assert_str_eq(route_text("menu"), "ordering");
    ck_assert_str_eq(route_text("other"), "");
}
END_TEST

START_TEST(test_scoped_routes_do_not_run_in_other_states)
{
    add_keyword("paying", "menu", "paying");
    ck_assert_str_eq(route_text("menu"), "");
    ck_assert_int_eq(wabot_route_keyword(E.ctx, NULL, "go", h_goto,
                                         "browsing", NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text("go"), "goto");
    ck_assert_str_eq(route_text("menu"), "");
}
END_TEST

START_TEST(test_empty_state_route_matches_only_without_state)
{
    add_keyword("", "hi", "welcome");
    add_keyword(NULL, "hi", "again");
    ck_assert_int_eq(wabot_route_keyword(E.ctx, NULL, "go", h_goto, "menu",
                                         NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text("hi"), "welcome");
    ck_assert_str_eq(route_text("go"), "goto");
    ck_assert_str_eq(route_text("hi"), "again");
    /* Another customer's conversation is still new. */
    ck_assert_str_eq(route_text_on(E.ctx, "+15551230002", "hi"), "welcome");
}
END_TEST

START_TEST(test_state_change_routes_the_next_message)
{
    ck_assert_int_eq(wabot_route_keyword(E.ctx, NULL, "register", h_goto,
                                         "asking_name", NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_route_regex(E.ctx, "asking_name", "^(.+)$", 0,
                                       h_caps, "name", NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text("Ana"), "");
    ck_assert_str_eq(route_text("register"), "goto");
    ck_assert_str_eq(route_text("Ana"), "name");
    ck_assert_str_eq(g_caps[1], "Ana");
}
END_TEST

START_TEST(test_fallback_runs_only_when_no_route_matches)
{
    ck_assert_int_eq(wabot_route_fallback(E.ctx, NULL, h_caps, "fallback",
                                          NULL),
                     WABOT_OK);
    add_keyword(NULL, "menu", "menu");
    ck_assert_str_eq(route_text("menu"), "menu");
    ck_assert_str_eq(route_text("something else"), "fallback");
    ck_assert_uint_eq(g_ncaps, 0);
}
END_TEST

START_TEST(test_state_fallback_runs_before_global_fallback)
{
    ck_assert_int_eq(wabot_route_fallback(E.ctx, NULL, h_name, "global",
                                          NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_route_fallback(E.ctx, "ordering", h_name,
                                          "ordering", NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_route_fallback(E.ctx, "", h_name, "new", NULL),
                     WABOT_OK);
    add_keyword(NULL, "menu", "menu");
    ck_assert_int_eq(wabot_route_keyword(E.ctx, NULL, "order", h_goto,
                                         "ordering", NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_route_keyword(E.ctx, NULL, "pay", h_goto,
                                         "paying", NULL),
                     WABOT_OK);
    ck_assert_str_eq(route_text("??"), "new");
    ck_assert_str_eq(route_text("order"), "goto");
    ck_assert_str_eq(route_text("??"), "ordering");
    ck_assert_str_eq(route_text("menu"), "menu"); /* routes still first */
    ck_assert_str_eq(route_text("pay"), "goto");
    ck_assert_str_eq(route_text("??"), "global");
}
END_TEST

START_TEST(test_replacing_fallback_runs_old_destroy)
{
    int old_destroyed = 0, new_destroyed = 0;
    ck_assert_int_eq(wabot_route_fallback(E.ctx, NULL, h_name, &old_destroyed,
                                          count_destroy),
                     WABOT_OK);
    ck_assert_int_eq(wabot_route_fallback(E.ctx, NULL, h_caps, &new_destroyed,
                                          count_destroy),
                     WABOT_OK);
    ck_assert_int_eq(old_destroyed, 1);
    ck_assert_int_eq(new_destroyed, 0);
    ck_assert_uint_eq(wabot_route_count(E.ctx), 1);
    wabot_ctx_free(E.ctx);
    E.ctx = NULL;
    ck_assert_int_eq(old_destroyed, 1);
    ck_assert_int_eq(new_destroyed, 1);
}
END_TEST

START_TEST(test_replacing_fallback_with_same_data_keeps_it)
{
    int destroyed = 0;
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(wabot_route_fallback(E.ctx, "s", h_name, &destroyed,
                                              count_destroy),
                         WABOT_OK);
    ck_assert_int_eq(destroyed, 0);
    wabot_ctx_free(E.ctx);
    E.ctx = NULL;
    ck_assert_int_eq(destroyed, 1);
}
END_TEST

START_TEST(test_destroy_runs_once_per_route_at_ctx_free)
{
    int d[7] = {0};
    ck_assert_int_eq(wabot_route_keyword(E.ctx, NULL, "a", h_name, &d[0],
                                         count_destroy), WABOT_OK);
    ck_assert_int_eq(wabot_route_command(E.ctx, "s", "b", h_name, &d[1],
                                         count_destroy), WABOT_OK);
    ck_assert_int_eq(wabot_route_regex(E.ctx, NULL, "c", 0, h_name, &d[2],
                                       count_destroy), WABOT_OK);
    ck_assert_int_eq(wabot_route_payload(E.ctx, NULL, "d*", h_name, &d[3],
                                         count_destroy), WABOT_OK);
    ck_assert_int_eq(wabot_route_type(E.ctx, "", WABOT_MSG_IMAGE, h_name,
                                      &d[4], count_destroy), WABOT_OK);
    ck_assert_int_eq(wabot_route_fallback(E.ctx, NULL, h_name, &d[5],
                                          count_destroy), WABOT_OK);
    ck_assert_int_eq(wabot_route_fallback(E.ctx, "s", h_name, &d[6],
                                          count_destroy), WABOT_OK);
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(d[i], 0);
    wabot_ctx_free(E.ctx);
    E.ctx = NULL;
    for (int i = 0; i < 7; i++)
        ck_assert_msg(d[i] == 1, "route %d destroyed %d times", i, d[i]);
}
END_TEST

START_TEST(test_failed_registration_does_not_destroy)
{
    int destroyed = 0;
    ck_assert_int_eq(wabot_route_keyword(E.ctx, NULL, "!!", h_name,
                                         &destroyed, count_destroy),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_route_command(E.ctx, NULL, "a b", h_name,
                                         &destroyed, count_destroy),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_route_keyword(E.ctx, NULL, "ok", NULL, &destroyed,
                                         count_destroy),
                     WABOT_ERR_INVAL);
    wabot_ctx_free(E.ctx);
    E.ctx = NULL;
    ck_assert_int_eq(destroyed, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Handled flag, results, errors                                       */

/* Middleware recording whether the rest of the turn handled it. */
static int mw_probe(wabot_turn *turn, void *ud)
{
    int rc = wabot_next(turn);
    *(int *)ud = wabot_turn_handled(turn);
    return rc;
}

START_TEST(test_no_match_leaves_turn_unhandled)
{
    int handled = -1;
    ck_assert_int_eq(wabot_use(E.ctx, "probe", mw_probe, &handled, NULL),
                     WABOT_OK);
    add_keyword(NULL, "menu", "menu");
    ck_assert_str_eq(route_text("nothing matches"), "");
    ck_assert_int_eq(handled, 0);
    ck_assert_int_eq(wabot_metrics_counter(E.ctx, "messages.unhandled"), 1);
    ck_assert_int_eq(wabot_metrics_counter(E.ctx, "messages.handled"), 0);
    ck_assert_uint_eq(wabot_recorder_count(E.rec), 0);
}
END_TEST

START_TEST(test_match_marks_turn_handled)
{
    int handled = -1;
    ck_assert_int_eq(wabot_use(E.ctx, "probe", mw_probe, &handled, NULL),
                     WABOT_OK);
    add_keyword(NULL, "menu", "menu");
    ck_assert_str_eq(route_text("menu"), "menu");
    ck_assert_int_eq(handled, 1);
    ck_assert_int_eq(wabot_metrics_counter(E.ctx, "messages.handled"), 1);
}
END_TEST

START_TEST(test_handler_reply_reaches_transport)
{
    add_keyword(NULL, "menu", "here is the menu");
    ck_assert_str_eq(route_text("menu"), "here is the menu");
    ck_assert_uint_eq(wabot_recorder_count(E.rec), 1);
    const wabot_outbound *o = wabot_recorder_get(E.rec, 0);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(wabot_outbound_text(o), "here is the menu");
    ck_assert_str_eq(wabot_outbound_to(o), CUSTOMER);
}
END_TEST

START_TEST(test_handler_error_is_returned)
{
    ck_assert_int_eq(wabot_route_keyword(E.ctx, NULL, "boom", h_fail, NULL,
                                         NULL),
                     WABOT_OK);
    wabot_message *m = msg_from(CUSTOMER);
    ck_assert_int_eq(wabot_message_set_text(m, "boom"), WABOT_OK);
    ck_assert_int_eq(handle(E.ctx, m), WABOT_ERR_HANDLER);
    ck_assert_str_eq(g_log, "fail");
}
END_TEST

START_TEST(test_null_arguments_are_invalid)
{
    wabot_ctx *c = E.ctx;
    ck_assert_int_eq(wabot_route_keyword(NULL, NULL, "a", h_name, "", NULL),
                     WABOT_ERR_INVAL);
    ck_assert_str_ne(wabot_ctx_errmsg(NULL), "");

#define ck_inval(call, needle)                                                \
    do {                                                                      \
        ck_assert_int_eq(call, WABOT_ERR_INVAL);                              \
        ck_assert_msg(strstr(wabot_ctx_errmsg(c), needle) != NULL,            \
                      "errmsg \"%s\" lacks \"%s\"", wabot_ctx_errmsg(c),      \
                      needle);                                                \
    } while (0)
    ck_inval(wabot_route_keyword(c, NULL, NULL, h_name, "", NULL), "keyword");
    ck_inval(wabot_route_keyword(c, NULL, "a", NULL, "", NULL), "handler");
    ck_inval(wabot_route_command(c, NULL, NULL, h_name, "", NULL), "name");
    ck_inval(wabot_route_command(c, NULL, "a", NULL, "", NULL), "handler");
    ck_inval(wabot_route_regex(c, NULL, NULL, 0, h_name, "", NULL),
             "pattern");
    ck_inval(wabot_route_regex(c, NULL, "a", 0, NULL, "", NULL), "handler");
    ck_inval(wabot_route_payload(c, NULL, NULL, h_name, "", NULL), "payload");
    ck_inval(wabot_route_payload(c, NULL, "a", NULL, "", NULL), "handler");
    ck_inval(wabot_route_type(c, NULL, WABOT_MSG_TEXT, NULL, "", NULL),
             "handler");
    ck_inval(wabot_route_fallback(c, NULL, NULL, "", NULL), "handler");
#undef ck_inval
    ck_assert_int_eq(wabot_route_command(NULL, NULL, "a", h_name, "", NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_route_regex(NULL, NULL, "a", 0, h_name, "", NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_route_payload(NULL, NULL, "a", h_name, "", NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_route_type(NULL, NULL, WABOT_MSG_TEXT, h_name, "",
                                      NULL),
                     WABOT_ERR_INVAL);
    ck_assert_int_eq(wabot_route_fallback(NULL, NULL, h_name, "", NULL),
                     WABOT_ERR_INVAL);
    ck_assert_uint_eq(wabot_route_count(c), 0);
}
END_TEST

START_TEST(test_route_count_includes_fallbacks)
{
    ck_assert_uint_eq(wabot_route_count(NULL), 0);
    ck_assert_uint_eq(wabot_route_count(E.ctx), 0);
    add_keyword(NULL, "a", "a");
    add_keyword("s", "b", "b");
    ck_assert_int_eq(wabot_route_regex(E.ctx, NULL, "x", 0, h_name, "r",
                                       NULL), WABOT_OK);
    ck_assert_uint_eq(wabot_route_count(E.ctx), 3);
    ck_assert_int_eq(wabot_route_fallback(E.ctx, NULL, h_name, "f", NULL),
                     WABOT_OK);
    ck_assert_int_eq(wabot_route_fallback(E.ctx, "s", h_name, "f", NULL),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_route_count(E.ctx), 5);
    /* Replacing a fallback does not add one. */
    ck_assert_int_eq(wabot_route_fallback(E.ctx, NULL, h_name, "g", NULL),
                     WABOT_OK);
    ck_assert_uint_eq(wabot_route_count(E.ctx), 5);
    /* Nor does a failed registration. */
    ck_assert_int_eq(wabot_route_regex(E.ctx, NULL, "(", 0, h_name, "r",
                                       NULL), WABOT_ERR_INVAL);
    ck_assert_uint_eq(wabot_route_count(E.ctx), 5);
}
END_TEST

/* An allocator that fails once its budget is spent (-1: unlimited). */
static long g_alloc_budget = -1;

static int alloc_allowed(void)
{
    if (g_alloc_budget < 0)
        return 1;
    if (g_alloc_budget == 0)
        return 0;
    g_alloc_budget--;
    return 1;
}

static void *t_malloc(size_t n, void *ud)
{
    (void)ud;
    return alloc_allowed() ? malloc(n) : NULL;
}

static void *t_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    return alloc_allowed() ? realloc(p, n) : NULL;
}

static void t_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

/* Register route kind k (0..5) on ctx. */
static int register_kind(wabot_ctx *ctx, int k, int *destroyed)
{
    switch (k) {
    case 0:
        return wabot_route_keyword(ctx, "s", "Ménu", h_name, destroyed,
                                   count_destroy);
    case 1:
        return wabot_route_command(ctx, "s", "help", h_name, destroyed,
                                   count_destroy);
    case 2:
        return wabot_route_regex(ctx, "s", "^(a)$", 0, h_name, destroyed,
                                 count_destroy);
    case 3:
        return wabot_route_payload(ctx, "s", "p:*", h_name, destroyed,
                                   count_destroy);
    case 4:
        return wabot_route_type(ctx, "s", WABOT_MSG_IMAGE, h_name, destroyed,
                                count_destroy);
    default:
        return wabot_route_fallback(ctx, "s", h_name, destroyed,
                                    count_destroy);
    }
}

START_TEST(test_out_of_memory_registration_adds_nothing)
{
    wabot_options *o = wabot_options_new();
    ck_assert_ptr_nonnull(o);
    wabot_allocator a = {WABOT_ALLOCATOR_VERSION, t_malloc, t_realloc,
                         t_free, NULL};
    ck_assert_int_eq(wabot_options_set_allocator(o, &a), WABOT_OK);
    tu_env env;
    tu_env_init_opts(&env, o);
    wabot_options_free(o);

    int destroyed[6] = {0};
    for (int k = 0; k < 6; k++) {
        size_t before = wabot_route_count(env.ctx);
        int rc = WABOT_ERR_NOMEM;
        for (long budget = 0; rc == WABOT_ERR_NOMEM; budget++) {
            ck_assert_int_lt(budget, 50);
            g_alloc_budget = budget;
            rc = register_kind(env.ctx, k, &destroyed[k]);
            g_alloc_budget = -1;
            if (rc == WABOT_ERR_NOMEM) {
                ck_assert_int_eq(destroyed[k], 0);
                ck_assert_uint_eq(wabot_route_count(env.ctx), before);
                ck_assert_str_ne(wabot_ctx_errmsg(env.ctx), "");
            }
        }
        ck_assert_int_eq(rc, WABOT_OK);
        ck_assert_uint_eq(wabot_route_count(env.ctx), before + 1);
    }
    tu_env_free(&env);
    for (int k = 0; k < 6; k++)
        ck_assert_int_eq(destroyed[k], 1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Concurrency: dispatch from many threads at once                     */

#define N_THREADS 8
#define N_PER_THREAD 100

static int h_count(wabot_turn *turn, void *ud)
{
    const char *arg = wabot_turn_capture(turn, 1);
    if (!arg || strcmp(arg, "42") != 0)
        return WABOT_ERR_HANDLER;
    __atomic_add_fetch((int *)ud, 1, __ATOMIC_SEQ_CST);
    return WABOT_OK;
}

typedef struct worker {
    wabot_ctx *ctx;
    int idx;
    int failures;
} worker;

static void *worker_run(void *p)
{
    worker *w = p;
    char from[32], id[48];
    snprintf(from, sizeof from, "+1555999%04d", w->idx);
    for (int i = 0; i < N_PER_THREAD; i++) {
        snprintf(id, sizeof id, "wamid.t%d.%d", w->idx, i);
        wabot_message *m = wabot_message_new(id, from, BUSINESS);
        if (!m || wabot_message_set_text(m, i % 2 ? "/order 42" :
                                                    "code 42") != WABOT_OK ||
            wabot_ctx_handle_message(w->ctx, m) != WABOT_OK)
            w->failures++;
        wabot_message_free(m);
    }
    return NULL;
}

START_TEST(test_concurrent_dispatch_is_safe)
{
    int hits = 0;
    /* Each thread floods as one customer: without the inbound rate limit,
     * which would (rightly) stop most of it. */
    tu_env_free(&E);
    wabot_options *o = wabot_options_new();
    ck_assert_int_eq(wabot_options_set_int(o, WABOT_OPT_INBOUND_RATE_COUNT,
                                           0), WABOT_OK);
    tu_env_init_opts(&E, o);
    wabot_options_free(o);
    ck_assert_int_eq(wabot_route_command(E.ctx, NULL, "order", h_count,
                                         &hits, NULL), WABOT_OK);
    ck_assert_int_eq(wabot_route_regex(E.ctx, NULL, "^code ([0-9]+)$", 0,
                                       h_count, &hits, NULL), WABOT_OK);
    pthread_t th[N_THREADS];
    worker w[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        w[i] = (worker){E.ctx, i, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].failures, 0);
    }
    ck_assert_int_eq(hits, N_THREADS * N_PER_THREAD);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *router_suite(void)
{
    Suite *s = suite_create("router");

    TCase *fold = tcase_create("fold");
    tcase_add_test(fold, test_fold_lowercases_ascii);
    tcase_add_test(fold, test_fold_strips_latin1_accents);
    tcase_add_test(fold, test_fold_maps_latin_extended_a);
    tcase_add_test(fold, test_fold_expands_ligatures_and_special_letters);
    tcase_add_test(fold, test_fold_keeps_non_letters_of_latin1);
    tcase_add_test(fold, test_fold_collapses_white_space);
    tcase_add_test(fold, test_fold_treats_nbsp_and_unicode_spaces_as_space);
    tcase_add_test(fold, test_fold_trims_surrounding_punctuation);
    tcase_add_test(fold, test_fold_keeps_inner_punctuation);
    tcase_add_test(fold, test_fold_of_only_punctuation_is_empty);
    tcase_add_test(fold, test_fold_passes_non_latin_through);
    tcase_add_test(fold, test_fold_passes_invalid_utf8_through);
    tcase_add_test(fold, test_fold_null_is_null);
    tcase_add_test(fold, test_fold_never_lengthens_and_is_idempotent);
    suite_add_tcase(s, fold);

    TCase *kinds = tcase_create("kinds");
    tcase_add_checked_fixture(kinds, setup, teardown);
    tcase_add_test(kinds, test_keyword_ignores_case);
    tcase_add_test(kinds, test_keyword_ignores_accents);
    tcase_add_test(kinds,
                   test_keyword_ignores_spaces_and_surrounding_punctuation);
    tcase_add_test(kinds, test_keyword_matches_the_whole_text_only);
    tcase_add_test(kinds, test_keyword_passes_non_latin_through);
    tcase_add_test(kinds, test_keyword_compares_invalid_utf8_bytewise);
    tcase_add_test(kinds, test_keyword_empty_after_folding_is_rejected);
    tcase_add_test(kinds, test_keyword_capture_zero_is_the_text);
    tcase_add_test(kinds, test_command_captures_arguments);
    tcase_add_test(kinds, test_command_without_arguments_captures_empty);
    tcase_add_test(kinds, test_command_name_ignores_case);
    tcase_add_test(kinds, test_command_name_must_end_at_space_or_end);
    tcase_add_test(kinds, test_command_needs_the_prefix_at_the_start);
    tcase_add_test(kinds, test_command_prefix_option);
    tcase_add_test(kinds, test_command_name_with_space_or_prefix_is_rejected);
    tcase_add_test(kinds, test_regex_captures_groups);
    tcase_add_test(kinds, test_regex_searches_unless_anchored);
    tcase_add_test(kinds, test_regex_unmatched_optional_group_is_empty);
    tcase_add_test(kinds, test_regex_keeps_at_most_ten_captures);
    tcase_add_test(kinds, test_regex_is_case_sensitive_by_default);
    tcase_add_test(kinds, test_regex_icase_flag);
    tcase_add_test(kinds, test_regex_bad_pattern_reports_regerror_text);
    tcase_add_test(kinds, test_regex_unknown_flags_are_rejected);
    tcase_add_test(kinds, test_payload_exact_match);
    tcase_add_test(kinds, test_payload_prefix_captures_rest);
    tcase_add_test(kinds, test_payload_empty_never_matches);
    tcase_add_test(kinds, test_type_route_matches_message_type);
    tcase_add_test(kinds, test_type_route_rejects_unknown_type);
    suite_add_tcase(s, kinds);

    TCase *order = tcase_create("order");
    tcase_add_checked_fixture(order, setup, teardown);
    tcase_add_test(order, test_unscoped_routes_run_in_registration_order);
    tcase_add_test(order, test_scoped_routes_run_before_unscoped);
    tcase_add_test(order, test_scoped_routes_follow_the_turn_state);
    tcase_add_test(order, test_scoped_routes_do_not_run_in_other_states);
    tcase_add_test(order, test_empty_state_route_matches_only_without_state);
    tcase_add_test(order, test_state_change_routes_the_next_message);
    tcase_add_test(order, test_fallback_runs_only_when_no_route_matches);
    tcase_add_test(order, test_state_fallback_runs_before_global_fallback);
    suite_add_tcase(s, order);

    TCase *life = tcase_create("lifecycle");
    tcase_add_checked_fixture(life, setup, teardown);
    tcase_add_test(life, test_replacing_fallback_runs_old_destroy);
    tcase_add_test(life, test_replacing_fallback_with_same_data_keeps_it);
    tcase_add_test(life, test_destroy_runs_once_per_route_at_ctx_free);
    tcase_add_test(life, test_failed_registration_does_not_destroy);
    tcase_add_test(life, test_out_of_memory_registration_adds_nothing);
    tcase_add_test(life, test_no_match_leaves_turn_unhandled);
    tcase_add_test(life, test_match_marks_turn_handled);
    tcase_add_test(life, test_handler_reply_reaches_transport);
    tcase_add_test(life, test_handler_error_is_returned);
    tcase_add_test(life, test_null_arguments_are_invalid);
    tcase_add_test(life, test_route_count_includes_fallbacks);
    tcase_add_test(life, test_concurrent_dispatch_is_safe);
    suite_add_tcase(s, life);
    return s;
}

int main(void)
{
    return tu_run_suite(router_suite());
}
