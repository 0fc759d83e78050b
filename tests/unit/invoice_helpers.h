/* Helpers of the invoice tests, shared by the memory ones
 * (test_invoices.c) and the Redis ones (tests/redis/test_redis_invoices.c):
 * concurrent issuing and reading a PDF back. Public API only. */
#ifndef WABOT_TEST_INVOICE_HELPERS_H
#define WABOT_TEST_INVOICE_HELPERS_H

#include <stddef.h>

#include <stdint.h>

#include "wabot.h"

/* Issue `total` one-line invoices for org `org` from `threads` threads of
 * ctx at once, keys "<key_prefix>-<i>" (so they can be told apart across
 * processes). Writes each number's sequence (the digits after the last
 * '-') into seqs[i]. Returns the number of failed issues. */
int inv_issue_concurrently(wabot_ctx *ctx, const char *org,
                           const char *key_prefix, int threads, int total,
                           int64_t *seqs);

/* 1 if seqs[0..n) is exactly 1..n in some order (no gap, no duplicate);
 * else 0 with `why` (size 128) naming the first fault. */
int inv_seqs_gap_free(const int64_t *seqs, int n, char *why);

/* The sequence part of a number ("INV-2026-000123" -> 123), -1 if none. */
int64_t inv_seq_of(const char *number);

/* The text of a PDF as pdftotext -layout prints it (malloc'ed), or NULL
 * when pdftotext fails (`why`, size 256, then says why). */
char *inv_pdf_text(const char *pdf, size_t len, char *why);

#endif
