/* Money: ISO 4217 currencies with their exponents, formatting and parsing
 * of minor units, and int64 arithmetic that refuses to overflow
 * (wabot/commerce.h). No floating point: an amount is always an integer
 * count of minor units. */
#include <stdio.h>
#include <string.h>

#include "commerce.h"
#include "wabot/commerce.h"

typedef struct currency {
    char code[4];
    unsigned char exponent;
    const char *symbol; /* NULL: formatted with the code */
} currency;

/* ISO 4217 active codes (exponent per the standard's list). Sorted by
 * code: looked up by binary search. Symbols only where one is
 * unambiguous enough to show a customer in that currency's country. */
static const currency currencies[] = {
    {"AED", 2, NULL},  {"AFN", 2, NULL},   {"ALL", 2, NULL},
    {"AMD", 2, NULL},  {"ANG", 2, NULL},   {"AOA", 2, NULL},
    {"ARS", 2, NULL},  {"AUD", 2, "A$"},   {"AWG", 2, NULL},
    {"AZN", 2, NULL},  {"BAM", 2, NULL},   {"BBD", 2, NULL},
    {"BDT", 2, NULL},  {"BGN", 2, NULL},   {"BHD", 3, NULL},
    {"BIF", 0, NULL},  {"BMD", 2, NULL},   {"BND", 2, NULL},
    {"BOB", 2, NULL},  {"BRL", 2, "R$ "},  {"BSD", 2, NULL},
    {"BTN", 2, NULL},  {"BWP", 2, NULL},   {"BYN", 2, NULL},
    {"BZD", 2, NULL},  {"CAD", 2, "CA$"},  {"CDF", 2, NULL},
    {"CHF", 2, NULL},  {"CLF", 4, NULL},   {"CLP", 0, NULL},
    {"CNY", 2, NULL},  {"COP", 2, NULL},   {"CRC", 2, NULL},
    {"CUP", 2, NULL},  {"CVE", 2, NULL},   {"CZK", 2, NULL},
    {"DJF", 0, NULL},  {"DKK", 2, NULL},   {"DOP", 2, NULL},
    {"DZD", 2, NULL},  {"EGP", 2, NULL},   {"ERN", 2, NULL},
    {"ETB", 2, NULL},  {"EUR", 2, "\xE2\x82\xAC"},
    {"FJD", 2, NULL},  {"FKP", 2, NULL},   {"GBP", 2, "\xC2\xA3"},
    {"GEL", 2, NULL},  {"GHS", 2, NULL},   {"GIP", 2, NULL},
    {"GMD", 2, NULL},  {"GNF", 0, NULL},   {"GTQ", 2, NULL},
    {"GYD", 2, NULL},  {"HKD", 2, "HK$"},  {"HNL", 2, NULL},
    {"HTG", 2, NULL},  {"HUF", 2, NULL},   {"IDR", 2, NULL},
    {"ILS", 2, "\xE2\x82\xAA"},            {"INR", 2, "\xE2\x82\xB9"},
    {"IQD", 3, NULL},  {"IRR", 2, NULL},   {"ISK", 0, NULL},
    {"JMD", 2, NULL},  {"JOD", 3, NULL},   {"JPY", 0, "\xC2\xA5"},
    {"KES", 2, NULL},  {"KGS", 2, NULL},   {"KHR", 2, NULL},
    {"KMF", 0, NULL},  {"KPW", 2, NULL},   {"KRW", 0, "\xE2\x82\xA9"},
    {"KWD", 3, NULL},  {"KYD", 2, NULL},   {"KZT", 2, NULL},
    {"LAK", 2, NULL},  {"LBP", 2, NULL},   {"LKR", 2, NULL},
    {"LRD", 2, NULL},  {"LSL", 2, NULL},   {"LYD", 3, NULL},
    {"MAD", 2, NULL},  {"MDL", 2, NULL},   {"MGA", 2, NULL},
    {"MKD", 2, NULL},  {"MMK", 2, NULL},   {"MNT", 2, NULL},
    {"MOP", 2, NULL},  {"MRU", 2, NULL},   {"MUR", 2, NULL},
    {"MVR", 2, NULL},  {"MWK", 2, NULL},   {"MXN", 2, "MX$"},
    {"MYR", 2, NULL},  {"MZN", 2, NULL},   {"NAD", 2, NULL},
    {"NGN", 2, "\xE2\x82\xA6"},            {"NIO", 2, NULL},
    {"NOK", 2, NULL},  {"NPR", 2, NULL},   {"NZD", 2, "NZ$"},
    {"OMR", 3, NULL},  {"PAB", 2, NULL},   {"PEN", 2, NULL},
    {"PGK", 2, NULL},  {"PHP", 2, "\xE2\x82\xB1"},
    {"PKR", 2, NULL},  {"PLN", 2, NULL},   {"PYG", 0, NULL},
    {"QAR", 2, NULL},  {"RON", 2, NULL},   {"RSD", 2, NULL},
    {"RUB", 2, NULL},  {"RWF", 0, NULL},   {"SAR", 2, NULL},
    {"SBD", 2, NULL},  {"SCR", 2, NULL},   {"SDG", 2, NULL},
    {"SEK", 2, NULL},  {"SGD", 2, "S$"},   {"SHP", 2, NULL},
    {"SLE", 2, NULL},  {"SOS", 2, NULL},   {"SRD", 2, NULL},
    {"SSP", 2, NULL},  {"STN", 2, NULL},   {"SVC", 2, NULL},
    {"SYP", 2, NULL},  {"SZL", 2, NULL},   {"THB", 2, NULL},
    {"TJS", 2, NULL},  {"TMT", 2, NULL},   {"TND", 3, NULL},
    {"TOP", 2, NULL},  {"TRY", 2, "\xE2\x82\xBA"},
    {"TTD", 2, NULL},  {"TWD", 2, "NT$"},  {"TZS", 2, NULL},
    {"UAH", 2, NULL},  {"UGX", 0, NULL},   {"USD", 2, "$"},
    {"UYI", 0, NULL},  {"UYU", 2, NULL},   {"UYW", 4, NULL},
    {"UZS", 2, NULL},  {"VES", 2, NULL},   {"VND", 0, "\xE2\x82\xAB"},
    {"VUV", 0, NULL},  {"WST", 2, NULL},   {"XAF", 0, NULL},
    {"XCD", 2, NULL},  {"XOF", 0, NULL},   {"XPF", 0, NULL},
    {"YER", 2, NULL},  {"ZAR", 2, NULL},   {"ZMW", 2, NULL},
    {"ZWL", 2, NULL},
};

