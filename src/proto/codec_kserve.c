/* codec_kserve.c - KServe Open Inference Protocol v2 REST bodies, with
 * Triton's binary tensor extension.
 *
 * A request is JSON, optionally followed by raw tensors: when the client
 * sends Inference-Header-Content-Length, the JSON is that many bytes and each
 * input with parameters.binary_data_size takes its bytes from what follows, in
 * input order. Sizes must account for every byte: a size that overruns the
 * body, leaves bytes unread, or disagrees with shape x datatype is refused, so
 * a lying client cannot make us read past the buffer or guess. BYTES tensors
 * in binary form are 4-byte little-endian lengths each followed by the bytes.
 *
 * Responses name each output by datatype and shape and carry data either as a
 * flat JSON list or, when asked (per output "binary_data" or request-level
 * "binary_data_output"), in the binary section after the JSON. */
#include <stdio.h>
#include <string.h>

#include "proto/codec_int.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the binary extension is little-endian; skiff assumes a little-endian host");

static skiff_status_t *bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static skiff_status_t *bad(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s", msg);
}

typedef struct ks_ctx {
    const skiff__model_io *io;
    skiff__codec_limits lim;
    const unsigned char *bin; /* binary section, or NULL without the header */
    size_t bin_len;
    size_t bin_pos;
    int64_t elements;
    int64_t batch;
    const char *batch_from;
    bool *seen;
    skiff__infer_request *req;
} ks_ctx;

/* BYTES elements from the binary section: <u32 length><bytes>, numel times. */
static skiff_status_t *ks_binary_strings(const char *what, const unsigned char *p, size_t size,
                                         int64_t numel, char **dst)
{
    size_t pos = 0;
    for (int64_t i = 0; i < numel; i++) {
        if (size - pos < 4)
            return bad("%s: binary BYTES data ends inside the length of element %lld", what,
                       (long long)i);
        uint32_t l;
        memcpy(&l, p + pos, 4);
        pos += 4;
        if (size - pos < l)
            return bad("%s: binary BYTES element %lld claims %u bytes, only %zu remain", what,
                       (long long)i, l, size - pos);
        if (memchr(p + pos, 0, l))
            return bad("%s: BYTES element %lld contains a NUL byte, which skiff strings cannot "
                       "hold",
                       what, (long long)i);
        dst[i] = skiff__strndup((const char *)p + pos, l);
        if (!dst[i])
            return skiff__codec_oom();
        pos += l;
    }
    if (pos != size)
        return bad("%s: binary_data_size is %zu but the %lld BYTES elements use %zu", what, size,
                   (long long)numel, pos);
    return NULL;
}

