/* Unit tests for the status page's header parsing (http/negotiate.c): Accept
 * weights and specificity (RFC 9110 12.5.1), the page-or-JSON choice GET /
 * makes, If-None-Match lists, and malformed values that must not be read past
 * their end. Registered in test_serve.c's main(). */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "core/core.h"
#include "serve/http/http_int.h"

void test_accept_weigh(void **state);
void test_accept_prefers_html(void **state);
void test_accept_malformed(void **state);
void test_etag_match(void **state);

static void weigh(const char *accept, int *html_q, int *html_spec, int *json_q)
{
    skiff__media m[2] = {{.type = "text", .subtype = "html"},
                         {.type = "application", .subtype = "json"}};
    skiff__http_accept_weigh(accept, m, 2);
    *html_q = m[0].q;
    *html_spec = m[0].spec;
    *json_q = m[1].q;
}

void test_accept_weigh(void **state)
{
    int hq, hs, jq;
    weigh("text/html", &hq, &hs, &jq);
    assert_int_equal(hq, 1000);
    assert_int_equal(hs, 3);
    assert_int_equal(jq, -1);
    weigh("application/json;q=0.5, */*;q=0.1", &hq, &hs, &jq);
    assert_int_equal(hq, 100);
    assert_int_equal(hs, 1);
    assert_int_equal(jq, 500);
    /* the most specific range wins, wherever it stands */
    weigh("text/html;q=0.2, text/*;q=0.9, */*", &hq, &hs, &jq);
    assert_int_equal(hq, 200);
    assert_int_equal(jq, 1000);
    weigh("TEXT/*; Q=0.75", &hq, &hs, &jq);
    assert_int_equal(hq, 750);
    assert_int_equal(hs, 2);
    weigh("text/html;q=1.000,application/json;q=0.001", &hq, &hs, &jq);
    assert_int_equal(hq, 1000);
    assert_int_equal(jq, 1);
    /* parameters other than q, quoted strings with commas and semicolons */
    weigh("text/html;level=\"1,2;q=0\";q=0.4, application/json", &hq, &hs, &jq);
    assert_int_equal(hq, 400);
    assert_int_equal(jq, 1000);
    weigh(NULL, &hq, &hs, &jq);
    assert_int_equal(hq, -1);
    assert_int_equal(hs, 0);
}

void test_accept_prefers_html(void **state)
{
    /* browsers */
    assert_true(skiff__http_prefers_html("text/html,application/xhtml+xml,application/xml;q=0.9,"
                                         "image/avif,image/webp,image/apng,*/*;q=0.8,"
                                         "application/signed-exchange;v=b3;q=0.7"));
    assert_true(skiff__http_prefers_html("text/html,application/xhtml+xml,application/"
                                         "xml;q=0.9,*/*;q=0.8"));
    assert_true(skiff__http_prefers_html("text/*"));
    /* at least as high: a tie goes to the page */
    assert_true(skiff__http_prefers_html("application/json, text/html"));
    assert_true(skiff__http_prefers_html("text/html;q=0.5, application/json;q=0.5"));
    /* JSON: no header, a wildcard alone, JSON asked for or ranked higher */
    assert_false(skiff__http_prefers_html(NULL));
    assert_false(skiff__http_prefers_html(""));
    assert_false(skiff__http_prefers_html("*/*"));
    assert_false(skiff__http_prefers_html("application/json"));
    assert_false(skiff__http_prefers_html("application/json, text/html;q=0.9"));
    assert_false(skiff__http_prefers_html("text/html;q=0.5, */*"));
    assert_false(skiff__http_prefers_html("text/html;q=0"));
    assert_false(skiff__http_prefers_html("text/*;q=0, */*"));
    assert_false(skiff__http_prefers_html("text/plain"));
}

void test_accept_malformed(void **state)
{
    /* an element that does not parse is skipped, the rest still counts */
    assert_true(skiff__http_prefers_html("garbage, text/html"));
    assert_true(skiff__http_prefers_html(",,, ;;, text/html ,"));
    assert_false(skiff__http_prefers_html("text/html;q=2"));
    assert_false(skiff__http_prefers_html("text/html;q=0.12345"));
    assert_false(skiff__http_prefers_html("text/html;q=abc"));
    assert_false(skiff__http_prefers_html("text/html;q"));
    assert_false(skiff__http_prefers_html("text/html;q=\"1\""));
    assert_false(skiff__http_prefers_html("text/"));
    assert_false(skiff__http_prefers_html("/html"));
    assert_false(skiff__http_prefers_html("text/html junk"));
    assert_true(skiff__http_prefers_html("text/html junk, text/html;q=0.3"));
    /* unterminated quotes and a lone backslash end at the NUL */
    assert_false(skiff__http_prefers_html("text/html;a=\"unterminated"));
    assert_false(skiff__http_prefers_html("text/html;a=\"x\\"));
    assert_false(skiff__http_prefers_html("\""));
    assert_false(skiff__http_prefers_html("\\"));
    /* every prefix of a long header, each in a buffer of its own size (ASan
     * sees a read past the end) */
    const char *full = "text/html;level=\"a,\\\"b\";q=0.9 , application/json;q=0.8, */*;q=0.1";
    size_t n = strlen(full);
    for (size_t i = 0; i <= n; i++) {
        char *p = skiff__malloc(i + 1);
        assert_non_null(p);
        memcpy(p, full, i);
        p[i] = '\0';
        (void)skiff__http_prefers_html(p);
        skiff__free(p);
    }
    assert_true(skiff__http_prefers_html(full));
}

void test_etag_match(void **state)
{
    const char *tag = "\"0123abcd\"";
    assert_true(skiff__http_etag_match("\"0123abcd\"", tag));
    assert_true(skiff__http_etag_match("W/\"0123abcd\"", tag));
    assert_true(skiff__http_etag_match("\"x\", \"0123abcd\"", tag));
    assert_true(skiff__http_etag_match("*", tag));
    assert_false(skiff__http_etag_match(NULL, tag));
    assert_false(skiff__http_etag_match("", tag));
    assert_false(skiff__http_etag_match("\"0123abc\"", tag));
    assert_false(skiff__http_etag_match("\"0123abcd", tag));
    assert_false(skiff__http_etag_match("0123abcd", tag));
    assert_false(skiff__http_etag_match(",,\"", tag));
    assert_false(skiff__http_etag_match("W/", tag));
}
