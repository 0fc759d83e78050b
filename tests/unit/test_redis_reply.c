/* Redis replies built in one block (lib/redis/reply.c): what a hiredis
 * reader with the library's functions builds from RESP bytes is the reply
 * hiredis's own functions build, whatever its shape and size; an element's
 * free is a no-op; the root's frees it all (ASan and valgrind check that
 * nothing leaks or is touched after); a stream that breaks mid-reply
 * leaves nothing behind. No server: the bytes are fed to the reader. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis.h"
#include "testutil.h"

/* A reader with the library's functions, as the pool's connections get. */
static redisReader *block_reader(void)
{
    redisContext c;
    memset(&c, 0, sizeof c);
    c.reader = redisReaderCreate();
    ck_assert_ptr_nonnull(c.reader);
    wb_redis_block_replies(&c);
    return c.reader;
}

/* The reply to `resp`, read in pieces of `step` bytes. */
static redisReply *read_with(redisReader *r, const char *resp, size_t len,
                             size_t step)
{
    void *out = NULL;
    for (size_t at = 0; at < len; at += step) {
        size_t n = len - at < step ? len - at : step;
        ck_assert_int_eq(redisReaderFeed(r, resp + at, n), REDIS_OK);
        ck_assert_int_eq(redisReaderGetReply(r, &out), REDIS_OK);
        if (at + n < len)
            ck_assert_ptr_null(out); /* not whole yet */
    }
    ck_assert_ptr_nonnull(out);
    return out;
}

/* a and b the same reply, member by member. */
static void same(const redisReply *a, const redisReply *b)
{
    ck_assert_int_eq(a->type, b->type);
    switch (a->type) {
    case REDIS_REPLY_INTEGER:
        ck_assert(a->integer == b->integer);
        break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        ck_assert_uint_eq(a->len, b->len);
        ck_assert(memcmp(a->str, b->str, a->len) == 0);
        ck_assert_int_eq(a->str[a->len], '\0');
        break;
    case REDIS_REPLY_ARRAY:
        ck_assert_uint_eq(a->elements, b->elements);
        for (size_t i = 0; i < a->elements; i++)
            same(a->element[i], b->element[i]);
        break;
    default:
        break;
    }
}

/* The reply to resp from both readers, compared, then freed: the block
 * one after its elements were "freed" first (a no-op). */
static void check_stream(const char *resp, size_t len, size_t small)
{
    size_t steps[] = {len, small, small * 7 + 1};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        redisReader *mine = block_reader();
        redisReader *theirs = redisReaderCreate();
        redisReply *a = read_with(mine, resp, len, steps[s]);
        redisReply *b = read_with(theirs, resp, len, steps[s]);
        same(a, b);
        if (a->type == REDIS_REPLY_ARRAY)
            for (size_t i = 0; i < a->elements; i++)
                wb_redis_reply_free(a->element[i]);
        same(a, b); /* still whole: elements go with their root */
        wb_redis_reply_free(a);
        freeReplyObject(b);
        redisReaderFree(mine);
        redisReaderFree(theirs);
    }
}

START_TEST(test_every_reply_shape_reads_as_hiredis_reads_it)
{
#define RESP(x) {x, sizeof x - 1}
    static const struct {
        const char *bytes;
        size_t len;
    } streams[] = {
        RESP("+OK\r\n"),
        RESP("-ERR wrong number of arguments\r\n"),
        RESP(":-9223372036854775807\r\n"),
        RESP("$-1\r\n"),
        RESP("*-1\r\n"),
        RESP("$0\r\n\r\n"),
        RESP("$5\r\nhe\0lo\r\n"),
        RESP("*0\r\n"),
        RESP("*3\r\n$1\r\na\r\n:42\r\n$-1\r\n"),
        RESP("*2\r\n*2\r\n:1\r\n*1\r\n+deep\r\n$3\r\nend\r\n"),
        RESP("*4\r\n*0\r\n$-1\r\n-ERR inner\r\n*1\r\n*1\r\n*1\r\n:7\r\n"),
    };
#undef RESP
    for (size_t i = 0; i < sizeof streams / sizeof streams[0]; i++)
        check_stream(streams[i].bytes, streams[i].len, 1);
}
END_TEST

/* Replies far larger than a block: a string of 20 kB, an array of 1 000
 * elements (a batch of jobs), each element an array of strings; read
 * whole and in pieces that end inside elements. */
START_TEST(test_replies_larger_than_a_block_read_whole)
{
    char *s = NULL;
    size_t cap = 1 << 20, len = 0;
    s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    len += (size_t)snprintf(s + len, cap - len, "*1001\r\n$20000\r\n");
    memset(s + len, 'x', 20000);
    len += 20000;
    len += (size_t)snprintf(s + len, cap - len, "\r\n");
    for (int i = 0; i < 1000; i++)
        len += (size_t)snprintf(s + len, cap - len,
                                "*3\r\n$6\r\njob-%02d\r\n:%d\r\n$17\r\n"
                                "payload of %06d\r\n",
                                i % 100, i, i);
    check_stream(s, len, 4093); /* byte by byte: minutes under valgrind */
    free(s);
}
END_TEST

/* A protocol error in the middle of a reply: the reader gives up, and the
 * part already built is freed with the reader (valgrind: no leak). */
START_TEST(test_a_broken_stream_leaves_nothing_behind)
{
    redisReader *r = block_reader();
    const char bad[] = "*3\r\n$3\r\nabc\r\n:12\r\n?oops\r\n";
    ck_assert_int_eq(redisReaderFeed(r, bad, sizeof bad - 1), REDIS_OK);
    void *out = NULL;
    ck_assert_int_eq(redisReaderGetReply(r, &out), REDIS_ERR);
    ck_assert_ptr_null(out);
    redisReaderFree(r);
    /* and a reply still half read when the reader goes */
    r = block_reader();
    const char half[] = "*2\r\n$3\r\nabc\r\n";
    ck_assert_int_eq(redisReaderFeed(r, half, sizeof half - 1), REDIS_OK);
    ck_assert_int_eq(redisReaderGetReply(r, &out), REDIS_OK);
    ck_assert_ptr_null(out);
    redisReaderFree(r);
    wb_redis_reply_free(NULL); /* no-op */
}
END_TEST

static Suite *redis_reply_suite(void)
{
    Suite *s = suite_create("redis_reply");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_every_reply_shape_reads_as_hiredis_reads_it);
    tcase_add_test(tc, test_replies_larger_than_a_block_read_whole);
    tcase_add_test(tc, test_a_broken_stream_leaves_nothing_behind);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(redis_reply_suite());
}
