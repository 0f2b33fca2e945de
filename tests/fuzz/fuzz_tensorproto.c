/* fuzz_tensorproto.c - decoding one serialized onnx.TensorProto
 * (skiff__onnx_read_tensor): the conformance runner's input files and every
 * initializer of a model go through the same decoder, so its checks on
 * data_type, dims, raw_data length versus the typed fields, and external-data
 * references must hold for any bytes. */
#include <string.h>

#include "core/core.h"
#include "engine/engine_int.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    skiff_tensor_t *t = NULL;
    char *name = NULL;
    skiff_status_t *st = skiff__onnx_read_tensor(data, size, &t, &name);
    if (st) {
        FUZZ_CHECK(t == NULL);
        FUZZ_CHECK(skiff_status_message(st)[0] != '\0');
        skiff_status_free(st);
        skiff__free(name);
        return 0;
    }
    FUZZ_CHECK(t != NULL);
    FUZZ_CHECK(t->ndim >= 0 && t->ndim <= SKIFF_MAX_DIMS);
    int64_t numel = skiff_tensor_numel(t);
    FUZZ_CHECK(numel >= 0);
    FUZZ_CHECK(t->nbytes == (size_t)numel * skiff_dtype_size(t->dtype));
    if (t->dtype == SKIFF_DTYPE_STRING) {
        /* Every element of a decoded string tensor is a real C string. */
        char **s = t->data;
        for (int64_t i = 0; i < numel; i++)
            FUZZ_CHECK(s[i] != NULL && strlen(s[i]) < size + 1);
    } else if (t->nbytes) {
        /* Touch every byte so ASan sees a buffer shorter than nbytes. */
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < t->nbytes; i++)
            sink ^= ((const uint8_t *)t->data)[i];
        (void)sink;
    }
    skiff_tensor_free(t);
    skiff__free(name);
    return 0;
}
