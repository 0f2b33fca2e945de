/* codec_paddle04_pb.c - Paddle Serving 0.3-0.6's GeneralModelService
 * messages (proto2, pb/general_model_service_v04.proto), as brpc payloads.
 *
 * Decoding maps the positional FeedInst tensors onto the model's feed vars
 * (conf order) and builds the 0.9 Request's proto3 JSON form from them, which
 * the one Paddle 0.9 decoder (codec_paddle09.c) then checks: a request of
 * either generation gets the same checks and messages. One FeedInst per row
 * (0.3) is joined along dim 0 here first (LoD inputs: one sequence per
 * FeedInst).
 *
 * The generation rule (skiff__paddle_rpc_generation) reads the wire format
 * directly, without unpacking: it only needs field numbers.
 */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "core/arena.h"
#include "core/core.h"
#include "general_model_service_v04.pb-c.h"
#include "proto/codec_int.h"

typedef Baidu__PaddleServing__Predictor__GeneralModelV04__Tensor pb_tensor;
typedef Baidu__PaddleServing__Predictor__GeneralModelV04__FeedInst pb_feed;
typedef Baidu__PaddleServing__Predictor__GeneralModelV04__FetchInst pb_fetch;
typedef Baidu__PaddleServing__Predictor__GeneralModelV04__Request pb_request;
typedef Baidu__PaddleServing__Predictor__GeneralModelV04__ModelOutput pb_output;
typedef Baidu__PaddleServing__Predictor__GeneralModelV04__Response pb_response;

#define PB(x) baidu__paddle_serving__predictor__general_model_v04__##x

static void *pb_alloc(void *data, size_t n) { return skiff__malloc(n ? n : 1); }
static void pb_free(void *data, void *p) { skiff__free(p); }
static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

/* ---- the generation rule ----------------------------------------------------------- */

static bool varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        unsigned char b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* One field: its number, and for length-delimited ones the bytes. false at
 * the end or on bytes that are not protobuf. */
static bool next_field(const unsigned char **p, const unsigned char *end, uint64_t *num, int *wire,
                       const unsigned char **val, size_t *val_len)
{
    uint64_t key, v;
    if (*p >= end || !varint(p, end, &key))
        return false;
    *num = key >> 3;
    *wire = (int)(key & 7);
    switch (*wire) {
    case 0: return varint(p, end, &v);
    case 1:
        if (end - *p < 8)
            return false;
        *p += 8;
        return true;
    case 5:
        if (end - *p < 4)
            return false;
        *p += 4;
        return true;
    case 2:
        if (!varint(p, end, &v) || v > (uint64_t)(end - *p))
            return false;
        *val = *p;
        *val_len = (size_t)v;
        *p += v;
        return true;
    default: return false;
    }
}

int skiff__paddle_rpc_generation(const void *body, size_t len)
{
    const unsigned char *p = body, *end = p + len;
    uint64_t num;
    int wire;
    const unsigned char *val = NULL;
    size_t vlen = 0;
    bool feed_inst_seen = false, all_feed_insts = true;
    while (p < end) {
        if (!next_field(&p, end, &num, &wire, &val, &vlen))
            return 9;
        if (num != 1 || wire != 2)
            continue;
        const unsigned char *q = val, *qend = val + vlen;
        bool only_tensors = true;
        while (q < qend) {
            uint64_t n2;
            int w2;
            const unsigned char *v2;
            size_t l2;
            if (!next_field(&q, qend, &n2, &w2, &v2, &l2)) {
                only_tensors = false;
                break;
            }
            if (n2 == 11)
                return 9; /* a 0.9 Tensor's shape */
            if (n2 != 1 || w2 != 2)
                only_tensors = false;
        }
        if (vlen > 0 && only_tensors)
            feed_inst_seen = true;
        else
            all_feed_insts = false;
    }
    return feed_inst_seen && all_feed_insts ? 4 : 9;
}

/* ---- Request -> the 0.9 Request's JSON tree ----------------------------------------- */

