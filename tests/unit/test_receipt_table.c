/* The receipt table (lib/storage/receipt_table.c) and the delivery records
 * the receipts module keeps in it on a process-local store: packed
 * records, records that stay storage keys, a record moving from the table
 * to its storage key under an update, expiry, receipts for unknown ids and
 * many threads updating the same records. Fake clock. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "internal/message.h"
#include "internal/receipt_table.h"
#include "internal/receipts.h"
#include "internal/storage.h"
#include "wabot/delivery.h"
#include "wabot/module.h"
#include "wabot/state.h"

/* ------------------------------------------------------------------ */
/* The table alone                                                      */

static tu_clock clk;
static wabot_clock wclk;
static wb_rtab *T;

static void table_setup(void)
{
    tu_clock_init(&clk, TU_EPOCH_MS);
    wclk = tu_clock_wabot(&clk);
    T = wb_rtab_new(&wclk);
    ck_assert_ptr_nonnull(T);
}

static void table_teardown(void)
{
    wb_rtab_free(T);
    T = NULL;
}

static void payload_of(unsigned char *p, int i)
{
    memset(p, 0, WB_RTAB_PAYLOAD);
    snprintf((char *)p, WB_RTAB_PAYLOAD, "record %d", i);
}

static void put(const char *id, int i, int64_t ttl_ms)
{
    unsigned char p[WB_RTAB_PAYLOAD];
    payload_of(p, i);
    wb_rtab_cur c;
    wb_rtab_lock(T, id, &c);
    ck_assert_int_eq(wb_rtab_put(T, &c, p, sizeof p, ttl_ms), WABOT_OK);
    wb_rtab_unlock(&c);
}

/* The payload of id's record, as the number put() wrote; -1 if none. */
static int lookup(const char *id)
{
    wb_rtab_cur c;
    wb_rtab_lock(T, id, &c);
    size_t len = 0;
    const unsigned char *p = wb_rtab_get(T, &c, &len);
    int i = -1;
    if (p != NULL) {
        ck_assert_uint_eq(len, WB_RTAB_PAYLOAD);
        ck_assert_int_eq(sscanf((const char *)p, "record %d", &i), 1);
    }
    wb_rtab_unlock(&c);
    return i;
}

static void remove_id(const char *id)
{
    wb_rtab_cur c;
    wb_rtab_lock(T, id, &c);
    wb_rtab_remove(T, &c);
    wb_rtab_unlock(&c);
}

START_TEST(test_a_record_is_found_by_its_id_until_its_deadline)
{
    put("SM1", 1, 1000);
    ck_assert_int_eq(lookup("SM1"), 1);
    ck_assert_int_eq(lookup("SM2"), -1);
    ck_assert_int_eq(lookup("SM"), -1);
    put("SM1", 2, 1000); /* over the old one, with a new deadline */
    tu_clock_advance(&clk, 999);
    ck_assert_int_eq(lookup("SM1"), 2);
    tu_clock_advance(&clk, 1);
    ck_assert_int_eq(lookup("SM1"), -1);
    put("forever", 3, 0);
    tu_clock_advance(&clk, 400LL * 24 * 3600 * 1000);
    ck_assert_int_eq(lookup("forever"), 3);
    ck_assert_uint_eq(wb_rtab_count(T, NULL), 1);
}
END_TEST

START_TEST(test_every_record_is_found_through_growth_and_removal)
{
    char id[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof id, "SM%08d", i);
        put(id, i, 60000);
    }
    for (int i = 0; i < 20000; i += 2) {
        snprintf(id, sizeof id, "SM%08d", i);
        remove_id(id);
    }
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof id, "SM%08d", i);
        ck_assert_int_eq(lookup(id), i % 2 ? i : -1);
    }
    ck_assert_uint_eq(wb_rtab_count(T, NULL), 10000);
    /* removed slots are taken again: no more memory for as many records */
    size_t before = 0, after = 0;
    (void)wb_rtab_count(T, &before);
    for (int i = 0; i < 20000; i += 2) {
        snprintf(id, sizeof id, "MM%08d", i);
        put(id, i, 60000);
    }
    ck_assert_uint_eq(wb_rtab_count(T, &after), 20000);
    ck_assert_uint_le(after, before * 2);
}
END_TEST

/* Expired records give their slots to new ones: a steady flow of records
 * with a TTL holds the slots of one TTL's worth, not of all of them. */
START_TEST(test_expired_records_give_their_slots_back)
{
    char id[32];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 2000; i++) {
            snprintf(id, sizeof id, "SM%02d-%06d", round, i);
            put(id, i, 1000);
        }
        tu_clock_advance(&clk, 1000);
    }
    snprintf(id, sizeof id, "SM%02d-%06d", 19, 0);
    ck_assert_int_eq(lookup(id), -1);
    size_t bytes = 0;
    ck_assert_uint_eq(wb_rtab_count(T, &bytes), 0);
    /* a round's slots (2000 x 64 bytes) and its index, not twenty's */
    ck_assert_uint_lt(bytes, 4 * 2000 * 64);
}
END_TEST

