/* Unit tests for the Paddle 0.9 protobuf binary decoders (codec_paddle09_pb.c):
 * each binary Request (and Response) is decoded twice, by the binary front
 * and by the JSON decoder given the message's proto3 JSON form (the mapping
 * the binary front used before it read the message directly), and both must
 * agree: the same tensors bit for bit, or the same code and message. Good and
 * bad messages alike; then allocation failures at every allocation of a
 * binary decode. Registered in test_codec.c's main(). */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/core.h"
#include "general_model_service.pb-c.h"
#include "proto/codec.h"
#include "proto/codec_int.h"

void test_p09pb_requests(void **state);
void test_p09pb_responses(void **state);
void test_p09pb_alloc_failures(void **state);

typedef Baidu__PaddleServing__Predictor__GeneralModel__Tensor pb_tensor;
typedef Baidu__PaddleServing__Predictor__GeneralModel__Request pb_request;
typedef Baidu__PaddleServing__Predictor__GeneralModel__ModelOutput pb_output;
typedef Baidu__PaddleServing__Predictor__GeneralModel__Response pb_response;
#define PB(x) baidu__paddle_serving__predictor__general_model__##x

/* ---- models ------------------------------------------------------------------ */

static const int64_t D1[] = {1}, D3[] = {3}, DSEQ[] = {-1};

static const skiff__io_spec x3_in[] = {{.name = "x_name",
                                        .alias = "x",
                                        .dtype = SKIFF_DTYPE_FLOAT32,
                                        .ndim = 1,
                                        .dims = D3,
                                        .batched = true},
                                       {.name = "y",
                                        .dtype = SKIFF_DTYPE_FLOAT32,
                                        .ndim = 1,
                                        .dims = D1,
                                        .batched = true,
                                        .optional = true}};
static const skiff__io_spec x3_out[] = {{.name = "fc_0.tmp_1",
                                         .alias = "price",
                                         .dtype = SKIFF_DTYPE_FLOAT32,
                                         .ndim = 1,
                                         .dims = D1,
                                         .batched = true}};
static const skiff__model_io M_X3 = {x3_in, 2, x3_out, 1};

static const skiff__io_spec lod_in[] = {{.name = "word",
                                         .alias = "words",
                                         .dtype = SKIFF_DTYPE_INT64,
                                         .ndim = 1,
                                         .dims = DSEQ,
                                         .batched = true,
                                         .is_lod = true}};
static const skiff__model_io M_LOD = {lod_in, 1, x3_out, 1};

/* every input optional and of any shape, so each type can go alone */
#define ANY(nm, dt)                                                                                \
    {                                                                                              \
        .name = nm, .dtype = dt, .ndim = -1, .batched = true, .optional = true                     \
    }
static const skiff__io_spec types_in[] = {
    ANY("l", SKIFF_DTYPE_INT64),     ANY("f", SKIFF_DTYPE_FLOAT32), ANY("i", SKIFF_DTYPE_INT32),
    ANY("d", SKIFF_DTYPE_FLOAT64),   ANY("s16", SKIFF_DTYPE_INT16), ANY("h", SKIFF_DTYPE_FLOAT16),
    ANY("bf", SKIFF_DTYPE_BFLOAT16), ANY("u", SKIFF_DTYPE_UINT8),   ANY("i8", SKIFF_DTYPE_INT8),
    ANY("b", SKIFF_DTYPE_BOOL),      ANY("s", SKIFF_DTYPE_STRING)};
#undef ANY
static const skiff__model_io M_TYPES = {types_in, 11, x3_out, 1};

static const skiff__codec_limits LIM = {.max_elements = 1000, .max_inputs = 4, .max_outputs = 2};

/* ---- the proto3 JSON form of a message ------------------------------------------ */

static json_t *real_json(double v)
{
    if (isnan(v))
        return json_string("NaN");
    if (isinf(v))
        return json_string(v > 0 ? "Infinity" : "-Infinity");
    return json_real(v);
}

/* A typed repeated field as a JSON list; kind: l int64, i int32, u uint32,
 * f float, d double, b bool, s string. */
