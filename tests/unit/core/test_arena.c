/* Unit tests for the per-request arena (arena.c): alignment, growth across
 * chunks, reset, and every allocation failure walked in turn. Registered in
 * test_core.c's main(). */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "core/arena.h"
#include "core/core.h"

void test_arena(void **state);
void test_arena_alloc_failure(void **state);

void test_arena(void **state)
{
    skiff__arena *a = skiff__arena_new(100);
    assert_non_null(a);
    /* Alignment, and pieces that never overlap. */
    char *prev = NULL;
    for (int i = 0; i < 1000; i++) {
        size_t align = (size_t)1 << (i % 7); /* 1 .. 64 */
        char *p = skiff__arena_alloc(a, (size_t)(i % 50) + 1, align);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % align, 0);
        memset(p, 0xab, (size_t)(i % 50) + 1);
        assert_ptr_not_equal(p, prev);
        prev = p;
    }
    assert_true(skiff__arena_used(a) >= 1000);
    size_t held = skiff__arena_held(a);
    assert_true(held >= skiff__arena_used(a));
    /* A piece larger than any chunk gets its own. */
    char *big = skiff__arena_calloc(a, 1 << 20, 1, 64);
    assert_non_null(big);
    assert_int_equal(big[0], 0);
    assert_int_equal(big[(1 << 20) - 1], 0);
    char *s = skiff__arena_strndup(a, "feature_x", 7);
    assert_string_equal(s, "feature");
    /* Refused: overflow, bad alignment. */
    assert_null(skiff__arena_calloc(a, SIZE_MAX / 2, 4, 8));
    assert_null(skiff__arena_alloc(a, 8, 3));
    assert_null(skiff__arena_alloc(a, 8, 128));
    assert_non_null(skiff__arena_alloc(a, 0, 8));
    /* Reset keeps the first chunk only, and the arena works again. */
    skiff__arena_reset(a);
    assert_int_equal(skiff__arena_used(a), 0);
    assert_true(skiff__arena_held(a) < held);
    int *v = skiff__arena_calloc(a, 16, sizeof(int), _Alignof(int));
    assert_non_null(v);
    for (int i = 0; i < 16; i++)
        assert_int_equal(v[i], 0);
    skiff__arena_free(a);
    skiff__arena_free(NULL);
}

/* The arena's allocations fail one at a time: each failure is a NULL, the
 * arena stays usable, and freeing it leaks nothing (LeakSanitizer in the
 * sanitizer build). */
void test_arena_alloc_failure(void **state)
{
    for (long n = 1; n < 64; n++) {
        skiff__alloc_fail_at(n);
        skiff__arena *a = skiff__arena_new(64);
        int got = 0, refused = 0;
        if (a) {
            for (int i = 0; i < 40; i++) {
                char *p = skiff__arena_alloc(a, 200, 16);
                if (p) {
                    memset(p, i, 200);
                    got++;
                } else {
                    refused++;
                }
            }
        }
        bool failed = skiff__alloc_failed();
        skiff__alloc_fail_at(0);
        if (a) {
            /* usable after a failure */
            assert_non_null(skiff__arena_alloc(a, 32, 8));
            skiff__arena_free(a);
        }
        if (!failed) {
            assert_int_equal(got, 40);
            return; /* every allocation of the sequence was reached */
        }
        assert_true(!a || refused <= 1);
    }
    fail_msg("the arena made more than 64 allocations for 40 pieces");
}