/* A record written at the other size moves to a slot of that size in
 * the same place: found as before, the old slot taken again by the next
 * record of its size; a size that is neither is refused. */
static void put_sized(const char *id, int i, size_t len)
{
    unsigned char p[WB_RTAB_PAYLOAD_WIDE];
    memset(p, 0, sizeof p);
    snprintf((char *)p, sizeof p, "record %d", i);
    p[len - 1] = (unsigned char)(len & 0xff); /* the last byte kept too */
    wb_rtab_cur c;
    wb_rtab_lock(T, id, &c);
    ck_assert_int_eq(wb_rtab_put(T, &c, p, len, 60000), WABOT_OK);
    wb_rtab_unlock(&c);
}

static size_t size_of(const char *id, int *i)
{
    wb_rtab_cur c;
    wb_rtab_lock(T, id, &c);
    size_t len = 0;
    const unsigned char *p = wb_rtab_get(T, &c, &len);
    *i = -1;
    if (p != NULL) {
        ck_assert_int_eq(sscanf((const char *)p, "record %d", i), 1);
        ck_assert_uint_eq(p[len - 1], len & 0xff);
    }
    wb_rtab_unlock(&c);
    return p != NULL ? len : 0;
}

START_TEST(test_a_record_changes_slot_size_in_place)
{
    int i;
    put_sized("wamid.A", 1, WB_RTAB_PAYLOAD_WIDE);
    put_sized("SM1", 2, WB_RTAB_PAYLOAD);
    ck_assert_uint_eq(size_of("wamid.A", &i), WB_RTAB_PAYLOAD_WIDE);
    ck_assert_int_eq(i, 1);
    put_sized("wamid.A", 3, WB_RTAB_PAYLOAD);
    ck_assert_uint_eq(size_of("wamid.A", &i), WB_RTAB_PAYLOAD);
    ck_assert_int_eq(i, 3);
    put_sized("SM1", 4, WB_RTAB_PAYLOAD_WIDE);
    ck_assert_uint_eq(size_of("SM1", &i), WB_RTAB_PAYLOAD_WIDE);
    ck_assert_int_eq(i, 4);
    ck_assert_uint_eq(wb_rtab_count(T, NULL), 2);
    /* back and forth many times: the freed slots are the ones taken */
    size_t before = 0, after = 0;
    char id[32];
    for (int n = 0; n < 3000; n++) {
        if (n == 6) /* each of the three has had both sizes */
            (void)wb_rtab_count(T, &before);
        snprintf(id, sizeof id, "SM%d", n % 3);
        put_sized(id, n, n % 2 ? WB_RTAB_PAYLOAD : WB_RTAB_PAYLOAD_WIDE);
        ck_assert_uint_eq(size_of(id, &i),
                          n % 2 ? WB_RTAB_PAYLOAD : WB_RTAB_PAYLOAD_WIDE);
        ck_assert_int_eq(i, n);
    }
    ck_assert_uint_eq(wb_rtab_count(T, &after), 4);
    ck_assert_uint_eq(after, before);
    /* expired, both sizes give their slots back */
    tu_clock_advance(&clk, 60000);
    ck_assert_uint_eq(size_of("wamid.A", &i), 0);
    ck_assert_uint_eq(wb_rtab_count(T, NULL), 0);
    unsigned char p[WB_RTAB_PAYLOAD_WIDE] = {0};
    wb_rtab_cur c;
    wb_rtab_lock(T, "SM9", &c);
    ck_assert_int_eq(wb_rtab_put(T, &c, p, 64, 1000), WABOT_ERR_INVAL);
    ck_assert_ptr_null(wb_rtab_get(T, &c, NULL));
    wb_rtab_unlock(&c);
}
END_TEST

