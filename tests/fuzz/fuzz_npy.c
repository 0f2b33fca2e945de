/* fuzz_npy.c - the .npy reader (skiff__npy_read_buffer), which reads files and
 * request bodies a client controls.
 *
 * Beyond "no crash, no leak, no out-of-bounds read", every array the reader
 * accepts must survive a write/read round trip unchanged: a header the reader
 * half-understood (a shape it truncated, a dtype it mapped wrongly) shows up
 * as a mismatch here. */
#include <string.h>

#include "core/core.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    skiff_tensor_t *t = NULL;
    skiff_status_t *st = skiff__npy_read_buffer(data, size, &t);
    if (st) {
        FUZZ_CHECK(t == NULL);
        FUZZ_CHECK(skiff_status_message(st)[0] != '\0');
        skiff_status_free(st);
        return 0;
    }
    FUZZ_CHECK(t != NULL);
    FUZZ_CHECK(t->ndim >= 0 && t->ndim <= SKIFF_MAX_DIMS);
    int64_t numel = skiff_tensor_numel(t);
    FUZZ_CHECK(numel >= 0);
    FUZZ_CHECK(t->nbytes == (size_t)numel * skiff_dtype_size(t->dtype));

    void *buf = NULL;
    size_t len = 0;
    st = skiff__npy_write_buffer(t, &buf, &len);
    if (!st) {
        skiff_tensor_t *back = NULL;
        st = skiff__npy_read_buffer(buf, len, &back);
        FUZZ_CHECK(st == NULL);
        FUZZ_CHECK(back->dtype == t->dtype && back->ndim == t->ndim);
        FUZZ_CHECK(memcmp(back->dims, t->dims, sizeof(int64_t) * (size_t)t->ndim) == 0);
        FUZZ_CHECK(back->nbytes == t->nbytes);
        FUZZ_CHECK(t->nbytes == 0 || memcmp(back->data, t->data, t->nbytes) == 0);
        skiff_tensor_free(back);
        skiff__free(buf);
    }
    /* The writer may refuse only for lack of memory, never for a tensor the
     * reader produced. */
    FUZZ_CHECK(st == NULL || skiff_status_code(st) == SKIFF_CODE_RESOURCE_EXHAUSTED);
    skiff_status_free(st);
    skiff_tensor_free(t);
    return 0;
}
