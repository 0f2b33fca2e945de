/* codec_json.c - the streaming JSON scanner behind the fast request decoders.
 *
 * Why not jansson on the hot path: json_loadb builds a tree with one node per
 * value - a malloc, a refcount and, for a number, a strtod call each; an
 * object is a hashtable with its own allocations - and the decoder then walks
 * the tree once and frees it node by node. For the seed's 13-number Paddle web
 * request that was about 52,000 instructions of a 102,000-instruction request
 * (callgrind, whole server, docs/http-api.md "Decoding cost"); for a
 * 3x224x224 tensor sent as JSON, 150,528 nodes. The scanner here reads the
 * body once and writes each number straight into the buffer that becomes the
 * tensor (skiff__jvec), allocating nothing per value.
 *
 * It is deliberately partial: it reads the forms real clients send and
 * returns false on anything else - invalid JSON, a string with an escape, a
 * number jansson would refuse or that needs care (out of int64 range) - and
 * the fast decoder then declines, so the jansson decoder reads the body again
 * and produces the one, tested, error message. The invariant every function
 * keeps: never accept a text that json_loadb(JSON_REJECT_DUPLICATES) refuses,
 * and read every accepted value exactly as the jansson path would (same
 * double from strtod, same int64, same conversion to the tensor type). The
 * fuzz targets check that both decoders agree on every body the fast one
 * accepts (tests/fuzz/fuzz_json_paddle.c, fuzz_kserve.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec_int.h"

/* ---- strings ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (2-4 bytes; s[0] >= 0x80), or 0.
 * The rules are jansson's (utf8_check_full): no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
static int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0], cp, min;
    int len;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
        len = 3, min = 0x800, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000, cp = c & 0x07;
    else
        return 0;
    if ((size_t)len > n)
        return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

bool skiff__jscan_string(skiff__jscan *s, const char **out, size_t *out_len)
{
    if (skiff__jscan_peek(s) != '"')
        return false;
    const unsigned char *p = (const unsigned char *)s->p + 1;
    const unsigned char *e = (const unsigned char *)s->end;
    const unsigned char *start = p;
    while (p < e) {
        unsigned c = *p;
        if (c == '"') {
            *out = (const char *)start;
            *out_len = (size_t)(p - start);
            s->p = (const char *)p + 1;
            return true;
        }
        if (c < 0x20 || c == '\\') /* control characters are invalid; escapes are declined */
            return false;
        if (c < 0x80) {
            p++;
            continue;
        }
        int l = utf8_seq(p, (size_t)(e - p));
        if (l == 0)
            return false;
        p += l;
    }
    return false;
}

bool skiff__jscan_literal(skiff__jscan *s, const char *lit)
{
    size_t n = strlen(lit);
    skiff__jscan_peek(s);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
        return false;
    s->p += n;
    return true;
}

/* ---- numbers ------------------------------------------------------------------ */

/* 10^0 .. 10^22: every one exact in a double. */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static inline bool is_digit(int c) { return c >= '0' && c <= '9'; }

