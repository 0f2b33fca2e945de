/* strings.c - the text operators of the default domain: StringNormalizer
 * (opset 10) and TfIdfVectorizer (opset 9).
 *
 * StringNormalizer drops stop words and changes case, code point by code
 * point over UTF-8 (bytes that are not valid UTF-8 pass unchanged). Case
 * mappings come from a POSIX locale object made at load time: the node's
 * 'locale' (as given, then with ".UTF-8"), else C.UTF-8; process-wide
 * setlocale is never touched. Where no UTF-8 locale exists only ASCII
 * letters change case. A case-insensitive stop word matches when both
 * lower-case to the same string.
 *
 * TfIdfVectorizer counts, per row, the n-grams of the pool: tokens
 * i, i + d, ..., i + (n-1)d for every start i, gram length n in
 * [min_gram_length, max_gram_length] and distance d in [1, max_skip_count
 * + 1]; a 1-gram has no distance and is counted once per position. The
 * pool's n-grams sit in a hash table built at load time (node->prep), so a
 * lookup costs one hash of the candidate's tokens. */
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "../../engine_int.h"

/* ==== UTF-8 ===================================================================== */

/* Decodes one code point at s (n bytes left); returns its length, 0 when the
 * bytes are not valid UTF-8. */
static int utf8_dec(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    int len = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || (size_t)len > n)
        return 0;
    uint32_t v = s[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_of[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_of[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

static int utf8_enc(uint32_t cp, unsigned char *o)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ==== StringNormalizer =========================================================== */

typedef enum sn_case { SN_NONE, SN_LOWER, SN_UPPER } sn_case;

typedef struct sn_prep {
    sn_case action;
    bool sensitive;
    locale_t loc; /* (locale_t)0: ASCII only */
    char **stop;  /* stop words, lower-cased when not case-sensitive */
    int n_stop;
} sn_prep;

static uint32_t map_case(const sn_prep *p, uint32_t cp, bool upper)
{
    if (p->loc) {
        wint_t r = upper ? towupper_l((wint_t)cp, p->loc) : towlower_l((wint_t)cp, p->loc);
        return r <= 0x10FFFF ? (uint32_t)r : cp;
    }
    if (upper && cp >= 'a' && cp <= 'z')
        return cp - 32;
    if (!upper && cp >= 'A' && cp <= 'Z')
        return cp + 32;
    return cp;
}

/* A new string: s with its case changed (NULL when out of memory). */
static char *change_case(const sn_prep *p, const char *s, bool upper)
{
    size_t n = strlen(s);
    unsigned char *o = skiff__malloc(n * 4 + 1), *w = o;
    if (!o)
        return NULL;
    const unsigned char *r = (const unsigned char *)s;
    while (n > 0) {
        uint32_t cp;
        int len = utf8_dec(r, n, &cp);
        if (len == 0) { /* not UTF-8: the byte as it is */
            *w++ = *r++;
            n--;
            continue;
        }
        w += utf8_enc(map_case(p, cp, upper), w);
        r += len;
        n -= (size_t)len;
    }
    *w = '\0';
    return (char *)o;
}

static void sn_prep_free(void *v)
{
    sn_prep *p = v;
    if (!p)
        return;
    for (int i = 0; i < p->n_stop; i++)
        skiff__free(p->stop[i]);
    skiff__free(p->stop);
    if (p->loc)
        freelocale(p->loc);
    skiff__free(p);
}

static locale_t sn_locale(const char *name)
{
    locale_t l = (locale_t)0;
    char buf[128];
    if (name && name[0]) {
        l = newlocale(LC_CTYPE_MASK, name, (locale_t)0);
        if (!l && snprintf(buf, sizeof(buf), "%s.UTF-8", name) < (int)sizeof(buf))
            l = newlocale(LC_CTYPE_MASK, buf, (locale_t)0);
    }
    if (!l)
        l = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    return l;
}

static skiff_status_t *sn_build(const skiff__node *node, sn_prep **out)
{
    *out = NULL;
    const char *act = skiff__attr_str(node, "case_change_action", "NONE");
    sn_case action;
    if (strcmp(act, "NONE") == 0)
        action = SN_NONE;
    else if (strcmp(act, "LOWER") == 0)
        action = SN_LOWER;
    else if (strcmp(act, "UPPER") == 0)
        action = SN_UPPER;
    else
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                               "attribute 'case_change_action': expected 'NONE', 'LOWER' or "
                               "'UPPER', got '%s'",
                               act);
    int64_t cs = skiff__attr_int(node, "is_case_sensitive", 0);
    if (cs != 0 && cs != 1)
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                               "attribute 'is_case_sensitive': expected 0 or 1, got %lld",
                               (long long)cs);
    sn_prep *p = skiff__calloc(1, sizeof(*p));
    if (!p)
        return skiff__node_err(node, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    p->action = action;
    p->sensitive = cs == 1;
    p->loc = sn_locale(skiff__attr_str(node, "locale", NULL));
    const skiff__attr *sw = skiff__attr_find(node, "stopwords");
    int n = sw && sw->type == SKIFF_ATTR_STRINGS ? sw->n : 0;
    if (n > 0 && !(p->stop = skiff__calloc((size_t)n, sizeof(char *)))) {
        sn_prep_free(p);
        return skiff__node_err(node, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        const char *w = sw->strings[i] ? sw->strings[i] : "";
        p->stop[i] = p->sensitive ? skiff__strdup(w) : change_case(p, w, false);
        if (!p->stop[i]) {
            sn_prep_free(p);
            return skiff__node_err(node, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        }
        p->n_stop = i + 1;
    }
    *out = p;
    return NULL;
}

static skiff_status_t *sn_prepare(skiff__node *node, const skiff__graph *graph)
{
    (void)graph;
    sn_prep *p = NULL;
    skiff_status_t *st = sn_build(node, &p);
    if (!st)
        node->prep = p;
    return st;
}

static skiff_status_t *sn_is_stop(const skiff__kctx *ctx, const sn_prep *p, const char *s,
                                  bool *stop)
{
    *stop = false;
    if (p->n_stop == 0)
        return NULL;
    char *low = p->sensitive ? NULL : change_case(p, s, false);
    if (!p->sensitive && !low)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    for (int i = 0; i < p->n_stop && !*stop; i++)
        *stop = strcmp(p->stop[i], low ? low : s) == 0;
    skiff__free(low);
    return NULL;
}

static skiff_status_t *sn_apply(skiff__kctx *ctx, const sn_prep *p, const skiff_tensor_t *X)
{
    char a[64];
    if (X->dtype != SKIFF_DTYPE_STRING)
        return skiff__kctx_bad_dtype(ctx, "X", X->dtype);
    if (!(X->ndim == 1 || (X->ndim == 2 && X->dims[0] == 1)))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X': expected [C] or [1, C], got %s",
                           skiff_shape_str(X->ndim, X->dims, a, sizeof(a)));
    const int64_t n = skiff_tensor_numel(X);
    char *const *in = X->data;
    bool *keep = skiff__kctx_scratch(ctx, (size_t)(n > 0 ? n : 1));
    if (!keep)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    int64_t kept = 0;
    skiff_status_t *st;
    for (int64_t i = 0; i < n; i++) {
        bool stop;
        if ((st = sn_is_stop(ctx, p, in[i] ? in[i] : "", &stop)))
            return st;
        keep[i] = !stop;
        kept += keep[i];
    }
    /* Nothing left: one empty string, as the operator defines. */
    int64_t od[2] = {1, kept > 0 ? kept : 1};
    skiff_tensor_t *Y = X->ndim == 1
                            ? skiff__kctx_output(ctx, 0, SKIFF_DTYPE_STRING, 1, od + 1, &st)
                            : skiff__kctx_output(ctx, 0, SKIFF_DTYPE_STRING, 2, od, &st);
    if (!Y)
        return st;
    char **out = Y->data;
    if (kept == 0) {
        if (!(out[0] = skiff__strdup("")))
            return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    for (int64_t i = 0, k = 0; i < n; i++) {
        if (!keep[i])
            continue;
        const char *s = in[i] ? in[i] : "";
        out[k] = p->action == SN_NONE ? skiff__strdup(s) : change_case(p, s, p->action == SN_UPPER);
        if (!out[k++])
            return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    return NULL;
}

static skiff_status_t *run_strnorm(skiff__kctx *ctx)
{
    const skiff_tensor_t *X;
    skiff_status_t *st = skiff__kctx_input(ctx, 0, "X", &X);
    if (st)
        return st;
    const sn_prep *p = ctx->node->prep;
    sn_prep *own = NULL;
    if (!p) { /* constant folding runs before prepare */
        if ((st = sn_build(ctx->node, &own)))
            return st;
        p = own;
    }
    st = sn_apply(ctx, p, X);
    sn_prep_free(own);
    return st;
}

/* ==== TfIdfVectorizer ============================================================= */

typedef enum tf_mode { TF_TF, TF_IDF, TF_TFIDF } tf_mode;

typedef struct tf_prep {
    tf_mode mode;
    int64_t min_n, max_n, max_skip;
    bool strings;
    const int64_t *pool_i; /* borrowed from the node's attributes */
    char *const *pool_s;
    int64_t n_grams;
    int64_t *start, *len; /* each pool n-gram: first pool item, length */
    const int64_t *index; /* ngram_indexes */
    const float *weights; /* NULL: all 1 */
    int64_t out_size;
    int64_t *slot; /* hash table of n-gram ids, -1 empty; cap a power of two */
    uint64_t cap;
} tf_prep;

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h * 0x100000001B3ull;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
    return h;
}

/* A token source: the pool or an input row, read at positions p0 + k*d. */
typedef struct tf_tok {
    const int64_t *i64;
    const int32_t *i32;
    char *const *str;
} tf_tok;

static uint64_t tok_hash(const tf_tok *t, int64_t pos)
{
    if (t->str)
        return hash_str(t->str[pos] ? t->str[pos] : "");
    return (uint64_t)(t->i64 ? t->i64[pos] : t->i32[pos]);
}

static bool tok_eq(const tf_tok *a, int64_t pa, const tf_tok *b, int64_t pb)
{
    if (a->str)
        return strcmp(a->str[pa] ? a->str[pa] : "", b->str[pb] ? b->str[pb] : "") == 0;
    int64_t va = a->i64 ? a->i64[pa] : a->i32[pa], vb = b->i64 ? b->i64[pb] : b->i32[pb];
    return va == vb;
}

static uint64_t gram_hash(const tf_tok *t, int64_t p0, int64_t d, int64_t n)
{
    uint64_t h = mix(0, (uint64_t)n);
    for (int64_t k = 0; k < n; k++)
        h = mix(h, tok_hash(t, p0 + k * d));
    return h;
}

/* The pool n-gram equal to the candidate, or -1. */
static int64_t tf_find(const tf_prep *p, const tf_tok *t, int64_t p0, int64_t d, int64_t n)
{
    tf_tok pool = {.i64 = p->pool_i, .str = p->pool_s};
    for (uint64_t h = gram_hash(t, p0, d, n) & (p->cap - 1);; h = (h + 1) & (p->cap - 1)) {
        int64_t g = p->slot[h];
        if (g < 0)
            return -1;
        if (p->len[g] != n)
            continue;
        bool eq = true;
        for (int64_t k = 0; k < n && eq; k++)
            eq = tok_eq(&pool, p->start[g] + k, t, p0 + k * d);
        if (eq)
            return g;
    }
}

static void tf_prep_free(void *v)
{
    tf_prep *p = v;
    if (!p)
        return;
    skiff__free(p->start);
    skiff__free(p->len);
    skiff__free(p->slot);
    skiff__free(p);
}

static skiff_status_t *tf_attrs(const skiff__node *node, tf_prep *p, const int64_t **counts,
                                int *n_counts, int64_t *pool_n)
{
    const char *mode = skiff__attr_str(node, "mode", NULL);
    if (!mode || (strcmp(mode, "TF") && strcmp(mode, "IDF") && strcmp(mode, "TFIDF")))
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                               "attribute 'mode': expected 'TF', 'IDF' or 'TFIDF', got '%s'",
                               mode ? mode : "(none)");
    p->mode = strcmp(mode, "TF") == 0 ? TF_TF : strcmp(mode, "IDF") == 0 ? TF_IDF : TF_TFIDF;
    p->min_n = skiff__attr_int(node, "min_gram_length", -1);
    p->max_n = skiff__attr_int(node, "max_gram_length", -1);
    p->max_skip = skiff__attr_int(node, "max_skip_count", -1);
    if (p->min_n < 1 || p->max_n < p->min_n || p->max_skip < 0 || p->max_n > 1024 ||
        p->max_skip > (1 << 20))
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                               "attributes 'min_gram_length' %lld, 'max_gram_length' %lld, "
                               "'max_skip_count' %lld: expected 1 <= min <= max <= 1024, skips "
                               "0..2^20",
                               (long long)p->min_n, (long long)p->max_n, (long long)p->max_skip);
    const skiff__attr *ps = skiff__attr_find(node, "pool_strings");
    const skiff__attr *pi = skiff__attr_find(node, "pool_int64s");
    bool has_s = ps && ps->type == SKIFF_ATTR_STRINGS, has_i = pi && pi->type == SKIFF_ATTR_INTS;
    if (has_s == has_i)
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                               "exactly one of attributes 'pool_strings' and 'pool_int64s' is "
                               "required, got %s",
                               has_s ? "both" : "neither");
    p->strings = has_s;
    p->pool_s = has_s ? ps->strings : NULL;
    p->pool_i = has_i ? pi->ints : NULL;
    *pool_n = has_s ? ps->n : pi->n;
    *n_counts = skiff__attr_ints(node, "ngram_counts", counts);
    if (*n_counts < 1 || *n_counts > 1024)
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                               "attribute 'ngram_counts': expected 1..1024 start offsets, got %d",
                               *n_counts < 0 ? 0 : *n_counts);
    return NULL;
}