static const currency *find_currency(const char *code)
{
    if (strlen(code) != 3)
        return NULL;
    size_t lo = 0, hi = sizeof currencies / sizeof currencies[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(code, currencies[mid].code);
        if (c == 0)
            return &currencies[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

int wabot_currency_exponent(const char *code)
{
    if (!code)
        return WABOT_ERR_INVAL;
    const currency *c = find_currency(code);
    return c ? c->exponent : WABOT_ERR_NOT_FOUND;
}

/* Digits of |minor| with the decimal point placed `exponent` digits from
 * the right ("5" at exponent 2 is "0.05"). */
static void format_magnitude(uint64_t mag, unsigned exponent, char *out)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)mag);
    size_t nd = (size_t)n, o = 0;
    size_t whole = nd > exponent ? nd - exponent : 0;
    if (whole == 0)
        out[o++] = '0';
    for (size_t i = 0; i < whole; i++)
        out[o++] = digits[i];
    if (exponent > 0) {
        out[o++] = '.';
        for (size_t i = nd; i < exponent; i++) /* leading zeros */
            out[o++] = '0';
        for (size_t i = whole; i < nd; i++)
            out[o++] = digits[i];
    }
    out[o] = '\0';
}

const char *wb_money_amount_str(int64_t minor, unsigned exponent,
                                char out[WB_MONEY_STR])
{
    uint64_t mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    out[0] = '-';
    format_magnitude(mag, exponent, out + (minor < 0));
    return out;
}

