/* fuzz_paddle09_pb.c - Paddle Serving 0.9's protobuf binary Request
 * (Content-Type application/proto; a brpc call's payload): protobuf-c's
 * unpacking and the shared 0.9 decoder reading the message's typed views.
 *
 * Input: byte 0 picks the model description (as fuzz_json_paddle09), the
 * rest is the body. Seeds: corpus/fuzz_paddle09_pb/ (written by
 * tests/fuzz/make_seeds.py).
 *
 * Beyond "no crash, no leak": the JSON decoder, given the message's proto3
 * JSON form, agrees with the binary front (the same tensors, or the same
 * code and message); a decoded request, encoded again as a binary Request,
 * decodes to the same tensors, bit for bit; every refusal names what was
 * wrong and is the client's fault (never INTERNAL). */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "fuzz.h"
#include "fuzz_p09.h"
#include "general_model_service.pb-c.h"
#include "proto/codec.h"
#include "proto/codec_int.h"

typedef Baidu__PaddleServing__Predictor__GeneralModel__Tensor pb_tensor;
typedef Baidu__PaddleServing__Predictor__GeneralModel__Request pb_request;

/* ---- the message's proto3 JSON form (typed lists, bytes as base64) ---- */

static json_t *real_json(double v)
{
    if (isnan(v))
        return json_string("NaN");
    if (isinf(v))
        return json_string(v > 0 ? "Infinity" : "-Infinity");
    return json_real(v);
}

/* kind: l int64, i int32, u uint32, f float, d double, b bool, s string */
static json_t *jlist(const void *v, size_t n, char kind)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e;
        switch (kind) {
        case 'l': e = json_integer(((const int64_t *)v)[i]); break;
        case 'i': e = json_integer(((const int32_t *)v)[i]); break;
        case 'u': e = json_integer(((const uint32_t *)v)[i]); break;
        case 'f': e = real_json(((const float *)v)[i]); break;
        case 'd': e = real_json(((const double *)v)[i]); break;
        case 'b': e = json_boolean(((const protobuf_c_boolean *)v)[i]); break;
        default: {
            const char *s = ((char *const *)v)[i];
            e = json_stringn_nocheck(s ? s : "", s ? strlen(s) : 0);
        }
        }
        json_array_append_new(a, e);
    }
    return a;
}