static json_t *jlist(const void *v, size_t n, char kind)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = NULL;
        switch (kind) {
        case 'l': e = json_integer(((const int64_t *)v)[i]); break;
        case 'i': e = json_integer(((const int32_t *)v)[i]); break;
        case 'u': e = json_integer(((const uint32_t *)v)[i]); break;
        case 'f': e = real_json(((const float *)v)[i]); break;
        case 'd': e = real_json(((const double *)v)[i]); break;
        case 'b': e = json_boolean(((const protobuf_c_boolean *)v)[i]); break;
        default: e = json_string(((char *const *)v)[i]); break;
        }
        json_array_append_new(a, e);
    }
    return a;
}

static json_t *tensor_json(const pb_tensor *t)
{
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
        json_object_set_new(o, "name", json_string(t->name));
    if (t->alias_name[0])
        json_object_set_new(o, "alias_name", json_string(t->alias_name));
    if (t->tensor_content.len) {
        skiff__buf b = {0};
        assert_true(skiff__buf_base64(&b, t->tensor_content.data, t->tensor_content.len));
        json_object_set_new(o, "tensor_content", json_stringn(b.data, b.len));
        skiff__buf_free(&b);
    }
    return o;
}

static json_t *tensors_json(pb_tensor *const *ts, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, tensor_json(ts[i]));
    return a;
}

/* ---- comparing the two decodes -------------------------------------------------- */

static bool same_values(const skiff_tensor_t *a, const skiff_tensor_t *b)
{
    int64_t n = skiff_tensor_numel(a);
    size_t es = skiff_dtype_size(a->dtype);
    for (int64_t i = 0; i < n; i++) {
        if (a->dtype == SKIFF_DTYPE_STRING) {
            if (strcmp(((char **)a->data)[i], ((char **)b->data)[i]) != 0)
                return false;
        } else if (a->dtype == SKIFF_DTYPE_FLOAT32 && isnan(((float *)a->data)[i])) {
            if (!isnan(((float *)b->data)[i]))
                return false;
        } else if (a->dtype == SKIFF_DTYPE_FLOAT64 && isnan(((double *)a->data)[i])) {
            if (!isnan(((double *)b->data)[i]))
                return false;
        } else if (memcmp((char *)a->data + (size_t)i * es, (char *)b->data + (size_t)i * es, es)) {
            return false;
        }
    }
    return true;
}

/* Fails unless the binary front's result (bst, br) is the JSON front's
 * (jst, jr). Frees all four. */
static void agree(const char *label, skiff_status_t *bst, skiff__infer_request *br,
                  skiff_status_t *jst, skiff__infer_request *jr)
{
    if (bst || jst) {
        if (!bst || !jst)
            fail_msg("%s: binary %s, JSON %s", label, bst ? skiff_status_message(bst) : "ok",
                     jst ? skiff_status_message(jst) : "ok");
        if (skiff_status_code(bst) != skiff_status_code(jst) ||
            strcmp(skiff_status_message(bst), skiff_status_message(jst)) != 0)
            fail_msg("%s: binary %s \"%s\", JSON %s \"%s\"", label,
                     skiff_code_name(skiff_status_code(bst)), skiff_status_message(bst),
                     skiff_code_name(skiff_status_code(jst)), skiff_status_message(jst));
        assert_null(br);
        assert_null(jr);
        skiff_status_free(bst);
        skiff_status_free(jst);
        return;
    }
    if (br->n_inputs != jr->n_inputs || br->batch != jr->batch || br->n_outputs != jr->n_outputs)
        fail_msg("%s: %d inputs, batch %lld, %d outputs; JSON %d, %lld, %d", label, br->n_inputs,
                 (long long)br->batch, br->n_outputs, jr->n_inputs, (long long)jr->batch,
                 jr->n_outputs);
    for (int i = 0; i < br->n_inputs; i++) {
        const skiff__infer_input *a = &br->inputs[i], *b = &jr->inputs[i];
        const skiff_tensor_t *ta = a->tensor, *tb = b->tensor;
        char s1[100], s2[100];
        if (strcmp(a->name, b->name) || a->spec != b->spec || ta->dtype != tb->dtype ||
            ta->ndim != tb->ndim || memcmp(ta->dims, tb->dims, sizeof(int64_t) * (size_t)ta->ndim))
            fail_msg("%s: input %d '%s' %s %s, JSON '%s' %s %s", label, i, a->name,
                     skiff_dtype_name(ta->dtype), skiff_shape_str(ta->ndim, ta->dims, s1, 100),
                     b->name, skiff_dtype_name(tb->dtype),
                     skiff_shape_str(tb->ndim, tb->dims, s2, 100));
        if (!same_values(ta, tb))
            fail_msg("%s: input '%s': values differ", label, a->name);
        if (a->n_lod != b->n_lod ||
            (a->n_lod && memcmp(a->lod, b->lod, sizeof(int64_t) * (size_t)a->n_lod)))
            fail_msg("%s: input '%s': lod differs", label, a->name);
    }
    for (int i = 0; i < br->n_outputs; i++)
        if (strcmp(br->outputs[i].name, jr->outputs[i].name) ||
            br->outputs[i].spec != jr->outputs[i].spec)
            fail_msg("%s: output %d differs", label, i);
    skiff__infer_request_free(br);
    skiff__infer_request_free(jr);
}

