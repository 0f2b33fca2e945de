/* arena.c - chunked bump allocation for memory that dies together.
 *
 * Each chunk is one skiff__malloc'd block of 64-byte aligned size; a request
 * that does not fit the current chunk gets a new one of twice the last size
 * (or its own size, when larger), so a request's memory costs a handful of
 * allocations however many pieces it is cut into. The arena header sits in
 * the first chunk, which reset keeps.
 */
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "core.h"

typedef struct chunk {
    struct chunk *next;
    size_t cap;  /* bytes after the header */
    size_t used; /* bytes handed out */
} chunk;

struct skiff__arena {
    chunk *head;  /* the current chunk (newest) */
    chunk *first; /* holds this struct; kept by reset */
    size_t next_cap;
    size_t used_total;
};

#define HDR (((sizeof(chunk) + 63) / 64) * 64)

static chunk *chunk_new(size_t cap)
{
    size_t bytes;
    if (cap > SIZE_MAX - HDR - 64)
        return NULL;
    bytes = HDR + cap;
    chunk *c = skiff__aligned_alloc(bytes);
    if (!c)
        return NULL;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    return c;
}

static char *chunk_data(chunk *c) { return (char *)c + HDR; }

skiff__arena *skiff__arena_new(size_t first)
{
    size_t self = (sizeof(skiff__arena) + 63) & ~(size_t)63;
    if (first > SIZE_MAX / 2)
        return NULL;
    chunk *c = chunk_new(self + (first < 256 ? 256 : first));
    if (!c)
        return NULL;
    skiff__arena *a = (skiff__arena *)(void *)chunk_data(c);
    c->used = self;
    a->head = c;
    a->first = c;
    a->next_cap = c->cap * 2;
    a->used_total = 0;
    return a;
}

void skiff__arena_reset(skiff__arena *a)
{
    chunk *c = a->head;
    while (c && c != a->first) {
        chunk *next = c->next;
        skiff__free(c);
        c = next;
    }
    a->head = a->first;
    a->first->next = NULL;
    a->first->used = (sizeof(skiff__arena) + 63) & ~(size_t)63;
    a->used_total = 0;
}

void skiff__arena_free(skiff__arena *a)
{
    if (!a)
        return;
    skiff__arena_reset(a);
    skiff__free(a->first); /* a lives in it */
}

void *skiff__arena_alloc(skiff__arena *a, size_t n, size_t align)
{
    if (align == 0 || align > 64 || (align & (align - 1)))
        return NULL;
    chunk *c = a->head;
    size_t at = (c->used + align - 1) & ~(align - 1);
    if (at > c->cap || n > c->cap - at) {
        size_t want = a->next_cap;
        if (n + align > want)
            want = n + align; /* a large piece gets a chunk of its own size */
        if (n > SIZE_MAX / 4 || want < n)
            return NULL;
        chunk *nc = chunk_new(want);
        if (!nc)
            return NULL;
        nc->next = c;
        a->head = nc;
        if (a->next_cap < SIZE_MAX / 4)
            a->next_cap *= 2;
        c = nc;
        at = 0; /* chunk data is 64-byte aligned */
    }
    c->used = at + n;
    a->used_total += n;
    return chunk_data(c) + at;
}

void *skiff__arena_calloc(skiff__arena *a, size_t count, size_t size, size_t align)
{
    size_t n;
    if (!skiff__mul_size(count, size, &n))
        return NULL;
    void *p = skiff__arena_alloc(a, n, align);
    if (p && n)
        memset(p, 0, n);
    return p;
}

char *skiff__arena_strndup(skiff__arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *d = skiff__arena_alloc(a, n + 1, 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

size_t skiff__arena_used(const skiff__arena *a) { return a->used_total; }

size_t skiff__arena_held(const skiff__arena *a)
{
    size_t n = 0;
    for (const chunk *c = a->head; c; c = c->next)
        n += HDR + c->cap;
    return n;
}