static bool set(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new(o, key, v) == 0;
}

static json_t *real_json(double v)
{
    if (isnan(v))
        return json_string("NaN");
    if (isinf(v))
        return json_string(v > 0 ? "Infinity" : "-Infinity");
    return json_real(v);
}

static const char *elem_field(int elem_type)
{
    return elem_type == 0 ? "int64_data" : elem_type == 1 ? "float_data" : "int_data";
}

/* Appends tensor t's values of its elem_type to list a. false on OOM. */
static bool append_values(json_t *a, const pb_tensor *t, int elem_type)
{
    switch (elem_type) {
    case 0:
        for (size_t i = 0; i < t->n_int64_data; i++)
            if (json_array_append_new(a, json_integer(t->int64_data[i])) != 0)
                return false;
        return true;
    case 1:
        for (size_t i = 0; i < t->n_float_data; i++)
            if (json_array_append_new(a, real_json(t->float_data[i])) != 0)
                return false;
        return true;
    default:
        for (size_t i = 0; i < t->n_int_data; i++)
            if (json_array_append_new(a, json_integer(t->int_data[i])) != 0)
                return false;
        return true;
    }
}

static json_t *i32_list(const int32_t *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_integer(v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* Feed var k over every FeedInst as one 0.9 Tensor object. */
static skiff_status_t *input_json(const pb_request *r, int k, const skiff__io_spec *sp,
                                  json_t **out)
{
    *out = NULL;
    const char *alias = sp->alias ? sp->alias : sp->name;
    const pb_tensor *t0 = r->insts[0]->tensor_array[k];
    int et = t0->has_elem_type ? t0->elem_type : 0;
    if (et < 0 || et > 2)
        return skiff__codec_bad("input '%s' (feed var %d): elem_type %d is not one of Paddle "
                                "0.3-0.6's 0 (int64), 1 (float32), 2 (int32)",
                                alias, k, et);
    json_t *o = json_object(), *vals = json_array(), *shape = NULL, *lod = NULL;
    bool ok = o && vals;
    size_t n_insts = r->n_insts;
    int64_t rows = 0;
    if (ok && n_insts > 1)
        lod = json_array();
    ok = ok && (n_insts == 1 || lod) && (!lod || json_array_append_new(lod, json_integer(0)) == 0);
    for (size_t i = 0; ok && i < n_insts; i++) {
        const pb_tensor *t = r->insts[i]->tensor_array[k];
        int eti = t->has_elem_type ? t->elem_type : 0;
        if (eti != et) {
            json_decref(o);
            json_decref(vals);
            json_decref(lod);
            return skiff__codec_bad("input '%s': insts[%zu] has elem_type %d, insts[0] has %d",
                                    alias, i, eti, et);
        }
        if (n_insts > 1 && (t->n_shape != t0->n_shape ||
                            (t->n_shape > 1 && memcmp(t->shape + 1, t0->shape + 1,
                                                      (t->n_shape - 1) * sizeof(int32_t))) ||
                            (!sp->is_lod && t->n_shape && t->shape[0] != t0->shape[0]))) {
            json_decref(o);
            json_decref(vals);
            json_decref(lod);
            return skiff__codec_bad("input '%s': insts[%zu] has a shape other than insts[0]'s",
                                    alias, i);
        }
        ok = append_values(vals, t, et);
        rows += t->n_shape ? t->shape[0] : 1;
        ok = ok && (!lod || json_array_append_new(lod, json_integer(rows)) == 0);
    }
    if (ok && n_insts == 1) {
        ok = !t0->n_shape || (shape = i32_list(t0->shape, t0->n_shape)) != NULL;
        /* A sample's shape without the batch dim: one row. */
        if (ok && shape && sp->batched && sp->ndim >= 0 && (int)t0->n_shape == sp->ndim)
            ok = json_array_insert_new(shape, 0, json_integer(1)) == 0;
        if (ok && t0->n_lod)
            ok = (lod = i32_list(t0->lod, t0->n_lod)) != NULL;
    } else if (ok) {
        /* One FeedInst per row (or per sequence for a LoD input). */
        shape = json_array();
        bool has_batch =
            sp->is_lod || (sp->batched && sp->ndim >= 0 && (int)t0->n_shape == sp->ndim + 1);
        ok = shape &&
             json_array_append_new(shape, json_integer(has_batch ? rows : (int64_t)n_insts)) == 0;
        for (size_t d = has_batch ? 1 : 0; ok && d < t0->n_shape; d++)
            ok = json_array_append_new(shape, json_integer(t0->shape[d])) == 0;
        if (!sp->is_lod) {
            json_decref(lod);
            lod = NULL;
        }
    }
    ok = ok && set(o, "name", json_string(alias)) && set(o, "alias_name", json_string(alias)) &&
         set(o, "elem_type", json_integer(et));
    if (ok) {
        ok = set(o, elem_field(et), vals);
        vals = NULL;
    }
    if (ok && shape) {
        ok = set(o, "shape", shape);
        shape = NULL;
    }
    if (ok && lod) {
        ok = set(o, "lod", lod);
        lod = NULL;
    }
    json_decref(vals);
    json_decref(shape);
    json_decref(lod);
    if (!ok) {
        json_decref(o);
        return skiff__codec_oom();
    }
    *out = o;
    return NULL;
}

static const char *spec_alias(const skiff__io_spec *sp) { return sp->alias ? sp->alias : sp->name; }

skiff_status_t *skiff__decode_paddle04_pb(const skiff__decode_in *in, skiff__infer_request **out)
{
    *out = NULL;
    const skiff__model_io *io = in->io;
    if (!io)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "Paddle 0.3-0.6 request without a model");
    pb_request *r = PB(request__unpack)(&pb_allocator, in->len, (const uint8_t *)in->body);
    if (!r)
        return skiff__alloc_failed()
                   ? skiff__codec_oom()
                   : skiff__codec_bad("the %zu-byte payload is not a Paddle 0.3-0.6 Request "
                                      "(insts, fetch_var_names, log_id)",
                                      in->len);
    skiff_status_t *st = NULL;
    json_t *root = NULL, *tensors = NULL;
    if (r->n_insts == 0) {
        st = skiff__codec_bad("the Request has no insts (FeedInst)");
        goto done;
    }
    for (size_t i = 0; i < r->n_insts; i++) {
        if ((int)r->insts[i]->n_tensor_array != io->n_inputs ||
            r->insts[i]->n_tensor_array > INT_MAX) {
            char names[256] = "";
            size_t off = 0;
            for (int k = 0; k < io->n_inputs && off < sizeof(names); k++)
                off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s", k ? ", " : "",
                                        spec_alias(&io->inputs[k]));
            st = skiff__codec_bad("insts[%zu] has %zu tensors; the model takes %d input%s, in "
                                  "feed order: %s",
                                  i, r->insts[i]->n_tensor_array, io->n_inputs,
                                  io->n_inputs == 1 ? "" : "s", names);
            goto done;
        }
    }
    root = json_object();
    tensors = json_array();
    if (!root || !tensors) {
        st = skiff__codec_oom();
        goto done;
    }
    for (int k = 0; k < io->n_inputs; k++) {
        json_t *t;
        if ((st = input_json(r, k, &io->inputs[k], &t)))
            goto done;
        if (json_array_append_new(tensors, t) != 0) {
            st = skiff__codec_oom();
            goto done;
        }
    }
    bool ok = set(root, "tensor", tensors);
    tensors = NULL;
    if (ok && r->n_fetch_var_names) {
        json_t *f = json_array();
        for (size_t i = 0; f && i < r->n_fetch_var_names; i++)
            if (json_array_append_new(
                    f, json_string(r->fetch_var_names[i] ? r->fetch_var_names[i] : "")) != 0) {
                json_decref(f);
                f = NULL;
            }
        ok = set(root, "fetch_var_names", f);
    }
    if (ok && r->log_id)
        ok = set(root, "log_id", json_integer((json_int_t)(r->log_id & INT64_MAX)));
    if (!ok) {
        st = skiff__codec_oom();
        goto done;
    }
    st = skiff__decode_paddle09_tree(root, in, out);
done:
    json_decref(tensors);
    json_decref(root);
    PB(request__free_unpacked)(r, &pb_allocator);
    return st;
}

