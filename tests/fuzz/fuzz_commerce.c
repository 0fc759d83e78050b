/* libFuzzer target: the commerce parsers. The first byte picks one:
 * even -> the product matcher reads the rest as a customer's text against
 * a small catalog; odd -> the rest is a catalog import document (partial,
 * into an organisation of its own). Invariants: every result reads back
 * consistently and its JSON is valid. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wabot.h"

wabot_ctx *fuzz_ctx(void);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            abort();                                                         \
    } while (0)

static const char seed[] =
    "[{\"sku\":\"coke\",\"name\":\"Coke\",\"aliases\":[\"coca-cola\"],"
    "\"price\":150,\"currency\":\"USD\",\"category\":\"Drinks\"},"
    "{\"sku\":\"coke-zero\",\"name\":\"Coke Zero\",\"price\":160,"
    "\"currency\":\"USD\",\"category\":\"Drinks\"},"
    "{\"sku\":\"water\",\"name\":\"Water\",\"aliases\":[\"\xC3\xA1gua\"],"
    "\"price\":100,\"currency\":\"USD\",\"stock\":5},"
    "{\"sku\":\"pizza\",\"name\":\"Pizza Margherita\",\"price\":900,"
    "\"currency\":\"USD\",\"category\":\"Food\"},"
    "{\"sku\":\"fries\",\"name\":\"French Fries\",\"price\":350,"
    "\"currency\":\"USD\"}]";

/* The context is rebuilt now and then (fuzz_env.c): seed each new one. */
static void ensure_catalog(wabot_ctx *ctx)
{
    int64_t n = 0;
    if (wabot_catalog_count(ctx, "fuzz", &n) == WABOT_OK && n > 0)
        return;
    CHECK(wabot_catalog_import(ctx, "fuzz", seed, sizeof seed - 1, 0,
                               NULL) == WABOT_OK);
}

static void check_json(wabot_ctx *ctx, char *s)
{
    CHECK(s != NULL);
    json_t *j = json_loads(s, 0, NULL);
    CHECK(j != NULL);
    json_decref(j);
    wabot_ctx_mem_free(ctx, s);
}

static void fuzz_match(wabot_ctx *ctx, const char *text, const char *locale)
{
    wabot_match *m = NULL;
    int rc = wabot_catalog_match(ctx, "fuzz", locale, text, &m);
    if (rc != WABOT_OK) {
        CHECK(rc == WABOT_ERR_TOO_LARGE && strlen(text) > 1000);
        return;
    }
    for (size_t i = 0; i < wabot_match_line_count(m); i++) {
        size_t n = wabot_match_candidate_count(m, i);
        CHECK(n >= 1 && n <= 10);
        CHECK(wabot_match_line_quantity(m, i) >= 0);
        CHECK(wabot_match_line_text(m, i) != NULL);
        for (size_t j = 0; j < n; j++) {
            int s = wabot_match_candidate_score(m, i, j);
            CHECK(s > 0 && s <= 1000);
            CHECK(j == 0 || s <= wabot_match_candidate_score(m, i, j - 1));
            CHECK(wabot_match_candidate_sku(m, i, j) != NULL);
        }
    }
    for (size_t i = 0; i < wabot_match_unknown_count(m); i++)
        CHECK(wabot_match_unknown(m, i)[0] != '\0');
    char *reply = wabot_match_reply_text(m);
    CHECK(reply != NULL);
    wabot_ctx_mem_free(ctx, reply);
    check_json(ctx, wabot_match_json(m));
    wabot_match_free(m);
}

static void fuzz_import(wabot_ctx *ctx, const char *doc, size_t len)
{
    wabot_import_report *r = NULL;
    int rc = wabot_catalog_import(ctx, "fuzz-import", doc, len,
                                  WABOT_IMPORT_PARTIAL, &r);
    if (r) {
        for (size_t i = 0; i < wabot_import_report_error_count(r); i++) {
            CHECK(wabot_import_report_error_row(r, i) >= 1);
            CHECK(wabot_import_report_error_reason(r, i)[0] != '\0');
        }
        check_json(ctx, wabot_import_report_json(r));
        wabot_import_report_free(r);
    }
    CHECK(rc == WABOT_OK || rc == WABOT_ERR_PARSE ||
          rc == WABOT_ERR_TOO_LARGE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    wabot_ctx *ctx = fuzz_ctx();
    ensure_catalog(ctx);
    char *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    if (data[0] % 2 == 0) {
        static const char *const locales[] = {NULL, "es", "pt-BR", "xx"};
        fuzz_match(ctx, s, locales[(data[0] / 2) % 4]);
    } else {
        fuzz_import(ctx, s, size - 1);
    }
    free(s);
    return 0;
}
