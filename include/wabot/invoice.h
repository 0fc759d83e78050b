/*
 * Invoices: issued from lines with tax, numbered per organisation without
 * gaps, rendered as a WhatsApp text and a PDF, served at signed expiring
 * URLs and sent by the `invoice-processing` queue's worker. The `invoices`
 * library module (options invoices.*) carries it; see doc/invoices.md.
 *
 * Money is integer minor units of an ISO 4217 currency (USD 2 decimals:
 * 1999 is 19.99; JPY 0; KWD 3). Per line:
 *   net   = quantity * unit price
 *   tax   = net * tax_bp / 10000, rounded half up (x.5 -> x+1) per line
 *   total = net + tax
 * and the invoice's subtotal, tax and total are the sums of its lines, so
 * the printed lines always add up to the printed totals. Any step that
 * would leave int64 is WABOT_ERR_INVAL with a message.
 *
 * Status: ISSUED -> SENT -> PAID; ISSUED or SENT -> OVERDUE -> PAID; any
 * of ISSUED, SENT, OVERDUE -> VOID; ISSUED -> PAID. PAID and VOID are
 * final. Any other change is WABOT_ERR_STATE with a message.
 *
 * Invoices are stored through the context's storage (memory or Redis),
 * read and written only with atomic transactions, so every function here
 * may be called from any thread and from several processes sharing one
 * storage. Every function records a detail for wabot_ctx_errmsg() when it
 * fails, and returns WABOT_ERR_STATE when the context has no `invoices`
 * module.
 *
 * JSON of one invoice (wabot_invoice_get, the list's "invoices" items,
 * the hook's event):
 *   {"number":"INV-2026-000001","seq":1,"org":"acme","customer":"+1555..",
 *    "key":"order-42","currency":"USD","exponent":2,"status":"issued",
 *    "lines":[{"sku":"A1","name":"Coke","quantity":2,"unit_minor":150,
 *              "tax_bp":825,"net_minor":300,"tax_minor":25,
 *              "total_minor":325}],
 *    "subtotal_minor":300,"tax_minor":25,"total_minor":325,
 *    "issued_ms":..,"due_ms":..,"due_date":"2026-01-31","updated_ms":..}
 * ("key" is absent when the draft had none.)
 */
#ifndef WABOT_INVOICE_H
#define WABOT_INVOICE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An invoice's status. Append-only. */
typedef enum wabot_invoice_status {
    WABOT_INVOICE_ISSUED = 1,
    WABOT_INVOICE_SENT = 2,
    WABOT_INVOICE_PAID = 3,
    WABOT_INVOICE_OVERDUE = 4,
    WABOT_INVOICE_VOID = 5
} wabot_invoice_status;

/** The queue whose built-in worker issues, stores and sends invoices. */
#define WABOT_INVOICE_QUEUE "invoice-processing"
/** The hook emitted once per newly issued invoice, with its JSON. */
#define WABOT_INVOICE_HOOK_ISSUED "invoices.issued"
/** The hook emitted when wabot_invoice_set_status (mark_paid, void, ...)
 *  changed an invoice's status, with {"org":..,"number":..,"status":
 *  "paid"} (status as wabot_invoice_status_name). */
#define WABOT_INVOICE_HOOK_STATUS "invoices.status_changed"
/** add_line's tax_bp: use the organisation's invoices.tax_bp. */
#define WABOT_INVOICE_TAX_DEFAULT (-1)
/** Most lines on one invoice. */
#define WABOT_INVOICE_MAX_LINES 100
/** Largest quantity of one line. */
#define WABOT_INVOICE_MAX_QUANTITY 1000000
/** Largest tax rate in basis points (1000%). */
#define WABOT_INVOICE_MAX_TAX_BP 100000

/** Lower-case name of a status ("issued", ...), "unknown" otherwise.
 *  Static storage. Any thread. */
WABOT_API const char *wabot_invoice_status_name(wabot_invoice_status s);

/* ------------------------------------------------------------------ */
/* Issuing                                                             */

/** An invoice being put together (opaque). One thread at a time. */
typedef struct wabot_invoice_draft wabot_invoice_draft;

/**
 * A new draft for organisation `org` (NULL or "": the context's default
 * organisation), customer `customer` (an E.164 number or another id) and
 * currency `currency` (ISO 4217, e.g. "USD"). Strings are copied; ctx is
 * borrowed and must outlive the draft. NULL on bad arguments (NULL ctx or
 * customer, an org or customer that is empty, over 64 bytes or holds
 * '{', '}', ':' or control bytes, an unknown currency; the detail in
 * wabot_ctx_errmsg()) or out of memory. Free with
 * wabot_invoice_draft_free(). Any thread.
 */
