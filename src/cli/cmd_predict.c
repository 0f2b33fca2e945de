/* cmd_predict.c - `skiff predict`: one call to a served model through the C
 * client (include/skiff/client.h), feeds from .npy files or JSON on the
 * command line, the outputs printed as one JSON object. Any failure is one
 * line on stderr and a non-zero exit. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/buf.h"
#include "core/core.h"
#include "skiff/client.h"

#define MAX_FEEDS 64
#define MAX_FETCH 64

static void usage(FILE *f)
{
    fprintf(f, "usage: skiff predict --client_conf DIR --endpoint HOST:PORT[,HOST:PORT...]\n"
               "                     --feed NAME=FILE.npy|JSON ... [options]\n\n"
               "Calls a served model once, the way Paddle Serving's Client does, and prints\n"
               "the outputs as JSON: {\"<fetch>\": {\"dtype\":..,\"shape\":[..],\"data\":[..]"
               "[,\"lod\":[..]]}, ..}.\n\n"
               "  --client_conf PATH      serving_client_conf.prototxt, or its directory\n"
               "  --endpoint LIST         host:port, comma-separated: taken in turn, the next one\n"
               "                          when one cannot be reached or times out\n"
               "  --protocol P            brpc (baidu_std, default), http (Paddle 0.9 JSON),\n"
               "                          http_proto (Paddle 0.9 protobuf over HTTP) or grpc\n"
               "                          (GeneralModelService/inference over gRPC)\n"
               "  --feed NAME=VALUE       a feed var by alias: a .npy file, or JSON (a number or\n"
               "                          nested lists); NAME.lod=[0,3,5] gives its LoD\n"
               "  --fetch a,b             outputs wanted (names not in the conf are dropped)\n"
               "  --batch                 the feeds carry their batch dim (Paddle's batch=True)\n"
               "  --timeout_ms N          per endpoint tried (default 20000)\n"
               "  --log_id N              sent with the request\n"
               "  --model NAME            the model of a multi-model server\n"
               "  --help                  this text\n");
}

static void fail(const char *what, skiff_status_t *st)
{
    fprintf(stderr, "skiff predict: %s%s%s\n", what ? what : "", what && st ? ": " : "",
            st ? skiff_status_message(st) : "");
    skiff_status_free(st);
}

/* ---- JSON feeds -------------------------------------------------------------------- */

static skiff_status_t *json_shape(const json_t *v, int *ndim, int64_t *dims, bool *real, bool *str)
{
    *ndim = 0;
    while (json_is_array(v)) {
        if (*ndim >= SKIFF_MAX_DIMS)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "more than %d nested lists",
                                    SKIFF_MAX_DIMS);
        dims[(*ndim)++] = (int64_t)json_array_size(v);
        v = json_array_size(v) ? json_array_get(v, 0) : NULL;
    }
    *real = v && json_is_real(v);
    *str = v && json_is_string(v);
    return NULL;
}

static skiff_status_t *json_fill(const json_t *v, int d, int ndim, const int64_t *dims,
                                 skiff_tensor_t *t, int64_t *at)
{
    if (d < ndim) {
        if (!json_is_array(v) || (int64_t)json_array_size(v) != dims[d])
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "lists of uneven lengths");
        for (size_t i = 0; i < json_array_size(v); i++) {
            skiff_status_t *st = json_fill(json_array_get(v, i), d + 1, ndim, dims, t, at);
            if (st)
                return st;
        }
        return NULL;
    }
    if (t->dtype == SKIFF_DTYPE_STRING) {
        if (!json_is_string(v))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "expected strings throughout");
        char *s = skiff__strdup(json_string_value(v));
        if (!s)
            return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        ((char **)t->data)[(*at)++] = s;
    } else if (json_is_number(v) || json_is_boolean(v)) {
        if (t->dtype == SKIFF_DTYPE_FLOAT64)
            ((double *)t->data)[(*at)++] =
                json_is_boolean(v) ? (double)json_is_true(v) : json_number_value(v);
        else if (json_is_real(v))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "mixed integers and reals");
        else
            ((int64_t *)t->data)[(*at)++] =
                json_is_boolean(v) ? json_is_true(v) : (int64_t)json_integer_value(v);
    } else {
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "expected numbers, found %s",
                                json_is_string(v) ? "a string" : "another JSON value");
    }
    return NULL;
}

