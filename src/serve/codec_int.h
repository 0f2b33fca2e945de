/* codec_int.h - helpers shared by the codec_*.c files only (not for the
 * rest of serve: use codec.h). Implemented in codec_util.c. */
#ifndef SKIFF_SERVE_CODEC_INT_H
#define SKIFF_SERVE_CODEC_INT_H

#include <jansson.h>

#include "core/core.h"
#include "serve/codec.h"

/* Longest client-supplied name quoted in an error message; longer names are
 * cut, so a hostile name cannot blow up the message. */
#define SKIFF__CODEC_NAME_MAX 96
/* printf arguments quoting a name: "%.*s", SKIFF__CODEC_Q(name) */
#define SKIFF__CODEC_Q(s) SKIFF__CODEC_NAME_MAX, (s)

/* Limits with defaults filled in. */
void skiff__codec_limits_resolve(const skiff__codec_limits *in, skiff__codec_limits *out);

/* Parses JSON that must be an object; rejects duplicate keys. On error returns
 * NULL with *out_st = "malformed JSON at byte N: ..." (or OOM). */
json_t *skiff__codec_parse_object(const char *body, size_t len, skiff_status_t **out_st);

skiff_status_t *skiff__codec_oom(void);

/* "a string", "a list", ... for messages. */
const char *skiff__codec_json_kind(const json_t *v);

/* Shape of a value given as nested lists (a scalar has rank 0). Only the
 * first element of each level is followed; regularity is checked by
 * skiff__codec_fill. `what` prefixes messages ("input 'x'"). */
skiff_status_t *skiff__codec_nested_shape(const char *what, const json_t *v, int *out_ndim,
                                          int64_t dims[SKIFF_MAX_DIMS]);

/* Converts the leaves of `v` (nested lists of shape ndim/dims, or a bare
 * scalar when ndim is 0) to `dtype` and stores them row-major into
 * dst[at .. at + numel). `index_base` is added to element positions in
 * messages. dst is a tensor's data (char *[] for strings). */
skiff_status_t *skiff__codec_fill(const char *what, const json_t *v, int ndim, const int64_t *dims,
                                  skiff_dtype_t dtype, void *dst, int64_t at, int64_t index_base);

/* Converts one JSON scalar to `dtype` at dst[at]. */
skiff_status_t *skiff__codec_leaf(const char *what, const json_t *leaf, int64_t index,
                                  skiff_dtype_t dtype, void *dst, int64_t at);

/* Index of the spec whose alias or name equals key (aliases first when
 * alias_first, names first otherwise); -1 when none. */
int skiff__codec_find_spec(const skiff__io_spec *specs, int n, const char *key, bool alias_first);

/* Writes "'a', 'b', ..." (aliases, falling back to names) into buf for
 * "model inputs: ..." messages; cut with "..." when long. */
const char *skiff__codec_list_specs(const skiff__io_spec *specs, int n, char *buf, size_t cap);

/* Checks a shape against a spec (batch dim first when spec->batched).
 * Returns a message "input 'x': expected shape [-1,13], got [1,12]". */
skiff_status_t *skiff__codec_check_shape(const char *what, const skiff__io_spec *spec, int ndim,
                                         const int64_t *dims);

/* Checks LoD offsets: starts at 0, non-decreasing, ends at rows. */
skiff_status_t *skiff__codec_check_lod(const char *what, const int64_t *lod, int n, int64_t rows);

/* Adds an input to a request (grows the array); takes ownership of name,
 * tensor and lod even on failure. */
skiff_status_t *skiff__codec_add_input(skiff__infer_request *r, char *name, int spec,
                                       skiff_tensor_t *t, int64_t *lod, int n_lod);

/* ---- output helpers --------------------------------------------------------- */

bool skiff__buf_lit(skiff__buf *b, const char *s); /* NUL-terminated literal */
bool skiff__buf_char(skiff__buf *b, char c);
bool skiff__buf_i64(skiff__buf *b, int64_t v);
bool skiff__buf_u64(skiff__buf *b, uint64_t v);
bool skiff__buf_f32(skiff__buf *b, float v);        /* shortest round-trip; null for NaN/Inf */
bool skiff__buf_f64(skiff__buf *b, double v);       /* shortest round-trip; null for NaN/Inf */
bool skiff__buf_cstr(skiff__buf *b, const char *s); /* JSON string of a C string */
bool skiff__buf_base64(skiff__buf *b, const void *p, size_t n);      /* standard, padded */
bool skiff__buf_shape(skiff__buf *b, int ndim, const int64_t *dims); /* [1,2] */
bool skiff__buf_lod(skiff__buf *b, const int64_t *lod, int n);

/* Writes the tensor's elements as JSON: nested lists by shape when nested
 * (a rank-0 tensor as a bare value), a flat list otherwise. Numbers per dtype,
 * BOOL as true/false, STRING as strings, FP16/BF16 as floats. */
bool skiff__buf_tensor_json(skiff__buf *b, const skiff_tensor_t *t, bool nested);

/* Decodes standard or URL-safe base64, padding optional. dst needs
 * n / 4 * 3 + 3 bytes. false on bad characters or length. */
bool skiff__base64_decode(const char *s, size_t n, uint8_t *dst, size_t *out_len);

#endif