WABOT_API wabot_invoice_draft *wabot_invoice_draft_new(wabot_ctx *ctx,
                                                       const char *org,
                                                       const char *customer,
                                                       const char *currency);
/** Free a draft; NULL is a no-op. */
WABOT_API void wabot_invoice_draft_free(wabot_invoice_draft *d);
/**
 * Idempotency key (an order id): a second issue with the same key in the
 * same organisation issues nothing and gives the first invoice's number.
 * 1..128 bytes without control bytes, '{' or '}'. Copied. Errors:
 * WABOT_ERR_INVAL, NOMEM.
 */
WABOT_API int wabot_invoice_draft_set_key(wabot_invoice_draft *d,
                                          const char *key);
/**
 * Append a line: `sku` (1..64 bytes) and `name` (1..256 bytes) copied,
 * `quantity` 1..WABOT_INVOICE_MAX_QUANTITY, `unit_minor` >= 0,
 * `tax_bp` 0..WABOT_INVOICE_MAX_TAX_BP or WABOT_INVOICE_TAX_DEFAULT.
 * The line's amounts are computed now: errors are WABOT_ERR_INVAL (bad
 * value, an amount beyond int64, a line past WABOT_INVOICE_MAX_LINES)
 * with the reason in wabot_ctx_errmsg(), NOMEM; the draft is unchanged.
 */
WABOT_API int wabot_invoice_draft_add_line(wabot_invoice_draft *d,
                                           const char *sku, const char *name,
                                           int64_t quantity,
                                           int64_t unit_minor,
                                           int32_t tax_bp);
/**
 * Issue the draft: take the organisation's next number and store the
 * invoice in one atomic step (a number is never skipped nor given twice,
 * across threads and processes), status ISSUED, due after the
 * organisation's invoices.net_days; then emit the hook
 * WABOT_INVOICE_HOOK_ISSUED. *number (may be NULL) gets the number,
 * owned (wabot_ctx_mem_free). The draft stays the caller's (free it).
 * Errors: WABOT_ERR_INVAL (no lines, totals beyond int64),
 * WABOT_ERR_EXISTS (the key was issued already: *number is that
 * invoice's), WABOT_ERR_STATE (the next number exists already: the
 * organisation's number format was changed to one that repeats),
 * STORAGE, NOMEM. Any thread.
 */
WABOT_API int wabot_invoice_issue(wabot_invoice_draft *d, char **number);

/* ------------------------------------------------------------------ */
/* Reading and changing                                                */

/**
 * The invoice's JSON (format above) into *json, owned
 * (wabot_ctx_mem_free). `org` NULL or "": the default organisation.
 * Errors: WABOT_ERR_NOT_FOUND, INVAL, STORAGE, NOMEM. Any thread.
 */
WABOT_API int wabot_invoice_get(wabot_ctx *ctx, const char *org,
                                const char *number, char **json);
/**
 * Invoices of `org`, newest first: of one customer (`customer` non-NULL)
 * and/or in one status (`status` 0: any), skipping `offset` (>= 0) and
 * returning at most `limit` (1..1000). *json (owned, wabot_ctx_mem_free):
 * {"invoices":[...], "next_offset":n} (next_offset -1: no more).
 * Errors: INVAL, STORAGE, NOMEM. Any thread.
 */
WABOT_API int wabot_invoice_list(wabot_ctx *ctx, const char *org,
                                 const char *customer,
                                 wabot_invoice_status status, int64_t offset,
                                 int64_t limit, char **json);
/**
 * Move an invoice to `status` (allowed changes in the file comment).
 * Setting the status it already has is WABOT_OK and changes nothing (a
 * retried call is harmless). Errors: WABOT_ERR_STATE (change not
 * allowed: the message names both statuses), NOT_FOUND, INVAL, STORAGE.
 * Any thread.
 */
WABOT_API int wabot_invoice_set_status(wabot_ctx *ctx, const char *org,
                                       const char *number,
                                       wabot_invoice_status status);
/** wabot_invoice_set_status(.., WABOT_INVOICE_PAID). */
WABOT_API int wabot_invoice_mark_paid(wabot_ctx *ctx, const char *org,
                                      const char *number);