START_TEST(test_organisations_are_numbered_once_up_to_the_limit)
{
    unsigned a = wb_rtab_org_id(T, "acme");
    ck_assert_uint_eq(a, 1);
    ck_assert_uint_eq(wb_rtab_org_id(T, "beta"), 2);
    ck_assert_uint_eq(wb_rtab_org_id(T, "acme"), a);
    ck_assert_str_eq(wb_rtab_org(T, a), "acme");
    ck_assert_ptr_null(wb_rtab_org(T, 0));
    ck_assert_ptr_null(wb_rtab_org(T, 3));
    char org[32];
    for (int i = 2; i < WB_RTAB_ORGS; i++) {
        snprintf(org, sizeof org, "org%d", i);
        ck_assert_uint_eq(wb_rtab_org_id(T, org), (unsigned)i + 1);
    }
    ck_assert_uint_eq(wb_rtab_org_id(T, "one too many"), 0);
    ck_assert_uint_eq(wb_rtab_org_id(T, "beta"), 2);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Delivery records in the table                                        */

#define SID "SM0123456789abcdef0123456789abcdef"
#define REPLY_ID "SMfedcba9876543210fedcba9876543210:r3"

static tu_env env;

static void env_setup(void)
{
    tu_env_init(&env);
    ck_assert_ptr_nonnull(env.storage->receipts);
}

static void env_teardown(void)
{
    tu_env_free(&env);
}

static wabot_outbound *outbound(const char *id, const char *to)
{
    wabot_outbound *o = wb_outbound_alloc(NULL, WABOT_OUT_TEXT);
    ck_assert_ptr_nonnull(o);
    o->id = strdup(id);
    o->to = strdup(to);
    o->organization = strdup("acme");
    o->text = strdup("hi");
    o->provider = WABOT_PROVIDER_TWILIO;
    return o;
}

static void send(const char *pid, const char *id, const char *to)
{
    wabot_outbound *o = outbound(id, to);
    wb_receipt_sent(env.ctx, o, pid);
    wb_outbound_free(o);
}

static int status(const char *pid, const char *st, const char *code)
{
    wb_receipt_write w = {.kind = WB_RECEIPT_STATUS,
                          .provider_id = (char *)pid,
                          .status = (char *)st,
                          .recipient = "whatsapp:+14155550100",
                          .error_code = (char *)code,
                          .provider = WABOT_PROVIDER_TWILIO,
                          .at_ms = TU_EPOCH_MS + 5};
    return wb_receipt_write_do(env.ctx, &w);
}

static int has_storage_key(const char *pid)
{
    char key[128], *v = NULL;
    snprintf(key, sizeof key, "receipt:%s", pid);
    int rc = wabot_storage_get(env.storage, key, &v, NULL, NULL);
    free(v);
    return rc == WABOT_OK;
}

static size_t in_table(void)
{
    return wb_rtab_count(env.storage->receipts, NULL);
}

static wabot_delivery *get(const char *pid)
{
    wabot_delivery *d = NULL;
    int rc = wabot_delivery_get(env.ctx, pid, &d);
    ck_assert_msg(rc == WABOT_OK, "wabot_delivery_get(%s): %s", pid,
                  wabot_ctx_errmsg(env.ctx));
    return d;
}

static int64_t counter(const char *name)
{
    return wabot_metrics_counter(env.ctx, name);
}

/* A plain reply's record is a table slot, no storage key, and reads back
 * field for field; receipts move it forward there. */
START_TEST(test_a_plain_send_is_packed_in_the_table_and_reads_the_same)
{
    send(SID, REPLY_ID, "+14155550100");
    ck_assert(!has_storage_key(SID));
    ck_assert_uint_eq(in_table(), 1);
    wabot_delivery *d = get(SID);
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_SENT);
    ck_assert_str_eq(wabot_delivery_outbound_id(d), REPLY_ID);
    ck_assert_str_eq(wabot_delivery_to(d), "+14155550100");
    ck_assert_str_eq(wabot_delivery_organization(d), "acme");
    ck_assert_str_eq(wabot_delivery_provider_id(d), SID);
    ck_assert_str_eq(wabot_delivery_error_code(d), "");
    ck_assert_str_eq(wabot_delivery_correlation_id(d), "");
    ck_assert_int_eq(wabot_delivery_provider(d), WABOT_PROVIDER_TWILIO);
    ck_assert_int_eq(wabot_delivery_updated_ms(d), TU_EPOCH_MS);
    wabot_delivery_free(d);
    ck_assert_int_eq(status(SID, "delivered", NULL), WABOT_OK);
    ck_assert_int_eq(status(SID, "delivered", NULL), WABOT_OK);
    ck_assert_int_eq(counter("receipts.duplicates"), 1);
    ck_assert_int_eq(status(SID, "sent", NULL), WABOT_OK); /* seen: dup */
    ck_assert_int_eq(counter("receipts.duplicates"), 2);
    d = get(SID);
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_DELIVERED);
    ck_assert_int_eq(wabot_delivery_updated_ms(d), TU_EPOCH_MS + 5);
    ck_assert_str_eq(wabot_delivery_outbound_id(d), REPLY_ID);
    wabot_delivery_free(d);
    ck_assert(!has_storage_key(SID));
}
END_TEST

/* Each outbound id shape the table packs reads back as it was; the near
 * misses stay storage keys and read back as they were too. */
