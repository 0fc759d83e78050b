/* The matcher's index of one organisation's active products.
 *
 * Words of names and aliases are folded (keyword folding, as the router
 * compares), split, and interned as terms. Three hash tables make every
 * lookup a few probes, whatever the catalog's size:
 *   words     a word -> its term; a plural-looking word's singular forms
 *             ("pizzas" -> "pizza", "fries" -> "fry") map to it too, and
 *             a query word is tried with its singular forms, so singular
 *             and plural meet whichever way round they were written;
 *   deletes   every one-letter deletion of a term of 4+ letters -> the
 *             terms it came from (symmetric deletion, as SymSpell): a
 *             query word one edit away from a term shares a deletion
 *             with it;
 *   postings  a term -> the products whose names contain it.
 * The index is immutable once built and shared by reference count; a
 * change of the catalog replaces it (module.c). */
#include <stdatomic.h>
#include <string.h>

#include "alloc.h"
#include "commerce.h"
#include "keyword_fold.h"
#include "siphash.h"

typedef struct u32vec {
    uint32_t *v;
    size_t n, cap;
} u32vec;

typedef struct sentry {
    char *key; /* NULL: empty slot */
    uint32_t val;
} sentry;

typedef struct smap {
    sentry *slots;
    size_t cap, n; /* cap a power of two */
} smap;

struct wb_match_index {
    atomic_int refs;
    const wabot_allocator *a;
    int64_t revision;
    uint64_t k0, k1;
    wb_indexed_product *products;
    size_t n_products;
    char **terms; /* canonical words, by term id */
    u32vec *postings;
    size_t n_terms, cap_terms, cap_postings;
    smap canon;   /* a term's word -> its id */
    smap words;   /* a word or a singular form -> index into lists */
    smap deletes; /* a deletion -> index into lists */
    u32vec *lists;
    size_t n_lists, cap_lists;
    int oom;
    /* The products it was built from, in catalog order (menus read them:
     * wb_match_index_adopt); NULL until adopted. */
    wabot_product **src;
    size_t n_src;
};

/* ------------------------------------------------------------------ */
/* Small containers                                                    */

static int vec_push(const wabot_allocator *a, u32vec *v, uint32_t x)
{
    if (wb_grow(a, (void **)&v->v, v->n + 1, &v->cap, sizeof *v->v) != 0)
        return WABOT_ERR_NOMEM;
    v->v[v->n++] = x;
    return WABOT_OK;
}

static uint64_t hash_of(const wb_match_index *ix, const char *k, size_t n)
{
    return wb_siphash13(ix->k0, ix->k1, k, n);
}

static sentry *smap_slot(const wb_match_index *ix, const smap *m,
                         const char *k, size_t n)
{
    size_t mask = m->cap - 1;
    for (size_t i = hash_of(ix, k, n) & mask;; i = (i + 1) & mask) {
        sentry *e = &m->slots[i];
        if (!e->key || (strncmp(e->key, k, n) == 0 && e->key[n] == '\0'))
            return e;
    }
}

static int smap_get(const wb_match_index *ix, const smap *m, const char *k,
                    size_t n, uint32_t *val)
{
    if (m->cap == 0)
        return 0;
    sentry *e = smap_slot(ix, m, k, n);
    if (!e->key)
        return 0;
    *val = e->val;
    return 1;
}

static int smap_grow(wb_match_index *ix, smap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    sentry *slots = wb_calloc(ix->a, cap, sizeof *slots);
    if (!slots)
        return WABOT_ERR_NOMEM;
    smap fresh = {slots, cap, m->n};
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            *smap_slot(ix, &fresh, m->slots[i].key,
                       strlen(m->slots[i].key)) = m->slots[i];
    wb_free(ix->a, m->slots);
    *m = fresh;
    return WABOT_OK;
}