/** wabot_invoice_set_status(.., WABOT_INVOICE_VOID). */
WABOT_API int wabot_invoice_void(wabot_ctx *ctx, const char *org,
                                 const char *number);
/**
 * Mark as OVERDUE the ISSUED and SENT invoices of `org` whose due time
 * (issued + invoices.net_days) is before now, oldest due first, at most
 * `limit` (1..1000) per call; *marked (may be NULL) gets how many. Call it
 * periodically (a host's timer, a scheduled job); an invoice paid or
 * voided meanwhile is skipped. Errors: INVAL, STORAGE. Any thread.
 */
WABOT_API int wabot_invoice_mark_overdue(wabot_ctx *ctx, const char *org,
                                         int64_t limit, int64_t *marked);
/**
 * Statistics of `org` as JSON into *json (owned, wabot_ctx_mem_free):
 *   {"org":"acme","count":n,
 *    "by_status":{"issued":n,"sent":n,"paid":n,"overdue":n,"void":n},
 *    "invoiced":{"USD":minor,...},   totals of invoices not void
 *    "revenue":{"USD":minor,...}}    totals of paid invoices
 * Errors: INVAL, STORAGE, NOMEM. Any thread.
 */
WABOT_API int wabot_invoice_stats(wabot_ctx *ctx, const char *org,
                                  char **json);

/* ------------------------------------------------------------------ */
/* Rendering and documents                                             */

/**
 * The WhatsApp text summary of an invoice (number, lines, totals, due
 * date; amounts with the currency's decimals) into *text, owned
 * (wabot_ctx_mem_free). Errors: NOT_FOUND, INVAL, STORAGE, NOMEM.
 */
WABOT_API int wabot_invoice_render_text(wabot_ctx *ctx, const char *org,
                                        const char *number, char **text);
/**
 * The invoice as a PDF document (A4; the organisation's name from
 * invoices.org_name, the number, customer, lines, totals and due date)
 * into *pdf (owned, wabot_ctx_mem_free) and *len. Errors: NOT_FOUND,
 * INVAL, STORAGE, NOMEM, WABOT_ERR_HANDLER (the PDF library failed).
 * Any thread.
 */
WABOT_API int wabot_invoice_render_pdf(wabot_ctx *ctx, const char *org,
                                       const char *number, char **pdf,
                                       size_t *len);
/**
 * A signed URL under the public URL (option public_url) at which
 * wabot_http_handle() serves the invoice's PDF until now +
 * invoices.url_ttl: <public_url>/invoices/doc/<org>/<expiry>/<sig>/
 * <number>.pdf, sig = HMAC-SHA256(invoices.secret) of org, expiry and
 * number. A wrong, altered or expired URL answers 404. *url owned
 * (wabot_ctx_mem_free). Errors: WABOT_ERR_STATE (no invoices.secret or no
 * public_url configured), NOT_FOUND, INVAL, STORAGE, NOMEM. Any thread.
 */
WABOT_API int wabot_invoice_document_url(wabot_ctx *ctx, const char *org,
                                         const char *number, char **url);

/* ------------------------------------------------------------------ */
/* The invoice-processing queue                                        */

/**
 * Queue an invoice for the built-in worker, which issues it (or finds it
 * by key), stores its PDF, sends the customer the PDF as a WhatsApp
 * document (its signed URL) with the text summary as caption, and marks
 * it SENT. `json` (len bytes):
 *   {"org":"acme","customer":"+1555..","currency":"USD","key":"order-42",
 *    "lines":[{"sku":"A1","name":"Coke","quantity":2,"unit_minor":150,
 *              "tax_bp":825}]}          ("tax_bp" optional, "org" too)
 * "key" is required: the job id is "invoice:<org>:<key>", so queuing the
 * same order twice is WABOT_ERR_EXISTS and sends one invoice. *job_id
 * (may be NULL) gets the id, owned (wabot_ctx_mem_free), also on EXISTS.
 * Errors: WABOT_ERR_PARSE (not JSON), INVAL (missing or bad member),
 * EXISTS, STORAGE, NOMEM. Any thread. (Inside a turn, enqueue the same
 * payload with wabot_turn_enqueue() on WABOT_INVOICE_QUEUE with that job
 * id instead, so it joins the turn's outbox.)
 */
WABOT_API int wabot_invoice_enqueue(wabot_ctx *ctx, const char *json,
                                    size_t len, char **job_id);

#ifdef __cplusplus
}
#endif
#endif /* WABOT_INVOICE_H */
