/* codec_response.c - answers read back into named tensors: the client
 * direction of every codec (the server's answer -> tensors, or the status
 * the server reported).
 *
 * Each API's answer carries its tensors in the same shape as its requests
 * do (KServe "outputs" entries are "inputs" entries; Paddle 0.9's ModelOutput
 * holds the Request's Tensor messages; Paddle web's "result" is a feed dict),
 * so a KServe or Paddle 0.9 response is rewritten into that request form and
 * read by the request decoder without a model (io NULL: names, types and
 * shapes from the data), with every check that decoder makes. Paddle web's
 * "result" is read here: nested lists as they stand (shape from the nesting;
 * numbers as float32, the only type JSON numbers tell). The tensors come back
 * in the decoded message's inputs, named as the answer names them.
 */
#include <jansson.h>
#include <string.h>

#include "core/core.h"
#include "proto/codec_int.h"

/* An error answer: the server's message, with a code from the HTTP status
 * (or Paddle's err_no). */
static skiff_status_t *server_error(const skiff__decode_in *in, skiff_code_t code, const char *msg)
{
    if (code == SKIFF_CODE_OK)
        code = in->http_status ? skiff__code_from_http(in->http_status) : SKIFF_CODE_INTERNAL;
    if (code == SKIFF_CODE_OK)
        code = SKIFF_CODE_INTERNAL;
    return skiff_status_new(code, "server: %s", msg && msg[0] ? msg : "error without a message");
}

/* Dumps `root` (a KServe request's form) and decodes it, with `tail` (binary
 * data) after it when given. */
static skiff_status_t *redecode(const json_t *root, const char *tail, size_t tail_len,
                                const skiff__decode_in *in, skiff__infer_request **out)
{
    char *text = json_dumps(root, JSON_COMPACT);
    if (!text)
        return skiff__codec_oom();
    size_t jl = strlen(text);
    skiff__buf b = {0};
    skiff_status_t *st = NULL;
    if (!skiff__buf_append(&b, text, jl) || (tail_len && !skiff__buf_append(&b, tail, tail_len)))
        st = skiff__codec_oom();
    skiff__free(text);
    if (!st)
        st =
            skiff__decode_kserve(b.data, b.len, tail_len ? (int64_t)jl : -1, NULL, in->limits, out);
    skiff__buf_free(&b);
    return st ? skiff_status_wrap(st, "answer") : NULL;
}

skiff_status_t *skiff__decode_kserve_response(const skiff__decode_in *in,
                                              skiff__infer_request **out)
{
    *out = NULL;
    size_t jl = in->header_length >= 0 ? (size_t)in->header_length : in->len;
    if (jl > in->len)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "answer: header length %zu past the %zu-byte body", jl, in->len);
    skiff_status_t *st;
    json_t *root = skiff__codec_parse_object(in->body, jl, &st);
    if (!root)
        return skiff_status_wrap(st, "answer");
    const json_t *err = json_object_get(root, "error");
    const json_t *outs = json_object_get(root, "outputs");
    if (err || (in->http_status && in->http_status >= 300))
        st = server_error(in, SKIFF_CODE_OK, json_is_string(err) ? json_string_value(err) : NULL);
    else if (!json_is_array(outs))
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "answer: no \"outputs\" list");
    else {
        json_t *as_req = json_pack("{sO}", "inputs", outs);
        st = as_req ? redecode(as_req, in->body + jl, in->len - jl, in, out) : skiff__codec_oom();
        json_decref(as_req);
    }
    json_decref(root);
    return st;
}

/* The nested list's shape: every level rectangular. false when ragged or
 * too deep. */
static bool nested_shape(const json_t *v, int depth, int *nd, int64_t *dims)
{
    if (!json_is_array(v)) {
        if (depth > *nd)
            *nd = depth;
        return depth == *nd;
    }
    if (depth >= SKIFF_MAX_DIMS)
        return false;
    size_t n = json_array_size(v);
    if (depth >= *nd || dims[depth] < 0) {
        dims[depth] = (int64_t)n;
    } else if (dims[depth] != (int64_t)n) {
        return false;
    }
    if (n == 0) {
        if (*nd < depth + 1)
            *nd = depth + 1;
        return depth + 1 == *nd;
    }
    for (size_t i = 0; i < n; i++)
        if (!nested_shape(json_array_get(v, i), depth + 1, nd, dims))
            return false;
    return true;
}

/* Row-major leaves of a nested list into t (float32, bool or string). */
static bool fill_leaves(const json_t *v, skiff_tensor_t *t, int64_t *at)
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!fill_leaves(json_array_get(v, i), t, at))
                return false;
        return true;
    }
    int64_t i = (*at)++;
    switch (t->dtype) {
    case SKIFF_DTYPE_FLOAT32:
        if (json_is_null(v)) { /* the web format writes NaN and infinities as null */
            ((float *)t->data)[i] = __builtin_nanf("");
            return true;
        }
        if (!json_is_number(v))
            return false;
        ((float *)t->data)[i] = (float)json_number_value(v);
        return true;
    case SKIFF_DTYPE_BOOL:
        if (!json_is_boolean(v))
            return false;
        ((uint8_t *)t->data)[i] = json_is_true(v);
        return true;
    default:
        if (!json_is_string(v))
            return false;
        ((char **)t->data)[i] = skiff__strndup(json_string_value(v), json_string_length(v));
        return ((char **)t->data)[i] != NULL;
    }
}

