/* fuzz_image.c - the image decoders (skiff__vision_image_decode: JPEG, PNG,
 * WebP) on bytes a client sends. Beyond no crash, leak or hang: a decoded
 * image has the shape and size it claims, within the pixel limit. The
 * limit is lowered so the fuzzer spends its time in the parsers, not in
 * allocating huge images. Seeds: corpus/fuzz_image/ (make_image_seeds.py:
 * small images of each kind, truncations, a header bomb). */
#include "fuzz.h"
#include "vision/vision.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    skiff__image_opts o = {.max_pixels = 1 << 20, .rgb = size & 1};
    skiff_tensor_t *t = NULL;
    skiff_status_t *st = skiff__vision_image_decode(data, size, &o, &t);
    if (st) {
        FUZZ_CHECK(t == NULL);
        FUZZ_CHECK(skiff_status_message(st)[0] != '\0');
        skiff_status_free(st);
        return 0;
    }
    FUZZ_CHECK(t && t->ndim == 3 && t->dims[2] == 3 && t->dtype == SKIFF_DTYPE_UINT8);
    FUZZ_CHECK(t->dims[0] * t->dims[1] <= o.max_pixels);
    FUZZ_CHECK(t->nbytes == (size_t)(t->dims[0] * t->dims[1] * 3));
    skiff_tensor_free(t);
    return 0;
}
