/* alloc.c - the one allocator, with an injectable Nth-allocation failure so
 * tests can walk every failure path of loading a model or serving a request. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "core.h"

static atomic_long alloc_count;
static atomic_long fail_at;
static atomic_bool failed;
/* Counting starts once a test (or SKIFF_FAIL_ALLOC_AT) arms it; until then an
 * allocation only reads this flag, so threads do not bounce the counter's
 * cache line between them on every malloc of a request. */
static atomic_bool armed;

static void __attribute__((constructor)) alloc_init(void)
{
    const char *env = getenv("SKIFF_FAIL_ALLOC_AT");
    int64_t n;
    if (env && skiff__parse_i64(env, &n) && n > 0) {
        atomic_store(&fail_at, (long)n);
        atomic_store(&armed, true);
    }
}

void skiff__alloc_fail_at(long n)
{
    atomic_store(&armed, true);
    atomic_store(&alloc_count, 0);
    atomic_store(&failed, false);
    atomic_store(&fail_at, n);
}

long skiff__alloc_count(void) { return atomic_load(&alloc_count); }

bool skiff__alloc_failed(void) { return atomic_load(&failed); }

static bool should_fail(void)
{
    if (!atomic_load_explicit(&armed, memory_order_relaxed))
        return false;
    long n = atomic_fetch_add(&alloc_count, 1) + 1;
    long f = atomic_load(&fail_at);
    if (f > 0 && n == f) {
        atomic_store(&failed, true);
        return true;
    }
    return false;
}

/* Large blocks (model weights, file buffers, big activations) ask for
 * transparent huge pages before their first touch: filling a 400 MB block
 * then takes ~200 page faults instead of ~100,000, which on a virtual machine
 * was most of the time a large model took to load. Only the 2 MiB-aligned
 * interior can be huge; with THP off or in "never" mode this is a no-op. */
#define HUGE_MIN ((size_t)8 << 20)
#define HUGE_PAGE ((uintptr_t)2 << 20)

static void *advise_huge(void *p, size_t n)
{
    if (p && n >= HUGE_MIN) {
        uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
        uintptr_t e = ((uintptr_t)p + n) & ~(HUGE_PAGE - 1);
        if (e > a)
            (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
    }
    return p;
}

void *skiff__malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return advise_huge(malloc(size ? size : 1), size);
}

void *skiff__calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    if (n == 0 || size == 0)
        n = size = 1;
    /* n * size cannot overflow when calloc succeeds */
    void *p = calloc(n, size);
    return p ? advise_huge(p, n * size) : NULL;
}

void *skiff__realloc(void *p, size_t size)
{
    if (should_fail())
        return NULL;
    return realloc(p, size ? size : 1);
}

void *skiff__aligned_alloc(size_t size)
{
    if (should_fail())
        return NULL;
    size = (size + 63) & ~(size_t)63;
    if (size == 0)
        size = 64;
    return advise_huge(aligned_alloc(64, size), size);
}

void skiff__heap_trim(void)
{
#ifdef __GLIBC__
    (void)malloc_trim(0);
#endif
}

char *skiff__strndup(const char *s, size_t n)
{
    char *d = skiff__malloc(n + 1);
    if (!d)
        return NULL;
    if (n) /* s may be NULL when n is 0 (empty protobuf strings) */
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *skiff__strdup(const char *s) { return skiff__strndup(s, strlen(s)); }

void skiff__free(void *p) { free(p); }