/* One output of a Paddle web "result": its nested value, and its LoD. */
static skiff_status_t *web_output(skiff__infer_request *r, const char *key, const json_t *v,
                                  const json_t *lodv)
{
    int nd = 0;
    int64_t dims[SKIFF_MAX_DIMS];
    for (int i = 0; i < SKIFF_MAX_DIMS; i++)
        dims[i] = -1;
    if (!nested_shape(v, 0, &nd, dims))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "answer: output '%s' is not a rectangular nested list", key);
    const json_t *leaf = v;
    while (json_is_array(leaf) && json_array_size(leaf))
        leaf = json_array_get(leaf, 0);
    skiff_dtype_t dt = json_is_string(leaf)    ? SKIFF_DTYPE_STRING
                       : json_is_boolean(leaf) ? SKIFF_DTYPE_BOOL
                                               : SKIFF_DTYPE_FLOAT32;
    skiff_tensor_t *t = NULL;
    skiff_status_t *st = skiff_tensor_new(dt, nd, dims, &t);
    if (st)
        return st;
    int64_t at = 0;
    if (!fill_leaves(v, t, &at)) {
        skiff_tensor_free(t);
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "answer: output '%s' mixes kinds of values (expected all %s)", key,
                                skiff_dtype_name(dt));
    }
    int64_t *lod = NULL;
    int n_lod = 0;
    if (json_is_array(lodv) && json_array_size(lodv) > 0) {
        n_lod = (int)json_array_size(lodv);
        lod = skiff__malloc(sizeof(int64_t) * (size_t)n_lod);
        if (!lod) {
            skiff_tensor_free(t);
            return skiff__codec_oom();
        }
        for (int i = 0; i < n_lod; i++)
            lod[i] = json_integer_value(json_array_get(lodv, (size_t)i));
    }
    return skiff__codec_add_input(r, skiff__strdup(key), -1, t, lod, n_lod);
}

skiff_status_t *skiff__decode_paddle_web_response(const skiff__decode_in *in,
                                                  skiff__infer_request **out)
{
    *out = NULL;
    skiff_status_t *st;
    json_t *root = skiff__codec_parse_object(in->body, in->len, &st);
    if (!root)
        return skiff_status_wrap(st, "answer");
    const json_t *res = json_object_get(root, "result");
    skiff__infer_request *r = NULL;
    if (json_is_string(res) || (in->http_status && in->http_status >= 300)) {
        st = server_error(in, SKIFF_CODE_OK, json_is_string(res) ? json_string_value(res) : NULL);
    } else if (!json_is_object(res)) {
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "answer: no \"result\" object");
    } else if (!(r = skiff__calloc(1, sizeof(*r)))) {
        st = skiff__codec_oom();
    } else {
        const char *key;
        const json_t *v;
        char lodkey[300];
        json_object_foreach((json_t *)res, key, v)
        {
            size_t kl = strlen(key);
            if (kl > 4 && !strcmp(key + kl - 4, ".lod"))
                continue;
            snprintf(lodkey, sizeof(lodkey), "%s.lod", key);
            if ((st = web_output(r, key, v, json_object_get(res, lodkey))))
                break;
        }
    }
    json_decref(root);
    if (st) {
        skiff__infer_request_free(r);
        return st;
    }
    r->batch = r->n_inputs && r->inputs[0].tensor->ndim ? r->inputs[0].tensor->dims[0] : 1;
    *out = r;
    return NULL;
}

skiff_status_t *skiff__paddle09_answer_error(const skiff__decode_in *in, int64_t err_no,
                                             const char *err_msg)
{
    if (err_no != 0) {
        /* Paddle's own codes say what went wrong; any other: the HTTP status. */
        bool known = err_no == -5000 || err_no == -5001 || err_no == -5100;
        return server_error(in, known ? skiff__code_from_paddle_errno((int)err_no) : SKIFF_CODE_OK,
                            err_msg);
    }
    if (in->http_status >= 300)
        return server_error(in, SKIFF_CODE_OK, err_msg);
    return NULL;
}

/* Paddle 0.9: {"outputs":[{"tensor":[..]}],"err_no":N,"err_msg":".."} (the
 * binary Response: codec_paddle09_pb.c, through the same checks). */
skiff_status_t *skiff__decode_paddle09_response_tree(const json_t *root, const skiff__decode_in *in,
                                                     skiff__infer_request **out)
{
    *out = NULL;
    const json_t *en = json_object_get(root, "err_no");
    const json_t *em = json_object_get(root, "err_msg");
    skiff_status_t *err = skiff__paddle09_answer_error(
        in, en ? json_integer_value(en) : 0, json_is_string(em) ? json_string_value(em) : NULL);
    if (err)
        return err;
    const json_t *outs = json_object_get(root, "outputs");
    const json_t *first = json_is_array(outs) ? json_array_get(outs, 0) : NULL;
    const json_t *tensors = json_is_object(first) ? json_object_get(first, "tensor") : NULL;
    if (!json_is_array(tensors))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "answer: no outputs[0].tensor list");
    json_t *as_req = json_pack("{sO}", "tensor", tensors);
    if (!as_req)
        return skiff__codec_oom();
    skiff__decode_in again = {.limits = in->limits, .header_length = -1};
    skiff_status_t *st = skiff__decode_paddle09_tree(as_req, &again, out);
    json_decref(as_req);
    return st ? skiff_status_wrap(st, "answer") : NULL;
}

skiff_status_t *skiff__decode_paddle09_response(const skiff__decode_in *in,
                                                skiff__infer_request **out)
{
    *out = NULL;
    skiff_status_t *st;
    json_t *root = skiff__codec_parse_object(in->body, in->len, &st);
    if (!root)
        return skiff_status_wrap(st, "answer");
    st = skiff__decode_paddle09_response_tree(root, in, out);
    json_decref(root);
    return st;
}