START_TEST(test_outbound_ids_and_recipients_pack_only_when_exact)
{
    static const struct {
        const char *id, *to;
        int packed;
    } cases[] = {
        {"send-0123456789abcdef", "+14155550100", 1},
        {"MM0123456789abcdef0123456789abcdef:r0", "+14155550100", 1},
        {"SM0123456789abcdef0123456789abcdef:r255", "+1", 1},
        {"SM0123456789abcdef0123456789abcdef:r256", "+14155550100", 0},
        {"SM0123456789abcdef0123456789abcdef:r01", "+14155550100", 0},
        {"SM0123456789ABCDEF0123456789abcdef:r1", "+14155550100", 0},
        {"SM0123456789abcdef0123456789abcdef", "+14155550100", 0},
        {"send-0123456789abcdeF", "+14155550100", 0},
        {"send-0123456789abcdef", "14155550100", 0},
        {"send-0123456789abcdef", "+04155550100", 0},
        {"send-0123456789abcdef", "+1234567890123456", 0},
        {"SMin:r0", "+14155550100", 0},
        /* Meta replies: "wamid." base64, padded or not, ":r" k */
        {"wamid.HBgLMTQxNTU1NTAxMDAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA:r0",
         "+14155550100", 1},
        {"wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhggNUE2RkI2NDVGQUM0RjhERjZDNTI3"
         "RDI0RTgyRkMyRjIA:r12",
         "+919876543210", 1},
        {"wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVC=:r1", "+14155550100", 1},
        {"wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0==:r255", "+1", 1},
        {"wamid.A:r0", "+14155550100", 1},
        {"wamid.+/09azAZ:r7", "+14155550100", 1},
        {"wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVC===:r1", "+14155550100",
         0},
        {"wamid.HBgLMTY1MDUwNzY1MjAV=AgARGBI5QTNDQTVC:r1", "+14155550100", 0},
        {"wamid.HBgLMTY1MDUwNzY1MjAV-_gARGBI5QTNDQTVC:r1", "+14155550100", 0},
        {"wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVC:r256", "+14155550100", 0},
        {"wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVC:r01", "+14155550100", 0},
        {"wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVC", "+14155550100", 0},
        {"wamid.:r0", "+14155550100", 0},
        {"wamid.=:r0", "+14155550100", 0},
        {"wamid.AB:CD:r0", "+14155550100", 0},
        {"Wamid.HBgLMTY1MDUwNzY1MjAV:r0", "+14155550100", 0},
    };
    char pid[32];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(pid, sizeof pid, "SMcase%zu", i);
        ck_assert_msg(!has_storage_key(pid), "%s", pid);
        size_t before = in_table();
        send(pid, cases[i].id, cases[i].to);
        ck_assert_msg(in_table() == before + (size_t)cases[i].packed &&
                          has_storage_key(pid) == !cases[i].packed,
                      "%s %s", cases[i].id, cases[i].to);
        wabot_delivery *d = get(pid);
        ck_assert_str_eq(wabot_delivery_outbound_id(d), cases[i].id);
        ck_assert_str_eq(wabot_delivery_to(d), cases[i].to);
        wabot_delivery_free(d);
    }
}
END_TEST

/* A correlation id in the builder's shape ("corr-" + 16 hex) packs; any
 * other stays the storage key, and receipts find it there. */
static void send_correlated(const char *pid, const char *corr)
{
    wabot_outbound *o = outbound(REPLY_ID, "+14155550100");
    free(o->correlation_id);
    o->correlation_id = strdup(corr);
    wb_receipt_sent(env.ctx, o, pid);
    wb_outbound_free(o);
}

START_TEST(test_correlation_ids_pack_in_the_builders_shape_only)
{
    send_correlated("SMgen", "corr-0123456789abcdef");
    ck_assert(!has_storage_key("SMgen"));
    ck_assert_uint_eq(in_table(), 1);
    wabot_delivery *d = get("SMgen");
    ck_assert_str_eq(wabot_delivery_correlation_id(d),
                     "corr-0123456789abcdef");
    wabot_delivery_free(d);
    send_correlated(SID, "campaign-7:42");
    ck_assert(has_storage_key(SID));
    ck_assert_uint_eq(in_table(), 1);
    ck_assert_int_eq(status(SID, "read", NULL), WABOT_OK);
    d = get(SID);
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_READ);
    ck_assert_str_eq(wabot_delivery_correlation_id(d), "campaign-7:42");
    wabot_delivery_free(d);
}
END_TEST

/* A Meta reply's id, as long as the wide slot holds (WB_RTAB_PAYLOAD_WIDE:
 * 104 base64 digits) and one digit more: the first packs, the second
 * stays a storage key; both read back as they were. */
START_TEST(test_a_meta_reply_id_packs_up_to_the_wide_slots_room)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char id[160];
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = 0;
        n += (size_t)snprintf(id, sizeof id, "wamid.");
        for (int i = 0; i < 104 + extra; i++)
            id[n++] = b64[(i * 7) % 64];
        id[n] = '\0';
        snprintf(id + n, sizeof id - n, ":r9");
        const char *pid = extra ? "wamid.long" : "wamid.fits";
        wabot_outbound *o = outbound(id, "+14155550100");
        o->provider = WABOT_PROVIDER_META;
        wb_receipt_sent(env.ctx, o, pid);
        wb_outbound_free(o);
        ck_assert_msg(has_storage_key(pid) == extra, "%zu digits",
                      104 + (size_t)extra);
        wabot_delivery *d = get(pid);
        ck_assert_str_eq(wabot_delivery_outbound_id(d), id);
        ck_assert_int_eq(wabot_delivery_provider(d), WABOT_PROVIDER_META);
        wabot_delivery_free(d);
    }
    ck_assert_uint_eq(in_table(), 1);
}
END_TEST

