/* fuzz_qdq.c - `skiff quantize`'s rewrite of a model from bytes: decoding,
 * the opset conversion, the choice of nodes, the calibration model and the
 * QDQ model written with fixed ranges. The model file is outside input, and
 * the rewrite reads more of it than the loader checks (Constant values,
 * weight dims and data, attributes), so any bytes must give a clean error
 * or two models that decode again, never a crash or a leak. The ranges
 * come from the first bytes, so zero, tiny and huge scales are covered.
 * protobuf-c keeps unknown fields it cannot write back in a form it reads
 * again (found here: a field number 0 inside an attribute), so the written
 * models must decode only when the input itself survives protobuf-c's own
 * pack and unpack; `skiff quantize` loads what it wrote before writing it,
 * so such a model ends in an error there. */
#include <string.h>

#include "core/core.h"
#include "fuzz.h"
#include "onnx.pb-c.h"
#include "quant/quant.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

static bool round_trips(const uint8_t *data, size_t size)
{
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, size, data);
    if (!mp)
        return false;
    size_t n = onnx__model_proto__get_packed_size(mp);
    uint8_t *buf = skiff__malloc(n ? n : 1);
    bool ok = false;
    if (buf) {
        onnx__model_proto__pack(mp, buf);
        Onnx__ModelProto *again = onnx__model_proto__unpack(NULL, n, buf);
        ok = again != NULL;
        if (again)
            onnx__model_proto__free_unpacked(again, NULL);
    }
    skiff__free(buf);
    onnx__model_proto__free_unpacked(mp, NULL);
    return ok;
}

static void decodes(const uint8_t *buf, size_t len, bool must)
{
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    FUZZ_CHECK(mp != NULL || !must);
    if (mp)
        onnx__model_proto__free_unpacked(mp, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    float range = 1;
    if (size >= 4)
        memcpy(&range, data, 4);
    skiff__qdq_opts opts = {.per_channel = size % 2 == 0,
                            .reduce_range = size % 3 == 0,
                            .keep_first_last = size % 5 == 0};
    skiff__qdq *q = NULL;
    skiff_status_t *st = skiff__qdq_open(data, size, &opts, &q);
    if (st) {
        FUZZ_CHECK(q == NULL);
        FUZZ_CHECK(skiff_status_message(st)[0] != '\0');
        skiff_status_free(st);
        return 0;
    }
    int nt = skiff__qdq_tensor_count(q);
    bool must = round_trips(data, size);
    for (int i = 0; i < skiff__qdq_note_count(q); i++)
        FUZZ_CHECK(skiff__qdq_note(q, i) != NULL);
    uint8_t *buf = NULL;
    size_t len = 0;
    st = skiff__qdq_calib_model(q, &buf, &len);
    if (!st)
        decodes(buf, len, must);
    skiff__free(buf);
    skiff_status_free(st);
    float *lo = skiff__calloc((size_t)nt + 1, sizeof(float));
    float *hi = skiff__calloc((size_t)nt + 1, sizeof(float));
    if (lo && hi) {
        for (int t = 0; t < nt; t++) {
            lo[t] = t % 2 ? -range : 0;
            hi[t] = range;
        }
        buf = NULL;
        st = skiff__qdq_write(q, lo, hi, &buf, &len);
        if (!st)
            decodes(buf, len, must);
        skiff__free(buf);
        skiff_status_free(st);
    }
    skiff__free(lo);
    skiff__free(hi);
    skiff__qdq_free(q);
    return 0;
}
