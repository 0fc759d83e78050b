/* libFuzzer target: the outbound job payload's decode
 * (wb_outbound_from_json, lib/message/outbound.c). Input: a payload, any
 * bytes. The decode scans what wabot_outbound_to_json writes and leaves
 * anything else to a jansson tree; whatever the input:
 *  - it never crashes;
 *  - it gives exactly what the tree's decode gives (both refuse, or both
 *    make the same message);
 *  - a message it makes encodes again, and that encoding decodes to the
 *    same message (the codec is stable). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            abort();                                                         \
    } while (0)

static int same_str(const char *a, const char *b)
{
    return (a == NULL) == (b == NULL) && (!a || strcmp(a, b) == 0);
}

static int same(const wabot_outbound *a, const wabot_outbound *b)
{
    if ((a == NULL) != (b == NULL))
        return 0;
    if (!a)
        return 1;
    if (a->kind != b->kind || a->category != b->category ||
        a->provider != b->provider || a->n_opts != b->n_opts ||
        a->n_params != b->n_params)
        return 0;
    const char *const fa[] = {a->id, a->to, a->from, a->organization,
                              a->text, a->media_url, a->in_reply_to,
                              a->correlation_id, a->list_button,
                              a->list_section, a->template_name,
                              a->template_language};
    const char *const fb[] = {b->id, b->to, b->from, b->organization,
                              b->text, b->media_url, b->in_reply_to,
                              b->correlation_id, b->list_button,
                              b->list_section, b->template_name,
                              b->template_language};
    for (size_t i = 0; i < sizeof fa / sizeof *fa; i++)
        if (!same_str(fa[i], fb[i]))
            return 0;
    for (size_t i = 0; i < a->n_opts; i++)
        if (!same_str(a->opts[i].id, b->opts[i].id) ||
            !same_str(a->opts[i].title, b->opts[i].title) ||
            !same_str(a->opts[i].description, b->opts[i].description))
            return 0;
    for (size_t i = 0; i < a->n_params; i++)
        if (!same_str(a->params[i], b->params[i]))
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *json = (const char *)data;
    wabot_outbound *a = wb_outbound_from_json(NULL, json, size);
    wabot_outbound *b = wb_outbound_from_json_tree(NULL, json, size);
    CHECK(same(a, b));
    if (a) {
        char *again = wabot_outbound_to_json(a);
        CHECK(again != NULL);
        wabot_outbound *c = wb_outbound_from_json(NULL, again, strlen(again));
        CHECK(same(a, c));
        wb_outbound_free(c);
        free(again);
    }
    wb_outbound_free(a);
    wb_outbound_free(b);
    return 0;
}