static skiff_status_t *ks_input(ks_ctx *c, const json_t *ij, size_t idx)
{
    char what[256], a[160];
    skiff_status_t *st;
    if (!json_is_object(ij))
        return bad("inputs[%zu] is %s, expected an object", idx, skiff__codec_json_kind(ij));
    const json_t *jn = json_object_get(ij, "name");
    if (!jn)
        return bad("inputs[%zu] has no \"name\"", idx);
    if (!json_is_string(jn))
        return bad("inputs[%zu]: \"name\" is %s, expected a string", idx,
                   skiff__codec_json_kind(jn));
    const char *name = json_string_value(jn);
    snprintf(what, sizeof(what), "input '%.*s'", SKIFF__CODEC_Q(name));

    const json_t *jd = json_object_get(ij, "datatype");
    if (!jd)
        return bad("%s: missing \"datatype\"", what);
    if (!json_is_string(jd))
        return bad("%s: \"datatype\" is %s, expected a string such as \"FP32\"", what,
                   skiff__codec_json_kind(jd));
    skiff_dtype_t dt = skiff_dtype_from_kserve(json_string_value(jd));
    if (dt == SKIFF_DTYPE_UNDEFINED)
        return bad("%s: unknown datatype '%.*s'", what, SKIFF__CODEC_Q(json_string_value(jd)));

    int spec = -1;
    const skiff__io_spec *s = NULL;
    if (c->io) {
        spec = skiff__codec_find_spec(c->io->inputs, c->io->n_inputs, name, false);
        if (spec < 0) {
            char list[256];
            return skiff_status_new(
                SKIFF_CODE_INVALID_ARG, "unknown input '%.*s'; model inputs: %s",
                SKIFF__CODEC_Q(name),
                skiff__codec_list_specs(c->io->inputs, c->io->n_inputs, list, sizeof(list)));
        }
        if (c->seen[spec])
            return bad("duplicate input '%.*s'", SKIFF__CODEC_Q(name));
        c->seen[spec] = true;
        s = &c->io->inputs[spec];
        if (s->dtype != dt)
            return bad("%s: expected datatype %s, got %s", what,
                       skiff_dtype_kserve_name(s->dtype) ? skiff_dtype_kserve_name(s->dtype)
                                                         : skiff_dtype_name(s->dtype),
                       json_string_value(jd));
    } else {
        for (int i = 0; i < c->req->n_inputs; i++)
            if (strcmp(c->req->inputs[i].name, name) == 0)
                return bad("duplicate input '%.*s'", SKIFF__CODEC_Q(name));
    }

    const json_t *js = json_object_get(ij, "shape");
    if (!js)
        return bad("%s: missing \"shape\"", what);
    if (!json_is_array(js))
        return bad("%s: \"shape\" is %s, expected a list of dims", what,
                   skiff__codec_json_kind(js));
    if (json_array_size(js) > SKIFF_MAX_DIMS)
        return bad("%s: shape has %zu dims, more than %d", what, json_array_size(js),
                   SKIFF_MAX_DIMS);
    int nd = (int)json_array_size(js);
    int64_t dims[SKIFF_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        const json_t *e = json_array_get(js, (size_t)i);
        if (!json_is_integer(e))
            return bad("%s: shape[%d] is %s, expected an integer", what, i,
                       skiff__codec_json_kind(e));
        dims[i] = (int64_t)json_integer_value(e);
        if (dims[i] < 0)
            return bad("%s: shape[%d] is %lld, dims must not be negative", what, i,
                       (long long)dims[i]);
    }
    int64_t numel = skiff_shape_numel(nd, dims);
    if (numel < 0 || __builtin_add_overflow(c->elements, numel, &c->elements) ||
        c->elements > c->lim.max_elements)
        return bad("%s: shape %s exceeds the limit of %lld elements per request", what,
                   skiff_shape_str(nd, dims, a, sizeof(a)), (long long)c->lim.max_elements);
    if (s && (st = skiff__codec_check_shape(what, s, nd, dims)))
        return st;

    /* parameters: only binary_data_size matters for inputs */
    int64_t bsize = -1;
    const json_t *jp = json_object_get(ij, "parameters");
    if (jp && !json_is_object(jp))
        return bad("%s: \"parameters\" is %s, expected an object", what,
                   skiff__codec_json_kind(jp));
    if (jp) {
        if (json_object_get(jp, "shared_memory_region"))
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                    "%s: shared memory inputs are not supported", what);
        const json_t *jb = json_object_get(jp, "binary_data_size");
        if (jb) {
            if (!json_is_integer(jb) || json_integer_value(jb) < 0)
                return bad("%s: binary_data_size is %s, expected a byte count", what,
                           json_is_integer(jb) ? "negative" : skiff__codec_json_kind(jb));
            bsize = (int64_t)json_integer_value(jb);
        }
    }
    const json_t *data = json_object_get(ij, "data");

    skiff_tensor_t *t = NULL;
    if ((st = skiff_tensor_new(dt, nd, dims, &t)))
        return skiff_status_wrap(st, "%s", what);

    if (bsize >= 0) {
        if (data)
            st = bad("%s: both \"data\" and binary_data_size given", what);
        else if (!c->bin)
            st = bad("%s: binary_data_size given but the request has no "
                     "Inference-Header-Content-Length header",
                     what);
        else if ((uint64_t)bsize > c->bin_len - c->bin_pos)
            st = bad("%s: binary_data_size %lld runs past the end of the body (%zu bytes of "
                     "binary data left)",
                     what, (long long)bsize, c->bin_len - c->bin_pos);
        else if (dt == SKIFF_DTYPE_STRING)
            st = ks_binary_strings(what, c->bin + c->bin_pos, (size_t)bsize, numel, t->data);
        else if ((uint64_t)bsize != t->nbytes)
            st = bad("%s: shape %s of %s needs %zu bytes, binary_data_size is %lld", what,
                     skiff_shape_str(nd, dims, a, sizeof(a)), json_string_value(jd), t->nbytes,
                     (long long)bsize);
        else if (bsize)
            memcpy(t->data, c->bin + c->bin_pos, (size_t)bsize);
        if (!st && dt == SKIFF_DTYPE_BOOL) /* any non-zero byte is true; store 1 */
            for (size_t i = 0; i < t->nbytes; i++)
                ((uint8_t *)t->data)[i] = ((uint8_t *)t->data)[i] != 0;
        if (!st)
            c->bin_pos += (size_t)bsize;
    } else if (!data) {
        st = bad("%s: missing \"data\" (or parameters.binary_data_size)", what);
    } else {
        int dnd;
        int64_t ddims[SKIFF_MAX_DIMS];
        st = skiff__codec_nested_shape(what, data, &dnd, ddims);
        int64_t dn = st ? 0 : skiff_shape_numel(dnd, ddims);
        if (!st && dn != numel)
            st = bad("%s: shape %s needs %lld elements, data has %lld", what,
                     skiff_shape_str(nd, dims, a, sizeof(a)), (long long)numel, (long long)dn);
        if (!st)
            st = skiff__codec_fill(what, data, dnd, ddims, dt, t->data, 0, 0);
    }
    if (!st && s && s->batched) {
        if (c->batch < 0) {
            c->batch = dims[0];
            c->batch_from = name;
        } else if (dims[0] != c->batch) {
            st = bad("%s: batch of %lld differs from input '%.*s' batch of %lld", what,
                     (long long)dims[0], SKIFF__CODEC_Q(c->batch_from), (long long)c->batch);
        }
    }
    if (st) {
        skiff_tensor_free(t);
        return st;
    }
    return skiff__codec_add_input(c->req, skiff__strdup(name), spec, t, NULL, 0);
}

