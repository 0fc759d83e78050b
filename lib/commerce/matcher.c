/* The product matcher: free text to order lines (wabot_catalog_match).
 *
 * The text is folded as keyword routes fold it and split into words; a
 * comma, ";", "+", "&", "/" or a new line ends a line. Then, left to
 * right:
 *   - a quantity (digits, "2x", "x2", "3 x", a number phrase of the
 *     locale's table: "two", "a dozen") is held for the next product; one
 *     written right after a product that had none ("cokes x2", "coke 2")
 *     is that product's;
 *   - otherwise the longest run of words that names a product best is
 *     read as a product (see score_name for the score); its candidates are
 *     the products sharing a word with the run, found through the index;
 *   - words that join lines or carry nothing ("and", "please") are
 *     skipped; anything else is an unknown word.
 * A line is ambiguous when two or more products contain every word of
 * its run: "coke" with Coke and Coke Zero; "coke zero" is not. */
#include <stdlib.h>
#include <string.h>

#include "commerce.h"
#include "ctx.h"
#include "keyword_fold.h"
#include "metrics.h"
#include "strbuf.h"

#define MAX_TEXT 1000
/* Folding never lengthens text, so a text has at most MAX_TEXT words. */
#define MAX_WORDS MAX_TEXT
#define WORD_MAX 64
#define MAX_SPAN 6
#define MAX_HITS 16
#define MAX_CANDIDATES 10
#define MAX_POOL 4096
#define MAX_QUANTITY_DIGITS 9

typedef struct mcand {
    const wb_indexed_product *p;
    int score;
    int full; /* every word of the run matched */
} mcand;

typedef struct mline {
    char *text;
    int64_t qty;
    int explicit_qty;
    int ambiguous;
    size_t end; /* word index after the run */
    mcand c[MAX_CANDIDATES];
    size_t n;
} mline;

struct wabot_match {
    wabot_ctx *ctx;
    char *org;
    wb_match_index *ix; /* kept: candidates point into it */
    mline *lines;
    size_t n_lines, cap_lines;
    char **unknown;
    size_t n_unknown, cap_unknown;
};

/* The text's words, NUL-terminated one after the other in buf. */
typedef struct words {
    char buf[2 * MAX_WORDS];
    const char *w[MAX_WORDS];
    size_t n, used;
} words;

static void on_word(const char *w, size_t n, void *ud)
{
    words *ws = ud;
    if (n >= WORD_MAX) {
        n = WORD_MAX - 1; /* no product word is that long */
        while (n > 0 && ((unsigned char)w[n] & 0xC0) == 0x80)
            n--; /* cut between characters, never inside one */
    }
    if (ws->n >= MAX_WORDS || ws->used + n + 1 > sizeof ws->buf)
        return; /* cannot happen within MAX_TEXT */
    char *dst = ws->buf + ws->used;
    memcpy(dst, w, n);
    dst[n] = '\0';
    ws->w[ws->n++] = dst;
    ws->used += n + 1;
}

static int is_break(const char *w)
{
    return w[0] == ',' && w[1] == '\0';
}

/* ------------------------------------------------------------------ */
/* Quantities                                                          */