static void pack(const ProtobufCMessage *m, skiff__buf *b)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    assert_true(skiff__buf_reserve(b, n));
    b->len = protobuf_c_message_pack(m, (uint8_t *)b->data);
}

/* Decodes the Request both ways against io; the message (or its fragment)
 * when it fails, NULL when it decodes; *out_log_id the binary's log_id. */
static char *check_request(const char *label, const pb_request *req, const skiff__model_io *io,
                           uint64_t *out_log_id)
{
    skiff__buf b = {0};
    pack(&req->base, &b);
    skiff__decode_in in = {.body = b.data, .len = b.len, .io = io, .limits = &LIM};
    skiff__infer_request *br = NULL, *jr = NULL;
    skiff_status_t *bst = skiff__codec_of(SKIFF__API_PADDLE09_PB)->decode_request(&in, &br);
    skiff__buf_free(&b);

    json_t *root = json_object();
    json_object_set_new(root, "tensor", tensors_json(req->tensor, req->n_tensor));
    if (req->n_fetch_var_names)
        json_object_set_new(root, "fetch_var_names",
                            jlist(req->fetch_var_names, req->n_fetch_var_names, 's'));
    if (req->log_id)
        json_object_set_new(root, "log_id", json_integer((json_int_t)req->log_id));
    skiff_status_t *jst = skiff__decode_paddle09_tree(root, &in, &jr);
    json_decref(root);

    char *msg = bst ? skiff__strdup(skiff_status_message(bst)) : NULL;
    if (out_log_id)
        *out_log_id = br ? br->log_id : 0;
    agree(label, bst, br, jst, jr);
    return msg;
}

/* One tensor message: name, alias, elem_type, shape (n_shape dims). */
static pb_tensor tensor(const char *name, const char *alias, int et, int32_t *shape, size_t nd)
{
    pb_tensor t;
    PB(tensor__init)(&t);
    t.name = (char *)name;
    t.alias_name = (char *)alias;
    t.elem_type = et;
    t.shape = shape;
    t.n_shape = nd;
    return t;
}

/* Checks a Request of n tensors; expect: a fragment of the message both
 * give, or NULL when both must decode. */
static void req_case(const char *label, const skiff__model_io *io, pb_tensor *ts, size_t n,
                     const char *expect)
{
    pb_tensor *ps[8];
    for (size_t i = 0; i < n; i++)
        ps[i] = &ts[i];
    pb_request r;
    PB(request__init)(&r);
    r.tensor = ps;
    r.n_tensor = n;
    char *msg = check_request(label, &r, io, NULL);
    if (expect && (!msg || !strstr(msg, expect)))
        fail_msg("%s: message \"%s\" lacks \"%s\"", label, msg ? msg : "(decoded)", expect);
    if (!expect && msg)
        fail_msg("%s: failed: %s", label, msg);
    skiff__free(msg);
}

/* ---- tests ------------------------------------------------------------------------ */