static skiff_status_t *ks_outputs(ks_ctx *c, const json_t *ol)
{
    if (!json_is_array(ol))
        return bad("\"outputs\" is %s, expected a list", skiff__codec_json_kind(ol));
    size_t n = json_array_size(ol);
    if (n > (size_t)c->lim.max_outputs)
        return bad("\"outputs\" lists %zu outputs, more than the limit of %d", n,
                   c->lim.max_outputs);
    if (n == 0)
        return NULL;
    skiff__infer_request *r = c->req;
    r->outputs = skiff__calloc(n, sizeof(*r->outputs));
    if (!r->outputs)
        return skiff__codec_oom();
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(ol, i);
        if (!json_is_object(o))
            return bad("outputs[%zu] is %s, expected an object", i, skiff__codec_json_kind(o));
        const json_t *jn = json_object_get(o, "name");
        if (!json_is_string(jn))
            return bad("outputs[%zu]: \"name\" is %s, expected a string", i,
                       jn ? skiff__codec_json_kind(jn) : "missing");
        const char *name = json_string_value(jn);
        int spec = -1;
        if (c->io) {
            spec = skiff__codec_find_spec(c->io->outputs, c->io->n_outputs, name, false);
            if (spec < 0) {
                char list[256];
                return skiff_status_new(
                    SKIFF_CODE_INVALID_ARG, "unknown output '%.*s'; model outputs: %s",
                    SKIFF__CODEC_Q(name),
                    skiff__codec_list_specs(c->io->outputs, c->io->n_outputs, list, sizeof(list)));
            }
        }
        for (int k = 0; k < r->n_outputs; k++)
            if ((spec >= 0 && r->outputs[k].spec == spec) ||
                (spec < 0 && strcmp(r->outputs[k].name, name) == 0))
                return bad("duplicate output '%.*s'", SKIFF__CODEC_Q(name));
        bool binary = r->binary_output_all;
        const json_t *jp = json_object_get(o, "parameters");
        if (jp && !json_is_object(jp))
            return bad("output '%.*s': \"parameters\" is %s, expected an object",
                       SKIFF__CODEC_Q(name), skiff__codec_json_kind(jp));
        if (jp) {
            const json_t *jb = json_object_get(jp, "binary_data");
            if (jb && !json_is_boolean(jb))
                return bad("output '%.*s': binary_data is %s, expected a boolean",
                           SKIFF__CODEC_Q(name), skiff__codec_json_kind(jb));
            if (jb)
                binary = json_is_true(jb);
            if (json_object_get(jp, "classification"))
                return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                        "output '%.*s': the classification extension is not "
                                        "supported",
                                        SKIFF__CODEC_Q(name));
            if (json_object_get(jp, "shared_memory_region"))
                return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                        "output '%.*s': shared memory outputs are not supported",
                                        SKIFF__CODEC_Q(name));
        }
        r->outputs[r->n_outputs].name = skiff__strdup(name);
        if (!r->outputs[r->n_outputs].name)
            return skiff__codec_oom();
        r->outputs[r->n_outputs].spec = spec;
        r->outputs[r->n_outputs++].binary = binary;
    }
    return NULL;
}

static skiff_status_t *ks_decode(ks_ctx *c, const json_t *root)
{
    skiff_status_t *st;
    skiff__infer_request *r = c->req;
    const json_t *jid = json_object_get(root, "id");
    if (jid) {
        if (!json_is_string(jid))
            return bad("\"id\" is %s, expected a string", skiff__codec_json_kind(jid));
        r->id = skiff__strndup(json_string_value(jid), json_string_length(jid));
        if (!r->id)
            return skiff__codec_oom();
    }
    const json_t *jp = json_object_get(root, "parameters");
    if (jp && !json_is_object(jp))
        return bad("\"parameters\" is %s, expected an object", skiff__codec_json_kind(jp));
    if (jp) {
        const json_t *jb = json_object_get(jp, "binary_data_output");
        if (jb && !json_is_boolean(jb))
            return bad("parameters.binary_data_output is %s, expected a boolean",
                       skiff__codec_json_kind(jb));
        r->binary_output_all = jb && json_is_true(jb);
        const json_t *jt = json_object_get(jp, "timeout");
        if (jt && (!json_is_integer(jt) || json_integer_value(jt) < 0))
            return bad("parameters.timeout is %s, expected microseconds",
                       json_is_integer(jt) ? "negative" : skiff__codec_json_kind(jt));
        if (jt)
            r->timeout_us = (int64_t)json_integer_value(jt);
    }
    const json_t *il = json_object_get(root, "inputs");
    if (!il)
        return bad("missing \"inputs\": expected {\"inputs\":[{\"name\":..,\"shape\":[..],"
                   "\"datatype\":..,\"data\":[..]}]}");
    if (!json_is_array(il))
        return bad("\"inputs\" is %s, expected a list", skiff__codec_json_kind(il));
    size_t n = json_array_size(il);
    if (n == 0)
        return bad("\"inputs\" is an empty list");
    if (n > (size_t)c->lim.max_inputs)
        return bad("\"inputs\" holds %zu inputs, more than the limit of %d", n, c->lim.max_inputs);
    for (size_t i = 0; i < n; i++)
        if ((st = ks_input(c, json_array_get(il, i), i)))
            return st;
    if (c->bin && c->bin_pos != c->bin_len)
        return bad("the body has %zu bytes of binary data after the JSON header, but the inputs' "
                   "binary_data_size add up to %zu",
                   c->bin_len, c->bin_pos);
    if (c->io)
        for (int j = 0; j < c->io->n_inputs; j++)
            if (!c->seen[j] && !c->io->inputs[j].optional)
                return bad("missing input '%.*s'", SKIFF__CODEC_Q(c->io->inputs[j].name));
    const json_t *ol = json_object_get(root, "outputs");
    if (ol && (st = ks_outputs(c, ol)))
        return st;
    return NULL;
}

