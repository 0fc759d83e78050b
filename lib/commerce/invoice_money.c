/* The money arithmetic of invoices: ISO 4217 decimals, a line's amounts
 * with tax rounded half up, overflow-checked sums, amount formatting.
 *
 * Everything is int64 minor units; no floating point touches money. Kept
 * private and small: once the commerce header's money helpers (catalog
 * work) are merged, these calls map one to one onto them. */
#include <stdio.h>
#include <string.h>

#include "commerce/invoice_internal.h"

/* Currencies whose minor unit is not the cent (ISO 4217 list one,
 * exponent column). Every other code of `two` below has 2 decimals. */
static const struct {
    char code[4];
    int exponent;
} odd[] = {
    {"BIF", 0}, {"CLP", 0}, {"DJF", 0}, {"GNF", 0}, {"ISK", 0},
    {"JPY", 0}, {"KMF", 0}, {"KRW", 0}, {"PYG", 0}, {"RWF", 0},
    {"UGX", 0}, {"UYI", 0}, {"VND", 0}, {"VUV", 0}, {"XAF", 0},
    {"XOF", 0}, {"XPF", 0},
    {"BHD", 3}, {"IQD", 3}, {"JOD", 3}, {"KWD", 3}, {"LYD", 3},
    {"OMR", 3}, {"TND", 3},
    {"CLF", 4}, {"UYW", 4},
};

static const char two[] =
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB "
    "BRL BSD BTN BWP BYN BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP "
    "DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG "
    "HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL "
    "MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO "
    "NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG "
    "SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD "
    "TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWL";

static int is_code(const char *code)
{
    if (code == NULL || strlen(code) != 3)
        return 0;
    for (int i = 0; i < 3; i++)
        if (code[i] < 'A' || code[i] > 'Z')
            return 0;
    return 1;
}

int wb_inv_currency_exponent(const char *code)
{
    if (!is_code(code))
        return -1;
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        if (memcmp(odd[i].code, code, 3) == 0)
            return odd[i].exponent;
    /* Codes of 3 letters, each followed by a blank or the final NUL. */
    for (const char *p = two;; p += 4) {
        if (memcmp(p, code, 3) == 0)
            return 2;
        if (p[3] == '\0')
            return -1;
    }
}

int wb_inv_add(int64_t *acc, int64_t v)
{
    int64_t sum;
    if (__builtin_add_overflow(*acc, v, &sum))
        return -1;
    *acc = sum;
    return 0;
}

/* net * bp / 10000 rounded half up, without forming net * bp (which
 * overflows long before the result does): split net = q * 10000 + r, so
 * the result is q * bp + (r * bp + 5000) / 10000 exactly; r * bp stays
 * below 10^4 * 10^5. Amounts are never negative here. */
static int tax_half_up(int64_t net, int32_t bp, int64_t *tax)
{
    int64_t q = net / 10000, r = net % 10000, whole;
    if (__builtin_mul_overflow(q, (int64_t)bp, &whole))
        return -1;
    *tax = whole;
    return wb_inv_add(tax, (r * bp + 5000) / 10000);
}

int wb_inv_line_amounts(int64_t quantity, int64_t unit_minor, int32_t tax_bp,
                        int64_t *net, int64_t *tax, int64_t *total,
                        const char **why)
{
    if (__builtin_mul_overflow(quantity, unit_minor, net)) {
        *why = "quantity times unit price exceeds int64";
        return WABOT_ERR_INVAL;
    }
    if (tax_half_up(*net, tax_bp, tax) != 0) {
        *why = "the line's tax exceeds int64";
        return WABOT_ERR_INVAL;
    }
    *total = *net;
    if (wb_inv_add(total, *tax) != 0) {
        *why = "the line's total exceeds int64";
        return WABOT_ERR_INVAL;
    }
    return WABOT_OK;
}

void wb_inv_format_amount(int64_t minor, int exponent, char *buf, size_t n)
{
    /* Through uint64 so INT64_MIN has a magnitude. */
    uint64_t mag = minor < 0 ? 0 - (uint64_t)minor : (uint64_t)minor;
    uint64_t div = 1;
    for (int i = 0; i < exponent; i++)
        div *= 10;
    const char *sign = minor < 0 ? "-" : "";
    if (exponent == 0)
        snprintf(buf, n, "%s%llu", sign, (unsigned long long)mag);
    else
        snprintf(buf, n, "%s%llu.%0*llu", sign,
                 (unsigned long long)(mag / div), exponent,
                 (unsigned long long)(mag % div));
}