/* ---- tensors -> Tensor messages ------------------------------------------------------ */

static bool fill_tensor(pb_tensor *m, const skiff__infer_output *o, skiff__arena *a,
                        const char *what, skiff_status_t **st)
{
    PB(tensor__init)(m);
    const skiff_tensor_t *t = o->tensor;
    const char *nm = o->alias ? o->alias : o->name;
    size_t n = (size_t)skiff_tensor_numel(t);
    switch (t->dtype) {
    case SKIFF_DTYPE_INT64: m->elem_type = 0, m->n_int64_data = n, m->int64_data = t->data; break;
    case SKIFF_DTYPE_FLOAT32: m->elem_type = 1, m->n_float_data = n, m->float_data = t->data; break;
    case SKIFF_DTYPE_INT32: m->elem_type = 2, m->n_int_data = n, m->int_data = t->data; break;
    default:
        *st = skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                               "%s '%s': %s has no field in Paddle 0.3-0.6's Tensor (int64, "
                               "float32 and int32 only)",
                               what, nm, skiff_dtype_name(t->dtype));
        return false;
    }
    m->has_elem_type = true;
    if (!skiff__codec_int32_shape_lod(o, a, what, nm, &m->shape, &m->n_shape, &m->lod, &m->n_lod,
                                      st))
        return false;
    return true;
}