/* ---- streaming decoder (the hot path) --------------------------------------------
 *
 * Reads what Triton's and KServe's clients send - "inputs" of name, shape,
 * datatype and then "data" (or parameters.binary_data_size), "outputs" of
 * name and parameters.binary_data, "id", parameters.binary_data_output and
 * timeout - straight into tensors, and declines everything else (see
 * codec_json.c). A "data" list must come after its input's name and
 * datatype, which is how those clients order the keys. */

#define KF_MAX 16 /* inputs and outputs the fast path takes */

typedef struct kf_input {
    const char *name;
    size_t name_len;
    int spec;
    skiff_dtype_t dtype;
    int nd;
    int64_t dims[SKIFF_MAX_DIMS];
    bool has_name, has_dtype, has_shape, has_data, has_params;
    int64_t bsize; /* parameters.binary_data_size, -1 when absent */
    skiff__jvec vec;
} kf_input;

typedef struct kf_output {
    const char *name;
    size_t name_len;
    int spec;
    int binary; /* parameters.binary_data: -1 absent, 0, 1 */
} kf_output;

typedef struct kf_ctx {
    const skiff__model_io *io;
    const skiff__codec_limits *lim;
    skiff__jscan s;
    kf_input in[KF_MAX];
    int n_in;
    kf_output out[KF_MAX];
    int n_out;
    const char *id;
    size_t id_len;
    bool has_id, has_params, has_inputs, has_outputs;
    bool binary_all;
    int64_t timeout_us;
    int64_t elements;
    bool oom;
} kf_ctx;

static bool kf_key(kf_ctx *c, const char **k, size_t *kl)
{
    return skiff__jscan_string(&c->s, k, kl) && skiff__jscan_eat(&c->s, ':');
}

static bool kf_is(const char *k, size_t kl, const char *lit)
{
    return strlen(lit) == kl && memcmp(k, lit, kl) == 0;
}

static bool kf_bool(kf_ctx *c, bool *out)
{
    if (skiff__jscan_literal(&c->s, "true"))
        return *out = true;
    *out = false;
    return skiff__jscan_literal(&c->s, "false");
}

static bool kf_count(kf_ctx *c, int64_t *out)
{
    skiff__jnum n;
    if (skiff__jscan_peek(&c->s) == '-' || !skiff__jscan_number(&c->s, &n) || !n.is_int)
        return false;
    *out = n.i;
    return true;
}

static bool kf_input_obj(kf_ctx *c, kf_input *in)
{
    const skiff__model_io *io = c->io;
    if (!skiff__jscan_eat(&c->s, '{'))
        return false;
    do {
        const char *k;
        size_t kl;
        if (!kf_key(c, &k, &kl))
            return false;
        if (kf_is(k, kl, "name") && !in->has_name) {
            in->has_name = true;
            if (!skiff__jscan_string(&c->s, &in->name, &in->name_len))
                return false;
            in->spec =
                skiff__codec_find_spec_n(io->inputs, io->n_inputs, in->name, in->name_len, false);
            if (in->spec < 0)
                return false;
        } else if (kf_is(k, kl, "datatype") && !in->has_dtype) {
            const char *d;
            size_t dl;
            char z[16];
            in->has_dtype = true;
            if (!skiff__jscan_string(&c->s, &d, &dl) || dl >= sizeof(z))
                return false;
            memcpy(z, d, dl);
            z[dl] = '\0';
            in->dtype = skiff_dtype_from_kserve(z);
            if (in->dtype == SKIFF_DTYPE_UNDEFINED)
                return false;
        } else if (kf_is(k, kl, "shape") && !in->has_shape) {
            in->has_shape = true;
            if (!skiff__jscan_eat(&c->s, '['))
                return false;
            if (!skiff__jscan_eat(&c->s, ']')) {
                do {
                    if (in->nd == SKIFF_MAX_DIMS || !kf_count(c, &in->dims[in->nd]))
                        return false;
                    in->nd++;
                } while (skiff__jscan_eat(&c->s, ','));
                if (!skiff__jscan_eat(&c->s, ']'))
                    return false;
            }
        } else if (kf_is(k, kl, "data") && !in->has_data) {
            /* values go straight into the tensor, so the type must be known */
            in->has_data = true;
            if (!in->has_name || !in->has_dtype || in->dtype != io->inputs[in->spec].dtype ||
                !skiff__jnum_dtype_ok(in->dtype))
                return false;
            in->vec.esize = skiff_dtype_size(in->dtype);
            int dnd;
            int64_t ddims[SKIFF_MAX_DIMS];
            bool oom;
            if (!skiff__jscan_tensor(&c->s, in->dtype, &in->vec, c->lim->max_elements - c->elements,
                                     &dnd, ddims, &oom)) {
                c->oom = oom;
                return false;
            }
            c->elements += in->vec.n;
        } else if (kf_is(k, kl, "parameters") && !in->has_params) {
            in->has_params = true;
            if (!skiff__jscan_eat(&c->s, '{') || !kf_key(c, &k, &kl) ||
                !kf_is(k, kl, "binary_data_size") || !kf_count(c, &in->bsize) ||
                !skiff__jscan_eat(&c->s, '}'))
                return false;
        } else {
            return false;
        }
    } while (skiff__jscan_eat(&c->s, ','));
    return skiff__jscan_eat(&c->s, '}');
}

