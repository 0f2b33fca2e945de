/* codec_int.h - helpers shared by the codec_*.c files only (not for the
 * rest of serve: use codec.h). Implemented in codec_util.c. */
#ifndef SKIFF_SERVE_CODEC_INT_H
#define SKIFF_SERVE_CODEC_INT_H

#include <jansson.h>

#include "core/core.h"
#include "proto/codec.h"

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

/* A packed request (skiff__infer_request.packed): one zeroed allocation with
 * room for n_inputs inputs and their tensor structs, n_outputs outputs and
 * `strings` bytes of names (each with its NUL). The caller fills it and sets
 * n_inputs/n_outputs as it goes; skiff__infer_request_free frees it, and
 * the data of every input tensor that owns its data. false on OOM. */
typedef struct skiff__packed {
    skiff__infer_request *req;
    skiff_tensor_t *tensors; /* [n_inputs] */
    char *strings;           /* next free byte */
} skiff__packed;
bool skiff__codec_packed_new(int n_inputs, int n_outputs, size_t strings, skiff__packed *out);
/* Copies n bytes and a NUL into the string space; returns the copy. */
char *skiff__codec_packed_str(skiff__packed *pk, const char *s, size_t n);

/* ---- output helpers --------------------------------------------------------- */

/* Writes the tensor's elements as JSON: nested lists by shape when nested
 * (a rank-0 tensor as a bare value), a flat list otherwise. Numbers per dtype,
 * BOOL as true/false, STRING as strings, FP16/BF16 as floats. */
bool skiff__buf_tensor_json(skiff__buf *b, const skiff_tensor_t *t, bool nested);

/* ---- shared by the two Paddle formats (codec_paddle.c) ----------------------- */

/* An INVALID_ARG status from a printf-style message. */
skiff_status_t *skiff__codec_bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* RESOURCE_EXHAUSTED "out of memory encoding the response". */
skiff_status_t *skiff__codec_enc_oom(void);
/* An output can be encoded: a name, a tensor, a known dtype, a valid shape. */
skiff_status_t *skiff__codec_check_output(const skiff__infer_output *o);
/* An output's shape and LoD offsets as the int32 arrays Paddle's Tensor
 * messages carry, allocated in a (both generations of the protobuf
 * encoders). false on OOM or a value int32 cannot hold (*st names the
 * output: "<what> '<nm>': ..."). */
bool skiff__codec_int32_shape_lod(const skiff__infer_output *o, struct skiff__arena *a,
                                  const char *what, const char *nm, int32_t **shape,
                                  size_t *n_shape, int32_t **lod, size_t *n_lod,
                                  skiff_status_t **st);
/* strings as a JSON list: ["a","b"] */
bool skiff__codec_str_list(skiff__buf *out, const char *const *v, int n);
/* A request's fetch list ("fetch", "fetch_var_names"): names matched to the
 * model's outputs into req->outputs. */
skiff_status_t *skiff__codec_decode_fetch(const json_t *f, const char *field,
                                          const skiff__model_io *io, const skiff__codec_limits *lim,
                                          skiff__infer_request *r);

/* The same for a list of names already read off the wire (the binary
 * fronts); a NULL name is "". */
skiff_status_t *skiff__codec_decode_fetch_names(char *const *names, size_t n, const char *field,
                                                const skiff__model_io *io,
                                                const skiff__codec_limits *lim,
                                                skiff__infer_request *r);
/* "<what>: element N (V) is out of range for <dtype>" (skiff__codec_leaf's
 * message), for decoders that convert typed values themselves. */
skiff_status_t *skiff__codec_range_err(const char *what, int64_t index, double v,
                                       skiff_dtype_t dtype);

/* ---- Paddle 0.9 Tensor messages (codec_paddle09.c) ------------------------------
 *
 * One Tensor message as the shared 0.9 checks read it, whichever front it
 * came through. The JSON front sets `json` to the tensor's object (and name
 * and alias, whose types it has checked) and leaves the rest zero; the
 * binary front (codec_paddle09_pb.c) leaves `json` NULL and points the typed
 * members into protobuf-c's unpacked message. Every check and message then
 * happens once, in one order, for both; the binary values are copied (or
 * converted) a tensor at a time instead of an element at a time. Everything
 * is borrowed for the call. */
typedef enum skiff__p09_field {
    SKIFF__P09_INT64,   /* int64_data: int64_t */
    SKIFF__P09_FLOAT,   /* float_data: float */
    SKIFF__P09_INT,     /* int_data: int32_t */
    SKIFF__P09_FLOAT64, /* float64_data: double */
    SKIFF__P09_UINT32,  /* uint32_data: uint32_t */
    SKIFF__P09_BOOL,    /* bool_data: int (protobuf-c's protobuf_c_boolean) */
    SKIFF__P09_C64,     /* complex64_data: float */
    SKIFF__P09_C128,    /* complex128_data: double */
    SKIFF__P09_DATA,    /* data: char * (NULL is "") */
    SKIFF__P09_CONTENT, /* tensor_content: bytes */
    SKIFF__P09_N
} skiff__p09_field;

