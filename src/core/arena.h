/* arena.h - a per-request arena: many small allocations that all end
 * together (a decoded request's arrays, names and tensors; a pipeline's
 * intermediate values), carved from a few chunks and freed at once.
 *
 * Chunks come from skiff__malloc, so allocation failures are injectable; an
 * allocation that fails returns NULL and leaves the arena usable. The arena
 * itself lives at the start of its first chunk.
 *
 * Threads: one thread at a time. Memory: everything the arena handed out is
 * borrowed until skiff__arena_reset or skiff__arena_free.
 */
#ifndef SKIFF_CORE_ARENA_H
#define SKIFF_CORE_ARENA_H

#include <stddef.h>

typedef struct skiff__arena skiff__arena;

/* A new arena whose first chunk holds at least `first` bytes (later chunks
 * grow as needed). NULL on OOM. */
skiff__arena *skiff__arena_new(size_t first);
/* Frees every chunk, the arena included. Accepts NULL. */
void skiff__arena_free(skiff__arena *a);
/* Forgets every allocation; keeps the first chunk for reuse, frees the rest. */
void skiff__arena_reset(skiff__arena *a);

/* n bytes aligned to `align` (a power of two, at most 64). NULL on OOM or
 * overflow; n == 0 gives a valid unique pointer. */
void *skiff__arena_alloc(skiff__arena *a, size_t n, size_t align);
/* The same, zeroed. */
void *skiff__arena_calloc(skiff__arena *a, size_t count, size_t size, size_t align);
/* A NUL-terminated copy of n bytes of s. */
char *skiff__arena_strndup(skiff__arena *a, const char *s, size_t n);

/* Bytes handed out since the last reset, and bytes held in chunks. */
size_t skiff__arena_used(const skiff__arena *a);
size_t skiff__arena_held(const skiff__arena *a);

#endif