static pb_tensor **fill_tensors(const skiff__infer_output *outs, int n, skiff__arena *a,
                                const char *what, skiff_status_t **st)
{
    pb_tensor *ms = skiff__arena_calloc(a, (size_t)n + 1, sizeof(pb_tensor), 16);
    pb_tensor **ps = skiff__arena_calloc(a, (size_t)n + 1, sizeof(pb_tensor *), 8);
    if (!ms || !ps) {
        *st = skiff__codec_enc_oom();
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if ((*st = skiff__codec_check_output(&outs[i])))
            return NULL;
        if (!fill_tensor(&ms[i], &outs[i], a, what, st))
            return NULL;
        ps[i] = &ms[i];
    }
    return ps;
}

static skiff_status_t *pack(const ProtobufCMessage *msg, skiff__buf *out, size_t *out_len)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (!skiff__buf_reserve(out, n + 1))
        return skiff__codec_enc_oom();
    size_t w = protobuf_c_message_pack(msg, (uint8_t *)out->data + out->len);
    out->len += w;
    out->data[out->len] = '\0';
    *out_len = w;
    return NULL;
}

skiff_status_t *skiff__encode_paddle04_pb(const skiff__infer_output *outs, int n_outs,
                                          const char *engine_name, skiff__buf *out, size_t *out_len)
{
    skiff__arena *a = skiff__arena_new(4096);
    if (!a)
        return skiff__codec_enc_oom();
    skiff_status_t *st = NULL;
    pb_tensor **ts = fill_tensors(outs, n_outs, a, "output", &st);
    if (ts) {
        pb_fetch fi;
        PB(fetch_inst__init)(&fi);
        fi.n_tensor_array = (size_t)n_outs;
        fi.tensor_array = ts;
        pb_fetch *fis[1] = {&fi};
        pb_output mo;
        PB(model_output__init)(&mo);
        mo.n_insts = 1;
        mo.insts = fis;
        mo.engine_name = (char *)(engine_name ? engine_name : "");
        pb_output *mos[1] = {&mo};
        pb_response resp;
        PB(response__init)(&resp);
        resp.n_outputs = 1;
        resp.outputs = mos;
        st = pack(&resp.base, out, out_len);
    }
    skiff__arena_free(a);
    return st;
}