typedef struct skiff__p09_tensor {
    const json_t *json; /* the JSON front's object; NULL: the typed members below */
    const char *name;   /* "" when absent */
    const char *alias;  /* "" when absent */
    int64_t elem_type;
    const int32_t *shape;
    size_t n_shape;
    const int32_t *lod;
    size_t n_lod;
    const void *values[SKIFF__P09_N];
    size_t n_values[SKIFF__P09_N]; /* elements; tensor_content: bytes */
} skiff__p09_tensor;

/* A binary Request (or the tensors of a binary Response's first
 * ModelOutput, decoded as a Request without a model). */
typedef struct skiff__p09_request {
    const void *msg; /* the unpacked message */
    size_t n_tensors;
    /* fills *out with tensor i's view (pointers into msg) */
    void (*tensor_at)(const void *msg, size_t i, skiff__p09_tensor *out);
    char *const *fetch; /* fetch_var_names */
    size_t n_fetch;
    uint64_t log_id;
} skiff__p09_request;

/* Paddle 0.9: a Request given as its proto3 JSON tree (borrowed), with
 * in->io or in->pick as skiff__decode_paddle09(_pick). The Paddle 0.3-0.6
 * front (codec_paddle04_pb.c) maps its messages onto this form. */
skiff_status_t *skiff__decode_paddle09_tree(const json_t *root, const skiff__decode_in *in,
                                            skiff__infer_request **out_req);

/* Paddle 0.9: a Request already unpacked from protobuf binary, with the same
 * checks and messages as skiff__decode_paddle09_tree gives its proto3 JSON
 * form (in->io or in->pick picks the model; a binary Request has no
 * "model", so pick is asked with NULL). */
skiff_status_t *skiff__decode_paddle09_typed(const skiff__p09_request *r,
                                             const skiff__decode_in *in,
                                             skiff__infer_request **out_req);

/* Paddle 0.9 protobuf binary Request (codec_paddle09_pb.c). */
skiff_status_t *skiff__decode_paddle09_pb(const skiff__decode_in *in, skiff__infer_request **out);

/* Answers read back (codec_response.c; the binary one in codec_paddle09_pb.c):
 * the codec table's decode_response entries. */
skiff_status_t *skiff__decode_kserve_response(const skiff__decode_in *in,
                                              skiff__infer_request **out);
skiff_status_t *skiff__decode_paddle_web_response(const skiff__decode_in *in,
                                                  skiff__infer_request **out);
skiff_status_t *skiff__decode_paddle09_response(const skiff__decode_in *in,
                                                skiff__infer_request **out);
skiff_status_t *skiff__decode_paddle09_pb_response(const skiff__decode_in *in,
                                                   skiff__infer_request **out);
/* Paddle 0.9 Response in its proto3 JSON form (borrowed). */
skiff_status_t *skiff__decode_paddle09_response_tree(const json_t *root, const skiff__decode_in *in,
                                                     skiff__infer_request **out);
/* The error a Paddle 0.9 answer reports: a non-zero err_no (Paddle's own
 * codes mapped, any other by the HTTP status), or an HTTP status of 300 and
 * up; NULL when it reports none. err_msg may be NULL. */
skiff_status_t *skiff__paddle09_answer_error(const skiff__decode_in *in, int64_t err_no,
                                             const char *err_msg);

/* ---- streaming JSON scanner (codec_json.c) --------------------------------------
 *
 * The fast decoders (skiff__decode_paddle_web_fast, skiff__decode_kserve_fast)
 * read a body once with these instead of building a jansson tree. Every
 * function returns false when the text is not what it expects - invalid JSON
 * or merely a form the fast path leaves to jansson (a string with an escape, a
 * number out of int64 range) - and the caller then declines: the jansson
 * decoder reads the body again and says what is wrong. So a scanner function
 * must never accept what json_loadb(JSON_REJECT_DUPLICATES) would refuse, and
 * must read every value as the jansson decoder would. */

typedef struct skiff__jscan {
    const char *p;   /* next byte */
    const char *end; /* one past the last byte of the body */
} skiff__jscan;

/* Skips JSON whitespace; returns the next byte, or -1 at the end. */
static inline int skiff__jscan_peek(skiff__jscan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
    return s->p < s->end ? (unsigned char)*s->p : -1;
}

/* Skips whitespace and consumes `c` when it comes next. */
static inline bool skiff__jscan_eat(skiff__jscan *s, char c)
{
    if (skiff__jscan_peek(s) != (unsigned char)c)
        return false;
    s->p++;
    return true;
}