void test_p09pb_requests(void **state)
{
    int32_t s13[] = {1, 3}, s3[] = {3}, s23[] = {2, 3}, s11[] = {1, 1}, s12[] = {1, 2};
    int32_t s9[] = {1, 1, 1, 1, 1, 1, 1, 1, 3}, sneg[] = {-1, 3}, sbig[] = {400, 3};
    float x3[] = {0.5f, -1.25f, 3e-41f}, x6[] = {1, 2, 3, 4, 5, 6};
    float nonfinite[] = {NAN, INFINITY, -INFINITY};
    double d2[] = {-0.0, 1e300}, dnan[] = {NAN};
    int64_t l2[] = {INT64_MIN, INT64_MAX}, words[] = {1, 2, 3, 4, 5};
    int32_t i2[] = {-7, INT32_MAX}, i16ok[] = {-32768, 32767}, i16bad[] = {1, 40000};
    uint32_t u1[] = {1};
    protobuf_c_boolean b2[] = {1, 0};
    char *strs[] = {"hi", ""};
    uint8_t h2[] = {0x00, 0x3c, 0x00, 0xc0}, bytes2[] = {0x00, 0x02};
    int32_t lod_ok[] = {0, 2, 5}, lod_1[] = {1, 5}, lod_short[] = {0, 4}, s51[] = {5, 1};

    /* good: floats as given (subnormals, NaN, infinities), alias and name, batch 2 */
    pb_tensor t = tensor("x_name", "x", 1, s13, 2);
    t.float_data = x3, t.n_float_data = 3;
    req_case("float_data", &M_X3, &t, 1, NULL);
    t.float_data = nonfinite;
    req_case("non-finite floats", &M_X3, &t, 1, NULL);
    t = tensor("x_name", "", 1, s3, 1); /* by name, shape without the batch dim */
    t.float_data = x3, t.n_float_data = 3;
    req_case("by name", &M_X3, &t, 1, NULL);
    t = tensor("", "x", 1, s23, 2);
    t.float_data = x6, t.n_float_data = 6;
    req_case("batch of 2", &M_X3, &t, 1, NULL);
    t.tensor_content.data = (uint8_t *)x6, t.tensor_content.len = sizeof(x6);
    t.n_float_data = 0;
    req_case("float32 as tensor_content", &M_X3, &t, 1, NULL);

    /* every type */
    pb_tensor ty[] = {tensor("l", "", 0, s12, 2), tensor("d", "", 3, s12, 2),
                      tensor("i", "", 2, s12, 2), tensor("s16", "", 4, s12, 2)};
    ty[0].int64_data = l2, ty[0].n_int64_data = 2;
    ty[1].float64_data = d2, ty[1].n_float64_data = 2;
    ty[2].int_data = i2, ty[2].n_int_data = 2;
    ty[3].int_data = i16ok, ty[3].n_int_data = 2;
    req_case("int64, float64, int32, int16", &M_TYPES, ty, 4, NULL);
    pb_tensor ty2[] = {tensor("b", "", 9, s12, 2), tensor("s", "", 20, s12, 2),
                       tensor("h", "", 5, s12, 2), tensor("u", "", 7, s12, 2)};
    ty2[0].bool_data = b2, ty2[0].n_bool_data = 2;
    ty2[1].data = strs, ty2[1].n_data = 2;
    ty2[2].tensor_content.data = h2, ty2[2].tensor_content.len = 4;
    ty2[3].tensor_content.data = bytes2, ty2[3].tensor_content.len = 2;
    req_case("bool, strings, float16, uint8", &M_TYPES, ty2, 4, NULL);
    pb_tensor ty3[] = {tensor("b", "", 9, s12, 2), tensor("i8", "", 8, s12, 2),
                       tensor("d", "", 3, s11, 2)};
    ty3[0].tensor_content.data = bytes2, ty3[0].tensor_content.len = 2; /* 2 reads as true */
    ty3[1].tensor_content.data = bytes2, ty3[1].tensor_content.len = 2;
    ty3[2].float64_data = dnan, ty3[2].n_float64_data = 1;
    req_case("bool and int8 bytes, NaN float64", &M_TYPES, ty3, 3, NULL);
    int32_t s21[] = {2, 1};
    pb_tensor scalar[] = {tensor("d", "", 3, NULL, 0), tensor("l", "", 0, s21, 2)};
    scalar[0].float64_data = d2, scalar[0].n_float64_data = 1;
    scalar[1].int64_data = l2, scalar[1].n_int64_data = 2;
    req_case("a scalar beside a batch of 2", &M_TYPES, scalar, 2, NULL);
    req_case("a scalar alone", &M_TYPES, scalar, 1, NULL);
    t = tensor("q", "", 2, s3, 1); /* no model */
    t.int_data = i16bad, t.n_int_data = 2;
    t.n_shape = 0;
    req_case("no model, shape left out", NULL, &t, 1, "needs 1 elements, int_data has 2");

    /* LoD */
    t = tensor("word", "words", 0, s51, 2);
    t.int64_data = words, t.n_int64_data = 5;
    t.lod = lod_ok, t.n_lod = 3;
    req_case("lod", &M_LOD, &t, 1, NULL);
    t.n_lod = 0;
    req_case("LoD input without lod", &M_LOD, &t, 1, NULL);
    t.lod = lod_1, t.n_lod = 2;
    req_case("lod from 1", &M_LOD, &t, 1, "input 'words': lod must start at 0, got 1");
    t.lod = lod_short;
    req_case("lod short", &M_LOD, &t, 1, "lod ends at 4 but the data has 5 rows");
    t = tensor("x_name", "x", 1, s13, 2);
    t.float_data = x3, t.n_float_data = 3;
    t.lod = lod_ok, t.n_lod = 3;
    req_case("lod on a dense input", &M_X3, &t, 1,
             "input 'x': lod given but the input is not a LoD input");

    /* names */
    t = tensor("", "", 1, s13, 2);
    t.float_data = x3, t.n_float_data = 3;
    req_case("no name", &M_X3, &t, 1, "tensor[0] has neither name nor alias_name");
    t.name = "z";
    req_case("unknown input", &M_X3, &t, 1, "unknown input 'z'; model inputs: 'x', 'y'");
    t.name = "x_name";
    pb_tensor two[] = {t, t};
    req_case("given twice", &M_X3, two, 2, "input 'x_name' given twice");
    req_case("no model, given twice", NULL, two, 2, "input 'x_name' given twice");
    req_case("missing input", &M_X3, &t, 0, "missing input 'x'");
    req_case("no tensors", NULL, &t, 0, "\"tensor\" is an empty list");
    pb_tensor five[] = {t, t, t, t, t};
    req_case("too many tensors", &M_X3, five, 5, "\"tensor\" holds 5 tensors, more than the limit");

    /* elem_type and payload fields */
    t = tensor("x_name", "x", 0, s13, 2);
    t.float_data = x3, t.n_float_data = 3;
    req_case("elem_type vs model", &M_X3, &t, 1,
             "input 'x': elem_type 0 (int64) does not match the model's float32 (elem_type 1)");
    t.elem_type = 42;
    req_case("unknown elem_type", &M_X3, &t, 1, "input 'x': unknown elem_type 42");
    t.elem_type = -3;
    req_case("negative elem_type", &M_X3, &t, 1, "unknown elem_type -3");
    t.elem_type = 10;
    req_case("complex", &M_X3, &t, 1, "complex elem_type 10 is not supported");
    t = tensor("l", "", 0, s11, 2);
    t.float_data = x3, t.n_float_data = 1;
    req_case("wrong field", &M_TYPES, &t, 1,
             "elem_type 0 (int64) carries values in int64_data, got float_data");
    t = tensor("l", "", 0, s11, 2);
    t.uint32_data = u1, t.n_uint32_data = 1;
    req_case("uint32_data", &M_TYPES, &t, 1, "carries values in int64_data, got uint32_data");
    t = tensor("s", "", 20, s11, 2);
    t.tensor_content.data = bytes2, t.tensor_content.len = 1;
    req_case("strings as bytes", &M_TYPES, &t, 1, "carries values in data, got tensor_content");
    t = tensor("x_name", "x", 1, s13, 2);
    t.float_data = x3, t.n_float_data = 3;
    t.tensor_content.data = (uint8_t *)x3, t.tensor_content.len = sizeof(x3);
    req_case("both fields", &M_X3, &t, 1, "values given in both float_data and tensor_content");

    /* counts and shapes */
    t = tensor("x_name", "x", 1, s13, 2);
    t.float_data = x3, t.n_float_data = 2;
    req_case("count", &M_X3, &t, 1, "input 'x': shape [1,3] needs 3 elements, float_data has 2");
    t.n_float_data = 0;
    req_case("no values", &M_X3, &t, 1, "needs 3 elements, float_data has 0");
    t.tensor_content.data = (uint8_t *)x3, t.tensor_content.len = 11;
    req_case("content length", &M_X3, &t, 1,
             "shape [1,3] needs 12 bytes of tensor_content, got 11");
    t = tensor("h", "", 5, s12, 2);
    req_case("float16 without bytes", &M_TYPES, &t, 1, "needs 2 elements, tensor_content has 0");
    t = tensor("s16", "", 4, s12, 2);
    t.int_data = i16bad, t.n_int_data = 2;
    req_case("int16 range", &M_TYPES, &t, 1, "element 1 (40000) is out of range for int16");
    t = tensor("x_name", "x", 1, s9, 9);
    req_case("9 dims", &M_X3, &t, 1, "shape has 9 dims, more than 8");
    t = tensor("x_name", "x", 1, sneg, 2);
    req_case("negative dim", &M_X3, &t, 1, "shape[0] is -1, expected a dim in 0..2147483647");
    t = tensor("x_name", "x", 1, s12, 2);
    req_case("model's shape", &M_X3, &t, 1, "input 'x': expected shape [-1,3], got [1,2]");
    t = tensor("x_name", "x", 1, sbig, 2);
    req_case("element limit", &M_X3, &t, 1, "shape [400,3] exceeds the limit of 1000 elements");
    pb_tensor xy[] = {tensor("x_name", "x", 1, s23, 2), tensor("y", "", 1, s11, 2)};
    xy[0].float_data = x6, xy[0].n_float_data = 6;
    xy[1].float_data = x3, xy[1].n_float_data = 1;
    req_case("batch", &M_X3, xy, 2, "input 'y': batch of 1 rows differs from input 'x' batch of 2");

    /* fetch_var_names and log_id */
    t = tensor("x_name", "x", 1, s13, 2);
    t.float_data = x3, t.n_float_data = 3;
    pb_tensor *pt = &t;
    char *fetch[] = {"price", "fc_0.tmp_1", "cost"};
    pb_request r;
    PB(request__init)(&r);
    r.tensor = &pt, r.n_tensor = 1;
    r.fetch_var_names = fetch, r.n_fetch_var_names = 1;
    r.log_id = 42;
    uint64_t log_id = 0;
    assert_null(check_request("fetch", &r, &M_X3, &log_id));
    assert_true(log_id == 42);
    r.n_fetch_var_names = 2;
    char *m = check_request("fetch twice", &r, &M_X3, NULL);
    assert_non_null(strstr(m, "output 'fc_0.tmp_1' listed twice in \"fetch_var_names\""));
    skiff__free(m);
    r.n_fetch_var_names = 3;
    m = check_request("fetch limit", &r, &M_X3, NULL);
    assert_non_null(strstr(m, "\"fetch_var_names\" lists 3 outputs, more than the limit of 2"));
    skiff__free(m);
    r.fetch_var_names = fetch + 2, r.n_fetch_var_names = 1;
    m = check_request("unknown fetch", &r, &M_X3, NULL);
    assert_non_null(strstr(m, "unknown output 'cost' in \"fetch_var_names\""));
    skiff__free(m);

    /* the whole uint64 log_id (its JSON form cannot carry it as a number) */
    r.n_fetch_var_names = 0;
    r.log_id = UINT64_MAX;
    skiff__buf b = {0};
    pack(&r.base, &b);
    skiff__decode_in in = {.body = b.data, .len = b.len, .io = &M_X3, .limits = &LIM};
    skiff__infer_request *out = NULL;
    assert_null(skiff__decode_paddle09_pb(&in, &out));
    assert_true(out->log_id == UINT64_MAX);
    skiff__infer_request_free(out);

    /* not a Request */
    in.body = "\xff\xff", in.len = 2;
    skiff_status_t *st = skiff__decode_paddle09_pb(&in, &out);
    assert_non_null(st);
    assert_non_null(
        strstr(skiff_status_message(st), "the 2-byte body is not a Paddle 0.9 Request"));
    skiff_status_free(st);
    skiff__buf_free(&b);
}