/* A tensor from JSON text: int64 when every number is an integer (with the
 * first leaf an integer), float64 otherwise (the client converts to the
 * conf's type), strings as a string tensor. */
static skiff_status_t *json_tensor(const char *text, skiff_tensor_t **out)
{
    json_error_t err;
    json_t *root = json_loads(text, JSON_DECODE_ANY, &err);
    if (!root)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "not JSON (%s at column %d)", err.text,
                                err.column);
    int ndim;
    int64_t dims[SKIFF_MAX_DIMS];
    bool real = false, str = false;
    skiff_status_t *st = json_shape(root, &ndim, dims, &real, &str);
    /* a real anywhere makes it float64: look at the whole text */
    if (!str && strpbrk(text, ".eE"))
        real = true;
    if (!st)
        st = skiff_tensor_new(str    ? SKIFF_DTYPE_STRING
                              : real ? SKIFF_DTYPE_FLOAT64
                                     : SKIFF_DTYPE_INT64,
                              ndim, dims, out);
    int64_t at = 0;
    if (!st && (st = json_fill(root, 0, ndim, dims, *out, &at))) {
        skiff_tensor_free(*out);
        *out = NULL;
    }
    json_decref(root);
    return st;
}

static skiff_status_t *json_lod(const char *text, int64_t **out, int *out_n)
{
    skiff_tensor_t *t = NULL;
    skiff_status_t *st = json_tensor(text, &t);
    if (!st && (t->ndim != 1 || t->dtype != SKIFF_DTYPE_INT64))
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "a LoD is a list of integers");
    if (!st) {
        *out = t->data;
        *out_n = (int)t->dims[0];
        t->flags &= ~SKIFF_TENSOR_OWNS_DATA; /* the data is the caller's now */
    }
    skiff_tensor_free(t);
    return st;
}

/* ---- output ------------------------------------------------------------------------ */

static bool put_value(skiff__buf *b, const skiff_tensor_t *t, int64_t i)
{
    switch (t->dtype) {
    case SKIFF_DTYPE_FLOAT32: return skiff__buf_f32(b, ((const float *)t->data)[i]);
    case SKIFF_DTYPE_FLOAT64: return skiff__buf_f64(b, ((const double *)t->data)[i]);
    case SKIFF_DTYPE_INT64: return skiff__buf_i64(b, ((const int64_t *)t->data)[i]);
    case SKIFF_DTYPE_INT32: return skiff__buf_i64(b, ((const int32_t *)t->data)[i]);
    case SKIFF_DTYPE_INT16: return skiff__buf_i64(b, ((const int16_t *)t->data)[i]);
    case SKIFF_DTYPE_INT8: return skiff__buf_i64(b, ((const int8_t *)t->data)[i]);
    case SKIFF_DTYPE_UINT8: return skiff__buf_i64(b, ((const uint8_t *)t->data)[i]);
    case SKIFF_DTYPE_BOOL:
        return skiff__buf_lit(b, ((const uint8_t *)t->data)[i] ? "true" : "false");
    case SKIFF_DTYPE_STRING: return skiff__buf_cstr(b, ((char *const *)t->data)[i]);
    default: return skiff__buf_lit(b, "null");
    }
}

