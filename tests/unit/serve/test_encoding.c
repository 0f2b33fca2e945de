/* Unit tests for Content-Encoding decoding (content_encoding.c): gzip, zlib
 * and raw deflate bodies come back byte for byte; unknown encodings, corrupt,
 * truncated and over-long streams get the status a client would see.
 * Registered in test_serve.c's main(). */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>
#include <zlib.h>

#include "core/core.h"
#include "serve/serve_int.h"

void test_content_encoding(void **state);
void test_content_encoding_bad(void **state);

/* Compresses src with zlib's deflate: wbits 31 gzip, 15 zlib, -15 raw. */
static skiff__buf compress_with(const char *src, size_t n, int wbits)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    skiff__buf out = {0};
    size_t cap = deflateBound(&z, (uLong)n) + 16;
    assert_true(skiff__buf_reserve(&out, cap));
    z.next_in = (Bytef *)src;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out.data;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.len = z.total_out;
    deflateEnd(&z);
    return out;
}

static void round_trip(const char *enc, int wbits)
{
    const char *text = "{\"feed\":[{\"x\":[1,2,3,4,5,6,7,8,9,10,11,12,13]}]}";
    skiff__buf b = compress_with(text, strlen(text), wbits);
    int status = -1;
    skiff_status_t *st = skiff__decode_content(enc, &b, 1 << 20, &status);
    assert_null(st);
    assert_int_equal(status, 0);
    assert_int_equal(b.len, strlen(text));
    assert_memory_equal(b.data, text, b.len);
    assert_int_equal(b.data[b.len], '\0');
    skiff__buf_free(&b);
}

void test_content_encoding(void **state)
{
    (void)state;
    round_trip("gzip", 31);
    round_trip(" GZIP ", 31);
    round_trip("x-gzip", 31);
    round_trip("deflate", 15);
    round_trip("deflate", -15);
    /* identity and no header leave the body alone */
    skiff__buf b = {0};
    assert_true(skiff__buf_append(&b, "abc", 3));
    int status = -1;
    assert_null(skiff__decode_content(NULL, &b, 10, &status));
    assert_null(skiff__decode_content("identity", &b, 10, &status));
    assert_int_equal(b.len, 3);
    skiff__buf_free(&b);
    /* exactly max_out bytes fit */
    char big[5000];
    memset(big, 'a', sizeof(big));
    b = compress_with(big, sizeof(big), 31);
    assert_null(skiff__decode_content("gzip", &b, (int64_t)sizeof(big), &status));
    assert_int_equal(b.len, sizeof(big));
    skiff__buf_free(&b);
}

static void expect_fail(const char *enc, skiff__buf *b, int64_t max_out, int want_status,
                        const char *fragment)
{
    int status = 0;
    size_t len = b->len;
    skiff_status_t *st = skiff__decode_content(enc, b, max_out, &status);
    assert_non_null(st);
    assert_int_equal(status, want_status);
    if (!strstr(skiff_status_message(st), fragment))
        fail_msg("'%s' lacks '%s'", skiff_status_message(st), fragment);
    assert_int_equal(b->len, len); /* untouched */
    skiff_status_free(st);
}

void test_content_encoding_bad(void **state)
{
    (void)state;
    skiff__buf b = {0};
    assert_true(skiff__buf_append(&b, "{\"a\":1}", 7));
    expect_fail("br", &b, 100, 415, "'br' is not supported");
    expect_fail("gzip", &b, 100, 400, "not valid gzip");
    skiff__buf_free(&b);

    char big[100000];
    memset(big, ' ', sizeof(big));
    b = compress_with(big, sizeof(big), 31);
    expect_fail("gzip", &b, 99999, 413, "--max_body_size 99999");
    /* truncated: the first half of the stream */
    b.len /= 2;
    expect_fail("gzip", &b, 1 << 20, 400, "truncated");
    skiff__buf_free(&b);

    /* trailing bytes after the end of the stream */
    b = compress_with("hello", 5, 31);
    assert_true(skiff__buf_append(&b, "junk", 4));
    expect_fail("gzip", &b, 1 << 20, 400, "trailing");
    skiff__buf_free(&b);

    b = (skiff__buf){0};
    expect_fail("gzip", &b, 100, 400, "empty body");

    /* every allocation failing in turn: a clean error or success, no leak */
    for (int n = 1; n < 20; n++) {
        skiff__buf c = compress_with(big, sizeof(big), 31);
        int status = 0;
        skiff__alloc_fail_at(n);
        skiff_status_t *st = skiff__decode_content("gzip", &c, 1 << 20, &status);
        skiff__alloc_fail_at(0);
        if (st) {
            assert_int_equal(status, 503);
            skiff_status_free(st);
        } else {
            assert_int_equal(c.len, sizeof(big));
        }
        skiff__buf_free(&c);
    }
}
