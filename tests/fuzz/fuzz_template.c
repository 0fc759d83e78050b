/* libFuzzer target: the template compiler and renderer
 * (include/wabot/template.h). Input: the template source, any bytes.
 *
 *  - compiling never crashes and fails only with INVAL or TOO_LARGE, and
 *    then with a detail naming a byte position inside the input;
 *  - a compiled template always renders (no lookup, and a lookup that
 *    answers every placeholder), as the API promises;
 *  - rendered with no values, the text is never longer than the source
 *    (placeholders only shrink to their defaults);
 *  - rendered with the value "V" everywhere, no "{{" or "}}" survives:
 *    every placeholder was recognised at compile time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wabot/template.h"

wabot_ctx *fuzz_ctx(void);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            abort();                                                         \
    } while (0)

static const char *always_v(void *ud, wabot_template_scope scope,
                            const char *attr)
{
    (void)ud;
    CHECK(scope == WABOT_TEMPLATE_NAME || scope == WABOT_TEMPLATE_CUSTOMER ||
          scope == WABOT_TEMPLATE_ORG);
    CHECK(attr != NULL && strlen(attr) <= 64);
    CHECK((scope == WABOT_TEMPLATE_NAME) == (attr[0] == '\0'));
    return "V";
}

/* The detail names a 0-based byte position below `size`. */
static void check_detail(size_t size)
{
    const char *d = strstr(wabot_errmsg(), "byte ");
    if (d == NULL)
        return; /* TOO_LARGE says "bytes, over the limit" instead */
    CHECK(strtoul(d + 5, NULL, 10) < size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wabot_ctx *ctx = fuzz_ctx();
    wabot_template *t = NULL;
    int rc = wabot_template_compile(ctx, (const char *)data, size, &t);
    if (rc != WABOT_OK) {
        CHECK(t == NULL);
        CHECK(rc == WABOT_ERR_INVAL || rc == WABOT_ERR_TOO_LARGE);
        if (rc == WABOT_ERR_INVAL)
            check_detail(size);
        return 0;
    }
    char *out = NULL;
    size_t n = 0;
    CHECK(wabot_template_render(t, NULL, NULL, &out, &n) == WABOT_OK);
    CHECK(out != NULL && n <= size && strlen(out) == n);
    wabot_ctx_mem_free(ctx, out);
    CHECK(wabot_template_render(t, always_v, NULL, &out, &n) == WABOT_OK);
    CHECK(strlen(out) == n);
    CHECK(strstr(out, "{{") == NULL && strstr(out, "}}") == NULL);
    wabot_ctx_mem_free(ctx, out);
    wabot_template_free(t);
    return 0;
}
