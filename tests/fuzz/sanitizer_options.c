/* sanitizer_options.c - linked into every fuzz binary and corpus-replay program. */

/* Sanitizer defaults for fuzzing; ASAN_OPTIONS in the environment still wins.
 * allocator_may_return_null: a model or request that asks for an absurd
 * buffer must get NULL from malloc, as glibc gives it, so the code's own
 * out-of-memory path runs; ASan's default would abort and blame the caller. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