/* Random ids around Meta's shape (digits from the base64 alphabet and a
 * few others, '=' inside and after, ":r" with good and bad k): each reads
 * back as it was sent, and is in the table exactly when it has the shape
 * (rule written out again here, apart from the packer's). */
static uint32_t rnd_state = 12345;

static uint32_t rnd(uint32_t n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return rnd_state % n;
}

static int std_digit(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

START_TEST(test_random_meta_reply_ids_read_back_and_pack_by_the_rule)
{
    static const char pool[] = "ABCXYZabcxyz0189+/-_=.";
    int packed_seen = 0, kept_seen = 0;
    for (int i = 0; i < tu_scale(3000); i++) {
        char id[200], pid[32];
        size_t n = (size_t)snprintf(id, sizeof id, "wamid.");
        size_t digits = rnd(112), pads = rnd(4) == 0 ? rnd(4) : 0;
        for (size_t d = 0; d < digits; d++)
            id[n++] = rnd(8) ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                               "qrstuvwxyz0123456789+/"[rnd(64)]
                             : pool[rnd(sizeof pool - 1)];
        for (size_t d = 0; d < pads; d++)
            id[n++] = '=';
        /* the shape of what is between "wamid." and the suffix: up to
         * two '=' at its end, 1..104 base64 digits before them */
        size_t end = n, eq = 0;
        while (eq < 2 && end > 6 && id[end - 1] == '=') {
            end--;
            eq++;
        }
        int shape = end - 6 >= 1 && end - 6 <= 104;
        for (size_t d = 6; d < end; d++)
            shape &= std_digit(id[d]);
        unsigned k = rnd(300);
        switch (rnd(6)) {
        case 0: /* no suffix */
            shape = 0;
            break;
        case 1: /* a leading zero */
            n += (size_t)snprintf(id + n, sizeof id - n, ":r0%u", k);
            shape = 0;
            break;
        default:
            n += (size_t)snprintf(id + n, sizeof id - n, ":r%u", k);
            shape &= k <= 255;
        }
        id[n] = '\0';
        snprintf(pid, sizeof pid, "wamid.rnd%d", i);
        wabot_outbound *o = outbound(id, "+14155550100");
        o->provider = WABOT_PROVIDER_META;
        wb_receipt_sent(env.ctx, o, pid);
        wb_outbound_free(o);
        ck_assert_msg(has_storage_key(pid) == !shape, "%s: shape %d", id,
                      shape);
        wabot_delivery *d = get(pid);
        ck_assert_str_eq(wabot_delivery_outbound_id(d), id);
        wabot_delivery_free(d);
        packed_seen += shape;
        kept_seen += !shape;
    }
    ck_assert_int_gt(packed_seen, tu_scale(3000) / 10); /* both sides */
    ck_assert_int_gt(kept_seen, tu_scale(3000) / 10);
}
END_TEST

/* A Meta reply's record: one wide slot, no storage key, every field read
 * back; receipts move it forward there, and an error code moves it to
 * its storage key, whole. */
START_TEST(test_a_meta_reply_is_packed_wide_and_moves_out_when_it_must)
{
    const char *reply =
        "wamid.HBgLMTQxNTU1NTAxMDAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA:r1";
    const char *pid = "wamid.HBgLMTQxNTU1NTAxMDAVAgARGBIyNzZBRkI0QTA0AA==";
    wabot_outbound *o = outbound(reply, "+14155550100");
    o->provider = WABOT_PROVIDER_META;
    o->correlation_id = strdup("corr-0123456789abcdef");
    wb_receipt_sent(env.ctx, o, pid);
    wb_outbound_free(o);
    ck_assert(!has_storage_key(pid));
    size_t bytes = 0;
    ck_assert_uint_eq(wb_rtab_count(env.storage->receipts, &bytes), 1);
    wabot_delivery *d = get(pid);
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_SENT);
    ck_assert_str_eq(wabot_delivery_outbound_id(d), reply);
    ck_assert_str_eq(wabot_delivery_to(d), "+14155550100");
    ck_assert_str_eq(wabot_delivery_organization(d), "acme");
    ck_assert_str_eq(wabot_delivery_correlation_id(d),
                     "corr-0123456789abcdef");
    ck_assert_int_eq(wabot_delivery_provider(d), WABOT_PROVIDER_META);
    wabot_delivery_free(d);
    ck_assert_int_eq(status(pid, "delivered", NULL), WABOT_OK);
    ck_assert(!has_storage_key(pid));
    d = get(pid);
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_DELIVERED);
    ck_assert_str_eq(wabot_delivery_outbound_id(d), reply);
    ck_assert_int_eq(wabot_delivery_updated_ms(d), TU_EPOCH_MS + 5);
    wabot_delivery_free(d);
    /* another reply's record: its failure's code moves it out */
    pid = "wamid.HBgLMTQxNTU1NTAxMDAVAgARGBIyNzZBRkI0QTA1AA==";
    o = outbound(reply, "+14155550100");
    o->provider = WABOT_PROVIDER_META;
    o->correlation_id = strdup("corr-0123456789abcdef");
    wb_receipt_sent(env.ctx, o, pid);
    wb_outbound_free(o);
    ck_assert_uint_eq(in_table(), 2);
    ck_assert_int_eq(status(pid, "failed", "131026"), WABOT_OK);
    ck_assert(has_storage_key(pid));
    ck_assert_uint_eq(in_table(), 1);
    d = get(pid);
    ck_assert_str_eq(wabot_delivery_error_code(d), "131026");
    ck_assert_str_eq(wabot_delivery_outbound_id(d), reply);
    ck_assert_str_eq(wabot_delivery_correlation_id(d),
                     "corr-0123456789abcdef");
    wabot_delivery_free(d);
}
END_TEST