static bool kf_output_obj(kf_ctx *c, kf_output *o)
{
    bool has_name = false, has_params = false;
    if (!skiff__jscan_eat(&c->s, '{'))
        return false;
    do {
        const char *k;
        size_t kl;
        if (!kf_key(c, &k, &kl))
            return false;
        if (kf_is(k, kl, "name") && !has_name) {
            has_name = true;
            if (!skiff__jscan_string(&c->s, &o->name, &o->name_len))
                return false;
            o->spec = skiff__codec_find_spec_n(c->io->outputs, c->io->n_outputs, o->name,
                                               o->name_len, false);
            if (o->spec < 0)
                return false;
        } else if (kf_is(k, kl, "parameters") && !has_params) {
            bool b;
            has_params = true;
            if (!skiff__jscan_eat(&c->s, '{') || !kf_key(c, &k, &kl) ||
                !kf_is(k, kl, "binary_data") || !kf_bool(c, &b) || !skiff__jscan_eat(&c->s, '}'))
                return false;
            o->binary = b;
        } else {
            return false;
        }
    } while (skiff__jscan_eat(&c->s, ','));
    return has_name && skiff__jscan_eat(&c->s, '}');
}

static bool kf_body(kf_ctx *c)
{
    if (!skiff__jscan_eat(&c->s, '{'))
        return false;
    do {
        const char *k;
        size_t kl;
        if (!kf_key(c, &k, &kl))
            return false;
        if (kf_is(k, kl, "id") && !c->has_id) {
            c->has_id = true;
            if (!skiff__jscan_string(&c->s, &c->id, &c->id_len))
                return false;
        } else if (kf_is(k, kl, "parameters") && !c->has_params) {
            bool has_b = false, has_t = false;
            c->has_params = true;
            if (!skiff__jscan_eat(&c->s, '{'))
                return false;
            if (!skiff__jscan_eat(&c->s, '}')) {
                do {
                    if (!kf_key(c, &k, &kl))
                        return false;
                    if (kf_is(k, kl, "binary_data_output") && !has_b) {
                        has_b = true;
                        if (!kf_bool(c, &c->binary_all))
                            return false;
                    } else if (kf_is(k, kl, "timeout") && !has_t) {
                        has_t = true;
                        if (!kf_count(c, &c->timeout_us))
                            return false;
                    } else {
                        return false;
                    }
                } while (skiff__jscan_eat(&c->s, ','));
                if (!skiff__jscan_eat(&c->s, '}'))
                    return false;
            }
        } else if (kf_is(k, kl, "inputs") && !c->has_inputs) {
            c->has_inputs = true;
            if (!skiff__jscan_eat(&c->s, '['))
                return false;
            do {
                if (c->n_in == KF_MAX || c->n_in >= c->lim->max_inputs)
                    return false;
                kf_input *in = &c->in[c->n_in++];
                *in = (kf_input){.spec = -1, .bsize = -1};
                if (!kf_input_obj(c, in))
                    return false;
            } while (skiff__jscan_eat(&c->s, ','));
            if (!skiff__jscan_eat(&c->s, ']'))
                return false;
        } else if (kf_is(k, kl, "outputs") && !c->has_outputs) {
            c->has_outputs = true;
            if (!skiff__jscan_eat(&c->s, '['))
                return false;
            if (!skiff__jscan_eat(&c->s, ']')) {
                do {
                    if (c->n_out == KF_MAX || c->n_out >= c->lim->max_outputs)
                        return false;
                    kf_output *o = &c->out[c->n_out++];
                    *o = (kf_output){.spec = -1, .binary = -1};
                    if (!kf_output_obj(c, o))
                        return false;
                    for (int i = 0; i < c->n_out - 1; i++)
                        if (c->out[i].spec == o->spec)
                            return false;
                } while (skiff__jscan_eat(&c->s, ','));
                if (!skiff__jscan_eat(&c->s, ']'))
                    return false;
            }
        } else {
            return false;
        }
    } while (skiff__jscan_eat(&c->s, ','));
    return skiff__jscan_eat(&c->s, '}') && skiff__jscan_peek(&c->s) < 0 && c->has_inputs;
}

