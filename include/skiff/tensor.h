/* skiff/tensor.h - dense n-dimensional tensors.
 *
 * A tensor is a transparent struct: the engine, the frontends and user code
 * read dims and data directly, so there is no accessor cost on hot paths.
 * Data is little-endian, row-major (C order). String tensors hold an array of
 * `char *`, one NUL-terminated string per element, owned with the tensor.
 *
 * Threads: a tensor is a plain value; readers may share it, writers may not.
 */
#ifndef SKIFF_TENSOR_H
#define SKIFF_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "skiff/api.h"
#include "skiff/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Element types. Values are ONNX TensorProto.DataType numbers. */
typedef enum skiff_dtype {
    SKIFF_DTYPE_UNDEFINED = 0,
    SKIFF_DTYPE_FLOAT32 = 1,
    SKIFF_DTYPE_UINT8 = 2,
    SKIFF_DTYPE_INT8 = 3,
    SKIFF_DTYPE_UINT16 = 4,
    SKIFF_DTYPE_INT16 = 5,
    SKIFF_DTYPE_INT32 = 6,
    SKIFF_DTYPE_INT64 = 7,
    SKIFF_DTYPE_STRING = 8,
    SKIFF_DTYPE_BOOL = 9,
    SKIFF_DTYPE_FLOAT16 = 10,
    SKIFF_DTYPE_FLOAT64 = 11,
    SKIFF_DTYPE_UINT32 = 12,
    SKIFF_DTYPE_UINT64 = 13,
    SKIFF_DTYPE_BFLOAT16 = 16,
} skiff_dtype_t;

#define SKIFF_MAX_DIMS 8

/* Set in skiff_tensor_t.flags when the tensor owns `data` (and, for strings,
 * each element). */
#define SKIFF_TENSOR_OWNS_DATA 1u

typedef struct skiff_tensor {
    skiff_dtype_t dtype;
    int ndim;                     /* 0 for a scalar */
    int64_t dims[SKIFF_MAX_DIMS]; /* dims[0..ndim) */
    void *data;                   /* nbytes bytes; char *[] for strings */
    size_t nbytes;
    unsigned flags;
} skiff_tensor_t;

/* Size in bytes of one element (sizeof(char *) for strings); 0 for unknown. */
SKIFF_API size_t skiff_dtype_size(skiff_dtype_t dtype);

/* Lower-case ONNX-style name ("float32", "int64") and KServe v2 name ("FP32",
 * "INT64"); "undefined" / NULL for types without one. */
SKIFF_API const char *skiff_dtype_name(skiff_dtype_t dtype);
SKIFF_API const char *skiff_dtype_kserve_name(skiff_dtype_t dtype);

/* Parses a KServe v2 datatype name; SKIFF_DTYPE_UNDEFINED when unknown. */
SKIFF_API skiff_dtype_t skiff_dtype_from_kserve(const char *name);

/* Number of elements of a shape; -1 if a dim is negative or the count
 * overflows int64. 1 for ndim 0. */
SKIFF_API int64_t skiff_shape_numel(int ndim, const int64_t *dims);

/* Elements in a tensor. */
SKIFF_API int64_t skiff_tensor_numel(const skiff_tensor_t *t);

/* Allocates a tensor with zeroed data. Caller owns *out_tensor and frees it
 * with skiff_tensor_free(). */
SKIFF_API skiff_status_t *skiff_tensor_new(skiff_dtype_t dtype, int ndim, const int64_t *dims,
                                           skiff_tensor_t **out_tensor);

/* Wraps caller memory without copying; the tensor borrows `data`, which must
 * outlive it. */
SKIFF_API skiff_status_t *skiff_tensor_wrap(skiff_dtype_t dtype, int ndim, const int64_t *dims,
                                            void *data, size_t nbytes, skiff_tensor_t **out_tensor);

/* Deep copy. Caller owns the result. */
SKIFF_API skiff_status_t *skiff_tensor_clone(const skiff_tensor_t *src,
                                             skiff_tensor_t **out_tensor);

/* Frees a tensor (and its data when owned). Accepts NULL. */
SKIFF_API void skiff_tensor_free(skiff_tensor_t *t);

/* Writes "[1,3,224,224]" into buf (always NUL-terminated); returns buf. */
SKIFF_API char *skiff_shape_str(int ndim, const int64_t *dims, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