/* A failure's code does not fit the slot: the update moves the record to
 * its storage key, whole, and later receipts change it there. */
START_TEST(test_an_update_that_does_not_fit_moves_the_record_to_storage)
{
    send(SID, REPLY_ID, "+14155550100");
    ck_assert_uint_eq(in_table(), 1);
    ck_assert_int_eq(status(SID, "undelivered", "63016"), WABOT_OK);
    ck_assert_uint_eq(in_table(), 0);
    ck_assert(has_storage_key(SID));
    wabot_delivery *d = get(SID);
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_UNDELIVERED);
    ck_assert_str_eq(wabot_delivery_error_code(d), "63016");
    ck_assert_str_eq(wabot_delivery_outbound_id(d), REPLY_ID);
    ck_assert_str_eq(wabot_delivery_organization(d), "acme");
    wabot_delivery_free(d);
    ck_assert_int_eq(status(SID, "undelivered", "63016"), WABOT_OK);
    ck_assert_int_eq(counter("receipts.duplicates"), 1); /* seen moved */
    ck_assert_int_eq(status(SID, "delivered", NULL), WABOT_OK);
    d = get(SID);
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_DELIVERED);
    wabot_delivery_free(d);
    ck_assert_uint_eq(in_table(), 0);
}
END_TEST

/* receipt_ttl_ms keeps its meaning: a record in the table is gone after
 * it, a receipt refreshes it, and its slot is free again. */
START_TEST(test_a_table_record_expires_after_the_receipt_ttl)
{
    int64_t ttl = 7LL * 24 * 3600 * 1000; /* the default */
    send(SID, REPLY_ID, "+14155550100");
    tu_clock_advance(&env.clock, ttl - 1000);
    ck_assert_int_eq(status(SID, "delivered", NULL), WABOT_OK);
    tu_clock_advance(&env.clock, ttl - 1);
    wabot_delivery *d = get(SID);
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_DELIVERED);
    wabot_delivery_free(d);
    tu_clock_advance(&env.clock, 1);
    d = NULL;
    ck_assert_int_eq(wabot_delivery_get(env.ctx, SID, &d),
                     WABOT_ERR_NOT_FOUND);
    ck_assert_uint_eq(in_table(), 0);
}
END_TEST

/* A packed record tells what the storage key told: the status event's
 * correlation id, organisation and recipient, and an opt-out code marks
 * the record's customer in the record's organisation. */
static int on_status(wabot_ctx *ctx, const char *hook, const char *json,
                     size_t len, void *ud)
{
    (void)ctx;
    (void)hook;
    snprintf(ud, 512, "%.*s", (int)len, json);
    return WABOT_OK;
}

START_TEST(test_a_packed_record_feeds_status_events_and_opt_outs)
{
    char seen[512] = "";
    ck_assert_int_eq(wabot_hook_subscribe(env.ctx, "receipts.status",
                                          on_status, seen, NULL),
                     WABOT_OK);
    send_correlated(SID, "corr-00000000000000ff");
    ck_assert_uint_eq(in_table(), 1);
    ck_assert_int_eq(status(SID, "delivered", NULL), WABOT_OK);
    ck_assert_msg(strstr(seen, "\"correlation_id\":\"corr-00000000000000ff\"")
                      && strstr(seen, "\"organization\":\"acme\"") &&
                      strstr(seen, "\"to\":\"+14155550100\"") &&
                      strstr(seen, "\"delivered_before\":false"),
                  "%s", seen);
    send_correlated("SMstop", "corr-0000000000000001");
    ck_assert_int_eq(status("SMstop", "failed", "21610"), WABOT_OK);
    ck_assert_int_eq(counter("receipts.opted_out"), 1);
    wabot_customer *c = NULL;
    ck_assert_int_eq(wabot_customer_get(env.ctx, "acme", "+14155550100", &c),
                     WABOT_OK);
    ck_assert(wabot_customer_opted_out(c));
    wabot_customer_free(c);
    ck_assert(has_storage_key("SMstop")); /* the code moved it */
}
END_TEST