skiff_status_t *skiff__encode_paddle04_pb_request(const skiff__request_out *r, skiff__buf *out,
                                                  size_t *out_len)
{
    skiff__arena *a = skiff__arena_new(4096);
    if (!a)
        return skiff__codec_enc_oom();
    skiff_status_t *st = NULL;
    pb_tensor **ts = fill_tensors(r->inputs, r->n_inputs, a, "input", &st);
    if (ts) {
        pb_feed fi;
        PB(feed_inst__init)(&fi);
        fi.n_tensor_array = (size_t)r->n_inputs;
        fi.tensor_array = ts;
        pb_feed *fis[1] = {&fi};
        pb_request req;
        PB(request__init)(&req);
        req.n_insts = 1;
        req.insts = fis;
        req.n_fetch_var_names = (size_t)r->n_fetch;
        req.fetch_var_names = (char **)r->fetch;
        req.log_id = r->log_id;
        st = pack(&req.base, out, out_len);
    }
    skiff__arena_free(a);
    return st;
}

skiff_status_t *skiff__decode_paddle04_pb_response(const skiff__decode_in *in,
                                                   skiff__infer_request **out)
{
    *out = NULL;
    if (in->http_status >= 300)
        return skiff_status_new(skiff__code_from_http(in->http_status), "server: HTTP status %d",
                                in->http_status);
    pb_response *r = PB(response__unpack)(&pb_allocator, in->len, (const uint8_t *)in->body);
    if (!r)
        return skiff__alloc_failed() ? skiff__codec_oom()
                                     : skiff__codec_bad("answer: the %zu-byte payload is not a "
                                                        "Paddle 0.3-0.6 Response",
                                                        in->len);
    skiff_status_t *st = NULL;
    json_t *root = json_object(), *tensors = json_array();
    const pb_fetch *fi = r->n_outputs && r->outputs[0]->n_insts ? r->outputs[0]->insts[0] : NULL;
    bool ok = root && tensors;
    if (ok && !fi) {
        st = skiff__codec_bad("answer: no outputs[0].insts[0]");
        goto done;
    }
    for (size_t i = 0; ok && i < fi->n_tensor_array; i++) {
        const pb_tensor *t = fi->tensor_array[i];
        int et = t->has_elem_type ? t->elem_type : 0;
        if (et < 0 || et > 2) {
            st =
                skiff__codec_bad("answer: tensor %zu has elem_type %d (0, 1 or 2 expected)", i, et);
            goto done;
        }
        char nm[32];
        snprintf(nm, sizeof(nm), "out%zu", i);
        const char *name =
            in->io && (int)i < in->io->n_outputs ? spec_alias(&in->io->outputs[i]) : nm;
        json_t *o = json_object(), *vals = json_array();
        if (!o || !vals || !append_values(vals, t, et)) {
            json_decref(o);
            json_decref(vals);
            ok = false;
            break;
        }
        ok = set(o, elem_field(et), vals) && set(o, "name", json_string(name)) &&
             set(o, "elem_type", json_integer(et)) &&
             (!t->n_shape || set(o, "shape", i32_list(t->shape, t->n_shape))) &&
             (!t->n_lod || set(o, "lod", i32_list(t->lod, t->n_lod)));
        if (!ok) {
            json_decref(o);
            break;
        }
        ok = json_array_append_new(tensors, o) == 0;
    }
    if (ok) {
        ok = set(root, "tensor", tensors);
        tensors = NULL;
    }
    if (!ok) {
        st = skiff__codec_oom();
        goto done;
    }
    skiff__decode_in again = {.limits = in->limits, .header_length = -1};
    st = skiff__decode_paddle09_tree(root, &again, out);
    if (st)
        st = skiff_status_wrap(st, "answer");
done:
    json_decref(tensors);
    json_decref(root);
    PB(response__free_unpacked)(r, &pb_allocator);
    return st;
}
