/* fuzz_brpc.c - the brpc baidu_std front end's parsing, as the connection
 * runs it: frames cut from a byte stream (skiff__brpc_head), each frame's
 * RpcMeta, its payload (attachment cut off, gzip inflated within a limit),
 * the generation rule, and the Request decoder of that generation (Paddle
 * 0.9's Tensor form or 0.3-0.6's FeedInst form).
 *
 * Input: byte 0 picks the model description (fuzz_p09.h), the rest is what a
 * client sent on one connection. Seeds: corpus/fuzz_brpc/ (written by
 * tests/fuzz/make_brpc_seeds.py).
 *
 * Beyond "no crash, no leak": refusals name what was wrong and are never
 * INTERNAL; an answer frame for every decoded call reads back with the same
 * correlation_id; a decoded 0.3-0.6 request encoded again decodes to the same
 * tensors. */
#include <string.h>

#include "core/core.h"
#include "fuzz.h"
#include "fuzz_p09.h"
#include "proto/codec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff__codec_init();
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

static void refused(skiff_status_t *st)
{
    FUZZ_CHECK(skiff_status_message(st)[0] != '\0');
    FUZZ_CHECK(skiff_status_code(st) != SKIFF_CODE_INTERNAL);
    skiff_status_free(st);
}

/* An answer frame for corr reads back as one frame with the same id. */
static void answer_roundtrip(int64_t corr, int32_t compress, const skiff__buf *payload)
{
    skiff__buf f = {0};
    skiff_status_t *st =
        skiff__brpc_encode_response(corr, 0, NULL, compress, payload->data, payload->len, &f);
    FUZZ_CHECK(st == NULL);
    uint32_t body = 0, meta = 0;
    FUZZ_CHECK(skiff__brpc_head(f.data, f.len, &body, &meta) == SKIFF__BRPC_HEAD_OK);
    FUZZ_CHECK((size_t)body + SKIFF__BRPC_HEAD == f.len);
    skiff__brpc_meta m;
    st = skiff__brpc_meta_decode(f.data + SKIFF__BRPC_HEAD, meta, &m);
    FUZZ_CHECK(st == NULL && m.correlation_id == corr && m.has_response && m.error_code == 0);
    skiff__buf back = {0};
    st = skiff__brpc_payload(f.data + SKIFF__BRPC_HEAD, body, meta, &m, 1 << 20, &back);
    FUZZ_CHECK(st == NULL && back.len == payload->len &&
               (back.len == 0 || memcmp(back.data, payload->data, back.len) == 0));
    skiff__brpc_meta_free(&m);
    skiff__buf_free(&back);
    skiff__buf_free(&f);
}

static void decode_payload(const skiff__model_io *io, const skiff__buf *payload)
{
    static const skiff__codec_limits lim = {.max_elements = 4096, .max_inputs = 64};
    int gen = skiff__paddle_rpc_generation(payload->data ? payload->data : "", payload->len);
    FUZZ_CHECK(gen == 4 || gen == 9);
    const skiff__codec *codec =
        skiff__codec_of(gen == 4 ? SKIFF__API_PADDLE04_RPC : SKIFF__API_PADDLE09_RPC);
    skiff__decode_in in = {.body = payload->data ? payload->data : "",
                           .len = payload->len,
                           .io = io,
                           .limits = &lim,
                           .header_length = -1};
    skiff__infer_request *r = NULL;
    skiff_status_t *st = codec->decode_request(&in, &r);
    if (st) {
        FUZZ_CHECK(r == NULL);
        refused(st);
        return;
    }
    FUZZ_CHECK(r != NULL && r->n_inputs <= 64);
    if (gen == 4 && r->n_inputs == io->n_inputs) {
        /* Back to a 0.3-0.6 Request, in feed order: the same tensors. */
        skiff__infer_output o[64];
        for (int k = 0; k < io->n_inputs; k++) {
            int at = -1;
            for (int i = 0; i < r->n_inputs; i++)
                if (r->inputs[i].spec == k)
                    at = i;
            FUZZ_CHECK(at >= 0);
            o[k] = (skiff__infer_output){.name = r->inputs[at].name,
                                         .tensor = r->inputs[at].tensor,
                                         .lod = r->inputs[at].lod,
                                         .n_lod = r->inputs[at].n_lod};
        }
        skiff__request_out req = {.inputs = o, .n_inputs = io->n_inputs};
        skiff__buf b = {0};
        size_t len = 0;
        st = codec->encode_request(&req, &b, &len);
        if (!st) {
            skiff__infer_request *back = NULL;
            skiff__decode_in again = {
                .body = b.data, .len = b.len, .io = io, .limits = &lim, .header_length = -1};
            FUZZ_CHECK(skiff__paddle_rpc_generation(b.data, b.len) == 4);
            st = codec->decode_request(&again, &back);
            FUZZ_CHECK(st == NULL);
            for (int i = 0; i < back->n_inputs; i++)
                for (int j = 0; j < r->n_inputs; j++)
                    if (back->inputs[i].spec == r->inputs[j].spec)
                        FUZZ_CHECK(same_tensor(back->inputs[i].tensor, r->inputs[j].tensor));
            skiff__infer_request_free(back);
        }
        skiff_status_free(st);
        skiff__buf_free(&b);
    }
    skiff__infer_request_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const skiff__model_io *io = &models[data[0] % N_MODELS];
    const char *p = (const char *)data + 1;
    size_t left = size - 1;
    skiff__buf payload = {0};
    while (left > 0) {
        uint32_t body = 0, meta = 0;
        skiff__brpc_head_result hr = skiff__brpc_head(p, left, &body, &meta);
        if (hr != SKIFF__BRPC_HEAD_OK)
            break; /* the connection waits for more, or closes */
        FUZZ_CHECK(meta <= body);
        if (left - SKIFF__BRPC_HEAD < body)
            break; /* truncated: the connection waits, then times out */
        const char *b = p + SKIFF__BRPC_HEAD;
        p += SKIFF__BRPC_HEAD + body;
        left -= SKIFF__BRPC_HEAD + body;
        skiff__brpc_meta m;
        skiff_status_t *st = skiff__brpc_meta_decode(b, meta, &m);
        if (st) {
            refused(st);
            break; /* closes the connection */
        }
        skiff__buf_reset(&payload);
        st = skiff__brpc_payload(b, body, meta, &m, 1 << 20, &payload);
        if (st) {
            FUZZ_CHECK(skiff_status_code(st) != SKIFF_CODE_INTERNAL);
            FUZZ_CHECK(skiff_status_message(st)[0] != '\0');
            skiff_status_free(st);
        } else {
            FUZZ_CHECK(payload.len <= 1 << 20);
            decode_payload(io, &payload);
            answer_roundtrip(m.correlation_id, m.compress_type, &payload);
        }
        skiff__brpc_meta_free(&m);
    }
    skiff__buf_free(&payload);
    return 0;
}