/* A store standing in for a shared one (not process-local) keeps even a
 * plain record as its JSON key, as Redis would. */
START_TEST(test_a_shared_store_keeps_plain_records_as_keys)
{
    env.storage->process_local = 0;
    send(SID, REPLY_ID, "+14155550100");
    ck_assert(has_storage_key(SID));
    ck_assert_uint_eq(in_table(), 0);
    char *v = NULL;
    ck_assert_int_eq(wabot_storage_get(env.storage, "receipt:" SID, &v, NULL,
                                       NULL),
                     WABOT_OK);
    ck_assert_int_eq(v[0], '{');
    free(v);
    env.storage->process_local = 1;
}
END_TEST

/* A receipt for an id no send recorded (the send's record comes later, or
 * another process sent it) makes a record of what it says, counted
 * unknown; the send then fills it in, in the table. */
START_TEST(test_a_receipt_for_an_unknown_id_makes_a_record_the_send_fills)
{
    ck_assert_int_eq(status(SID, "delivered", NULL), WABOT_OK);
    ck_assert_int_eq(counter("receipts.unknown"), 1);
    ck_assert_uint_eq(in_table(), 1);
    wabot_delivery *d = get(SID);
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_DELIVERED);
    ck_assert_str_eq(wabot_delivery_outbound_id(d), "");
    ck_assert_str_eq(wabot_delivery_to(d), "+14155550100");
    ck_assert_str_eq(wabot_delivery_organization(d), "");
    wabot_delivery_free(d);
    send(SID, REPLY_ID, "+14155550100");
    d = get(SID);
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_DELIVERED);
    ck_assert_str_eq(wabot_delivery_outbound_id(d), REPLY_ID);
    ck_assert_str_eq(wabot_delivery_organization(d), "acme");
    wabot_delivery_free(d);
    ck_assert_uint_eq(in_table(), 1);
    ck_assert(!has_storage_key(SID));
    d = NULL;
    ck_assert_int_eq(wabot_delivery_get(env.ctx, "SMnever", &d),
                     WABOT_ERR_NOT_FOUND);
}
END_TEST

/* The same for a Meta reply: the receipt's record (no outbound id yet) is
 * a 64-byte slot, the send's id makes it a 128-byte one in its place. */
START_TEST(test_a_meta_send_fills_a_receipts_record_in_a_wide_slot)
{
    const char *pid = "wamid.HBgLMTQxNTU1NTAxMDAVAgARGBIyNzZBRkI0QTA2AA==";
    const char *reply = "wamid.HBgLMTQxNTU1NTAxMDAVAgASGBQzRUIwNUY=:r0";
    ck_assert_int_eq(status(pid, "delivered", NULL), WABOT_OK);
    size_t narrow = 0, wide = 0;
    ck_assert_uint_eq(wb_rtab_count(env.storage->receipts, &narrow), 1);
    wabot_outbound *o = outbound(reply, "+14155550100");
    o->provider = WABOT_PROVIDER_META;
    wb_receipt_sent(env.ctx, o, pid);
    wb_outbound_free(o);
    ck_assert_uint_eq(wb_rtab_count(env.storage->receipts, &wide), 1);
    ck_assert_uint_gt(wide, narrow); /* a chunk of wide slots now */
    ck_assert(!has_storage_key(pid));
    wabot_delivery *d = get(pid);
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_DELIVERED);
    ck_assert_str_eq(wabot_delivery_outbound_id(d), reply);
    ck_assert_str_eq(wabot_delivery_organization(d), "acme");
    ck_assert_str_eq(wabot_delivery_to(d), "+14155550100");
    wabot_delivery_free(d);
}
END_TEST

/* Sends through the batched path (wb_receipt_sent_many) land in the
 * table, and one a receipt created first is merged, not overwritten. */
START_TEST(test_batched_sends_land_in_the_table_and_merge)
{
    ck_assert_int_eq(status("SMb1", "read", NULL), WABOT_OK);
    wb_receipt_write w[3], *pw[3];
    static const char *const pids[] = {"SMb0", "SMb1", "SMb2"};
    for (int i = 0; i < 3; i++) {
        w[i] = (wb_receipt_write){.kind = WB_RECEIPT_SENT,
                                  .provider_id = (char *)pids[i],
                                  .outbound_id = REPLY_ID,
                                  .to = "+14155550100",
                                  .org = "acme",
                                  .provider = WABOT_PROVIDER_TWILIO,
                                  .at_ms = TU_EPOCH_MS};
        pw[i] = &w[i];
    }
    w[2].correlation_id = "c-2";
    int rcs[3];
    wb_receipt_sent_many(env.ctx, 3, (const wb_receipt_write *const *)pw,
                         rcs);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(rcs[i], WABOT_OK);
    ck_assert_uint_eq(in_table(), 2);
    ck_assert(has_storage_key("SMb2"));
    wabot_delivery *d = get("SMb1");
    ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_READ);
    ck_assert_str_eq(wabot_delivery_outbound_id(d), REPLY_ID);
    wabot_delivery_free(d);
    d = get("SMb2");
    ck_assert_str_eq(wabot_delivery_correlation_id(d), "c-2");
    wabot_delivery_free(d);
}
END_TEST

