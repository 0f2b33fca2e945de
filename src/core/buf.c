/* buf.c - protocol-neutral bytes: the one growing byte buffer every layer
 * writes into (answers, metrics, confs, logs), with the number, string and
 * base64 writers the wire formats share.
 *
 * Floats are written in the shortest form that reads back to the same value
 * (`0.1`, `18.5`, `3.4028235e+38`; integral floats keep a `.0`), by an exact
 * digit generator for float32 between 1e-14 and 1e30 and snprintf("%.*g")
 * with the fewest digits that read back for the rest; JSON has no NaN or
 * infinity, so those are written as `null`.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "core.h"

void skiff__buf_reset(skiff__buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void skiff__buf_free(skiff__buf *b)
{
    skiff__free(b->data);
    *b = (skiff__buf){0};
}

bool skiff__buf_reserve(skiff__buf *b, size_t extra)
{
    size_t need;
    if (__builtin_add_overflow(b->len, extra, &need) || __builtin_add_overflow(need, 1, &need))
        return false;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (__builtin_mul_overflow(cap, 2, &cap))
            return false;
    }
    char *d = skiff__realloc(b->data, cap);
    if (!d)
        return false;
    b->data = d;
    b->cap = cap;
    return true;
}

bool skiff__buf_append(skiff__buf *b, const void *p, size_t n)
{
    if (!skiff__buf_reserve(b, n))
        return false;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

bool skiff__buf_lit(skiff__buf *b, const char *s) { return skiff__buf_append(b, s, strlen(s)); }

bool skiff__buf_char(skiff__buf *b, char c)
{
    if (b->len + 1 < b->cap) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return true;
    }
    return skiff__buf_append(b, &c, 1);
}

/* Digits written backwards into a small stack buffer: cheaper than snprintf,
 * which matters when a response carries thousands of integers. */
bool skiff__buf_u64(skiff__buf *b, uint64_t v)
{
    char tmp[24];
    int i = 24;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return skiff__buf_append(b, tmp + i, (size_t)(24 - i));
}

bool skiff__buf_i64(skiff__buf *b, int64_t v)
{
    if (v < 0) {
        if (!skiff__buf_char(b, '-'))
            return false;
        return skiff__buf_u64(b, (uint64_t)0 - (uint64_t)v);
    }
    return skiff__buf_u64(b, (uint64_t)v);
}

/* Appends ".0" when %g wrote an integer, so typed clients keep seeing floats. */
static bool append_num(skiff__buf *b, const char *s, int n)
{
    bool integral = true;
    for (int i = 0; i < n; i++)
        if (s[i] != '-' && (s[i] < '0' || s[i] > '9'))
            integral = false;
    if (!skiff__buf_append(b, s, (size_t)n))
        return false;
    return integral ? skiff__buf_append(b, ".0", 2) : true;
}

/* 10^0 .. 10^22, each exact in a double. */
static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The 9 significant digits and decimal exponent "%.8e" writes for a float
 * value, without snprintf: |v| * 10^k with an exact power of ten is one
 * rounding away from the true scaled value (error under 1e-7 below 1e9), so
 * rounding it to an integer gives snprintf's digits unless the fraction is
 * within 1e-6 of one half - then, and outside 1e-14..1e30, false, and the
 * caller asks snprintf. */
static bool f32_digits9(double v, char dig[9], int *out_x)
{
    double a = fabs(v);
    if (!(a >= 1e-14 && a < 1e30))
        return false;
    int x = (int)floor(log10(a));
    for (int tries = 0; tries < 3; tries++) {
        int k = 8 - x;
        if (k < -22 || k > 22)
            return false;
        double y = k >= 0 ? a * p10[k] : a / p10[-k];
        if (y < 1e8) {
            x--;
            continue;
        }
        if (y >= 1e9) {
            x++;
            continue;
        }
        double fl = floor(y), fr = y - fl;
        if (fabs(fr - 0.5) < 1e-6)
            return false;
        uint64_t d = (uint64_t)fl + (fr > 0.5);
        if (d == 1000000000u) {
            d = 100000000u;
            x++;
        }
        for (int i = 8; i >= 0; i--) {
            dig[i] = (char)('0' + d % 10);
            d /= 10;
        }
        *out_x = x;
        return true;
    }
    return false;
}