bool skiff__jscan_number(skiff__jscan *s, skiff__jnum *out)
{
    skiff__jscan_peek(s);
    const char *p = s->p, *e = s->end, *start = p;
    bool neg = false;
    if (p < e && *p == '-') {
        neg = true;
        p++;
    }
    /* JSON's grammar, as jansson's lexer applies it: -?(0|[1-9][0-9]*)
     * (\.[0-9]+)?([eE][+-]?[0-9]+)?. Digits accumulate into m without a
     * check per digit; with more than 19 of them m may have wrapped, and the
     * number goes the slow way. */
    if (p >= e || !is_digit(*p))
        return false;
    uint64_t m = 0;
    const char *ds = p;
    if (*p == '0') {
        p++;
        if (p < e && is_digit(*p))
            return false; /* leading zero */
    } else {
        while (p < e && is_digit(*p))
            m = m * 10 + (uint64_t)(*p++ - '0');
    }
    int ndig = (int)(p - ds);
    int scale = 0; /* value = m * 10^(scale + exp) */
    bool is_int = true;
    if (p < e && *p == '.') {
        is_int = false;
        const char *fs = ++p;
        while (p < e && is_digit(*p))
            m = m * 10 + (uint64_t)(*p++ - '0');
        if (p == fs)
            return false;
        scale = -(int)(p - fs);
        ndig += (int)(p - fs);
    }
    int exp = 0;
    if (p < e && (*p == 'e' || *p == 'E')) {
        is_int = false;
        p++;
        bool eneg = false;
        if (p < e && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p >= e || !is_digit(*p))
            return false;
        while (p < e && is_digit(*p)) {
            if (exp < 100000)
                exp = exp * 10 + (*p - '0');
            p++;
        }
        if (eneg)
            exp = -exp;
    }
    bool exact = ndig <= 19; /* m holds every digit (10^19 - 1 < 2^64) */
    if (is_int) {
        /* jansson: strtoll, refusing what overflows int64 */
        if (!exact || m > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
            return false;
        out->is_int = true;
        out->i = neg ? (int64_t)(0 - m) : (int64_t)m;
        out->d = (double)out->i;
        s->p = p;
        return true;
    }
    double d;
    int x = scale + exp;
    if (exact && m == 0) {
        d = 0.0; /* strtod too gives a zero of the sign written */
    } else if (exact && m <= ((uint64_t)1 << 53) && x >= -22 && x <= 22) {
        /* Both operands are exact doubles, so the one rounding of the
         * multiply or divide is the correctly rounded result strtod gives
         * (Clinger's fast path). */
        d = x >= 0 ? (double)m * pow10_exact[x] : (double)m / pow10_exact[-x];
    } else {
        char buf[256]; /* longer numbers are left to jansson */
        size_t n = (size_t)(p - start);
        if (n >= sizeof(buf))
            return false;
        memcpy(buf, start, n);
        buf[n] = '\0';
        d = strtod(buf, NULL); /* skiff runs in the "C" locale: '.' is the point */
        if (isinf(d))
            return false; /* jansson: "real number overflow" */
        neg = false;      /* strtod read the sign */
    }
    out->is_int = false;
    out->i = 0;
    out->d = neg ? -d : d;
    s->p = p;
    return true;
}

bool skiff__jnum_dtype_ok(skiff_dtype_t dtype)
{
    return dtype == SKIFF_DTYPE_FLOAT32 || dtype == SKIFF_DTYPE_FLOAT64 ||
           dtype == SKIFF_DTYPE_INT64 || dtype == SKIFF_DTYPE_INT32;
}

static inline bool jnum_store(const skiff__jnum *n, skiff_dtype_t dtype, void *dst, int64_t at)
{
    switch (dtype) {
    case SKIFF_DTYPE_FLOAT32: {
        /* through double, as skiff__codec_leaf converts jansson's values */
        float f = (float)n->d;
        if (!isfinite(f))
            return false;
        ((float *)dst)[at] = f;
        return true;
    }
    case SKIFF_DTYPE_FLOAT64: ((double *)dst)[at] = n->d; return true;
    case SKIFF_DTYPE_INT64:
        if (!n->is_int)
            return false;
        ((int64_t *)dst)[at] = n->i;
        return true;
    case SKIFF_DTYPE_INT32:
        if (!n->is_int || n->i < INT32_MIN || n->i > INT32_MAX)
            return false;
        ((int32_t *)dst)[at] = (int32_t)n->i;
        return true;
    default: return false;
    }
}

bool skiff__jnum_store(const skiff__jnum *n, skiff_dtype_t dtype, void *dst, int64_t at)
{
    return jnum_store(n, dtype, dst, at);
}

/* ---- tensors ------------------------------------------------------------------- */

bool skiff__jvec_grow(skiff__jvec *v)
{
    if (v->n < v->cap)
        return true;
    int64_t cap = v->cap ? v->cap * 2 : 16;
    size_t bytes;
    if (cap > ((int64_t)1 << 40) || !skiff__mul_size((size_t)cap, v->esize, &bytes))
        return false;
    void *d = skiff__aligned_alloc(bytes);
    if (!d)
        return false;
    if (v->n)
        memcpy(d, v->data, (size_t)v->n * v->esize);
    skiff__free(v->data);
    v->data = d;
    v->cap = cap;
    return true;
}

void skiff__jvec_free(skiff__jvec *v)
{
    skiff__free(v->data);
    v->data = NULL;
    v->n = v->cap = 0;
}

bool skiff__jvec_take(skiff__jvec *v, skiff_tensor_t *t, skiff_dtype_t dtype, int nd,
                      const int64_t *dims)
{
    /* a value with no elements still gets a buffer of its own */
    if (!v->data && !(v->data = skiff__aligned_alloc(64)))
        return false;
    *t = (skiff_tensor_t){.dtype = dtype,
                          .ndim = nd,
                          .data = v->data,
                          .nbytes = (size_t)v->n * v->esize,
                          .flags = SKIFF_TENSOR_OWNS_DATA};
    if (nd)
        memcpy(t->dims, dims, sizeof(int64_t) * (size_t)nd);
    v->data = NULL;
    v->n = v->cap = 0;
    return true;
}

bool skiff__jscan_tensor(skiff__jscan *s, skiff_dtype_t dtype, skiff__jvec *v, int64_t max_total,
                         int *out_nd, int64_t dims[SKIFF_MAX_DIMS], bool *out_oom)
{
    /* Every list at one depth must be as long as the first one closed there
     * (that one is on the first-element path jansson's decoder measures);
     * numbers sit at one depth only, found by the first number. */
    int64_t items[SKIFF_MAX_DIMS]; /* items so far in the open list at each depth */
    int depth = 0, nd = -1;
    for (int i = 0; i < SKIFF_MAX_DIMS; i++)
        dims[i] = -1;
    *out_oom = false;
    if (skiff__jscan_peek(s) != '[')
        return false;
    for (;;) {
        int c = skiff__jscan_peek(s);
        if (c == '[') {
            if (depth == SKIFF_MAX_DIMS || (nd >= 0 && depth >= nd))
                return false;
            s->p++;
            items[depth++] = 0;
            continue;
        }
        /* a number (an empty list and anything else are declined) */
        if (depth != nd) {
            if (nd >= 0)
                return false;
            nd = depth;
        }
        skiff__jnum num;
        if (v->n >= max_total || !skiff__jscan_number(s, &num))
            return false;
        if (v->n == v->cap && !skiff__jvec_grow(v)) {
            *out_oom = true;
            return false;
        }
        if (!jnum_store(&num, dtype, v->data, v->n))
            return false;
        v->n++;
        items[depth - 1]++;
        /* then ',' or the ends of lists */
        for (;;) {
            c = skiff__jscan_peek(s);
            if (c == ',') {
                s->p++;
                break;
            }
            if (c != ']')
                return false;
            s->p++;
            int k = --depth; /* the list that closed held items[k] */
            if (dims[k] < 0)
                dims[k] = items[k];
            else if (dims[k] != items[k])
                return false;
            if (depth == 0) {
                *out_nd = nd;
                return true;
            }
            items[depth - 1]++;
        }
    }
}

/* ---- spec lookup by length ------------------------------------------------------- */

static bool eq_n(const char *z, const char *key, size_t len)
{
    return z && strncmp(z, key, len) == 0 && z[len] == '\0';
}

int skiff__codec_find_spec_n(const skiff__io_spec *specs, int n, const char *key, size_t len,
                             bool alias_first)
{
    /* A key holding a NUL byte cannot come from the scanner (control
     * characters are refused), so byte equality is strcmp equality. */
    for (int pass = 0; pass < 2; pass++) {
        bool by_alias = (pass == 0) == alias_first;
        for (int i = 0; i < n; i++) {
            const char *k =
                by_alias ? (specs[i].alias ? specs[i].alias : specs[i].name) : specs[i].name;
            if (eq_n(k, key, len))
                return i;
        }
    }
    return -1;
}