/* Insert k -> val unless k is there; *val_out gets the value k has. */
static int smap_put(wb_match_index *ix, smap *m, const char *k, size_t n,
                    uint32_t val, uint32_t *val_out)
{
    if ((m->n + 1) * 2 > m->cap && smap_grow(ix, m) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    sentry *e = smap_slot(ix, m, k, n);
    if (!e->key) {
        e->key = wb_strndup(ix->a, k, n);
        if (!e->key)
            return WABOT_ERR_NOMEM;
        e->val = val;
        m->n++;
    }
    if (val_out)
        *val_out = e->val;
    return WABOT_OK;
}

static void smap_free(wb_match_index *ix, smap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        wb_free(ix->a, m->slots[i].key);
    wb_free(ix->a, m->slots);
}

/* ------------------------------------------------------------------ */
/* Words                                                               */

size_t wb_utf8_seq_len(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0)
        return 0;
    if (u[0] < 0x80)
        return 1;
    size_t len = u[0] >= 0xC2 && u[0] <= 0xDF   ? 2
                 : u[0] >= 0xE0 && u[0] <= 0xEF ? 3
                 : u[0] >= 0xF0 && u[0] <= 0xF4 ? 4
                                                : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((u[i] & 0xC0) != 0x80)
            return 0;
    /* Overlong forms, surrogates and code points past U+10FFFF. */
    if ((u[0] == 0xE0 && u[1] < 0xA0) || (u[0] == 0xED && u[1] > 0x9F) ||
        (u[0] == 0xF0 && u[1] < 0x90) || (u[0] == 0xF4 && u[1] > 0x8F))
        return 0;
    return len;
}

int wb_utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = wb_utf8_seq_len(s + i, n - i);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}

/* Bytes of the word character at s (letters, digits, any non-ASCII
 * character), or 0 for a separator; malformed UTF-8 separates, so no
 * word (and nothing shown or written as JSON) carries it. */
static size_t word_char(const char *s)
{
    unsigned char c = (unsigned char)*s;
    if (c < 0x80)
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               (c >= 'A' && c <= 'Z');
    return wb_utf8_seq_len(s, strnlen(s, 4));
}

static int is_line_break(char c)
{
    return c == ',' || c == ';' || c == '+' || c == '&' || c == '\n' ||
           c == '/';
}

void wb_match_words(const char *s,
                    void (*fn)(const char *w, size_t n, void *ud), void *ud)
{
    while (*s) {
        size_t n = 0, k;
        while ((k = word_char(s + n)) > 0)
            n += k;
        if (n > 0) {
            fn(s, n, ud);
            s += n;
            continue;
        }
        if (is_line_break(*s))
            fn(",", 1, ud);
        s++;
    }
}

static int ends_with(const char *w, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(w + n - k, suffix, k) == 0;
}

/* Singular forms a word of n bytes may have (English, Spanish and
 * Portuguese plurals: -s, -es, -ies -> -y), written into forms[]; returns
 * how many. Each form is at most n bytes. */
static size_t singular_forms(const char *w, size_t n, char forms[3][64])
{
    size_t k = 0;
    if (n < 4 || n >= 64 || w[n - 1] != 's' || ends_with(w, n, "ss"))
        return 0;
    memcpy(forms[k], w, n - 1);
    forms[k++][n - 1] = '\0';
    if (ends_with(w, n, "es")) {
        memcpy(forms[k], w, n - 2);
        forms[k++][n - 2] = '\0';
    }
    if (ends_with(w, n, "ies")) {
        memcpy(forms[k], w, n - 3);
        memcpy(forms[k] + n - 3, "y", 2);
        k++;
    }
    return k;
}

void wb_match_normalise(const char *word, char *out)
{
    char forms[3][64];
    size_t n = strlen(word);
    if (singular_forms(word, n, forms) > 0)
        strcpy(out, forms[0]);
    else
        memcpy(out, word, n + 1);
}

/* ------------------------------------------------------------------ */
/* Building                                                            */