/* Decodes a Response both ways: the binary front, and the JSON answer
 * decoder given its proto3 JSON form. */
static void resp_case(const char *label, pb_tensor *ts, size_t n, int err_no, const char *err_msg,
                      int http_status, const char *expect)
{
    pb_tensor *ps[8];
    for (size_t i = 0; i < n; i++)
        ps[i] = &ts[i];
    pb_output mo;
    PB(model_output__init)(&mo);
    mo.tensor = ps, mo.n_tensor = n;
    pb_output *mos[1] = {&mo};
    pb_response resp;
    PB(response__init)(&resp);
    resp.outputs = mos, resp.n_outputs = 1;
    resp.err_no = err_no, resp.err_msg = (char *)err_msg;
    skiff__buf b = {0};
    pack(&resp.base, &b);
    skiff__decode_in in = {.body = b.data,
                           .len = b.len,
                           .limits = &LIM,
                           .header_length = -1,
                           .http_status = http_status};
    skiff__infer_request *br = NULL, *jr = NULL;
    skiff_status_t *bst = skiff__codec_of(SKIFF__API_PADDLE09_PB)->decode_response(&in, &br);
    skiff__buf_free(&b);

    json_t *root = json_object(), *outs = json_array(), *o = json_object();
    json_object_set_new(o, "tensor", tensors_json(ps, n));
    json_array_append_new(outs, o);
    json_object_set_new(root, "outputs", outs);
    json_object_set_new(root, "err_no", json_integer(err_no));
    json_object_set_new(root, "err_msg", json_string(err_msg));
    skiff_status_t *jst = skiff__decode_paddle09_response_tree(root, &in, &jr);
    json_decref(root);
    if (expect && (!bst || !strstr(skiff_status_message(bst), expect)))
        fail_msg("%s: \"%s\" lacks \"%s\"", label, bst ? skiff_status_message(bst) : "(decoded)",
                 expect);
    if (!expect && bst)
        fail_msg("%s: failed: %s", label, skiff_status_message(bst));
    agree(label, bst, br, jst, jr);
}