/* Splits the pool into n-grams by ngram_counts and checks the parallel
 * attributes. */
static skiff_status_t *tf_grams(const skiff__node *node, tf_prep *p, const int64_t *counts,
                                int n_counts, int64_t pool_n)
{
    int64_t total = 0;
    for (int k = 0; k < n_counts; k++) {
        int64_t s = counts[k], e = k + 1 < n_counts ? counts[k + 1] : pool_n;
        if (s < 0 || e < s || e > pool_n || (e - s) % (k + 1) != 0)
            return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                                   "attribute 'ngram_counts': the %d-grams' items [%lld, %lld) "
                                   "are not whole %d-grams of the %lld-item pool",
                                   k + 1, (long long)s, (long long)e, k + 1, (long long)pool_n);
        total += (e - s) / (k + 1);
    }
    int ni = skiff__attr_ints(node, "ngram_indexes", &p->index);
    if (ni != total)
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                               "attribute 'ngram_indexes': expected %lld values (one per pool "
                               "n-gram), got %d",
                               (long long)total, ni < 0 ? 0 : ni);
    int nw = skiff__attr_floats(node, "weights", &p->weights);
    if (nw >= 0 && nw != total)
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                               "attribute 'weights': expected %lld values, got %d",
                               (long long)total, nw);
    p->n_grams = total;
    p->out_size = 0;
    for (int64_t g = 0; g < total; g++) {
        if (p->index[g] < 0 || p->index[g] > ((int64_t)1 << 31))
            return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                                   "attribute 'ngram_indexes': value %lld at %lld is outside "
                                   "0..2^31",
                                   (long long)p->index[g], (long long)g);
        if (p->index[g] + 1 > p->out_size)
            p->out_size = p->index[g] + 1;
    }
    p->cap = 16;
    while (p->cap < (uint64_t)total * 2)
        p->cap <<= 1;
    p->start = skiff__malloc(sizeof(int64_t) * (size_t)(total > 0 ? total : 1));
    p->len = skiff__malloc(sizeof(int64_t) * (size_t)(total > 0 ? total : 1));
    p->slot = skiff__malloc(sizeof(int64_t) * p->cap);
    if (!p->start || !p->len || !p->slot)
        return skiff__node_err(node, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    memset(p->slot, 0xFF, sizeof(int64_t) * p->cap);
    tf_tok pool = {.i64 = p->pool_i, .str = p->pool_s};
    for (int k = 0, g = 0; k < n_counts; k++) {
        int64_t s = counts[k], e = k + 1 < n_counts ? counts[k + 1] : pool_n;
        for (int64_t it = s; it < e; it += k + 1, g++) {
            p->start[g] = it;
            p->len[g] = k + 1;
            uint64_t h = gram_hash(&pool, it, 1, k + 1) & (p->cap - 1);
            while (p->slot[h] >= 0)
                h = (h + 1) & (p->cap - 1);
            p->slot[h] = g; /* a repeated n-gram: the first one is found */
        }
    }
    return NULL;
}