static bool print_result(const skiff_client_result_t *r)
{
    skiff__buf b = {0};
    bool ok = skiff__buf_char(&b, '{');
    for (int i = 0; ok && i < r->n_outputs; i++) {
        const skiff_client_output_t *o = &r->outputs[i];
        const skiff_tensor_t *t = o->tensor;
        ok = (!i || skiff__buf_char(&b, ',')) && skiff__buf_cstr(&b, o->name) &&
             skiff__buf_lit(&b, ":{\"dtype\":") &&
             skiff__buf_cstr(&b, skiff_dtype_name(t->dtype)) && skiff__buf_lit(&b, ",\"shape\":") &&
             skiff__buf_shape(&b, t->ndim, t->dims) && skiff__buf_lit(&b, ",\"data\":[");
        int64_t n = skiff_tensor_numel(t);
        for (int64_t k = 0; ok && k < n; k++)
            ok = (!k || skiff__buf_char(&b, ',')) && put_value(&b, t, k);
        ok = ok && skiff__buf_char(&b, ']');
        if (ok && o->lod)
            ok = skiff__buf_lit(&b, ",\"lod\":") && skiff__buf_lod(&b, o->lod, o->n_lod);
        ok = ok && skiff__buf_char(&b, '}');
    }
    ok = ok && skiff__buf_lit(&b, "}\n");
    if (ok)
        ok = fwrite(b.data, 1, b.len, stdout) == b.len && fflush(stdout) == 0;
    skiff__buf_free(&b);
    return ok;
}

/* ---- main ------------------------------------------------------------------------- */

