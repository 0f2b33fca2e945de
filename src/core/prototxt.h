/* prototxt.h - the protobuf text format, and Paddle Serving's GeneralModelConfig
 * on top of it.
 *
 * The reader turns text into a small tree of fields without a schema, so any
 * config written in the text format can be read (comments, any field order,
 * repeated fields, `name: [a, b]` lists, `{}` or `<>` messages, single- or
 * double-quoted strings with C escapes, adjacent strings concatenated).
 * The GeneralModelConfig layer maps that tree onto feed/fetch variables and
 * refuses unknown fields and wrong types with "file:line:col: message".
 *
 * Internal to skiff (not public API). Threads: plain values, one thread at a
 * time per object.
 */
#ifndef SKIFF_PROTOTXT_H
#define SKIFF_PROTOTXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "skiff/status.h"
#include "skiff/tensor.h"

/* ---- generic text format ------------------------------------------------- */

typedef enum skiff__pt_kind {
    SKIFF__PT_SCALAR = 0,  /* identifier or number, kept as its token text */
    SKIFF__PT_STRING = 1,  /* quoted string, escapes resolved */
    SKIFF__PT_MESSAGE = 2, /* nested message: fields[0..n_fields) */
} skiff__pt_kind;

typedef struct skiff__pt_field {
    char *name; /* field name; "" for the root */
    skiff__pt_kind kind;
    int line, col; /* 1-based position of the field name (of the element, in a list) */
    char *value;   /* SCALAR/STRING: NUL-terminated text (strings may hold NULs:
                      use value_len); NULL for messages */
    size_t value_len;
    struct skiff__pt_field *fields; /* MESSAGE: children in file order */
    int n_fields;
} skiff__pt_field;

/* Parses text (len bytes, need not be NUL-terminated). `origin` names the
 * source in error messages ("serving_server_conf.prototxt"); may be NULL.
 * A list `f: [a, b]` becomes repeated fields `f: a f: b`.
 * Caller owns *out_root (a MESSAGE) and frees it with skiff__pt_free.
 * Errors: INVALID_ARG "origin:line:col: what was expected, what was found". */
skiff_status_t *skiff__pt_parse(const char *text, size_t len, const char *origin,
                                skiff__pt_field **out_root);

/* Frees a tree from skiff__pt_parse. Accepts NULL. */
void skiff__pt_free(skiff__pt_field *root);

/* Scalar conversions of a field's value; false when the text is not one
 * (wrong kind, junk, overflow). Integers accept decimal, 0x hex and 0 octal
 * with an optional '-'. Booleans accept true/false/True/False/t/f/1/0. */
bool skiff__pt_get_i64(const skiff__pt_field *f, int64_t *out);
bool skiff__pt_get_bool(const skiff__pt_field *f, bool *out);

/* An INVALID_ARG status "origin:line:col: message" (origin NULL: "<text>"),
 * for errors at a field of a parsed tree. */
skiff_status_t *skiff__pt_error_at(const char *origin, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends `s` (len bytes) as a double-quoted text-format string literal to
 * buf (capacity cap, always NUL-terminated); returns the length it needs
 * (like snprintf), so callers can size a buffer first. */
size_t skiff__pt_quote(const char *s, size_t len, char *buf, size_t cap);

#endif