static json_t *request_json(const pb_request *r)
{
    json_t *root = json_object(), *ts = json_array();
    for (size_t k = 0; k < r->n_tensor; k++) {
        const pb_tensor *t = r->tensor[k];
        json_t *o = json_object();
#define ARR(field, kind)                                                                           \
    if (t->n_##field)                                                                              \
    json_object_set_new(o, #field, jlist(t->field, t->n_##field, kind))
        ARR(int64_data, 'l');
        ARR(float_data, 'f');
        ARR(int_data, 'i');
        ARR(float64_data, 'd');
        ARR(uint32_data, 'u');
        ARR(bool_data, 'b');
        ARR(complex64_data, 'f');
        ARR(complex128_data, 'd');
        ARR(data, 's');
        ARR(shape, 'i');
        ARR(lod, 'i');
#undef ARR
        if (t->elem_type)
            json_object_set_new(o, "elem_type", json_integer(t->elem_type));
        if (t->name[0])
            json_object_set_new(o, "name", json_stringn_nocheck(t->name, strlen(t->name)));
        if (t->alias_name[0])
            json_object_set_new(o, "alias_name",
                                json_stringn_nocheck(t->alias_name, strlen(t->alias_name)));
        if (t->tensor_content.len) {
            skiff__buf b = {0};
            FUZZ_CHECK(skiff__buf_base64(&b, t->tensor_content.data, t->tensor_content.len));
            json_object_set_new(o, "tensor_content", json_stringn(b.data, b.len));
            skiff__buf_free(&b);
        }
        json_array_append_new(ts, o);
    }
    json_object_set_new(root, "tensor", ts);
    if (r->n_fetch_var_names)
        json_object_set_new(root, "fetch_var_names",
                            jlist(r->fetch_var_names, r->n_fetch_var_names, 's'));
    return root;
}

/* The JSON decoder on the message's JSON form agrees with the binary
 * front's st / r (borrowed). */
static void same_as_json(const skiff__decode_in *in, const skiff_status_t *st,
                         const skiff__infer_request *r)
{
    pb_request *m = baidu__paddle_serving__predictor__general_model__request__unpack(
        NULL, in->len, (const uint8_t *)in->body);
    if (!m) { /* the binary front refused it before any check */
        FUZZ_CHECK(st != NULL);
        return;
    }
    json_t *root = request_json(m);
    baidu__paddle_serving__predictor__general_model__request__free_unpacked(m, NULL);
    skiff__infer_request *jr = NULL;
    skiff_status_t *jst = skiff__decode_paddle09_tree(root, in, &jr);
    json_decref(root);
    FUZZ_CHECK(!st == !jst);
    if (st) {
        FUZZ_CHECK(skiff_status_code(st) == skiff_status_code(jst));
        FUZZ_CHECK(strcmp(skiff_status_message(st), skiff_status_message(jst)) == 0);
    } else {
        FUZZ_CHECK(r->n_inputs == jr->n_inputs && r->batch == jr->batch &&
                   r->n_outputs == jr->n_outputs);
        for (int i = 0; i < r->n_inputs; i++) {
            FUZZ_CHECK(strcmp(r->inputs[i].name, jr->inputs[i].name) == 0);
            FUZZ_CHECK(r->inputs[i].spec == jr->inputs[i].spec);
            FUZZ_CHECK(same_tensor(r->inputs[i].tensor, jr->inputs[i].tensor));
            FUZZ_CHECK(r->inputs[i].n_lod == jr->inputs[i].n_lod);
            FUZZ_CHECK(r->inputs[i].n_lod == 0 ||
                       memcmp(r->inputs[i].lod, jr->inputs[i].lod,
                              sizeof(int64_t) * (size_t)r->inputs[i].n_lod) == 0);
        }
    }
    skiff_status_free(jst);
    skiff__infer_request_free(jr);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff__codec_init();
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int sel = data[0] % (N_MODELS + 1);
    const skiff__model_io *io = sel < N_MODELS ? &models[sel] : NULL;
    static const skiff__codec_limits lim = {.max_elements = 4096, .max_inputs = 64};
    const skiff__codec *codec = skiff__codec_of(SKIFF__API_PADDLE09_PB);
    skiff__decode_in in = {
        .body = (const char *)data + 1, .len = size - 1, .io = io, .limits = &lim};
    skiff__infer_request *r = NULL;
    skiff_status_t *st = codec->decode_request(&in, &r);
    same_as_json(&in, st, r);
    if (st) {
        FUZZ_CHECK(r == NULL);
        FUZZ_CHECK(skiff_status_message(st)[0] != '\0');
        FUZZ_CHECK(skiff_status_code(st) != SKIFF_CODE_INTERNAL);
        skiff_status_free(st);
        return 0;
    }
    FUZZ_CHECK(r != NULL && r->n_inputs <= 64);
    /* Request -> binary Request -> same tensors. Inputs are named by the
     * key that matched; without a model, shapes above int32 cannot go back. */
    skiff__infer_output o[64];
    bool fits = true;
    for (int i = 0; i < r->n_inputs; i++) {
        o[i] = (skiff__infer_output){.name = r->inputs[i].name,
                                     .tensor = r->inputs[i].tensor,
                                     .lod = r->inputs[i].lod,
                                     .n_lod = r->inputs[i].n_lod};
        for (int d = 0; d < r->inputs[i].tensor->ndim; d++)
            fits = fits && r->inputs[i].tensor->dims[d] <= INT32_MAX;
    }
    skiff__request_out req = {.inputs = o, .n_inputs = r->n_inputs};
    skiff__buf b = {0};
    size_t json_len = 0;
    st = codec->encode_request(&req, &b, &json_len);
    FUZZ_CHECK(st == NULL || !fits);
    if (!st && r->n_inputs > 0) {
        skiff__infer_request *back = NULL;
        skiff__decode_in again = {.body = b.data, .len = b.len, .io = io, .limits = &lim};
        st = codec->decode_request(&again, &back);
        FUZZ_CHECK(st == NULL);
        FUZZ_CHECK(back->n_inputs == r->n_inputs);
        for (int i = 0; i < r->n_inputs; i++) {
            FUZZ_CHECK(same_tensor(r->inputs[i].tensor, back->inputs[i].tensor));
            FUZZ_CHECK(r->inputs[i].n_lod == back->inputs[i].n_lod);
        }
        skiff__infer_request_free(back);
    }
    skiff_status_free(st);
    skiff__buf_free(&b);
    skiff__infer_request_free(r);
    return 0;
}
