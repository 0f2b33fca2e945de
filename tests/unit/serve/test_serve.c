/* The serve layer's unit tests: Content-Encoding (test_encoding.c), the
 * shared inference path through a fake transport (test_infer.c), and the
 * HTTP Accept and If-None-Match parsing (test_negotiate.c). */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/core.h"
#include "proto/codec.h"

void test_content_encoding(void **state);
void test_content_encoding_bad(void **state);
void test_infer_inline(void **state);
void test_infer_queued(void **state);
void test_infer_errors(void **state);
void test_accept_weigh(void **state);
void test_accept_prefers_html(void **state);
void test_accept_malformed(void **state);
void test_etag_match(void **state);

static int setup(void **state)
{
    skiff__codec_init();
    skiff_log_set_level(SKIFF_LOG_ERROR);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_encoding),    cmocka_unit_test(test_content_encoding_bad),
        cmocka_unit_test(test_infer_inline),        cmocka_unit_test(test_infer_queued),
        cmocka_unit_test(test_infer_errors),        cmocka_unit_test(test_accept_weigh),
        cmocka_unit_test(test_accept_prefers_html), cmocka_unit_test(test_accept_malformed),
        cmocka_unit_test(test_etag_match),
    };
    return cmocka_run_group_tests_name("serve", tests, setup, NULL);
}
