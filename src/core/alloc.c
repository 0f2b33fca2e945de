/* alloc.c - the one allocator, with an injectable Nth-allocation failure so
 * tests can walk every failure path of loading a model or serving a request. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static atomic_long alloc_count;
static atomic_long fail_at;
static atomic_bool failed;

static void __attribute__((constructor)) alloc_init(void)
{
    const char *env = getenv("SKIFF_FAIL_ALLOC_AT");
    int64_t n;
    if (env && skiff__parse_i64(env, &n) && n > 0)
        atomic_store(&fail_at, (long)n);
}

void skiff__alloc_fail_at(long n)
{
    atomic_store(&alloc_count, 0);
    atomic_store(&failed, false);
    atomic_store(&fail_at, n);
}

long skiff__alloc_count(void) { return atomic_load(&alloc_count); }

bool skiff__alloc_failed(void) { return atomic_load(&failed); }

static bool should_fail(void)
{
    long n = atomic_fetch_add(&alloc_count, 1) + 1;
    long f = atomic_load(&fail_at);
    if (f > 0 && n == f) {
        atomic_store(&failed, true);
        return true;
    }
    return false;
}

void *skiff__malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return malloc(size ? size : 1);
}

void *skiff__calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    if (n == 0 || size == 0)
        n = size = 1;
    return calloc(n, size);
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
    return aligned_alloc(64, size);
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