int skiff__cmd_predict(int argc, char **argv)
{
    const char *conf = NULL, *endpoint = NULL, *protocol = "brpc", *fetch_arg = NULL, *model = NULL;
    const char *feed_args[MAX_FEEDS];
    int n_feed_args = 0;
    bool batch = false;
    int64_t timeout_ms = 0, log_id = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--batch")) {
            batch = true;
            continue;
        }
        const char *val = NULL;
        size_t al = strlen(a);
        const char *eq = strchr(a, '=');
        static const char *const opts[] = {"--client_conf", "--endpoint", "--protocol",
                                           "--feed",        "--fetch",    "--timeout_ms",
                                           "--log_id",      "--model"};
        int which = -1;
        for (int k = 0; k < (int)(sizeof(opts) / sizeof(opts[0])); k++) {
            size_t ol = strlen(opts[k]);
            if (!strncmp(a, opts[k], ol) && (al == ol || (eq && (size_t)(eq - a) == ol))) {
                which = k;
                val = al == ol ? (i + 1 < argc ? argv[++i] : NULL) : eq + 1;
                break;
            }
        }
        if (which < 0) {
            fprintf(stderr, "skiff predict: unknown option '%s' (see skiff predict --help)\n", a);
            return 2;
        }
        if (!val) {
            fprintf(stderr, "skiff predict: %s needs a value\n", opts[which]);
            return 2;
        }
        switch (which) {
        case 0: conf = val; break;
        case 1: endpoint = val; break;
        case 2: protocol = val; break;
        case 3:
            if (n_feed_args == MAX_FEEDS) {
                fprintf(stderr, "skiff predict: more than %d --feed\n", MAX_FEEDS);
                return 2;
            }
            feed_args[n_feed_args++] = val;
            break;
        case 4: fetch_arg = val; break;
        case 5:
        case 6:
            if (!skiff__parse_i64(val, which == 5 ? &timeout_ms : &log_id) ||
                (which == 5 && (timeout_ms <= 0 || timeout_ms > INT32_MAX)) || log_id < 0) {
                fprintf(stderr, "skiff predict: %s: '%s' is not a %s\n", opts[which], val,
                        which == 5 ? "positive number of milliseconds" : "non-negative integer");
                return 2;
            }
            break;
        default: model = val;
        }
    }
    if (!conf || !endpoint || n_feed_args == 0) {
        fprintf(stderr, "skiff predict: --client_conf, --endpoint and --feed are required (see "
                        "skiff predict --help)\n");
        return 2;
    }
    skiff_client_options_t o = {.timeout_ms = (int)timeout_ms, .model = model};
    if (!strcmp(protocol, "brpc"))
        o.transport = SKIFF_CLIENT_BRPC;
    else if (!strcmp(protocol, "http"))
        o.transport = SKIFF_CLIENT_HTTP_JSON;
    else if (!strcmp(protocol, "http_proto"))
        o.transport = SKIFF_CLIENT_HTTP_PROTO;
    else if (!strcmp(protocol, "grpc"))
        o.transport = SKIFF_CLIENT_GRPC;
    else {
        fprintf(stderr, "skiff predict: --protocol '%s': expected brpc, http, http_proto or grpc\n",
                protocol);
        return 2;
    }

    int rc = 1;
    skiff_client_t *client = NULL;
    skiff_client_result_t *res = NULL;
    skiff_client_feed_t feeds[MAX_FEEDS] = {0};
    char *names[MAX_FEEDS] = {0};
    int n_feeds = 0;
    const char *fetch[MAX_FETCH];
    int n_fetch = 0;
    char *fetch_copy = NULL;
    skiff_status_t *st = skiff_client_new(conf, endpoint, &o, &client);
    if (st) {
        fail(NULL, st);
        goto out;
    }
    for (int i = 0; i < n_feed_args; i++) {
        const char *a = feed_args[i], *eq = strchr(a, '=');
        if (!eq || eq == a) {
            fprintf(stderr, "skiff predict: --feed '%s': expected NAME=FILE.npy or NAME=JSON\n", a);
            goto out;
        }
        size_t nl = (size_t)(eq - a);
        bool is_lod = nl > 4 && !strncmp(eq - 4, ".lod", 4);
        size_t base = is_lod ? nl - 4 : nl;
        int k = 0;
        while (k < n_feeds && (strlen(names[k]) != base || strncmp(names[k], a, base)))
            k++;
        if (k == n_feeds) {
            names[k] = skiff__malloc(base + 1);
            if (!names[k]) {
                fprintf(stderr, "skiff predict: out of memory\n");
                goto out;
            }
            memcpy(names[k], a, base);
            names[k][base] = '\0';
            feeds[k].name = names[k];
            n_feeds++;
        }
        const char *v = eq + 1;
        char what[320];
        snprintf(what, sizeof(what), "--feed %.*s", (int)nl, a);
        if (is_lod) {
            int64_t *lod = NULL;
            int n_lod = 0;
            if (feeds[k].lod) {
                fprintf(stderr, "skiff predict: %s given twice\n", what);
                goto out;
            }
            if ((st = json_lod(v, &lod, &n_lod))) {
                fail(what, st);
                goto out;
            }
            feeds[k].lod = lod;
            feeds[k].n_lod = n_lod;
            continue;
        }
        if (feeds[k].tensor) {
            fprintf(stderr, "skiff predict: %s given twice\n", what);
            goto out;
        }
        skiff_tensor_t *t = NULL;
        size_t vl = strlen(v);
        bool npy = vl > 4 && !strcmp(v + vl - 4, ".npy");
        st = npy ? skiff__npy_read_file(v, &t) : json_tensor(v, &t);
        if (st) {
            fail(what, st);
            goto out;
        }
        feeds[k].tensor = t;
    }
    for (int k = 0; k < n_feeds; k++)
        if (!feeds[k].tensor) {
            fprintf(stderr, "skiff predict: --feed %s.lod without --feed %s\n", names[k], names[k]);
            goto out;
        }
    if (fetch_arg) {
        if (!(fetch_copy = skiff__strdup(fetch_arg))) {
            fprintf(stderr, "skiff predict: out of memory\n");
            goto out;
        }
        for (char *save = NULL, *tok = strtok_r(fetch_copy, ",", &save); tok && n_fetch < MAX_FETCH;
             tok = strtok_r(NULL, ",", &save))
            fetch[n_fetch++] = tok;
    }
    skiff_client_call_t call = {.batch = batch, .log_id = (uint64_t)log_id};
    st = skiff_client_predict(client, feeds, n_feeds, n_fetch ? fetch : NULL, n_fetch, &call, &res);
    if (st) {
        fail(NULL, st);
        goto out;
    }
    if (!print_result(res)) {
        fprintf(stderr, "skiff predict: cannot write the answer\n");
        goto out;
    }
    rc = 0;
out:
    for (int k = 0; k < n_feeds; k++) {
        skiff_tensor_free((skiff_tensor_t *)feeds[k].tensor);
        skiff__free((int64_t *)feeds[k].lod);
        skiff__free(names[k]);
    }
    skiff__free(fetch_copy);
    skiff_client_result_free(res);
    skiff_client_free(client);
    return rc;
}
