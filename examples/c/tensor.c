/* tensor.c - skiff/tensor.h: tensors are plain structs. Make one, fill it
 * through `data`, wrap caller memory without a copy, clone, free.
 *
 *     cc tensor.c $(pkg-config --cflags --libs skiff) -o tensor && ./tensor
 */
#include <stdio.h>

#include <skiff/status.h>
#include <skiff/tensor.h>

int main(void)
{
    /* A 2x3 float32 tensor the library allocates (zeroed); the caller owns it. */
    const int64_t dims[] = {2, 3};
    skiff_tensor_t *t = NULL;
    skiff_status_t *st = skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 2, dims, &t);
    if (st) {
        fprintf(stderr, "%s\n", skiff_status_message(st));
        skiff_status_free(st);
        return 1;
    }
    float *v = t->data;
    for (int64_t i = 0; i < skiff_tensor_numel(t); i++)
        v[i] = (float)i * 0.5f;

    /* Caller memory, borrowed: the tensor must not outlive `row`. */
    int64_t row[4] = {7, 8, 9, 10};
    const int64_t row_dims[] = {4};
    skiff_tensor_t *w = NULL;
    st = skiff_tensor_wrap(SKIFF_DTYPE_INT64, 1, row_dims, row, sizeof(row), &w);
    skiff_tensor_t *copy = NULL;
    if (!st)
        st = skiff_tensor_clone(t, &copy);
    if (st) {
        fprintf(stderr, "%s\n", skiff_status_message(st));
        skiff_status_free(st);
        skiff_tensor_free(w);
        skiff_tensor_free(t);
        return 1;
    }

    char shape[64];
    printf("t: %s %s (KServe %s), %lld elements, %zu bytes, last %.1f\n",
           skiff_dtype_name(t->dtype), skiff_shape_str(t->ndim, t->dims, shape, sizeof(shape)),
           skiff_dtype_kserve_name(t->dtype), (long long)skiff_tensor_numel(t), t->nbytes,
           (double)v[5]);
    printf("w: %s %s, borrows caller memory: %s\n", skiff_dtype_name(w->dtype),
           skiff_shape_str(w->ndim, w->dims, shape, sizeof(shape)),
           (w->flags & SKIFF_TENSOR_OWNS_DATA) ? "no" : "yes");
    int ok = copy->data != t->data && ((float *)copy->data)[5] == v[5] &&
             skiff_dtype_from_kserve("FP32") == SKIFF_DTYPE_FLOAT32 &&
             skiff_dtype_size(SKIFF_DTYPE_INT64) == 8;
    skiff_tensor_free(copy);
    skiff_tensor_free(w);
    skiff_tensor_free(t);
    return ok ? 0 : 1;
}
