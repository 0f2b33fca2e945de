/* fuzz_response.c - answers a client reads (the codec table's
 * decode_response): KServe JSON and binary, Paddle web, Paddle 0.9 JSON and
 * protobuf binary, success and error shapes.
 *
 * Input: byte 0 picks the API (and bit 3 the HTTP status: 200 or 400), the
 * rest is the body; for KServe, byte 1 is the JSON head's length in 1/256ths
 * of the body. Seeds: corpus/fuzz_response/.
 *
 * Beyond "no crash, no leak": a refusal of the answer itself never blames
 * skiff (INTERNAL; what the server reported is passed on as it is), and
 * every tensor read back is whole (bytes match the shape). */
#include <string.h>

#include "core/core.h"
#include "fuzz.h"
#include "proto/codec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff__codec_init();
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const skiff__api apis[] = {SKIFF__API_KSERVE, SKIFF__API_PADDLE_WEB, SKIFF__API_PADDLE09,
                                      SKIFF__API_PADDLE09_PB};
    skiff__api api = apis[data[0] % 4];
    const char *body = (const char *)data + 2;
    size_t len = size - 2;
    int64_t hl = -1;
    if (api == SKIFF__API_KSERVE && data[1])
        hl = (int64_t)(len * data[1] / 256);
    static const skiff__codec_limits lim = {.max_elements = 4096, .max_inputs = 64};
    skiff__decode_in in = {.body = body,
                           .len = len,
                           .limits = &lim,
                           .header_length = hl,
                           .http_status = (data[0] & 8) ? 400 : 200};
    skiff__infer_request *r = NULL;
    skiff_status_t *st = skiff__codec_of(api)->decode_response(&in, &r);
    if (st) {
        FUZZ_CHECK(r == NULL);
        FUZZ_CHECK(skiff_status_message(st)[0] != '\0');
        /* What the server said is passed on as it is; a refusal of the
         * answer itself is never skiff's own fault. */
        bool server = strncmp(skiff_status_message(st), "server: ", 8) == 0;
        FUZZ_CHECK(server || skiff_status_code(st) != SKIFF_CODE_INTERNAL);
        skiff_status_free(st);
        return 0;
    }
    FUZZ_CHECK(r != NULL);
    for (int i = 0; i < r->n_inputs; i++) {
        const skiff_tensor_t *t = r->inputs[i].tensor;
        int64_t n = skiff_tensor_numel(t);
        FUZZ_CHECK(n >= 0 && t->nbytes == (size_t)n * skiff_dtype_size(t->dtype));
    }
    skiff__infer_request_free(r);
    return 0;
}