static skiff_status_t *tf_build(const skiff__node *node, tf_prep **out)
{
    *out = NULL;
    tf_prep *p = skiff__calloc(1, sizeof(*p));
    if (!p)
        return skiff__node_err(node, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    const int64_t *counts = NULL;
    int n_counts = 0;
    int64_t pool_n = 0;
    skiff_status_t *st = tf_attrs(node, p, &counts, &n_counts, &pool_n);
    if (!st)
        st = tf_grams(node, p, counts, n_counts, pool_n);
    if (st) {
        tf_prep_free(p);
        return st;
    }
    *out = p;
    return NULL;
}

static skiff_status_t *tf_prepare(skiff__node *node, const skiff__graph *graph)
{
    (void)graph;
    tf_prep *p = NULL;
    skiff_status_t *st = tf_build(node, &p);
    if (!st)
        node->prep = p;
    return st;
}

static skiff_status_t *tf_apply(skiff__kctx *ctx, const tf_prep *p, const skiff_tensor_t *X)
{
    char a[64];
    bool is_str = X->dtype == SKIFF_DTYPE_STRING;
    if (is_str != p->strings ||
        (!is_str && X->dtype != SKIFF_DTYPE_INT32 && X->dtype != SKIFF_DTYPE_INT64))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X': expected %s, got %s",
                           p->strings ? "string (the pool is 'pool_strings')"
                                      : "int32 or int64 (the pool is 'pool_int64s')",
                           skiff_dtype_name(X->dtype));
    if (X->ndim != 1 && X->ndim != 2)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'X': expected [C] or [N, C], got %s",
                           skiff_shape_str(X->ndim, X->dims, a, sizeof(a)));
    const int64_t rows = X->ndim == 2 ? X->dims[0] : 1, C = X->dims[X->ndim - 1];
    skiff_status_t *st;
    if ((st = skiff__kctx_cost(ctx, (double)rows * (double)C * (double)(p->max_skip + 1) *
                                        (double)(p->max_n - p->min_n + 1) * (double)p->max_n)))
        return st;
    int64_t od[2] = {rows, p->out_size};
    skiff_tensor_t *Y = X->ndim == 2
                            ? skiff__kctx_output(ctx, 0, SKIFF_DTYPE_FLOAT32, 2, od, &st)
                            : skiff__kctx_output(ctx, 0, SKIFF_DTYPE_FLOAT32, 1, od + 1, &st);
    if (!Y)
        return st;
    float *y = Y->data;
    memset(y, 0, Y->nbytes);
    /* counts per output coordinate; weighted into the row after the scan */
    float *cnt =
        p->mode == TF_TF ? NULL : skiff__kctx_scratch(ctx, (size_t)p->out_size * sizeof(float));
    if (p->mode != TF_TF && !cnt)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    for (int64_t r = 0; r < rows; r++) {
        tf_tok t = {.str = is_str ? (char *const *)X->data + r * C : NULL,
                    .i64 = X->dtype == SKIFF_DTYPE_INT64 ? (const int64_t *)X->data + r * C : NULL,
                    .i32 = X->dtype == SKIFF_DTYPE_INT32 ? (const int32_t *)X->data + r * C : NULL};
        float *row = y + r * p->out_size, *acc = cnt ? cnt : row;
        if (cnt)
            memset(cnt, 0, (size_t)p->out_size * sizeof(float));
        for (int64_t i = 0; i < C; i++) {
            for (int64_t n = p->min_n; n <= p->max_n; n++) {
                for (int64_t d = 1; d <= (n == 1 ? 1 : p->max_skip + 1); d++) {
                    if (i + (n - 1) * d >= C)
                        break;
                    int64_t g = tf_find(p, &t, i, d, n);
                    if (g >= 0)
                        acc[p->index[g]] += 1.0f;
                }
            }
        }
        for (int64_t g = 0; cnt && g < p->n_grams; g++) {
            float c = cnt[p->index[g]], w = p->weights ? p->weights[g] : 1.0f;
            row[p->index[g]] = (p->mode == TF_IDF ? (c > 0.0f ? 1.0f : 0.0f) : c) * w;
        }
    }
    return NULL;
}

static skiff_status_t *run_tfidf(skiff__kctx *ctx)
{
    const skiff_tensor_t *X;
    skiff_status_t *st = skiff__kctx_input(ctx, 0, "X", &X);
    if (st)
        return st;
    const tf_prep *p = ctx->node->prep;
    tf_prep *own = NULL;
    if (!p) { /* constant folding runs before prepare */
        if ((st = tf_build(ctx->node, &own)))
            return st;
        p = own;
    }
    st = tf_apply(ctx, p, X);
    tf_prep_free(own);
    return st;
}

const skiff__op skiff__ops_strings[] = {
    {.type = "StringNormalizer",
     .min_opset = 10,
     .prepare = sn_prepare,
     .run = run_strnorm,
     .prep_free = sn_prep_free},
    {.type = "TfIdfVectorizer",
     .min_opset = 9,
     .prepare = tf_prepare,
     .run = run_tfidf,
     .prep_free = tf_prep_free},
    {.type = NULL},
};
