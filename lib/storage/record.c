/* Records with a schema number: "#schema <n>\n" + payload, upgraded on
 * read one step at a time (include/wabot/storage.h, doc/storage.md). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage.h"

#define MARKER "#schema "
#define MARKER_LEN (sizeof MARKER - 1)

int wabot_storage_record_encode(uint32_t schema, const char *payload,
                                size_t len, char **out, size_t *outlen)
{
    if (out != NULL)
        *out = NULL;
    if (out == NULL || outlen == NULL || (payload == NULL && len > 0))
        return WABOT_ERR_INVAL;
    /* The marker without printf: every record a turn writes has one. */
    char head[32], digits[10];
    size_t nd = 0;
    do {
        digits[nd++] = (char)('0' + schema % 10);
        schema /= 10;
    } while (schema != 0);
    int h = (int)MARKER_LEN;
    memcpy(head, MARKER, MARKER_LEN);
    while (nd > 0)
        head[h++] = digits[--nd];
    head[h++] = '\n';
    if (len > SIZE_MAX - (size_t)h - 1)
        return WABOT_ERR_TOO_LARGE;
    char *v = malloc((size_t)h + len + 1);
    if (v == NULL)
        return WABOT_ERR_NOMEM;
    memcpy(v, head, (size_t)h);
    if (len > 0)
        memcpy(v + h, payload, len);
    v[(size_t)h + len] = '\0';
    *out = v;
    *outlen = (size_t)h + len;
    return WABOT_OK;
}

uint32_t wb_storage_record_split(const char *val, size_t len, size_t *start)
{
    *start = 0;
    if (len < MARKER_LEN + 2 || memcmp(val, MARKER, MARKER_LEN) != 0)
        return 0;
    uint64_t n = 0;
    size_t i = MARKER_LEN;
    for (; i < len && i < MARKER_LEN + 10 && val[i] >= '0' && val[i] <= '9';
         i++)
        n = n * 10 + (uint64_t)(val[i] - '0');
    if (i == MARKER_LEN || i >= len || val[i] != '\n' || n > UINT32_MAX)
        return 0;
    *start = i + 1;
    return (uint32_t)n;
}

int wabot_storage_record_decode(const wabot_schema *sc, const char *val,
                                size_t len, char **out, size_t *outlen,
                                uint32_t *stored)
{
    if (out != NULL)
        *out = NULL;
    if (sc == NULL || sc->version == 0 || out == NULL || outlen == NULL ||
        (val == NULL && len > 0))
        return WABOT_ERR_INVAL;
    size_t start;
    uint32_t schema =
        wb_storage_record_split(val != NULL ? val : "", len, &start);
    if (stored != NULL)
        *stored = schema;
    if (schema > sc->current)
        return WABOT_ERR_UNSUPPORTED;
    char *cur = wb_storage_dup(val != NULL ? val + start : "", len - start);
    size_t cur_len = len - start;
    if (cur == NULL)
        return WABOT_ERR_NOMEM;
    for (uint32_t from = schema; sc->upgrade != NULL && from < sc->current;
         from++) {
        wabot_buf next = {NULL, 0};
        int rc = sc->upgrade(sc->ud, from, cur, cur_len, &next);
        free(cur);
        if (rc == WABOT_OK && next.data == NULL)
            rc = WABOT_ERR_PARSE; /* an upgrade that produced nothing */
        if (rc != WABOT_OK) {
            free(next.data);
            return rc;
        }
        cur = next.data;
        cur_len = next.len;
    }
    *out = cur;
    *outlen = cur_len;
    return WABOT_OK;
}

int wabot_storage_get_record(wabot_storage *s, const char *key,
                             const wabot_schema *sc, char **payload,
                             size_t *len, uint64_t *version)
{
    if (payload != NULL)
        *payload = NULL;
    if (sc == NULL || payload == NULL)
        return wb_storage_fail(s, WABOT_ERR_INVAL,
                               "get_record: NULL schema or payload");
    char *val;
    size_t vlen, plen = 0;
    uint64_t ver = 0;
    int rc = wabot_storage_get(s, key, &val, &vlen, &ver);
    if (rc != WABOT_OK)
        return rc;
    uint32_t stored = 0;
    rc = wabot_storage_record_decode(sc, val, vlen, payload, &plen, &stored);
    free(val);
    if (version != NULL)
        *version = ver; /* even when undecodable: it may be overwritten */
    if (rc == WABOT_ERR_UNSUPPORTED)
        return wb_storage_fail(s, rc,
                               "%s was written with schema %" PRIu32
                               ", newer than %" PRIu32 " (a newer version of "
                               "the program wrote it)",
                               key, stored, sc->current);
    if (rc != WABOT_OK)
        return rc;
    if (len != NULL)
        *len = plen;
    return WABOT_OK;
}
