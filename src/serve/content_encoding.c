/* content_encoding.c - request bodies sent with Content-Encoding.
 *
 * gzip and deflate (zlib's inflate, both wrappers detected from the header)
 * and identity are taken; anything else is refused by name with 415. The
 * inflated size is bounded by --max_body_size, so a small compressed body
 * cannot expand into gigabytes (413 once the bound is passed).
 */
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "core/core.h"
#include "serve/serve_int.h"

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return skiff__calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    skiff__free(p);
}

/* Trims spaces and tabs around [s, s+n). */
static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* 413: the inflated body has passed --max_body_size. */
static skiff_status_t *past_limit(int *http_status, size_t n, const char *e, int64_t max_out)
{
    *http_status = 413;
    return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                            "%.*s body inflates past --max_body_size %lld bytes", (int)n, e,
                            (long long)max_out);
}

skiff_status_t *skiff__decode_content(const char *encoding, skiff__buf *body, int64_t max_out,
                                      int *http_status)
{
    *http_status = 0;
    if (!encoding)
        return NULL;
    const char *e = encoding;
    size_t n = strlen(e);
    trim(&e, &n);
    if (n == 0 || (n == 8 && strncasecmp(e, "identity", 8) == 0))
        return NULL;
    bool gzip =
        (n == 4 && strncasecmp(e, "gzip", 4) == 0) || (n == 6 && strncasecmp(e, "x-gzip", 6) == 0);
    bool deflate = n == 7 && strncasecmp(e, "deflate", 7) == 0;
    if (!gzip && !deflate) {
        *http_status = 415;
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "Content-Encoding '%.64s' is not supported (gzip, deflate and "
                                "identity are)",
                                encoding);
    }
    if (body->len == 0) {
        *http_status = 400;
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "empty body with Content-Encoding %.*s",
                                (int)n, e);
    }
    z_stream z;
    memset(&z, 0, sizeof(z));
    z.zalloc = z_alloc;
    z.zfree = z_free;
    /* 15 + 32: zlib or gzip header, detected; deflate also sent raw by some
     * clients, tried below when the zlib header is absent. */
    int wbits = 15 + 32;
    if (deflate &&
        (body->len < 2 ||
         ((unsigned char)body->data[0] * 256u + (unsigned char)body->data[1]) % 31u != 0))
        wbits = -15;
    if (inflateInit2(&z, wbits) != Z_OK) {
        *http_status = 503;
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory inflating the body");
    }
    skiff__buf out = {0};
    size_t guess = body->len * 4 < (size_t)max_out ? body->len * 4 : (size_t)max_out;
    skiff_status_t *st = NULL;
    if (!skiff__buf_reserve(&out, guess < 4096 ? 4096 : guess)) {
        *http_status = 503;
        st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory inflating the body");
        goto done;
    }
    z.next_in = (Bytef *)body->data;
    z.avail_in = (uInt)body->len;
    for (;;) {
        if (out.cap - out.len < 2) {
            if (out.len >= (size_t)max_out) {
                st = past_limit(http_status, n, e, max_out);
                goto done;
            }
            size_t more = out.cap;
            if (out.len + more > (size_t)max_out + 1)
                more = (size_t)max_out + 1 - out.len;
            if (!skiff__buf_reserve(&out, more < 4096 ? 4096 : more)) {
                *http_status = 503;
                st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED,
                                      "out of memory inflating the body");
                goto done;
            }
        }
        z.next_out = (Bytef *)out.data + out.len;
        z.avail_out = (uInt)(out.cap - out.len - 1); /* room for the NUL */
        int rc = inflate(&z, Z_NO_FLUSH);
        out.len = (size_t)((char *)z.next_out - out.data);
        if (out.len > (size_t)max_out) {
            st = past_limit(http_status, n, e, max_out);
            goto done;
        }
        if (rc == Z_STREAM_END) {
            if (z.avail_in != 0) {
                *http_status = 400;
                st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                      "%u bytes of trailing data after the %.*s stream", z.avail_in,
                                      (int)n, e);
                goto done;
            }
            break;
        }
        if (rc == Z_MEM_ERROR) {
            *http_status = 503;
            st =
                skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory inflating the body");
            goto done;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            *http_status = 400;
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                  "body is not valid %.*s data: %s (at compressed byte %lu)",
                                  (int)n, e, z.msg ? z.msg : "corrupt stream", z.total_in);
            goto done;
        }
        if (rc == Z_BUF_ERROR && z.avail_in != 0 && z.avail_out != 0) {
            *http_status = 400; /* no progress with room on both sides */
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "body is not valid %.*s data", (int)n, e);
            goto done;
        }
        if (rc == Z_BUF_ERROR && z.avail_in == 0) {
            *http_status = 400;
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                  "%.*s body is truncated (%zu compressed bytes end mid-stream)",
                                  (int)n, e, body->len);
            goto done;
        }
    }
    out.data[out.len] = '\0';
    skiff__buf_free(body);
    *body = out;
    out = (skiff__buf){0};
done:
    inflateEnd(&z);
    skiff__buf_free(&out);
    return st;
}
