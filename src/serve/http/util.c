/* util.c - the HTTP/1.1 front end's small pieces: reason phrases, path
 * percent-decoding, and the bounded writer the response head is built with. */
#include <ctype.h>
#include <string.h>

#include "serve/http/http_int.h"

const char *skiff__http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

static int hex(int ch) { return isdigit(ch) ? ch - '0' : tolower(ch) - 'a' + 10; }

/* Percent-decoding in place, except that %00 stays as it is: a NUL would cut
 * the path short of what the client asked for (/v2/models/m%00x would route
 * as /v2/models/m). */
void skiff__http_unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r;) {
        if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
            int v = hex((unsigned char)r[1]) * 16 + hex((unsigned char)r[2]);
            if (v != 0) {
                *w++ = (char)v;
                r += 3;
                continue;
            }
        }
        *w++ = *r++;
    }
    *w = '\0';
}

void skiff__hw_put(skiff__head_w *w, const char *s, size_t n)
{
    if (n > (size_t)(w->end - w->p))
        n = (size_t)(w->end - w->p);
    memcpy(w->p, s, n);
    w->p += n;
}

void skiff__hw_lit(skiff__head_w *w, const char *s) { skiff__hw_put(w, s, strlen(s)); }

/* Decimal digits of v into buf (no NUL); returns their count. */
size_t skiff__u64_dec(char *buf, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}