/* A string at s->p without escapes: valid UTF-8, no control characters.
 * *out points into the body (not NUL-terminated). */
bool skiff__jscan_string(skiff__jscan *s, const char **out, size_t *out_len);

/* A JSON number at s->p as jansson reads it: without fraction or exponent an
 * int64 (is_int; the fast path declines what does not fit, which jansson
 * refuses as "too big integer"), otherwise the double strtod gives (declined
 * when it overflows, which jansson refuses as "real number overflow"). */
typedef struct skiff__jnum {
    bool is_int;
    int64_t i; /* is_int */
    double d;  /* always: (double)i for integers */
} skiff__jnum;
bool skiff__jscan_number(skiff__jscan *s, skiff__jnum *out);

/* Consumes the literal `lit` ("null", "true", "false"). */
bool skiff__jscan_literal(skiff__jscan *s, const char *lit);

/* Stores a number as `dtype` at dst[at] exactly as skiff__codec_leaf would
 * store the jansson value; false where skiff__codec_leaf would refuse it or
 * the fast path leaves the type to jansson (it takes FLOAT32, FLOAT64, INT64,
 * INT32; integer types only from integer tokens). */
bool skiff__jnum_store(const skiff__jnum *n, skiff_dtype_t dtype, void *dst, int64_t at);

/* Whether the fast decoders read numbers of this type (skiff__jnum_store). */
bool skiff__jnum_dtype_ok(skiff_dtype_t dtype);

/* Growing, 64-byte aligned element buffer that becomes a tensor's data. */
typedef struct skiff__jvec {
    void *data; /* skiff__aligned_alloc'd */
    int64_t n;  /* elements stored */
    int64_t cap;
    size_t esize;
} skiff__jvec;

/* Room for one more element; false on OOM (the vector stays valid). */
bool skiff__jvec_grow(skiff__jvec *v);

/* Number values of a (possibly nested) list at s->p appended to v as
 * `dtype`: its nested shape must be regular (every list at a depth as long as
 * the first), at most SKIFF_MAX_DIMS deep, with no empty list. Sets *out_nd
 * and dims; *out_oom on allocation failure. `max_total` caps v->n. */
bool skiff__jscan_tensor(skiff__jscan *s, skiff_dtype_t dtype, skiff__jvec *v, int64_t max_total,
                         int *out_nd, int64_t dims[SKIFF_MAX_DIMS], bool *out_oom);

/* Fills *t as a tensor over v's elements, which it takes (v is emptied; t
 * owns the data). false on OOM, v unchanged. */
bool skiff__jvec_take(skiff__jvec *v, skiff_tensor_t *t, skiff_dtype_t dtype, int nd,
                      const int64_t *dims);
void skiff__jvec_free(skiff__jvec *v);

/* ---- fast decoders and their jansson twins ---------------------------------------
 *
 * skiff__decode_paddle_web (and skiff__decode_kserve) first try the streaming
 * decoder; it declines whatever it does not read itself - every error
 * included - and the tree decoder (jansson) then decodes the body from
 * scratch, so error messages come from one place. Exposed for the tests and
 * fuzz targets, which check that both agree. */
typedef enum skiff__fast_result {
    SKIFF__FAST_OK = 0,  /* *out_req is the request */
    SKIFF__FAST_DECLINE, /* nothing kept: ask the tree decoder */
    SKIFF__FAST_ERROR,   /* *out_st: out of memory (not retried, so injected
                            allocation failures surface as they would) */
} skiff__fast_result;

skiff__fast_result skiff__decode_paddle_web_fast(const char *body, size_t len,
                                                 const skiff__model_io *io,
                                                 const skiff__codec_limits *limits,
                                                 skiff__infer_request **out_req,
                                                 skiff_status_t **out_st);
skiff_status_t *skiff__decode_paddle_web_tree(const char *body, size_t len,
                                              const skiff__model_io *io,
                                              const skiff__codec_limits *limits,
                                              skiff__infer_request **out_req);

skiff__fast_result skiff__decode_kserve_fast(const char *body, size_t len, int64_t header_length,
                                             const skiff__model_io *io,
                                             const skiff__codec_limits *limits,
                                             skiff__infer_request **out_req,
                                             skiff_status_t **out_st);
skiff_status_t *skiff__decode_kserve_tree(const char *body, size_t len, int64_t header_length,
                                          const skiff__model_io *io,
                                          const skiff__codec_limits *limits,
                                          skiff__infer_request **out_req);

/* Index of the spec whose alias (first pass when alias_first) or name is the
 * `len` bytes at key, like skiff__codec_find_spec. */
int skiff__codec_find_spec_n(const skiff__io_spec *specs, int n, const char *key, size_t len,
                             bool alias_first);

#endif