void test_p09pb_responses(void **state)
{
    int32_t s13[] = {1, 3}, s12[] = {1, 2};
    float x3[] = {1.5f, NAN, -2};
    char *strs[] = {"a", "bc"};
    pb_tensor t[] = {tensor("fc_0.tmp_1", "price", 1, s13, 2), tensor("label", "", 20, s12, 2)};
    t[0].float_data = x3, t[0].n_float_data = 3;
    t[1].data = strs, t[1].n_data = 2;
    resp_case("answer", t, 2, 0, "", 0, NULL);
    resp_case("err_no", t, 2, -5100, "InferService inference failed!", 0,
              "server: InferService inference failed!");
    resp_case("err_no without a message", t, 0, -5000, "", 0, "server: error without a message");
    resp_case("other err_no", t, 0, 7, "odd", 0, "server: odd");
    resp_case("HTTP status", t, 2, 0, "busy", 503, "server: busy");
    resp_case("no tensors", t, 0, 0, "", 0, "answer: \"tensor\" is an empty list");
    t[0].n_float_data = 2;
    resp_case("short answer", t, 2, 0, "", 0,
              "answer: input 'price': shape [1,3] needs 3 elements, float_data has 2");
}

/* Fails allocation 1, 2, ... of a binary decode until one completes; each
 * failing run must report RESOURCE_EXHAUSTED and give no request. */