/* Checks what kf_body found as ks_input and ks_decode would, and builds the
 * request (*out); false to decline, or with c->oom set. */
static bool kf_build(kf_ctx *c, const unsigned char *bin, size_t bin_len,
                     skiff__infer_request **out)
{
    const skiff__model_io *io = c->io;
    bool seen[KF_MAX] = {false};
    int64_t batch = -1, elements = 0;
    size_t bin_pos = 0;
    for (int i = 0; i < c->n_in; i++) {
        kf_input *in = &c->in[i];
        if (!in->has_name || !in->has_dtype || !in->has_shape || seen[in->spec])
            return false;
        seen[in->spec] = true;
        const skiff__io_spec *sp = &io->inputs[in->spec];
        int64_t numel = skiff_shape_numel(in->nd, in->dims);
        size_t esize = skiff_dtype_size(in->dtype), nbytes;
        if (in->dtype != sp->dtype || numel < 0 || esize == 0 ||
            __builtin_add_overflow(elements, numel, &elements) || elements > c->lim->max_elements ||
            !skiff__mul_size((size_t)numel, esize, &nbytes))
            return false;
        skiff_status_t *st = skiff__codec_check_shape("", sp, in->nd, in->dims);
        if (st) {
            skiff_status_free(st);
            return false;
        }
        if (in->bsize >= 0) {
            /* binary: BYTES and BOOL (which needs 0/1 bytes) are the tree's */
            if (in->has_data || !bin || in->dtype == SKIFF_DTYPE_STRING ||
                in->dtype == SKIFF_DTYPE_BOOL || (uint64_t)in->bsize != nbytes ||
                nbytes > bin_len - bin_pos)
                return false;
            in->vec.esize = esize;
            in->vec.data = skiff__aligned_alloc(nbytes ? nbytes : 64);
            if (!in->vec.data) {
                c->oom = true;
                return false;
            }
            if (nbytes)
                memcpy(in->vec.data, bin + bin_pos, nbytes);
            in->vec.n = in->vec.cap = numel;
            bin_pos += nbytes;
        } else if (!in->has_data || in->vec.n != numel) {
            return false;
        }
        if (sp->batched) {
            if (batch < 0)
                batch = in->dims[0];
            else if (batch != in->dims[0])
                return false;
        }
    }
    if (bin && bin_pos != bin_len)
        return false;
    for (int j = 0; j < io->n_inputs; j++)
        if (!seen[j] && !io->inputs[j].optional)
            return false;
    /* everything checks: build it in one allocation */
    size_t strings = c->has_id ? c->id_len + 1 : 0;
    for (int i = 0; i < c->n_in; i++)
        strings += c->in[i].name_len + 1;
    for (int i = 0; i < c->n_out; i++)
        strings += c->out[i].name_len + 1;
    skiff__packed pk;
    if (!skiff__codec_packed_new(c->n_in, c->n_out, strings, &pk)) {
        c->oom = true;
        return false;
    }
    skiff__infer_request *r = pk.req;
    for (int i = 0; i < c->n_in; i++) {
        kf_input *in = &c->in[i];
        skiff_tensor_t *t = &pk.tensors[i];
        if (!skiff__jvec_take(&in->vec, t, in->dtype, in->nd, in->dims)) {
            skiff__infer_request_free(r);
            c->oom = true;
            return false;
        }
        r->inputs[r->n_inputs++] =
            (skiff__infer_input){.name = skiff__codec_packed_str(&pk, in->name, in->name_len),
                                 .spec = in->spec,
                                 .tensor = t};
    }
    for (int i = 0; i < c->n_out; i++) {
        kf_output *o = &c->out[i];
        r->outputs[r->n_outputs++] =
            (skiff__infer_output_req){.name = skiff__codec_packed_str(&pk, o->name, o->name_len),
                                      .spec = o->spec,
                                      .binary = o->binary >= 0 ? o->binary == 1 : c->binary_all};
    }
    if (c->has_id)
        r->id = skiff__codec_packed_str(&pk, c->id, c->id_len);
    r->binary_output_all = c->binary_all;
    r->timeout_us = c->timeout_us;
    r->batch = batch < 0 ? 1 : batch;
    *out = r;
    return true;
}