int wabot_money_format(int64_t minor, const char *currency_code,
                       uint32_t flags, char *buf, size_t len)
{
    if (!currency_code || (!buf && len > 0))
        return WABOT_ERR_INVAL;
    const currency *c = find_currency(currency_code);
    if (!c)
        return WABOT_ERR_NOT_FOUND;
    /* INT64_MIN has no positive int64: take the magnitude unsigned. */
    uint64_t mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    char amount[48];
    format_magnitude(mag, c->exponent, amount);
    const char *sign = minor < 0 ? "-" : "";
    int n;
    if ((flags & WABOT_MONEY_SYMBOL) && c->symbol)
        n = snprintf(buf, len, "%s%s%s", sign, c->symbol, amount);
    else
        n = snprintf(buf, len, "%s%s %s", sign, amount, c->code);
    return n;
}

const char *wb_money_str(int64_t minor, const char *currency_code,
                         uint32_t flags, char out[WB_MONEY_STR])
{
    if (wabot_money_format(minor, currency_code, flags, out, WB_MONEY_STR) < 0)
        snprintf(out, WB_MONEY_STR, "%lld %s", (long long)minor,
                 currency_code ? currency_code : "");
    return out;
}

/* Accumulate one more digit; WABOT_ERR_TOO_LARGE past INT64_MAX. */
static int push_digit(uint64_t *v, int d)
{
    if (*v > ((uint64_t)INT64_MAX - (uint64_t)d) / 10)
        return WABOT_ERR_TOO_LARGE;
    *v = *v * 10 + (uint64_t)d;
    return WABOT_OK;
}

int wabot_money_parse(const char *text, const char *currency_code,
                      int64_t *minor)
{
    if (!text || !currency_code || !minor)
        return WABOT_ERR_INVAL;
    const currency *c = find_currency(currency_code);
    if (!c)
        return WABOT_ERR_NOT_FOUND;
    const char *p = text;
    int neg = *p == '-';
    if (neg)
        p++;
    uint64_t v = 0;
    size_t whole = 0, frac = 0;
    for (; *p >= '0' && *p <= '9'; p++, whole++)
        if (push_digit(&v, *p - '0') != WABOT_OK)
            return WABOT_ERR_TOO_LARGE;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, frac++) {
            if (frac >= c->exponent)
                return WABOT_ERR_PARSE;
            if (push_digit(&v, *p - '0') != WABOT_OK)
                return WABOT_ERR_TOO_LARGE;
        }
        if (frac == 0)
            return WABOT_ERR_PARSE; /* "12." */
    }
    if (*p != '\0' || whole == 0)
        return WABOT_ERR_PARSE;
    for (; frac < c->exponent; frac++)
        if (push_digit(&v, 0) != WABOT_OK)
            return WABOT_ERR_TOO_LARGE;
    *minor = neg ? -(int64_t)v : (int64_t)v;
    return WABOT_OK;
}

int wabot_money_add(int64_t a, int64_t b, int64_t *out)
{
    if (!out)
        return WABOT_ERR_INVAL;
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return WABOT_ERR_TOO_LARGE;
    *out = r;
    return WABOT_OK;
}

/* Without forming amount * bp (which overflows long before the result
 * does): split amount = q * 10000 + r, so the result is
 * q * bp + (r * bp + 5000) / 10000 exactly; r * bp stays below
 * 10^4 * 10^5. */
int wb_money_bp_share(int64_t amount, int32_t bp, int64_t *share)
{
    int64_t q = amount / 10000, r = amount % 10000, whole;
    if (__builtin_mul_overflow(q, (int64_t)bp, &whole))
        return WABOT_ERR_TOO_LARGE;
    return wabot_money_add(whole, (r * bp + 5000) / 10000, share);
}

int wabot_money_mul(int64_t amount, int64_t quantity, int64_t *out)
{
    if (!out)
        return WABOT_ERR_INVAL;
    int64_t r;
    if (__builtin_mul_overflow(amount, quantity, &r))
        return WABOT_ERR_TOO_LARGE;
    *out = r;
    return WABOT_OK;
}