static int64_t digits_value(const char *s, size_t n)
{
    if (n == 0 || n > MAX_QUANTITY_DIGITS)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int is_times(const char *w)
{
    return strcmp(w, "x") == 0 || strcmp(w, "\xC3\x97") == 0;
}

/* "2x", "x2", "×2": the number, else -1; *after 1 for the x-first form. */
static int64_t times_value(const char *w, int *after)
{
    size_t n = strlen(w);
    if (n >= 2 && w[0] == 'x') {
        *after = 1;
        return digits_value(w + 1, n - 1);
    }
    if (n >= 3 && memcmp(w, "\xC3\x97", 2) == 0) {
        *after = 1;
        return digits_value(w + 2, n - 2);
    }
    *after = 0;
    if (n >= 2 && w[n - 1] == 'x')
        return digits_value(w, n - 1);
    return -1;
}

/* The longest number phrase of the language at word i. */
static int64_t number_phrase(const wb_lang_words *lw, const words *ws,
                             size_t i, size_t *used)
{
    int64_t best = -1;
    *used = 0;
    for (size_t k = 0; k < lw->n_numbers; k++) {
        const char *ph = lw->numbers[k].words;
        size_t j = i, words_used = 0;
        while (*ph && j < ws->n) {
            size_t len = strcspn(ph, " ");
            if (strlen(ws->w[j]) != len || memcmp(ws->w[j], ph, len) != 0)
                break;
            ph += len + (ph[len] == ' ');
            j++;
            words_used++;
        }
        if (*ph == '\0' && words_used > *used) {
            *used = words_used;
            best = lw->numbers[k].value;
        }
    }
    return best;
}

typedef struct qty {
    int64_t value;  /* -1: no quantity here */
    size_t used;    /* words it took */
    int trailing;   /* "x2": refers to what came before */
} qty;

static qty read_quantity(const wb_lang_words *lw, const words *ws, size_t i)
{
    qty q = {-1, 0, 0};
    const char *w = ws->w[i];
    int64_t v = digits_value(w, strlen(w));
    if (v >= 0) {
        q.value = v;
        q.used = 1;
        if (i + 1 < ws->n && is_times(ws->w[i + 1]))
            q.used = 2; /* "3 x water" */
        return q;
    }
    int after;
    v = times_value(w, &after);
    if (v >= 0) {
        q.value = v;
        q.used = 1;
        q.trailing = after;
        return q;
    }
    if (is_times(w) && i + 1 < ws->n &&
        (v = digits_value(ws->w[i + 1], strlen(ws->w[i + 1]))) >= 0) {
        q.value = v; /* "x 2" */
        q.used = 2;
        q.trailing = 1;
        return q;
    }
    size_t used;
    v = number_phrase(lw, ws, i, &used);
    if (v >= 0) {
        q.value = v;
        q.used = used;
    }
    return q;
}

/* ------------------------------------------------------------------ */
/* Scoring                                                             */

typedef struct span_hits {
    wb_term_hit h[MAX_SPAN][MAX_HITS];
    size_t n[MAX_SPAN];
} span_hits;

/* How well one name (its terms) fits the run: the run's words explained
 * (typos count 0.8) times a factor for the name's words covered, so
 * "margherita" still names "Pizza Margherita" well while "coke" names
 * "Coke" better than "Coke Zero":
 *   score = 1000 * explained/run * (0.6 + 0.4 * covered/name). */
static int score_name(const uint32_t *name, size_t nlen, const span_hits *sh,
                      size_t run, int *full)
{
    unsigned char used[64] = {0};
    int64_t explained = 0;
    size_t covered = 0; /* run words matched = name words used */
    for (size_t s = 0; s < run; s++) {
        int best = 0;
        size_t best_j = 0;
        for (size_t j = 0; j < nlen && j < 64; j++) {
            if (used[j])
                continue;
            for (size_t h = 0; h < sh->n[s]; h++)
                if (sh->h[s][h].term == name[j] && sh->h[s][h].weight > best) {
                    best = sh->h[s][h].weight;
                    best_j = j;
                }
        }
        if (best > 0) {
            used[best_j] = 1;
            explained += best;
            covered++;
        }
    }
    *full = covered == run;
    if (nlen == 0 || run == 0)
        return 0;
    int64_t per_run = explained / (int64_t)run; /* 0..1000 */
    return (int)(per_run * (600 + 400 * (int64_t)covered / (int64_t)nlen) /
                 1000);
}

static int score_product(const wb_indexed_product *p, const span_hits *sh,
                         size_t run, int *full)
{
    int best = 0;
    *full = 0;
    for (size_t k = 0; k < p->n_names; k++) {
        int f;
        int s = score_name(p->names[k], p->name_lens[k], sh, run, &f);
        if (s > best || (s == best && f)) {
            best = s;
            *full = f;
        }
    }
    return best;
}

static int cand_cmp(const void *a, const void *b)
{
    const mcand *x = a, *y = b;
    if (x->score != y->score)
        return y->score - x->score;
    if (x->full != y->full)
        return y->full - x->full;
    return strcmp(x->p->name, y->p->name);
}

typedef struct pool {
    uint32_t ids[MAX_POOL];
    size_t n;
} pool;

static int id_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The products sharing a term with the run, each once. */
static void gather(const wb_match_index *ix, const span_hits *sh, size_t run,
                   pool *pl)
{
    pl->n = 0;
    for (size_t s = 0; s < run; s++)
        for (size_t h = 0; h < sh->n[s]; h++) {
            size_t n;
            const uint32_t *post =
                wb_match_index_postings(ix, sh->h[s][h].term, &n);
            for (size_t k = 0; k < n && pl->n < MAX_POOL; k++)
                pl->ids[pl->n++] = post[k];
        }
    qsort(pl->ids, pl->n, sizeof pl->ids[0], id_cmp);
    size_t o = 0;
    for (size_t k = 0; k < pl->n; k++)
        if (o == 0 || pl->ids[o - 1] != pl->ids[k])
            pl->ids[o++] = pl->ids[k];
    pl->n = o;
}

/* Insert c into best[0..*n) (sorted, at most cap kept). */
static void keep_best(mcand *best, size_t *n, size_t cap, const mcand *c)
{
    if (*n == cap && cand_cmp(c, &best[cap - 1]) >= 0)
        return;
    size_t i = *n < cap ? (*n)++ : cap - 1;
    while (i > 0 && cand_cmp(c, &best[i - 1]) < 0) {
        best[i] = best[i - 1];
        i--;
    }
    best[i] = *c;
}

/* Score the run's candidates into line (best first, those at or above
 * min_score). Returns the best score. */
static int rank_run(const wb_match_index *ix, const span_hits *sh,
                    size_t run, int min_score, mline *line)
{
    pool pl;
    gather(ix, sh, run, &pl);
    line->n = 0;
    size_t fulls = 0;
    for (size_t k = 0; k < pl.n; k++) {
        const wb_indexed_product *p = wb_match_index_product(ix, pl.ids[k]);
        int full;
        int s = score_product(p, sh, run, &full);
        if (s < min_score)
            continue;
        fulls += full != 0;
        mcand c = {p, s, full};
        keep_best(line->c, &line->n, MAX_CANDIDATES, &c);
    }
    line->ambiguous = fulls > 1;
    return line->n ? line->c[0].score : 0;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */

typedef struct parser {
    wabot_match *m;
    const wb_lang_words *lw;
    const words *ws;
    int min_score;
    int rc;
} parser;

/* Words of a run stop at a line break and at a quantity. */
static size_t max_run(const parser *ps, size_t i)
{
    size_t n = 0;
    while (i + n < ps->ws->n && n < MAX_SPAN && !is_break(ps->ws->w[i + n])) {
        if (n > 0 && read_quantity(ps->lw, ps->ws, i + n).value >= 0)
            break;
        n++;
    }
    return n;
}

static char *join_words(const wabot_allocator *a, const words *ws, size_t i,
                        size_t n)
{
    wb_strbuf b;
    wb_strbuf_init(&b, a);
    for (size_t k = 0; k < n; k++) {
        if (k)
            wb_strbuf_putc(&b, ' ');
        wb_strbuf_puts(&b, ws->w[i + k]);
    }
    return wb_strbuf_take(&b);
}

/* The best product run at word i into *line; 0 words when none. */
static size_t best_run(parser *ps, size_t i, mline *line)
{
    span_hits sh;
    size_t limit = max_run(ps, i), best_len = 0;
    int best = 0;
    for (size_t run = 1; run <= limit; run++) {
        size_t s = run - 1;
        sh.n[s] = wb_match_index_lookup(ps->m->ix, ps->ws->w[i + s],
                                        sh.h[s], MAX_HITS);
        if (sh.n[s] == 0)
            break; /* a word no product has ends the run */
        mline trial = {0};
        int score = rank_run(ps->m->ix, &sh, run, ps->min_score, &trial);
        if (trial.n > 0 && score >= best) {
            best = score;
            best_len = run;
            *line = trial;
        }
    }
    return best_len;
}

static int push_line(wabot_match *m, mline *line)
{
    if (wb_grow(&m->ctx->alloc, (void **)&m->lines, m->n_lines + 1,
                &m->cap_lines, sizeof *m->lines) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    m->lines[m->n_lines++] = *line;
    return WABOT_OK;
}

static int push_unknown(wabot_match *m, const char *w)
{
    char *copy = wb_strdup(&m->ctx->alloc, w);
    if (!copy || wb_grow(&m->ctx->alloc, (void **)&m->unknown,
                         m->n_unknown + 1, &m->cap_unknown,
                         sizeof *m->unknown) != WABOT_OK) {
        wb_free(&m->ctx->alloc, copy);
        return WABOT_ERR_NOMEM;
    }
    m->unknown[m->n_unknown++] = copy;
    return WABOT_OK;
}

/* A quantity right after a product line that had none is that line's:
 * "cokes x2", "coke 2" (a bare number only at the end of the line). */
static int attaches_to_last(const parser *ps, size_t i, const qty *q)
{
    const wabot_match *m = ps->m;
    if (m->n_lines == 0)
        return 0;
    const mline *last = &m->lines[m->n_lines - 1];
    if (last->explicit_qty || last->end != i)
        return 0;
    if (q->trailing)
        return 1;
    size_t next = i + q->used;
    return next >= ps->ws->n || is_break(ps->ws->w[next]) ||
           wb_word_in(ps->lw->connectors, ps->ws->w[next]);
}

static void parse(parser *ps)
{
    const words *ws = ps->ws;
    int64_t pending = -1;
    size_t i = 0;
    while (i < ws->n && ps->rc == WABOT_OK) {
        const char *w = ws->w[i];
        if (is_break(w)) {
            i++;
            continue;
        }
        qty q = read_quantity(ps->lw, ws, i);
        if (q.value >= 0) {
            if (attaches_to_last(ps, i, &q)) {
                ps->m->lines[ps->m->n_lines - 1].qty = q.value;
                ps->m->lines[ps->m->n_lines - 1].explicit_qty = 1;
            } else {
                pending = q.value;
            }
            i += q.used;
            continue;
        }
        mline line = {0};
        size_t run = best_run(ps, i, &line);
        if (run > 0) {
            line.qty = pending >= 0 ? pending : 1;
            line.explicit_qty = pending >= 0;
            line.end = i + run;
            line.text = join_words(&ps->m->ctx->alloc, ws, i, run);
            ps->rc = line.text ? push_line(ps->m, &line) : WABOT_ERR_NOMEM;
            if (ps->rc != WABOT_OK)
                wb_free(&ps->m->ctx->alloc, line.text);
            pending = -1;
            i += run;
            continue;
        }
        if (!wb_word_in(ps->lw->connectors, w) &&
            !wb_word_in(ps->lw->fillers, w))
            ps->rc = push_unknown(ps->m, w);
        i++;
    }
}

/* ------------------------------------------------------------------ */
/* The API                                                             */

static void count_outcome(wabot_ctx *ctx, const wabot_match *m)
{
    size_t ambiguous = 0;
    for (size_t i = 0; i < m->n_lines; i++)
        ambiguous += m->lines[i].ambiguous;
    wb_count(ctx, "commerce.matches", 1);
    if (m->n_unknown)
        wb_count(ctx, "commerce.unknown_words", (int64_t)m->n_unknown);
    if (ambiguous)
        wb_count(ctx, "commerce.ambiguous_lines", (int64_t)ambiguous);
}

int wabot_catalog_match(wabot_ctx *ctx, const char *org, const char *locale,
                        const char *text, wabot_match **out)
{
    if (!ctx || !text || !out)
        return WABOT_ERR_INVAL;
    int rc = wb_org_check(ctx, org);
    if (rc != WABOT_OK)
        return rc;
    size_t len = strlen(text);
    if (len > MAX_TEXT)
        return wb_error(ctx, WABOT_ERR_TOO_LARGE,
                        "text over %d bytes is not an order", MAX_TEXT);
    wabot_match *m = wb_calloc(&ctx->alloc, 1, sizeof *m);
    words *ws = wb_malloc(&ctx->alloc, sizeof *ws);
    if (!m || !ws) {
        wb_free(&ctx->alloc, m);
        wb_free(&ctx->alloc, ws);
        return WABOT_ERR_NOMEM;
    }
    m->ctx = ctx;
    m->org = wb_strdup(&ctx->alloc, org);
    rc = m->org ? wb_commerce_index(ctx, org, &m->ix) : WABOT_ERR_NOMEM;
    if (rc == WABOT_OK) {
        char folded[MAX_TEXT + 1];
        wb_keyword_fold_to(text, len, folded);
        ws->n = ws->used = 0;
        wb_match_words(folded, on_word, ws);
        parser ps = {m, wb_lang_words_for(locale), ws,
                     (int)wb_commerce_opt_int(ctx, org,
                                              WB_COMMERCE_OPT_MIN_SCORE),
                     WABOT_OK};
        parse(&ps);
        rc = ps.rc;
    }
    wb_free(&ctx->alloc, ws);
    if (rc != WABOT_OK) {
        wabot_match_free(m);
        return rc;
    }
    count_outcome(ctx, m);
    *out = m;
    return WABOT_OK;
}

void wabot_match_free(wabot_match *m)
{
    if (!m)
        return;
    const wabot_allocator *a = &m->ctx->alloc;
    for (size_t i = 0; i < m->n_lines; i++)
        wb_free(a, m->lines[i].text);
    wb_free(a, m->lines);
    for (size_t i = 0; i < m->n_unknown; i++)
        wb_free(a, m->unknown[i]);
    wb_free(a, m->unknown);
    if (m->ix)
        wb_match_index_unref(m->ix);
    wb_free(a, m->org);
    wb_free(a, m);
}

static const mline *line_at(const wabot_match *m, size_t i)
{
    return m && i < m->n_lines ? &m->lines[i] : NULL;
}

static const mcand *cand_at(const wabot_match *m, size_t i, size_t j)
{
    const mline *l = line_at(m, i);
    return l && j < l->n ? &l->c[j] : NULL;
}

size_t wabot_match_line_count(const wabot_match *m)
{
    return m ? m->n_lines : 0;
}

int64_t wabot_match_line_quantity(const wabot_match *m, size_t i)
{
    const mline *l = line_at(m, i);
    return l ? l->qty : 0;
}

int wabot_match_line_ambiguous(const wabot_match *m, size_t i)
{
    const mline *l = line_at(m, i);
    return l ? l->ambiguous : 0;
}

const char *wabot_match_line_text(const wabot_match *m, size_t i)
{
    const mline *l = line_at(m, i);
    return l ? l->text : NULL;
}

size_t wabot_match_candidate_count(const wabot_match *m, size_t i)
{
    const mline *l = line_at(m, i);
    return l ? l->n : 0;
}

const char *wabot_match_candidate_sku(const wabot_match *m, size_t i,
                                      size_t j)
{
    const mcand *c = cand_at(m, i, j);
    return c ? c->p->sku : NULL;
}

const char *wabot_match_candidate_name(const wabot_match *m, size_t i,
                                       size_t j)
{
    const mcand *c = cand_at(m, i, j);
    return c ? c->p->name : NULL;
}

int wabot_match_candidate_score(const wabot_match *m, size_t i, size_t j)
{
    const mcand *c = cand_at(m, i, j);
    return c ? c->score : 0;
}

int64_t wabot_match_candidate_price(const wabot_match *m, size_t i, size_t j)
{
    const mcand *c = cand_at(m, i, j);
    return c ? c->p->price : 0;
}

const char *wabot_match_candidate_currency(const wabot_match *m, size_t i,
                                           size_t j)
{
    const mcand *c = cand_at(m, i, j);
    return c ? c->p->currency : NULL;
}

size_t wabot_match_unknown_count(const wabot_match *m)
{
    return m ? m->n_unknown : 0;
}

const char *wabot_match_unknown(const wabot_match *m, size_t i)
{
    return m && i < m->n_unknown ? m->unknown[i] : NULL;
}

/* ------------------------------------------------------------------ */
/* Rendering                                                           */

static void quoted_list(wb_strbuf *b, char *const *ws, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            wb_strbuf_puts(b, i + 1 == n ? " and " : ", ");
        wb_strbuf_printf(b, "\"%s\"", ws[i]);
    }
}

static void ambiguous_text(const wabot_match *m, const mline *l,
                           wb_strbuf *b)
{
    wb_commerce_fill(b, wb_commerce_opt_str(m->ctx, m->org,
                                            WB_COMMERCE_OPT_AMBIGUOUS_REPLY),
                     l->text);
    size_t k = 0;
    for (size_t j = 0; j < l->n; j++) {
        if (!l->c[j].full)
            continue;
        char price[WB_MONEY_STR];
        wb_strbuf_printf(b, "\n%zu. %s (%s)", ++k, l->c[j].p->name,
                         wb_money_str(l->c[j].p->price, l->c[j].p->currency,
                                      WABOT_MONEY_SYMBOL, price));
    }
}

char *wabot_match_reply_text(const wabot_match *m)
{
    if (!m)
        return NULL;
    wb_strbuf b;
    wb_strbuf_init(&b, &m->ctx->alloc);
    if (m->n_unknown) {
        wb_strbuf unknown;
        wb_strbuf_init(&unknown, &m->ctx->alloc);
        quoted_list(&unknown, m->unknown, m->n_unknown);
        wb_commerce_fill(&b, wb_commerce_opt_str(m->ctx, m->org,
                                                 WB_COMMERCE_OPT_UNKNOWN_REPLY),
                         unknown.data ? unknown.data : "");
        wb_strbuf_free(&unknown);
    }
    for (size_t i = 0; i < m->n_lines; i++) {
        if (!m->lines[i].ambiguous)
            continue;
        if (b.len)
            wb_strbuf_puts(&b, "\n\n");
        ambiguous_text(m, &m->lines[i], &b);
    }
    if (m->n_lines == 0 && m->n_unknown == 0)
        wb_strbuf_puts(&b, wb_commerce_opt_str(m->ctx, m->org,
                                               WB_COMMERCE_OPT_NOTHING_REPLY));
    return wb_strbuf_take(&b);
}

int wabot_match_choices_out(const wabot_match *m, size_t i, wabot_out *out)
{
    const mline *l = line_at(m, i);
    if (!l || !out || !l->ambiguous)
        return m ? wb_error(m->ctx, WABOT_ERR_INVAL,
                            "line %zu is not an ambiguous line", i)
                 : WABOT_ERR_INVAL;
    size_t fulls = 0;
    for (size_t j = 0; j < l->n; j++)
        fulls += l->c[j].full != 0;
    wb_strbuf body;
    wb_strbuf_init(&body, &m->ctx->alloc);
    wb_commerce_fill(&body, wb_commerce_opt_str(m->ctx, m->org,
                                                WB_COMMERCE_OPT_AMBIGUOUS_REPLY),
                     l->text);
    int rc = body.oom ? WABOT_ERR_NOMEM : wabot_out_set_text(out, body.data);
    wb_strbuf_free(&body);
    wb_strbuf title;
    wb_strbuf_init(&title, &m->ctx->alloc);
    for (size_t j = 0; rc == WABOT_OK && j < l->n; j++) {
        const wb_indexed_product *p = l->c[j].p;
        if (!l->c[j].full)
            continue;
        char id[WABOT_PRODUCT_SKU_MAX + 40], price[WB_MONEY_STR];
        snprintf(id, sizeof id, "pick:%lld:%s", (long long)l->qty, p->sku);
        wb_strbuf_reset(&title);
        wb_commerce_put_cut(&title, p->name, fulls <= 3 ? 20 : 24);
        if (title.oom)
            rc = WABOT_ERR_NOMEM;
        else if (fulls <= 3)
            rc = wabot_out_add_button(out, id, title.data);
        else
            rc = wabot_out_add_row(out, id, title.data,
                                   wb_money_str(p->price, p->currency,
                                                WABOT_MONEY_SYMBOL, price));
    }
    wb_strbuf_free(&title);
    return rc;
}

char *wabot_match_json(const wabot_match *m)
{
    if (!m)
        return NULL;
    wb_strbuf b;
    wb_strbuf_init(&b, &m->ctx->alloc);
    wb_strbuf_puts(&b, "{\"lines\":[");
    for (size_t i = 0; i < m->n_lines; i++) {
        const mline *l = &m->lines[i];
        wb_strbuf_puts(&b, i ? ",{\"text\":" : "{\"text\":");
        wb_strbuf_json_str(&b, l->text);
        wb_strbuf_printf(&b, ",\"quantity\":%lld,\"ambiguous\":%s,"
                             "\"candidates\":[",
                         (long long)l->qty, l->ambiguous ? "true" : "false");
        for (size_t j = 0; j < l->n; j++) {
            wb_strbuf_puts(&b, j ? ",{\"sku\":" : "{\"sku\":");
            wb_strbuf_json_str(&b, l->c[j].p->sku);
            wb_strbuf_puts(&b, ",\"name\":");
            wb_strbuf_json_str(&b, l->c[j].p->name);
            wb_strbuf_printf(&b, ",\"score\":%d,\"price\":%lld,\"currency\":",
                             l->c[j].score, (long long)l->c[j].p->price);
            wb_strbuf_json_str(&b, l->c[j].p->currency);
            wb_strbuf_putc(&b, '}');
        }
        wb_strbuf_puts(&b, "]}");
    }
    wb_strbuf_puts(&b, "],\"unknown\":[");
    for (size_t i = 0; i < m->n_unknown; i++) {
        if (i)
            wb_strbuf_putc(&b, ',');
        wb_strbuf_json_str(&b, m->unknown[i]);
    }
    wb_strbuf_puts(&b, "]}");
    return wb_strbuf_take(&b);
}