skiff__fast_result skiff__decode_kserve_fast(const char *body, size_t len, int64_t header_length,
                                             const skiff__model_io *io,
                                             const skiff__codec_limits *limits,
                                             skiff__infer_request **out_req,
                                             skiff_status_t **out_st)
{
    *out_req = NULL;
    *out_st = NULL;
    if (!io || io->n_inputs <= 0 || io->n_inputs > KF_MAX || io->n_outputs > KF_MAX ||
        (header_length >= 0 && (uint64_t)header_length > len))
        return SKIFF__FAST_DECLINE;
    size_t json_len = header_length >= 0 ? (size_t)header_length : len;
    skiff__codec_limits lim;
    skiff__codec_limits_resolve(limits, &lim);
    /* Set field by field: the input array alone is about 3 KB. */
    kf_ctx c;
    c.io = io;
    c.lim = &lim;
    c.s = (skiff__jscan){body, body + json_len};
    c.n_in = c.n_out = 0;
    c.has_id = c.has_params = c.has_inputs = c.has_outputs = false;
    c.binary_all = false;
    c.timeout_us = 0;
    c.elements = 0;
    c.oom = false;
    skiff__infer_request *r = NULL;
    bool ok = kf_body(&c) &&
              kf_build(&c, header_length >= 0 ? (const unsigned char *)body + json_len : NULL,
                       len - json_len, &r);
    for (int i = 0; i < c.n_in; i++)
        skiff__jvec_free(&c.in[i].vec);
    if (ok) {
        *out_req = r;
        return SKIFF__FAST_OK;
    }
    if (c.oom) {
        *out_st = skiff__codec_oom();
        return SKIFF__FAST_ERROR;
    }
    return SKIFF__FAST_DECLINE;
}

skiff_status_t *skiff__decode_kserve(const char *body, size_t len, int64_t header_length,
                                     const skiff__model_io *io, const skiff__codec_limits *limits,
                                     skiff__infer_request **out_req)
{
    skiff_status_t *st;
    switch (skiff__decode_kserve_fast(body, len, header_length, io, limits, out_req, &st)) {
    case SKIFF__FAST_OK: return NULL;
    case SKIFF__FAST_ERROR: return st;
    default: return skiff__decode_kserve_tree(body, len, header_length, io, limits, out_req);
    }
}

skiff_status_t *skiff__decode_kserve_tree(const char *body, size_t len, int64_t header_length,
                                          const skiff__model_io *io,
                                          const skiff__codec_limits *limits,
                                          skiff__infer_request **out_req)
{
    *out_req = NULL;
    ks_ctx c = {.io = io, .batch = -1};
    skiff__codec_limits_resolve(limits, &c.lim);
    size_t json_len = len;
    if (header_length >= 0) {
        if ((uint64_t)header_length > len)
            return bad("Inference-Header-Content-Length %lld exceeds the body's %zu bytes",
                       (long long)header_length, len);
        json_len = (size_t)header_length;
        c.bin = (const unsigned char *)body + json_len;
        c.bin_len = len - json_len;
    }
    skiff_status_t *st;
    json_t *root = skiff__codec_parse_object(body, json_len, &st);
    if (!root)
        return st;
    c.req = skiff__calloc(1, sizeof(*c.req));
    if (io)
        c.seen = skiff__calloc(io->n_inputs > 0 ? (size_t)io->n_inputs : 1, sizeof(bool));
    st = (!c.req || (io && !c.seen)) ? skiff__codec_oom() : ks_decode(&c, root);
    skiff__free(c.seen);
    json_decref(root);
    if (st) {
        skiff__infer_request_free(c.req);
        return st;
    }
    c.req->batch = c.batch < 0 ? 1 : c.batch;
    *out_req = c.req;
    return NULL;
}

/* ---- response ------------------------------------------------------------------ */

static skiff_status_t *enc_oom(void)
{
    return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory encoding the response");
}

/* Bytes an output takes in the binary section. */
static bool binary_size(const skiff_tensor_t *t, size_t *out)
{
    if (t->dtype != SKIFF_DTYPE_STRING) {
        *out = t->nbytes;
        return true;
    }
    size_t total = 0;
    int64_t n = skiff_tensor_numel(t);
    char *const *s = t->data;
    for (int64_t i = 0; i < n; i++) {
        size_t l = s[i] ? strlen(s[i]) : 0;
        if (l > UINT32_MAX || __builtin_add_overflow(total, l + 4, &total))
            return false;
    }
    *out = total;
    return true;
}

static bool put_binary(skiff__buf *b, const skiff_tensor_t *t)
{
    if (t->dtype != SKIFF_DTYPE_STRING)
        return skiff__buf_append(b, t->data, t->nbytes);
    int64_t n = skiff_tensor_numel(t);
    char *const *s = t->data;
    for (int64_t i = 0; i < n; i++) {
        const char *e = s[i] ? s[i] : "";
        uint32_t l = (uint32_t)strlen(e);
        if (!skiff__buf_append(b, &l, 4) || !skiff__buf_append(b, e, l))
            return false;
    }
    return true;
}

/* The tensors of a request's "inputs" or a response's "outputs": JSON data,
 * or binary_data_size with the bytes to follow (*any_binary). */
