/* tensor.c - tensor allocation, dtype tables, shape helpers. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core.h"

/* Every dtype's facts, once: size, name, KServe datatype, Triton's config
 * type, Paddle's elem_type / VarType code. skiff's dtype values are ONNX's
 * TensorProto.DataType codes, so the index is the ONNX code. */
static const struct {
    size_t size;
    const char *name;
    const char *kserve;
    const char *triton;
    int paddle;       /* -1: none */
    const char *onnx; /* TensorProto.DataType's name */
} dtype_table[] = {
    [SKIFF_DTYPE_UNDEFINED] = {0, "undefined", NULL, "TYPE_INVALID", -1, "UNDEFINED"},
    [SKIFF_DTYPE_FLOAT32] = {4, "float32", "FP32", "TYPE_FP32", 1, "FLOAT"},
    [SKIFF_DTYPE_UINT8] = {1, "uint8", "UINT8", "TYPE_UINT8", 7, "UINT8"},
    [SKIFF_DTYPE_INT8] = {1, "int8", "INT8", "TYPE_INT8", 8, "INT8"},
    [SKIFF_DTYPE_UINT16] = {2, "uint16", "UINT16", "TYPE_UINT16", -1, "UINT16"},
    [SKIFF_DTYPE_INT16] = {2, "int16", "INT16", "TYPE_INT16", 4, "INT16"},
    [SKIFF_DTYPE_INT32] = {4, "int32", "INT32", "TYPE_INT32", 2, "INT32"},
    [SKIFF_DTYPE_INT64] = {8, "int64", "INT64", "TYPE_INT64", 0, "INT64"},
    [SKIFF_DTYPE_STRING] = {sizeof(char *), "string", "BYTES", "TYPE_STRING", 20, "STRING"},
    [SKIFF_DTYPE_BOOL] = {1, "bool", "BOOL", "TYPE_BOOL", 9, "BOOL"},
    [SKIFF_DTYPE_FLOAT16] = {2, "float16", "FP16", "TYPE_FP16", 5, "FLOAT16"},
    [SKIFF_DTYPE_FLOAT64] = {8, "float64", "FP64", "TYPE_FP64", 3, "DOUBLE"},
    [SKIFF_DTYPE_UINT32] = {4, "uint32", "UINT32", "TYPE_UINT32", -1, "UINT32"},
    [SKIFF_DTYPE_UINT64] = {8, "uint64", "UINT64", "TYPE_UINT64", -1, "UINT64"},
    [14] = {0, "complex64", NULL, "TYPE_INVALID", 10, "COMPLEX64"},
    [15] = {0, "complex128", NULL, "TYPE_INVALID", 11, "COMPLEX128"},
    [SKIFF_DTYPE_BFLOAT16] = {2, "bfloat16", "BF16", "TYPE_BF16", 6, "BFLOAT16"},
};

#define N_DTYPES (sizeof(dtype_table) / sizeof(dtype_table[0]))

size_t skiff_dtype_size(skiff_dtype_t dtype)
{
    return (unsigned)dtype < N_DTYPES ? dtype_table[dtype].size : 0;
}

const char *skiff_dtype_name(skiff_dtype_t dtype)
{
    return (unsigned)dtype < N_DTYPES && dtype_table[dtype].name ? dtype_table[dtype].name
                                                                 : "undefined";
}

const char *skiff_dtype_kserve_name(skiff_dtype_t dtype)
{
    return (unsigned)dtype < N_DTYPES ? dtype_table[dtype].kserve : NULL;
}

skiff_dtype_t skiff_dtype_from_kserve(const char *name)
{
    for (unsigned i = 0; i < N_DTYPES; i++)
        if (dtype_table[i].kserve && strcmp(dtype_table[i].kserve, name) == 0)
            return (skiff_dtype_t)i;
    return SKIFF_DTYPE_UNDEFINED;
}

skiff_dtype_t skiff__dtype_from_onnx_name(const char *name)
{
    for (unsigned i = 1; i < N_DTYPES; i++)
        if (dtype_table[i].onnx && dtype_table[i].size && !strcasecmp(dtype_table[i].onnx, name))
            return (skiff_dtype_t)i;
    return SKIFF_DTYPE_UNDEFINED;
}

const char *skiff__dtype_triton_name(skiff_dtype_t dtype)
{
    return (unsigned)dtype < N_DTYPES && dtype_table[dtype].triton ? dtype_table[dtype].triton
                                                                   : "TYPE_INVALID";
}

int skiff__dtype_paddle_code(skiff_dtype_t dtype)
{
    return (unsigned)dtype < N_DTYPES && dtype_table[dtype].name ? dtype_table[dtype].paddle : -1;
}

/* The dtype of a Paddle code; *out_index is its row (complex types have one
 * but no dtype). */
static bool paddle_row(int code, unsigned *out_index)
{
    for (unsigned i = 0; i < N_DTYPES; i++)
        if (dtype_table[i].name && dtype_table[i].paddle == code && code >= 0) {
            *out_index = i;
            return true;
        }
    return false;
}