void test_p09pb_alloc_failures(void **state)
{
    int32_t s13[] = {1, 3}, lod[] = {0, 1};
    float x3[] = {1, 2, 3};
    char *strs[] = {"a"};
    char *fetch[] = {"price"};
    pb_tensor t[] = {tensor("x_name", "x", 1, s13, 2), tensor("s", "", 20, s13, 1)};
    t[0].float_data = x3, t[0].n_float_data = 3;
    t[1].data = strs, t[1].n_data = 1;
    pb_tensor w = tensor("w", "", 0, s13, 2);
    int64_t l3[] = {1, 2, 3};
    w.int64_data = l3, w.n_int64_data = 3, w.lod = lod, w.n_lod = 2;
    pb_tensor *ps[] = {&t[0], &t[1], &w};
    pb_request r;
    PB(request__init)(&r);
    r.tensor = ps, r.n_tensor = 3;
    r.fetch_var_names = fetch, r.n_fetch_var_names = 1;
    skiff__buf b = {0};
    pack(&r.base, &b);
    skiff__decode_in in = {.body = b.data, .len = b.len, .limits = &LIM};
    for (long n = 1;; n++) {
        assert_true(n < 10000);
        skiff__alloc_fail_at(n);
        skiff__infer_request *out = NULL;
        skiff_status_t *st = skiff__decode_paddle09_pb(&in, &out);
        bool failed = skiff__alloc_failed();
        skiff__alloc_fail_at(0);
        if (!failed) {
            if (st)
                fail_msg("clean run failed: %s", skiff_status_message(st));
            assert_int_equal(out->n_inputs, 3);
            skiff__infer_request_free(out);
            break;
        }
        if (!st || skiff_status_code(st) != SKIFF_CODE_RESOURCE_EXHAUSTED)
            fail_msg("allocation %ld failed, got %s", n, st ? skiff_status_message(st) : "success");
        assert_null(out);
        skiff_status_free(st);
    }
    skiff__buf_free(&b);
}
