/* negotiate.c - the two request headers GET / and the status page's files
 * read: Accept (RFC 9110 12.5.1), to answer the page or the JSON summary,
 * and If-None-Match (RFC 9110 13.1.2), to answer 304 for a file the browser
 * holds. Both are outside input: every byte is bounded by the NUL, quoted
 * strings are skipped whole, and anything malformed counts as absent. */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "serve/http/http_int.h"

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

static const char *skip_ows(const char *p)
{
    while (is_ows(*p))
        p++;
    return p;
}

/* A token character (RFC 9110 5.6.2). */
static bool is_tchar(char c)
{
    return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Past a quoted-string that starts at p ('"'); at the NUL when the closing
 * quote is missing (then *closed is false). */
static const char *skip_quoted(const char *p, bool *closed)
{
    p++;
    while (*p && *p != '"') {
        if (*p == '\\' && p[1])
            p++;
        p++;
    }
    *closed = *p == '"';
    return *closed ? p + 1 : p;
}

/* A weight "0", "0.5", "1", "1.000" (RFC 9110 12.4.2) in thousandths; -1
 * when it is not one. */
static int parse_qvalue(const char *p, size_t n)
{
    if (n == 0 || (p[0] != '0' && p[0] != '1'))
        return -1;
    int v = (p[0] - '0') * 1000;
    if (n == 1)
        return v;
    if (p[1] != '.' || n > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (!isdigit((unsigned char)p[i]))
            return -1;
        v += (p[i] - '0') * scale;
    }
    return v > 1000 ? -1 : v;
}

static bool span_eq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* How well a media range matches type/subtype: 3 exactly, 2 type/star,
 * 1 star/star, 0 not at all. */
static int range_match(const char *t, size_t tn, const char *st, size_t sn, const char *type,
                       const char *sub)
{
    if (span_eq(t, tn, "*") && span_eq(st, sn, "*"))
        return 1;
    if (!span_eq(t, tn, type))
        return 0;
    if (span_eq(st, sn, "*"))
        return 2;
    return span_eq(st, sn, sub) ? 3 : 0;
}

void skiff__http_accept_weigh(const char *accept, skiff__media *m, int n)
{
    for (int i = 0; i < n; i++) {
        m[i].q = -1;
        m[i].spec = 0;
    }
    const char *p = accept;
    while (p && *p) {
        /* one element: type "/" subtype *( OWS ";" OWS parameter ) */
        p = skip_ows(p);
        const char *t = p;
        while (is_tchar(*p))
            p++;
        size_t tn = (size_t)(p - t);
        const char *st = NULL;
        size_t sn = 0;
        if (*p == '/') {
            st = ++p;
            while (is_tchar(*p))
                p++;
            sn = (size_t)(p - st);
        }
        bool ok = tn > 0 && sn > 0;
        int q = 1000;
        p = skip_ows(p);
        while (*p == ';') {
            p = skip_ows(p + 1);
            const char *pn = p;
            while (is_tchar(*p))
                p++;
            size_t pnn = (size_t)(p - pn);
            const char *pv = p;
            size_t pvn = 0;
            if (*p == '=') {
                pv = ++p;
                if (*p == '"') {
                    bool closed;
                    p = skip_quoted(p, &closed);
                    ok = ok && closed;
                } else {
                    while (is_tchar(*p))
                        p++;
                }
                pvn = (size_t)(p - pv);
            } else {
                ok = false; /* a parameter without a value */
            }
            if (ok && span_eq(pn, pnn, "q")) {
                q = parse_qvalue(pv, pvn);
                if (q < 0)
                    ok = false;
            }
            p = skip_ows(p);
        }
        if (*p && *p != ',') {
            ok = false; /* junk inside the element: drop it, resynchronise on ',' */
            while (*p && *p != ',') {
                bool closed;
                if (*p == '"')
                    p = skip_quoted(p, &closed);
                else
                    p++;
            }
        }
        if (*p == ',')
            p++;
        if (!ok)
            continue;
        for (int i = 0; i < n; i++) {
            int spec = range_match(t, tn, st, sn, m[i].type, m[i].subtype);
            /* the most specific range decides; among equals, the first */
            if (spec > m[i].spec) {
                m[i].q = q;
                m[i].spec = spec;
            }
        }
    }
}

bool skiff__http_prefers_html(const char *accept)
{
    if (!accept)
        return false;
    skiff__media m[2] = {{.type = "text", .subtype = "html"},
                         {.type = "application", .subtype = "json"}};
    skiff__http_accept_weigh(accept, m, 2);
    const skiff__media *html = &m[0], *json = &m[1];
    /* The page only when the client names text/html (or text/star) and ranks it
     * at least as high as JSON: a bare star/star (curl, requests) keeps the
     * JSON summary, which is what GET / answered before the page. */
    if (html->spec < 2 || html->q <= 0)
        return false;
    return html->q >= (json->spec ? json->q : 0);
}

bool skiff__http_etag_match(const char *if_none_match, const char *etag)
{
    if (!if_none_match || !etag)
        return false;
    size_t en = strlen(etag);
    const char *p = if_none_match;
    while (*p) {
        p = skip_ows(p);
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2; /* weak comparison (RFC 9110 13.1.2) */
        const char *t = p;
        if (*p == '"') {
            while (*++p && *p != '"')
                ;
            if (*p == '"')
                p++;
        }
        if ((size_t)(p - t) == en && memcmp(t, etag, en) == 0)
            return true;
        while (*p && *p != ',')
            p++;
        if (*p == ',')
            p++;
    }
    return false;
}