skiff_dtype_t skiff__dtype_from_paddle(int code)
{
    unsigned i;
    return paddle_row(code, &i) && dtype_table[i].size ? (skiff_dtype_t)i : SKIFF_DTYPE_UNDEFINED;
}

const char *skiff__paddle_type_name(int code)
{
    unsigned i;
    return paddle_row(code, &i) ? dtype_table[i].name : "unknown";
}

int64_t skiff_shape_numel(int ndim, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0 || __builtin_mul_overflow(n, dims[i], &n))
            return -1;
    }
    return n;
}

int64_t skiff_tensor_numel(const skiff_tensor_t *t) { return skiff_shape_numel(t->ndim, t->dims); }

static skiff_status_t *check_shape(skiff_dtype_t dtype, int ndim, const int64_t *dims,
                                   size_t *nbytes)
{
    if (ndim < 0 || ndim > SKIFF_MAX_DIMS)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "rank %d outside 0..%d", ndim,
                                SKIFF_MAX_DIMS);
    size_t es = skiff_dtype_size(dtype);
    if (es == 0)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "unsupported element type %s (%d)",
                                skiff_dtype_name(dtype), (int)dtype);
    int64_t n = skiff_shape_numel(ndim, dims);
    if (n < 0 || !skiff__mul_size((size_t)n, es, nbytes) || *nbytes > ((size_t)1 << 40)) {
        char buf[160];
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "invalid or too large shape %s",
                                skiff_shape_str(ndim, dims, buf, sizeof(buf)));
    }
    return NULL;
}

/* A tensor of the shape; its bytes zeroed when zero (string tensors always:
 * their pointers are freed with the tensor). */
static skiff_status_t *tensor_alloc(skiff_dtype_t dtype, int ndim, const int64_t *dims, bool zero,
                                    skiff_tensor_t **out_tensor)
{
    size_t nbytes;
    skiff_status_t *st = check_shape(dtype, ndim, dims, &nbytes);
    if (st)
        return st;
    skiff_tensor_t *t = skiff__calloc(1, sizeof(*t));
    if (!t)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    t->data = skiff__aligned_alloc(nbytes);
    if (!t->data) {
        skiff__free(t);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED,
                                "out of memory allocating a tensor of %zu bytes", nbytes);
    }
    if (zero || dtype == SKIFF_DTYPE_STRING)
        memset(t->data, 0, nbytes);
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim)
        memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim);
    t->nbytes = nbytes;
    t->flags = SKIFF_TENSOR_OWNS_DATA;
    *out_tensor = t;
    return NULL;
}

skiff_status_t *skiff_tensor_new(skiff_dtype_t dtype, int ndim, const int64_t *dims,
                                 skiff_tensor_t **out_tensor)
{
    return tensor_alloc(dtype, ndim, dims, true, out_tensor);
}

skiff_status_t *skiff_tensor_wrap(skiff_dtype_t dtype, int ndim, const int64_t *dims, void *data,
                                  size_t nbytes, skiff_tensor_t **out_tensor)
{
    size_t need;
    skiff_status_t *st = check_shape(dtype, ndim, dims, &need);
    if (st)
        return st;
    if (need != nbytes)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "tensor data is %zu bytes, shape needs %zu",
                                nbytes, need);
    skiff_tensor_t *t = skiff__calloc(1, sizeof(*t));
    if (!t)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim)
        memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim);
    t->data = data;
    t->nbytes = nbytes;
    *out_tensor = t;
    return NULL;
}

skiff_status_t *skiff_tensor_clone(const skiff_tensor_t *src, skiff_tensor_t **out_tensor)
{
    skiff_tensor_t *t = NULL;
    /* every byte is written below: no zeroing first */
    skiff_status_t *st = tensor_alloc(src->dtype, src->ndim, src->dims, false, &t);
    if (st)
        return st;
    if (src->dtype == SKIFF_DTYPE_STRING) {
        int64_t n = skiff_tensor_numel(src);
        char **d = t->data;
        char *const *s = src->data;
        for (int64_t i = 0; i < n; i++) {
            d[i] = skiff__strdup(s[i] ? s[i] : "");
            if (!d[i]) {
                skiff_tensor_free(t);
                return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
            }
        }
    } else if (src->nbytes) {
        memcpy(t->data, src->data, src->nbytes);
    }
    *out_tensor = t;
    return NULL;
}

void skiff_tensor_free(skiff_tensor_t *t)
{
    if (!t)
        return;
    if (t->flags & SKIFF_TENSOR_OWNS_DATA) {
        if (t->dtype == SKIFF_DTYPE_STRING && t->data) {
            int64_t n = skiff_tensor_numel(t);
            char **s = t->data;
            for (int64_t i = 0; i < n; i++)
                skiff__free(s[i]);
        }
        skiff__free(t->data);
    }
    skiff__free(t);
}

char *skiff_shape_str(int ndim, const int64_t *dims, char *buf, size_t cap)
{
    size_t off = 0;
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    off += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, i ? ",%lld" : "%lld", (long long)dims[i]);
    if (off < cap)
        snprintf(buf + off, cap - off, "]");
    return buf;
}