/* Whether digits d[0..len) times 10^(x-len+1) read back as the float f (sign
 * aside): 1 yes, 0 no, -1 cannot tell cheaply (then strtof decides). The
 * decimal is at most 9 digits and the power exact, so r is the correctly
 * rounded double; (float)r is then what strtof gives, except when r lies
 * exactly halfway between two floats (double rounding). */
static int f32_reads_back(const char *d, int len, int x, float f)
{
    uint64_t n = 0;
    for (int i = 0; i < len; i++)
        n = n * 10 + (uint64_t)(d[i] - '0');
    int k = x - (len - 1);
    if (k < -22 || k > 22)
        return -1;
    double r = k >= 0 ? (double)n * p10[k] : (double)n / p10[-k];
    float g = (float)r;
    double back = g;
    if (back != r) {
        float h = nextafterf(g, r > back ? INFINITY : -INFINITY);
        if (r == ((double)g + (double)h) / 2)
            return -1;
    }
    return g == fabsf(f);
}

/* Writes `v` the way "%.<p>g" would, for the smallest p in [pmin, pmax] whose
 * text reads back to the same value (as a float when is_f32). The pmax digits
 * come from snprintf once (for floats, usually from f32_digits9 without it);
 * shorter candidates are rounded from that digit string and checked with
 * strtof/strtod (for floats, usually f32_reads_back), which is several times
 * cheaper than another snprintf. Where the cut falls on "5000..", the digits
 * may have been rounded up from "4999..", so snprintf rounds that candidate
 * from the exact value instead. Returns the length. */
static int fmt_shortest(char *out, double v, int pmin, int pmax, bool is_f32)
{
    bool neg = signbit(v);
    char dig[24];
    int nd = 0;
    int exp10;
    if (is_f32 && pmax == 9 && f32_digits9(v, dig, &exp10)) {
        nd = 9;
    } else {
        char e[48];
        snprintf(e, sizeof(e), "%.*e", pmax - 1, v);
        const char *s = e + (neg ? 1 : 0);
        dig[nd++] = *s++;
        if (*s == '.')
            for (s++; *s >= '0' && *s <= '9' && nd < pmax; s++)
                dig[nd++] = *s;
        exp10 = (int)strtol(s + 1, NULL, 10); /* s points at 'e' */
    }
    int n = 0;
    for (int p = pmin; p <= pmax; p++) {
        char d[24];
        int x = exp10;
        memcpy(d, dig, (size_t)p);
        bool tie = p < nd && dig[p] == '5';
        for (int i = p + 1; tie && i < nd; i++)
            tie = dig[i] == '0';
        if (tie) {
            /* "..5000" may be a rounded-up "..4999": ask snprintf for these digits */
            char e2[48];
            snprintf(e2, sizeof(e2), "%.*e", p - 1, v);
            const char *t = e2 + (neg ? 1 : 0);
            int k = 0;
            d[k++] = *t++;
            if (*t == '.')
                for (t++; *t >= '0' && *t <= '9' && k < p; t++)
                    d[k++] = *t;
            x = (int)strtol(t + 1, NULL, 10);
        } else if (p < nd && dig[p] >= '5') {
            int k = p - 1;
            while (k >= 0 && d[k] == '9')
                d[k--] = '0';
            if (k < 0) {
                d[0] = '1';
                x++;
            } else {
                d[k]++;
            }
        }
        int len = p;
        while (len > 1 && d[len - 1] == '0')
            len--;
        n = 0;
        if (neg)
            out[n++] = '-';
        if (x < -4 || x >= p) {
            out[n++] = d[0];
            if (len > 1) {
                out[n++] = '.';
                memcpy(out + n, d + 1, (size_t)len - 1);
                n += len - 1;
            }
            /* "e%c%02d" */
            int ax = x < 0 ? -x : x;
            out[n++] = 'e';
            out[n++] = x < 0 ? '-' : '+';
            if (ax >= 100)
                out[n++] = (char)('0' + ax / 100);
            out[n++] = (char)('0' + ax / 10 % 10);
            out[n++] = (char)('0' + ax % 10);
        } else if (x >= 0) {
            for (int i = 0; i <= x; i++)
                out[n++] = i < len ? d[i] : '0';
            if (len > x + 1) {
                out[n++] = '.';
                memcpy(out + n, d + x + 1, (size_t)(len - x - 1));
                n += len - x - 1;
            }
        } else {
            out[n++] = '0';
            out[n++] = '.';
            for (int i = 0; i < -x - 1; i++)
                out[n++] = '0';
            memcpy(out + n, d, (size_t)len);
            n += len;
        }
        out[n] = '\0';
        if (p == pmax)
            break;
        if (is_f32) {
            int rb = f32_reads_back(d, len, x, (float)v);
            if (rb < 0)
                rb = strtof(out, NULL) == (float)v;
            if (rb)
                break;
        } else if (strtod(out, NULL) == v) {
            break;
        }
    }
    return n;
}

