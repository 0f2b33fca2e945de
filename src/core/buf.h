/* buf.h - the one growing byte buffer, and the writers every wire format
 * shares (numbers in their shortest round-trip form, JSON strings, base64).
 * Below every layer that writes bytes: proto codecs, serve, model confs.
 *
 * Threads: a buffer belongs to one thread at a time. Memory: skiff__malloc &
 * co., so allocation failures are injectable; every writer returns false on
 * OOM (or overflow) and leaves the buffer valid.
 */
#ifndef SKIFF_CORE_BUF_H
#define SKIFF_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Growing byte buffer. Zero-initialise it ({0}); writers append. data is
 * NUL-terminated past len whenever len > 0 (not counted in len). Free with
 * skiff__buf_free, or take data (then free it with skiff__free). */
typedef struct skiff__buf {
    char *data;
    size_t len;
    size_t cap;
} skiff__buf;

void skiff__buf_reset(skiff__buf *b); /* len = 0, keeps the memory for reuse */
void skiff__buf_free(skiff__buf *b);  /* frees data and zeroes the struct */
/* Ensures room for `extra` more bytes (+1 for the NUL); false on OOM/overflow. */
bool skiff__buf_reserve(skiff__buf *b, size_t extra);
/* Appends raw bytes. */
bool skiff__buf_append(skiff__buf *b, const void *p, size_t n);
bool skiff__buf_lit(skiff__buf *b, const char *s); /* a NUL-terminated string, as is */
bool skiff__buf_char(skiff__buf *b, char c);
/* printf-style text; the one formatted writer. */
bool skiff__buf_printf(skiff__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool skiff__buf_i64(skiff__buf *b, int64_t v);
bool skiff__buf_u64(skiff__buf *b, uint64_t v);
bool skiff__buf_f32(skiff__buf *b, float v);  /* shortest round-trip; null for NaN/Inf */
bool skiff__buf_f64(skiff__buf *b, double v); /* shortest round-trip; null for NaN/Inf */
/* A JSON string literal (quotes included) with escaping; invalid UTF-8 bytes
 * become U+FFFD so the output is always valid JSON. */
bool skiff__buf_json_string(skiff__buf *b, const char *s, size_t n);
bool skiff__buf_cstr(skiff__buf *b, const char *s);                  /* JSON string of a C string */
bool skiff__buf_base64(skiff__buf *b, const void *p, size_t n);      /* standard, padded */
bool skiff__buf_shape(skiff__buf *b, int ndim, const int64_t *dims); /* [1,2] */
bool skiff__buf_lod(skiff__buf *b, const int64_t *lod, int n);       /* [0,3,5] */

/* Decodes standard or URL-safe base64, padding optional. dst needs
 * n / 4 * 3 + 3 bytes. false on a character outside the alphabet or a bad
 * length. */
bool skiff__base64_decode(const char *s, size_t n, uint8_t *dst, size_t *out_len);

#endif
