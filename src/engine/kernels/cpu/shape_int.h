/* shape_int.h - private to the shape-kernel files (shape.c, layout.c,
 * gather.c). The op table skiff__ops_shape lives in shape.c; the other files
 * contribute run functions and share the byte-copy helpers declared here.
 *
 * Every kernel in this family moves whole elements without looking at their
 * values, so it works for any dtype whose size skiff_dtype_size() knows.
 * String tensors hold char * elements: the kernels copy the pointers first and
 * then give the output its own copies with skiff__shape_own_strings(), so an
 * output never shares strings with an input (views made with
 * skiff__kctx_alias are the exception: they share the whole buffer). */
#ifndef SKIFF_SHAPE_INT_H
#define SKIFF_SHAPE_INT_H

#include <string.h>

#include "../../engine_int.h"

/* Rank limit of the internal strided-copy views: Tile views an output of rank
 * r as 2r dimensions. */
#define SKIFF_SHAPE_VIEW_DIMS (2 * SKIFF_MAX_DIMS)

/* Element size of `t`, or an UNSUPPORTED error naming the input and dtype. */
skiff_status_t *skiff__shape_esize(const skiff__kctx *ctx, const skiff_tensor_t *t,
                                   const char *what, size_t *out_size);

/* Replaces every borrowed char * in a string output with an owned copy (NULL
 * becomes ""); no-op for other dtypes. On out-of-memory the elements not yet
 * copied are set to NULL so the tensor can be freed safely. */
skiff_status_t *skiff__shape_own_strings(const skiff__kctx *ctx, skiff_tensor_t *t);

/* Reads a 0-D or 1-D integer tensor into out[0..cap); *out_n gets the count.
 * Errors name the input `what`. */
skiff_status_t *skiff__shape_read_ints(const skiff__kctx *ctx, const skiff_tensor_t *t,
                                       const char *what, int64_t *out, int cap, int *out_n);

/* Contiguous row-major strides (in elements) of a shape. */
void skiff__shape_strides(int ndim, const int64_t *dims, int64_t *strides);

/* Writes value v converted to dtype into *p (numeric dtypes only). */
void skiff__shape_set_f64(void *p, skiff_dtype_t dtype, double v);

/* Copies one element of es bytes; constant-size moves for the common sizes
 * instead of a memcpy call per element. */
static inline void skiff__shape_copy_elem(void *dst, const void *src, size_t es)
{
    switch (es) {
    case 1: *(uint8_t *)dst = *(const uint8_t *)src; break;
    case 2: memcpy(dst, src, 2); break;
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    default: memcpy(dst, src, es);
    }
}

/* Fills n elements of es bytes at dst with copies of the element at elem. */
void skiff__shape_fill(void *dst, const void *elem, size_t es, int64_t n);

/* The copy engine behind Transpose, Slice, Expand, Tile, DepthToSpace and
 * SpaceToDepth: writes the contiguous output of shape dims[0..rank) where
 * output element (c0..cr-1) is src[sum ci * istrides[i]] (strides in elements,
 * may be zero or negative; src points at the element for coordinate 0).
 * rank <= SKIFF_SHAPE_VIEW_DIMS. Merges dims, then picks a row copy, a
 * broadcast fill, a cache-blocked transpose or a strided gather. */
void skiff__shape_strided_copy(void *dst, const void *src, size_t es, int rank, const int64_t *dims,
                               const int64_t *istrides, int threads);

#endif