bool skiff__buf_f32(skiff__buf *b, float v)
{
    if (!isfinite(v))
        return skiff__buf_append(b, "null", 4);
    /* 9 significant digits always read back to the same float; below 6 the
     * %g text of 6 digits already ends in zeros, so start there */
    char tmp[48];
    int n = fmt_shortest(tmp, v, 6, 9, true);
    return append_num(b, tmp, n);
}

bool skiff__buf_f64(skiff__buf *b, double v)
{
    if (!isfinite(v))
        return skiff__buf_append(b, "null", 4);
    char tmp[48];
    int n = fmt_shortest(tmp, v, 15, 17, false);
    return append_num(b, tmp, n);
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when invalid. */
static int utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    int len;
    unsigned min;
    unsigned cp;
    if ((c & 0xe0) == 0xc0) {
        len = 2, min = 0x80, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, min = 0x800, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
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

bool skiff__buf_json_string(skiff__buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* worst case: every byte becomes \u00XX (6) or U+FFFD (3 bytes) */
    size_t worst;
    if (!skiff__mul_size(n, 6, &worst) || !skiff__buf_reserve(b, worst + 2))
        return false;
    char *o = b->data + b->len;
    const unsigned char *p = (const unsigned char *)s;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (char)c;
            i++;
            continue;
        }
        if (c < 0x80) {
            *o++ = '\\';
            switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            case '\b': *o++ = 'b'; break;
            case '\f': *o++ = 'f'; break;
            default: *o++ = 'u', *o++ = '0', *o++ = '0'; *o++ = hex[c >> 4], *o++ = hex[c & 15];
            }
            i++;
            continue;
        }
        int l = utf8_len(p + i, n - i);
        if (l == 0) {
            *o++ = (char)0xef, *o++ = (char)0xbf, *o++ = (char)0xbd;
            i++;
        } else {
            memcpy(o, p + i, (size_t)l);
            o += l;
            i += (size_t)l;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return true;
}

bool skiff__buf_cstr(skiff__buf *b, const char *s)
{
    return skiff__buf_json_string(b, s ? s : "", s ? strlen(s) : 0);
}

bool skiff__buf_base64(skiff__buf *b, const void *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t out = (n + 2) / 3 * 4;
    if (!skiff__buf_reserve(b, out))
        return false;
    const unsigned char *s = p;
    char *o = b->data + b->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63], *o++ = tab[(v >> 6) & 63],
        *o++ = tab[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)s[i] << 16;
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63], *o++ = '=', *o++ = '=';
    } else if (n - i == 2) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8;
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63], *o++ = tab[(v >> 6) & 63], *o++ = '=';
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return true;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

bool skiff__base64_decode(const char *s, size_t n, uint8_t *dst, size_t *out_len)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return false;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dst[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = o;
    return true;
}

bool skiff__buf_shape(skiff__buf *b, int ndim, const int64_t *dims)
{
    if (!skiff__buf_char(b, '['))
        return false;
    for (int i = 0; i < ndim; i++)
        if ((i && !skiff__buf_char(b, ',')) || !skiff__buf_i64(b, dims[i]))
            return false;
    return skiff__buf_char(b, ']');
}

bool skiff__buf_lod(skiff__buf *b, const int64_t *lod, int n)
{
    return skiff__buf_shape(b, n, lod);
}

bool skiff__buf_printf(skiff__buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap2);
    va_end(ap2);
    bool ok = n >= 0;
    if (ok && (size_t)n < sizeof(tmp)) {
        ok = skiff__buf_append(b, tmp, (size_t)n);
    } else if (ok) {
        ok = skiff__buf_reserve(b, (size_t)n);
        if (ok) {
            vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
            b->len += (size_t)n;
        }
    }
    va_end(ap);
    return ok;
}