/* Add term to the list that map m keeps for key k (created empty). */
static int list_add(wb_match_index *ix, smap *m, const char *k, size_t n,
                    uint32_t term)
{
    uint32_t list;
    if (smap_put(ix, m, k, n, (uint32_t)ix->n_lists, &list) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    if (list == ix->n_lists) {
        if (wb_grow(ix->a, (void **)&ix->lists, ix->n_lists + 1,
                    &ix->cap_lists, sizeof *ix->lists) != WABOT_OK)
            return WABOT_ERR_NOMEM;
        memset(&ix->lists[ix->n_lists++], 0, sizeof(u32vec));
    }
    u32vec *v = &ix->lists[list];
    for (size_t i = 0; i < v->n; i++)
        if (v->v[i] == term)
            return WABOT_OK;
    return vec_push(ix->a, v, term);
}

static int add_term_deletes(wb_match_index *ix, const char *w, size_t n,
                            uint32_t term)
{
    if (n < 4 || n >= 64)
        return WABOT_OK;
    char del[64];
    for (size_t i = 0; i < n; i++) {
        memcpy(del, w, i);
        memcpy(del + i, w + i + 1, n - i - 1);
        if (list_add(ix, &ix->deletes, del, n - 1, term) != WABOT_OK)
            return WABOT_ERR_NOMEM;
    }
    return WABOT_OK;
}

/* The term of word w (created with its singular forms and deletions when
 * new) into *term. */
static int intern(wb_match_index *ix, const char *w, size_t n,
                  uint32_t *term)
{
    if (smap_get(ix, &ix->canon, w, n, term))
        return WABOT_OK;
    uint32_t id = (uint32_t)ix->n_terms;
    if (wb_grow(ix->a, (void **)&ix->terms, ix->n_terms + 1, &ix->cap_terms,
                sizeof *ix->terms) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    if (wb_grow(ix->a, (void **)&ix->postings, ix->n_terms + 1,
                &ix->cap_postings, sizeof *ix->postings) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    ix->terms[id] = wb_strndup(ix->a, w, n);
    if (!ix->terms[id])
        return WABOT_ERR_NOMEM;
    memset(&ix->postings[id], 0, sizeof(u32vec));
    ix->n_terms++;
    if (smap_put(ix, &ix->canon, w, n, id, NULL) != WABOT_OK ||
        list_add(ix, &ix->words, w, n, id) != WABOT_OK)
        return WABOT_ERR_NOMEM;
    char forms[3][64];
    size_t k = singular_forms(w, n, forms);
    for (size_t i = 0; i < k; i++)
        if (list_add(ix, &ix->words, forms[i], strlen(forms[i]), id) !=
            WABOT_OK)
            return WABOT_ERR_NOMEM;
    *term = id;
    return add_term_deletes(ix, w, n, id);
}

typedef struct name_builder {
    wb_match_index *ix;
    uint32_t product;
    u32vec terms;
    int rc;
} name_builder;

static void on_name_word(const char *w, size_t n, void *ud)
{
    name_builder *b = ud;
    if (b->rc != WABOT_OK || (n == 1 && w[0] == ','))
        return;
    uint32_t term;
    b->rc = intern(b->ix, w, n, &term);
    if (b->rc != WABOT_OK)
        return;
    b->rc = vec_push(b->ix->a, &b->terms, term);
    u32vec *post = &b->ix->postings[term];
    if (b->rc == WABOT_OK && (post->n == 0 || post->v[post->n - 1] !=
                                                  b->product))
        b->rc = vec_push(b->ix->a, post, b->product);
}

static int add_name(wb_match_index *ix, wb_indexed_product *ip, uint32_t id,
                    const char *name)
{
    size_t len = strlen(name);
    char *folded = wb_malloc(ix->a, len + 1);
    if (!folded)
        return WABOT_ERR_NOMEM;
    wb_keyword_fold_to(name, len, folded);
    name_builder b = {ix, id, {0}, WABOT_OK};
    wb_match_words(folded, on_name_word, &b);
    wb_free(ix->a, folded);
    if (b.rc != WABOT_OK || b.terms.n == 0) {
        wb_free(ix->a, b.terms.v);
        return b.rc;
    }
    ip->names[ip->n_names] = b.terms.v;
    ip->name_lens[ip->n_names++] = (uint32_t)b.terms.n;
    return WABOT_OK;
}

static int add_product(wb_match_index *ix, const wabot_product *p)
{
    uint32_t id = (uint32_t)ix->n_products;
    wb_indexed_product *ip = &ix->products[id];
    memset(ip, 0, sizeof *ip);
    ix->n_products++;
    ip->sku = wb_strdup(ix->a, p->sku);
    ip->name = wb_strdup(ix->a, p->name);
    ip->currency = wb_strdup(ix->a, p->currency);
    ip->price = p->price;
    size_t n = 1 + p->n_aliases;
    ip->names = wb_calloc(ix->a, n, sizeof *ip->names);
    ip->name_lens = wb_calloc(ix->a, n, sizeof *ip->name_lens);
    if (!ip->sku || !ip->name || !ip->currency || !ip->names ||
        !ip->name_lens)
        return WABOT_ERR_NOMEM;
    int rc = add_name(ix, ip, id, p->name);
    for (size_t i = 0; rc == WABOT_OK && i < p->n_aliases; i++)
        rc = add_name(ix, ip, id, p->aliases[i]);
    return rc;
}

wb_match_index *wb_match_index_build(const wabot_allocator *a,
                                     wabot_product **ps, size_t n,
                                     int64_t revision)
{
    wb_match_index *ix = wb_calloc(a, 1, sizeof *ix);
    if (!ix)
        return NULL;
    atomic_init(&ix->refs, 1);
    ix->a = a;
    ix->revision = revision;
    wb_siphash_key(ix, &ix->k0, &ix->k1);
    ix->products = wb_calloc(a, n ? n : 1, sizeof *ix->products);
    int rc = ix->products ? WABOT_OK : WABOT_ERR_NOMEM;
    for (size_t i = 0; rc == WABOT_OK && i < n; i++)
        rc = add_product(ix, ps[i]);
    if (rc != WABOT_OK) {
        wb_match_index_unref(ix);
        return NULL;
    }
    return ix;
}

void wb_match_index_ref(wb_match_index *ix)
{
    atomic_fetch_add(&ix->refs, 1);
}

void wb_match_index_unref(wb_match_index *ix)
{
    if (!ix || atomic_fetch_sub(&ix->refs, 1) != 1)
        return;
    const wabot_allocator *a = ix->a;
    for (size_t i = 0; i < ix->n_products; i++) {
        wb_indexed_product *ip = &ix->products[i];
        for (size_t j = 0; j < ip->n_names; j++)
            wb_free(a, ip->names[j]);
        wb_free(a, ip->names);
        wb_free(a, ip->name_lens);
        wb_free(a, ip->sku);
        wb_free(a, ip->name);
        wb_free(a, ip->currency);
    }
    wb_free(a, ix->products);
    for (size_t i = 0; i < ix->n_terms; i++) {
        wb_free(a, ix->terms[i]);
        wb_free(a, ix->postings[i].v);
    }
    wb_free(a, ix->terms);
    wb_free(a, ix->postings);
    for (size_t i = 0; i < ix->n_lists; i++)
        wb_free(a, ix->lists[i].v);
    wb_free(a, ix->lists);
    smap_free(ix, &ix->canon);
    smap_free(ix, &ix->words);
    smap_free(ix, &ix->deletes);
    for (size_t i = 0; i < ix->n_src; i++)
        wabot_product_free(ix->src[i]);
    wb_free(a, ix->src);
    wb_free(a, ix);
}

void wb_match_index_adopt(wb_match_index *ix, wabot_product **ps, size_t n)
{
    ix->src = ps;
    ix->n_src = n;
}

wabot_product *const *wb_match_index_catalog(const wb_match_index *ix,
                                             size_t *n)
{
    *n = ix->n_src;
    return ix->src;
}

int64_t wb_match_index_revision(const wb_match_index *ix)
{
    return ix->revision;
}

size_t wb_match_index_terms(const wb_match_index *ix)
{
    return ix->n_terms;
}

size_t wb_match_index_products(const wb_match_index *ix)
{
    return ix->n_products;
}

const wb_indexed_product *wb_match_index_product(const wb_match_index *ix,
                                                 uint32_t id)
{
    return id < ix->n_products ? &ix->products[id] : NULL;
}

const uint32_t *wb_match_index_postings(const wb_match_index *ix,
                                        uint32_t term, size_t *n)
{
    *n = term < ix->n_terms ? ix->postings[term].n : 0;
    return term < ix->n_terms ? ix->postings[term].v : NULL;
}

/* ------------------------------------------------------------------ */
/* Lookup                                                              */

/* 1 if a and b are at most one edit apart (insert, delete, substitute,
 * swap two neighbours). */
static int one_edit_apart(const char *a, size_t na, const char *b, size_t nb)
{
    if (na > nb)
        return one_edit_apart(b, nb, a, na);
    if (nb - na > 1)
        return 0;
    size_t i = 0;
    while (i < na && a[i] == b[i])
        i++;
    if (na == nb) {
        if (i == na)
            return 1;
        if (i + 1 < na && a[i] == b[i + 1] && a[i + 1] == b[i] &&
            memcmp(a + i + 2, b + i + 2, na - i - 2) == 0)
            return 1;
        return memcmp(a + i + 1, b + i + 1, na - i - 1) == 0;
    }
    return memcmp(a + i, b + i + 1, na - i) == 0;
}

static size_t add_hit(wb_term_hit *hits, size_t n, size_t cap, uint32_t t,
                      int weight)
{
    for (size_t i = 0; i < n; i++)
        if (hits[i].term == t) {
            if (weight > hits[i].weight)
                hits[i].weight = weight;
            return n;
        }
    if (n < cap)
        hits[n++] = (wb_term_hit){t, weight};
    return n;
}

/* Typo weight: one edit costs a fifth of the word's score. */
#define TYPO_WEIGHT 800

static size_t fuzzy(const wb_match_index *ix, const char *w, size_t len,
                    wb_term_hit *hits, size_t n, size_t cap)
{
    char del[64];
    uint32_t v;
    /* w is a deletion of a term: the customer left a letter out. */
    if (smap_get(ix, &ix->deletes, w, len, &v))
        for (size_t j = 0; j < ix->lists[v].n; j++)
            n = add_hit(hits, n, cap, ix->lists[v].v[j], TYPO_WEIGHT);
    for (size_t i = 0; i < len; i++) {
        memcpy(del, w, i);
        memcpy(del + i, w + i + 1, len - i - 1);
        /* A term is a deletion of w: a letter too many. */
        if (smap_get(ix, &ix->canon, del, len - 1, &v) &&
            one_edit_apart(ix->terms[v], strlen(ix->terms[v]), w, len))
            n = add_hit(hits, n, cap, v, TYPO_WEIGHT);
        /* Both lose a letter: one letter wrong, or two swapped. */
        if (!smap_get(ix, &ix->deletes, del, len - 1, &v))
            continue;
        for (size_t j = 0; j < ix->lists[v].n; j++) {
            uint32_t t = ix->lists[v].v[j];
            if (one_edit_apart(ix->terms[t], strlen(ix->terms[t]), w, len))
                n = add_hit(hits, n, cap, t, TYPO_WEIGHT);
        }
    }
    return n;
}

size_t wb_match_index_lookup(const wb_match_index *ix, const char *word,
                             wb_term_hit *hits, size_t cap)
{
    size_t len = strlen(word), n = 0;
    if (len == 0 || len >= 64)
        return 0;
    char forms[4][64];
    memcpy(forms[0], word, len + 1);
    size_t k = 1 + singular_forms(word, len, forms + 1);
    for (size_t i = 0; i < k; i++) {
        uint32_t l;
        if (!smap_get(ix, &ix->words, forms[i], strlen(forms[i]), &l))
            continue;
        for (size_t j = 0; j < ix->lists[l].n; j++)
            n = add_hit(hits, n, cap, ix->lists[l].v[j], 1000);
    }
    if (n > 0)
        return n;
    for (size_t i = 0; i < k; i++) {
        size_t fl = strlen(forms[i]);
        if (fl >= 4)
            n = fuzzy(ix, forms[i], fl, hits, n, cap);
    }
    return n;
}
