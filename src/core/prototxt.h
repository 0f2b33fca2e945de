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

/* Appends `s` (len bytes) as a double-quoted text-format string literal to
 * buf (capacity cap, always NUL-terminated); returns the length it needs
 * (like snprintf), so callers can size a buffer first. */
size_t skiff__pt_quote(const char *s, size_t len, char *buf, size_t cap);

/* ---- Paddle Serving GeneralModelConfig -------------------------------------
 * feed_var / fetch_var { name alias_name is_lod_tensor feed_type|fetch_type
 * shape }, type codes as Paddle's (0 int64, 1 float32, 2 int32, 3 float64,
 * 4 int16, 5 float16, 6 bfloat16, 7 uint8, 8 int8, 9 bool, 10 complex64,
 * 11 complex128, 20 string). */

#define SKIFF__CONF_MAX_SHAPE (SKIFF_MAX_DIMS - 1) /* the batch dim takes one */

typedef struct skiff__conf_var {
    char *name;       /* model tensor name */
    char *alias_name; /* what clients use; defaults to name when absent */
    bool is_lod_tensor;
    int type; /* Paddle type code */
    int n_shape;
    int64_t shape[SKIFF__CONF_MAX_SHAPE]; /* dims without the batch dim */
} skiff__conf_var;

typedef struct skiff__model_conf {
    skiff__conf_var *feed;
    int n_feed;
    skiff__conf_var *fetch;
    int n_fetch;
} skiff__model_conf;

/* Parses a GeneralModelConfig in text format. Caller owns *out_conf (free with
 * skiff__model_conf_free). Errors name origin, line and column. */
skiff_status_t *skiff__model_conf_parse(const char *text, size_t len, const char *origin,
                                        skiff__model_conf **out_conf);

/* Reads and parses a file (its path names it in errors). */
skiff_status_t *skiff__model_conf_read_file(const char *path, skiff__model_conf **out_conf);

/* Writes the conf in Paddle's layout. Caller frees *out_text with skiff__free. */
skiff_status_t *skiff__model_conf_format(const skiff__model_conf *conf, char **out_text,
                                         size_t *out_len);

/* Writes the conf in protobuf binary form (Paddle's *.stream.prototxt).
 * Caller frees *out_data with skiff__free. */
skiff_status_t *skiff__model_conf_encode(const skiff__model_conf *conf, uint8_t **out_data,
                                         size_t *out_len);

void skiff__model_conf_free(skiff__model_conf *conf);

/* Paddle type code <-> skiff dtype. UNDEFINED / -1 when there is no mapping. */
skiff_dtype_t skiff__paddle_type_dtype(int type);
int skiff__paddle_type_from_dtype(skiff_dtype_t dtype);

#endif