/* Threads update the same records at once, some updates moving records
 * from the table to their storage keys: no update is lost (every state
 * applied is seen, so applying it again is a duplicate). */
#define THREADS 4
#define IDS 16

static const char *const thread_states[THREADS][3] = {
    {"sent", "delivered", "read"},
    {"undelivered", "sent", "delivered"},
    {"read", "undelivered", "sent"},
    {"delivered", "read", "undelivered"},
};

static void *updater(void *arg)
{
    int t = (int)(intptr_t)arg;
    char pid[32];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < IDS; i++) {
            snprintf(pid, sizeof pid, "SMthread%02d", i);
            const char *st = thread_states[t][k];
            if (status(pid, st, strcmp(st, "undelivered") == 0 ? "63016"
                                                               : NULL) !=
                WABOT_OK)
                return (void *)1;
        }
    return NULL;
}

START_TEST(test_many_threads_updating_lose_no_update)
{
    char pid[32];
    for (int i = 0; i < IDS; i++) {
        snprintf(pid, sizeof pid, "SMthread%02d", i);
        send(pid, REPLY_ID, "+14155550100");
    }
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, updater,
                                        (void *)(intptr_t)t), 0);
    for (int t = 0; t < THREADS; t++) {
        void *res = NULL;
        pthread_join(th[t], &res);
        ck_assert_ptr_null(res);
    }
    int64_t dups = counter("receipts.duplicates");
    static const char *const all[] = {"sent", "delivered", "read",
                                      "undelivered"};
    for (int i = 0; i < IDS; i++) {
        snprintf(pid, sizeof pid, "SMthread%02d", i);
        wabot_delivery *d = get(pid);
        ck_assert_int_eq(wabot_delivery_state_of(d), WABOT_DELIVERY_READ);
        ck_assert_str_eq(wabot_delivery_outbound_id(d), REPLY_ID);
        wabot_delivery_free(d);
        for (int s = 0; s < 4; s++)
            ck_assert_int_eq(status(pid, all[s], NULL), WABOT_OK);
    }
    ck_assert_int_eq(counter("receipts.duplicates"), dups + 4 * IDS);
}
END_TEST

Suite *receipt_table_suite(void)
{
    Suite *s = suite_create("receipt_table");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, table_setup, table_teardown);
    tcase_add_test(tc, test_a_record_is_found_by_its_id_until_its_deadline);
    tcase_add_test(tc, test_every_record_is_found_through_growth_and_removal);
    tcase_add_test(tc, test_expired_records_give_their_slots_back);
    tcase_add_test(tc, test_organisations_are_numbered_once_up_to_the_limit);
    tcase_add_test(tc, test_a_record_changes_slot_size_in_place);
    suite_add_tcase(s, tc);
    TCase *rc = tcase_create("records");
    tcase_set_timeout(rc, 120);
    tcase_add_checked_fixture(rc, env_setup, env_teardown);
    tcase_add_test(rc,
                   test_a_plain_send_is_packed_in_the_table_and_reads_the_same);
    tcase_add_test(rc, test_outbound_ids_and_recipients_pack_only_when_exact);
    tcase_add_test(rc, test_correlation_ids_pack_in_the_builders_shape_only);
    tcase_add_test(rc, test_a_meta_reply_id_packs_up_to_the_wide_slots_room);
    tcase_add_test(rc,
                   test_random_meta_reply_ids_read_back_and_pack_by_the_rule);
    tcase_add_test(rc,
                   test_a_meta_reply_is_packed_wide_and_moves_out_when_it_must);
    tcase_add_test(rc,
                   test_an_update_that_does_not_fit_moves_the_record_to_storage);
    tcase_add_test(rc, test_a_table_record_expires_after_the_receipt_ttl);
    tcase_add_test(rc, test_a_packed_record_feeds_status_events_and_opt_outs);
    tcase_add_test(rc, test_a_shared_store_keeps_plain_records_as_keys);
    tcase_add_test(
        rc, test_a_receipt_for_an_unknown_id_makes_a_record_the_send_fills);
    tcase_add_test(rc, test_a_meta_send_fills_a_receipts_record_in_a_wide_slot);
    tcase_add_test(rc, test_batched_sends_land_in_the_table_and_merge);
    tcase_add_test(rc, test_many_threads_updating_lose_no_update);
    suite_add_tcase(s, rc);
    return s;
}

int main(void)
{
    return tu_run_suite(receipt_table_suite());
}