static skiff_status_t *kserve_tensors(skiff__buf *out, const skiff__infer_output *outs, int n_outs,
                                      const char *what, bool *any_binary)
{
    bool ok;
    for (int i = 0; i < n_outs; i++) {
        const skiff__infer_output *o = &outs[i];
        const char *nm = o->alias ? o->alias : o->name;
        const skiff_tensor_t *t = o->tensor;
        if (!t || !nm)
            return skiff_status_new(SKIFF_CODE_INTERNAL, "%s %d has no %s", what, i,
                                    t ? "name" : "tensor");
        const char *dn = skiff_dtype_kserve_name(t->dtype);
        if (!dn || skiff_dtype_size(t->dtype) == 0)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "%s '%s': %s has no KServe datatype",
                                    what, nm, skiff_dtype_name(t->dtype));
        if (t->ndim < 0 || t->ndim > SKIFF_MAX_DIMS || skiff_tensor_numel(t) < 0)
            return skiff_status_new(SKIFF_CODE_INTERNAL, "%s '%s': invalid shape", what, nm);
        ok = (!i || skiff__buf_char(out, ',')) && skiff__buf_lit(out, "{\"name\":") &&
             skiff__buf_cstr(out, nm) && skiff__buf_lit(out, ",\"datatype\":\"") &&
             skiff__buf_lit(out, dn) && skiff__buf_lit(out, "\",\"shape\":") &&
             skiff__buf_shape(out, t->ndim, t->dims);
        if (o->binary) {
            size_t sz;
            if (!binary_size(t, &sz))
                return skiff_status_new(SKIFF_CODE_INTERNAL, "%s '%s' is too large", what, nm);
            ok = ok && skiff__buf_lit(out, ",\"parameters\":{\"binary_data_size\":") &&
                 skiff__buf_u64(out, sz) && skiff__buf_lit(out, "}}");
            *any_binary = true;
        } else {
            ok = ok && skiff__buf_lit(out, ",\"data\":") && skiff__buf_tensor_json(out, t, false) &&
                 skiff__buf_char(out, '}');
        }
        if (!ok)
            return enc_oom();
    }
    return NULL;
}

static skiff_status_t *kserve_binary_tail(skiff__buf *out, const skiff__infer_output *outs,
                                          int n_outs)
{
    for (int i = 0; i < n_outs; i++)
        if (outs[i].binary && !put_binary(out, outs[i].tensor))
            return enc_oom();
    return NULL;
}

skiff_status_t *skiff__encode_kserve_request(const skiff__request_out *r, skiff__buf *out,
                                             size_t *out_json_len)
{
    size_t start = out->len;
    bool any_binary = false;
    bool ok = skiff__buf_char(out, '{');
    if (ok && r->id)
        ok = skiff__buf_lit(out, "\"id\":") && skiff__buf_cstr(out, r->id) &&
             skiff__buf_char(out, ',');
    if (!ok || !skiff__buf_lit(out, "\"inputs\":["))
        return enc_oom();
    skiff_status_t *st = kserve_tensors(out, r->inputs, r->n_inputs, "input", &any_binary);
    if (st)
        return st;
    ok = skiff__buf_char(out, ']');
    if (ok && r->n_fetch > 0) {
        ok = skiff__buf_lit(out, ",\"outputs\":[");
        for (int i = 0; ok && i < r->n_fetch; i++)
            ok = (!i || skiff__buf_char(out, ',')) && skiff__buf_lit(out, "{\"name\":") &&
                 skiff__buf_cstr(out, r->fetch[i]) &&
                 (!r->binary_outputs ||
                  skiff__buf_lit(out, ",\"parameters\":{\"binary_data\":true}")) &&
                 skiff__buf_char(out, '}');
        ok = ok && skiff__buf_char(out, ']');
    } else if (ok && r->binary_outputs) {
        ok = skiff__buf_lit(out, ",\"parameters\":{\"binary_data_output\":true}");
    }
    if (!ok || !skiff__buf_char(out, '}'))
        return enc_oom();
    *out_json_len = out->len - start;
    return any_binary ? kserve_binary_tail(out, r->inputs, r->n_inputs) : NULL;
}

skiff_status_t *skiff__encode_kserve(const char *model_name, const char *model_version,
                                     const char *id, const skiff__infer_output *outs, int n_outs,
                                     skiff__buf *out, size_t *out_json_len)
{
    size_t start = out->len;
    bool any_binary = false;
    bool ok = skiff__buf_lit(out, "{\"model_name\":") && skiff__buf_cstr(out, model_name);
    if (ok && model_version)
        ok = skiff__buf_lit(out, ",\"model_version\":") && skiff__buf_cstr(out, model_version);
    if (ok && id)
        ok = skiff__buf_lit(out, ",\"id\":") && skiff__buf_cstr(out, id);
    ok = ok && skiff__buf_lit(out, ",\"outputs\":[");
    if (!ok)
        return enc_oom();
    skiff_status_t *st = kserve_tensors(out, outs, n_outs, "output", &any_binary);
    if (st)
        return st;
    if (!skiff__buf_lit(out, "]}"))
        return enc_oom();
    *out_json_len = out->len - start;
    return any_binary ? kserve_binary_tail(out, outs, n_outs) : NULL;
}
