/* client.c - skiff_client_*: Paddle Serving's Client semantics over skiff's
 * codecs.
 *
 * A call builds the request's tensors from the feeds against the client conf
 * (aliases to names, the conf's types, the batch dim and LoD the way
 * paddle_serving_client does), encodes it once per endpoint tried, and walks
 * the endpoints from the next one in turn: a connection that cannot be made,
 * breaks, or stays silent past the timeout moves the call on; the server's
 * own error ends it. The answer's tensors are moved, not copied, into the
 * result. The client object is read-only after skiff_client_new except for
 * two atomic counters and the per-endpoint pools (client_net.c), which is
 * what makes one client usable from many threads. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client_int.h"
#include "core/core.h"

struct skiff_client {
    skiff__model_conf *conf;
    skiff__client_ep *eps;
    int n_eps;
    skiff__client_wire wire;
    char *model;
    int timeout_ms;
    atomic_uint next;
    atomic_llong correlation;
};

static pthread_once_t codec_once = PTHREAD_ONCE_INIT;
static void codec_init(void) { skiff__codec_init(); }

static skiff_status_t *oom(void)
{
    return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
}

/* ---- conf ------------------------------------------------------------------------ */

static skiff_status_t *read_conf(const char *path, skiff__model_conf **out)
{
    struct stat sb;
    if (!path || !path[0])
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "no client conf given");
    if (stat(path, &sb) != 0)
        return skiff_status_new(SKIFF_CODE_NOT_FOUND, "client conf '%s': no such file or directory",
                                path);
    if (!S_ISDIR(sb.st_mode))
        return skiff__model_conf_read_file(path, out);
    skiff__buf p = {0};
    if (!skiff__buf_printf(&p, "%s/serving_client_conf.prototxt%c", path, '\0'))
        return oom();
    skiff_status_t *st = NULL;
    if (stat((const char *)p.data, &sb) != 0)
        st = skiff_status_new(SKIFF_CODE_NOT_FOUND,
                              "client conf: directory '%s' has no serving_client_conf.prototxt",
                              path);
    else
        st = skiff__model_conf_read_file((const char *)p.data, out);
    skiff__buf_free(&p);
    return st;
}

skiff_status_t *skiff_client_new(const char *conf_path, const char *endpoints,
                                 const skiff_client_options_t *options, skiff_client_t **out_client)
{
    if (!out_client)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "skiff_client_new: out_client is NULL");
    *out_client = NULL;
    skiff_client_options_t o = options ? *options : (skiff_client_options_t){0};
    if (o.transport != SKIFF_CLIENT_BRPC && o.transport != SKIFF_CLIENT_HTTP_PROTO &&
        o.transport != SKIFF_CLIENT_HTTP_JSON && o.transport != SKIFF_CLIENT_GRPC)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "unknown transport %d", (int)o.transport);
    if (o.timeout_ms < 0 || o.max_idle_per_endpoint < 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "timeout_ms and max_idle_per_endpoint must not be negative");
    pthread_once(&codec_once, codec_init);
    skiff_client_t *c = skiff__calloc(1, sizeof(*c));
    if (!c)
        return oom();
    c->timeout_ms = o.timeout_ms ? o.timeout_ms : SKIFF__CLIENT_DEFAULT_TIMEOUT_MS;
    c->wire = (skiff__client_wire){.transport = o.transport, .gzip = o.gzip};
    skiff_status_t *st = read_conf(conf_path, &c->conf);
    if (!st && o.model && !(c->model = skiff__strdup(o.model)))
        st = oom();
    c->wire.model = c->model;
    if (!st)
        st = skiff__client_eps_parse(endpoints,
                                     o.max_idle_per_endpoint ? o.max_idle_per_endpoint
                                                             : SKIFF__CLIENT_DEFAULT_MAX_IDLE,
                                     &c->eps, &c->n_eps);
    if (st) {
        skiff_client_free(c);
        return st;
    }
    *out_client = c;
    return NULL;
}

void skiff_client_free(skiff_client_t *c)
{
    if (!c)
        return;
    skiff__client_eps_free(c->eps, c->n_eps);
    skiff__model_conf_free(c->conf);
    skiff__free(c->model);
    skiff__free(c);
}

int skiff_client_feed_count(const skiff_client_t *c) { return c ? c->conf->n_feed : 0; }
int skiff_client_fetch_count(const skiff_client_t *c) { return c ? c->conf->n_fetch : 0; }

const char *skiff_client_feed_name(const skiff_client_t *c, int i)
{
    return c && i >= 0 && i < c->conf->n_feed ? c->conf->feed[i].alias_name : NULL;
}

const char *skiff_client_fetch_name(const skiff_client_t *c, int i)
{
    return c && i >= 0 && i < c->conf->n_fetch ? c->conf->fetch[i].alias_name : NULL;
}

/* ---- feeds -> request tensors ----------------------------------------------------- */

static bool is_int(skiff_dtype_t t)
{
    switch (t) {
    case SKIFF_DTYPE_UINT8:
    case SKIFF_DTYPE_INT8:
    case SKIFF_DTYPE_UINT16:
    case SKIFF_DTYPE_INT16:
    case SKIFF_DTYPE_INT32:
    case SKIFF_DTYPE_INT64:
    case SKIFF_DTYPE_UINT32:
    case SKIFF_DTYPE_UINT64:
    case SKIFF_DTYPE_BOOL: return true;
    default: return false;
    }
}

static bool is_float(skiff_dtype_t t)
{
    return t == SKIFF_DTYPE_FLOAT32 || t == SKIFF_DTYPE_FLOAT64;
}

static int64_t get_i(const void *d, skiff_dtype_t t, int64_t i)
{
    switch (t) {
    case SKIFF_DTYPE_UINT8: return ((const uint8_t *)d)[i];
    case SKIFF_DTYPE_BOOL: return ((const uint8_t *)d)[i] != 0;
    case SKIFF_DTYPE_INT8: return ((const int8_t *)d)[i];
    case SKIFF_DTYPE_UINT16: return ((const uint16_t *)d)[i];
    case SKIFF_DTYPE_INT16: return ((const int16_t *)d)[i];
    case SKIFF_DTYPE_INT32: return ((const int32_t *)d)[i];
    case SKIFF_DTYPE_UINT32: return ((const uint32_t *)d)[i];
    case SKIFF_DTYPE_UINT64: return (int64_t)((const uint64_t *)d)[i];
    default: return ((const int64_t *)d)[i];
    }
}

static double get_f(const void *d, skiff_dtype_t t, int64_t i)
{
    if (t == SKIFF_DTYPE_FLOAT32)
        return ((const float *)d)[i];
    if (t == SKIFF_DTYPE_FLOAT64)
        return ((const double *)d)[i];
    return (double)get_i(d, t, i);
}

static void put(void *d, skiff_dtype_t t, int64_t i, int64_t iv, double fv, bool as_float)
{
    switch (t) {
    case SKIFF_DTYPE_FLOAT32: ((float *)d)[i] = as_float ? (float)fv : (float)iv; break;
    case SKIFF_DTYPE_FLOAT64: ((double *)d)[i] = as_float ? fv : (double)iv; break;
    case SKIFF_DTYPE_UINT8: ((uint8_t *)d)[i] = (uint8_t)(as_float ? (int64_t)fv : iv); break;
    case SKIFF_DTYPE_BOOL: ((uint8_t *)d)[i] = (as_float ? fv != 0 : iv != 0); break;
    case SKIFF_DTYPE_INT8: ((int8_t *)d)[i] = (int8_t)(as_float ? (int64_t)fv : iv); break;
    case SKIFF_DTYPE_INT16: ((int16_t *)d)[i] = (int16_t)(as_float ? (int64_t)fv : iv); break;
    case SKIFF_DTYPE_INT32: ((int32_t *)d)[i] = (int32_t)(as_float ? (int64_t)fv : iv); break;
    default: ((int64_t *)d)[i] = as_float ? (int64_t)fv : iv; break;
    }
}

static bool take_tensor(skiff__client_req *r, skiff_tensor_t *t)
{
    skiff_tensor_t **o = skiff__realloc(r->owned, sizeof(*o) * (size_t)(r->n_inputs + 1));
    if (!o) {
        skiff_tensor_free(t);
        return false;
    }
    r->owned = o;
    o[r->n_inputs] = t;
    return true;
}

/* The value of one feed var as it goes on the wire (Paddle Client._one_var). */
static skiff_status_t *one_var(const skiff__conf_var *v, const skiff_client_feed_t *f, bool batch,
                               skiff__client_req *r)
{
    const skiff_tensor_t *t = f->tensor;
    if (!t)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "feed '%s': no tensor", v->alias_name);
    skiff_dtype_t want = v->type == 20 ? SKIFF_DTYPE_STRING : skiff__paddle_type_dtype(v->type);
    if (want == SKIFF_DTYPE_UNDEFINED)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "feed '%s': conf type %d is not supported",
                                v->alias_name, v->type);
    int64_t numel = skiff_tensor_numel(t);
    if (numel < 0 || t->ndim < 0 || t->ndim > SKIFF_MAX_DIMS)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "feed '%s': bad shape", v->alias_name);
    if ((want == SKIFF_DTYPE_STRING) != (t->dtype == SKIFF_DTYPE_STRING) ||
        (want != SKIFF_DTYPE_STRING && !is_int(t->dtype) && !is_float(t->dtype)))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "feed '%s': the conf takes %s, got %s",
                                v->alias_name, skiff_dtype_name(want), skiff_dtype_name(t->dtype));
    if (numel > 0 && !t->data)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "feed '%s': tensor without data",
                                v->alias_name);

    /* the shape to send, and the LoD */
    int ndim = 0;
    int64_t dims[SKIFF_MAX_DIMS];
    int64_t *lod = NULL;
    int n_lod = 0;
    if (f->lod && f->n_lod > 0) {
        if (t->ndim <= 1) {
            ndim = 2;
            dims[0] = numel;
            dims[1] = 1;
        } else {
            ndim = t->ndim;
            memcpy(dims, t->dims, sizeof(int64_t) * (size_t)ndim);
        }
        lod = skiff__malloc(sizeof(int64_t) * (size_t)f->n_lod);
        if (!lod)
            return oom();
        memcpy(lod, f->lod, sizeof(int64_t) * (size_t)f->n_lod);
        n_lod = f->n_lod;
    } else if (v->is_lod_tensor) {
        if (!batch || t->ndim <= 1) {
            if (t->ndim <= 1) {
                ndim = 2;
                dims[0] = numel;
                dims[1] = 1;
            } else {
                ndim = t->ndim;
                memcpy(dims, t->dims, sizeof(int64_t) * (size_t)ndim);
            }
            n_lod = 2;
            lod = skiff__malloc(sizeof(int64_t) * 2);
            if (!lod)
                return oom();
            lod[0] = 0;
            lod[1] = dims[0];
        } else {
            int64_t n_seq = t->dims[0], len = t->dims[1];
            ndim = t->ndim > 2 ? t->ndim - 1 : 2;
            dims[0] = n_seq * len;
            if (t->ndim > 2)
                memcpy(dims + 1, t->dims + 2, sizeof(int64_t) * (size_t)(t->ndim - 2));
            else
                dims[1] = 1;
            if (n_seq < 0 || n_seq > INT32_MAX - 1)
                return skiff_status_new(SKIFF_CODE_INVALID_ARG, "feed '%s': too many sequences",
                                        v->alias_name);
            n_lod = (int)n_seq + 1;
            lod = skiff__malloc(sizeof(int64_t) * (size_t)n_lod);
            if (!lod)
                return oom();
            for (int64_t i = 0; i <= n_seq; i++)
                lod[i] = len * i;
        }
    } else if (!batch) {
        if (t->ndim + 1 > SKIFF_MAX_DIMS)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "feed '%s': rank %d is too high",
                                    v->alias_name, t->ndim);
        ndim = t->ndim + 1;
        dims[0] = 1;
        memcpy(dims + 1, t->dims, sizeof(int64_t) * (size_t)t->ndim);
    } else {
        if (t->ndim == 0)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "feed '%s': batch is set but the tensor is a scalar",
                                    v->alias_name);
        ndim = t->ndim;
        memcpy(dims, t->dims, sizeof(int64_t) * (size_t)ndim);
    }

    skiff_tensor_t *w = NULL;
    skiff_status_t *st;
    if (t->dtype == want) {
        st = skiff_tensor_wrap(want, ndim, dims, t->data, t->nbytes, &w);
    } else {
        st = skiff_tensor_new(want, ndim, dims, &w);
        if (!st) {
            bool as_float = is_float(t->dtype);
            for (int64_t i = 0; i < numel; i++)
                put(w->data, want, i, as_float ? 0 : get_i(t->data, t->dtype, i),
                    as_float ? get_f(t->data, t->dtype, i) : 0.0, as_float);
        }
    }
    if (st) {
        skiff__free(lod);
        return st;
    }
    if (!take_tensor(r, w)) {
        skiff__free(lod);
        return oom();
    }
    r->owned_lod[r->n_inputs] = lod;
    r->inputs[r->n_inputs++] = (skiff__infer_output){
        .name = v->name, .alias = v->alias_name, .tensor = w, .lod = lod, .n_lod = n_lod};
    return NULL;
}

void skiff__client_req_free(skiff__client_req *r)
{
    for (int i = 0; i < r->n_inputs; i++) {
        skiff_tensor_free(r->owned ? r->owned[i] : NULL);
        skiff__free(r->owned_lod ? r->owned_lod[i] : NULL);
    }
    skiff__free(r->owned);
    skiff__free(r->owned_lod);
    skiff__free(r->inputs);
    skiff__free(r->fetch);
    *r = (skiff__client_req){0};
}

skiff_status_t *skiff__client_req_build(const skiff__model_conf *conf,
                                        const skiff_client_feed_t *feeds, int n_feeds,
                                        const char *const *fetch, int n_fetch, bool batch,
                                        skiff__client_req *out)
{
    *out = (skiff__client_req){0};
    if (n_feeds < 0 || (n_feeds > 0 && !feeds) || n_fetch < 0 || (n_fetch > 0 && !fetch))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "predict: feeds or fetch are NULL");
    for (int i = 0; i < n_feeds; i++) {
        int k = 0;
        while (k < conf->n_feed &&
               (!feeds[i].name || strcmp(conf->feed[k].alias_name, feeds[i].name)))
            k++;
        if (k == conf->n_feed)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "Wrong feed name: '%.96s' is not a feed var of the conf",
                                    feeds[i].name ? feeds[i].name : "(null)");
    }
    int nf = conf->n_feed;
    out->inputs = skiff__calloc((size_t)(nf ? nf : 1), sizeof(*out->inputs));
    out->owned_lod = skiff__calloc((size_t)(nf ? nf : 1), sizeof(*out->owned_lod));
    int cap = n_fetch ? n_fetch : conf->n_fetch;
    out->fetch = skiff__calloc((size_t)(cap ? cap : 1), sizeof(*out->fetch));
    if (!out->inputs || !out->owned_lod || !out->fetch) {
        skiff__client_req_free(out);
        return oom();
    }
    skiff_status_t *st = NULL;
    for (int k = 0; k < nf && !st; k++) {
        const skiff__conf_var *v = &conf->feed[k];
        const skiff_client_feed_t *f = NULL;
        for (int i = 0; i < n_feeds && !f; i++)
            if (!strcmp(feeds[i].name, v->alias_name))
                f = &feeds[i];
        st = f ? one_var(v, f, batch, out)
               : skiff_status_new(SKIFF_CODE_INVALID_ARG, "predict: feed '%s' is missing",
                                  v->alias_name);
    }
    /* fetch: the names of the conf's fetch list, others dropped (Paddle's filter) */
    if (!st && n_fetch == 0) {
        for (int k = 0; k < conf->n_fetch; k++)
            out->fetch[out->n_fetch++] = conf->fetch[k].alias_name;
    } else if (!st) {
        for (int i = 0; i < n_fetch; i++)
            for (int k = 0; fetch[i] && k < conf->n_fetch; k++)
                if (!strcmp(fetch[i], conf->fetch[k].alias_name)) {
                    out->fetch[out->n_fetch++] = conf->fetch[k].alias_name;
                    break;
                }
        if (out->n_fetch == 0) {
            skiff__buf names = {0};
            for (int k = 0; k < conf->n_fetch; k++)
                (void)skiff__buf_printf(&names, "%s'%s'", k ? ", " : "", conf->fetch[k].alias_name);
            (void)skiff__buf_char(&names, '\0');
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                  "Fetch names should not be empty or out of saved fetch list "
                                  "(the conf has %s)",
                                  names.data ? (const char *)names.data : "none");
            skiff__buf_free(&names);
        }
    }
    if (st)
        skiff__client_req_free(out);
    return st;
}

/* ---- answer -> result ------------------------------------------------------------- */

void skiff_client_result_free(skiff_client_result_t *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n_outputs; i++) {
        skiff__free((char *)r->outputs[i].name);
        skiff_tensor_free(r->outputs[i].tensor);
        skiff__free((int64_t *)r->outputs[i].lod);
    }
    skiff__free(r->outputs);
    skiff__free(r);
}

const skiff_client_output_t *skiff_client_result_find(const skiff_client_result_t *r,
                                                      const char *name)
{
    if (!r || !name)
        return NULL;
    for (int i = 0; i < r->n_outputs; i++)
        if (!strcmp(r->outputs[i].name, name))
            return &r->outputs[i];
    return NULL;
}

skiff_status_t *skiff__client_result_build(const skiff__model_conf *conf, skiff__infer_request *ans,
                                           const char *const *fetch, int n_fetch,
                                           skiff_client_result_t **out)
{
    *out = NULL;
    skiff_client_result_t *r = skiff__calloc(1, sizeof(*r));
    if (!r || !(r->outputs = skiff__calloc((size_t)(ans->n_inputs ? ans->n_inputs : 1),
                                           sizeof(*r->outputs)))) {
        skiff__free(r);
        return oom();
    }
    for (int i = 0; i < ans->n_inputs; i++) {
        skiff__infer_input *in = &ans->inputs[i];
        const char *alias = NULL;
        for (int k = 0; k < conf->n_fetch && !alias; k++)
            if (!strcmp(in->name, conf->fetch[k].alias_name))
                alias = conf->fetch[k].alias_name;
        for (int k = 0; k < conf->n_fetch && !alias; k++)
            if (!strcmp(in->name, conf->fetch[k].name))
                alias = conf->fetch[k].alias_name;
        if (!alias)
            alias = in->name;
        bool wanted = n_fetch == 0;
        for (int k = 0; k < n_fetch && !wanted; k++)
            wanted = !strcmp(fetch[k], alias);
        if (!wanted)
            continue;
        skiff_client_output_t *o = &r->outputs[r->n_outputs];
        skiff_status_t *st = NULL;
        if (!(o->name = skiff__strdup(alias)))
            st = oom();
        else if (ans->packed || !(in->tensor->flags & SKIFF_TENSOR_OWNS_DATA))
            st = skiff_tensor_clone(in->tensor, &o->tensor);
        else {
            o->tensor = in->tensor; /* moved */
            in->tensor = NULL;
        }
        if (!st && in->lod && in->n_lod > 0) {
            if (ans->packed) {
                int64_t *l = skiff__malloc(sizeof(int64_t) * (size_t)in->n_lod);
                if (l)
                    memcpy(l, in->lod, sizeof(int64_t) * (size_t)in->n_lod);
                else
                    st = oom();
                o->lod = l;
            } else {
                o->lod = in->lod;
                in->lod = NULL;
            }
            o->n_lod = in->n_lod;
        }
        r->n_outputs++;
        if (st) {
            skiff_client_result_free(r);
            return st;
        }
    }
    r->log_id = ans->log_id;
    *out = r;
    return NULL;
}

/* ---- a call ----------------------------------------------------------------------- */

/* One try on one endpoint: a connection, the request, the answer. A connection
 * that closes or breaks before any byte of the answer gives STALE, and the call
 * goes once more on a fresh connection: a kept one the server has closed, a
 * server draining after SIGTERM (it closes rather than run the call), or, behind
 * a load balancer, a replica gone mid-call, even on a connection just opened.
 * Inference has no side effects, so the resend is safe (brpc's client does the
 * same). */
static skiff__client_fail exchange(skiff_client_t *c, skiff__client_ep *ep, const skiff__buf *req,
                                   int64_t corr, uint64_t deadline, skiff__infer_request **out_ans,
                                   skiff_status_t **out_st)
{
    skiff__client_fail fail = SKIFF__CLIENT_NET;
    bool reused = false;
    *out_ans = NULL;
    skiff__client_conn conn = skiff__client_conn_get(ep, deadline, &reused, out_st, &fail);
    int fd = conn.fd;
    if (fd < 0)
        return fail;
    skiff_status_t *st = skiff__client_send(fd, req->data, req->len, deadline, &fail);
    if (st) {
        close(fd);
        *out_st = st;
        return fail == SKIFF__CLIENT_NET ? SKIFF__CLIENT_STALE : fail;
    }
    skiff__client_reader rd;
    if ((st = skiff__client_reader_init(&rd, &c->wire, corr))) {
        close(fd);
        *out_st = st;
        return SKIFF__CLIENT_ANSWERED; /* out of memory: no point in another endpoint */
    }
    char buf[65536];
    size_t got = 0;
    while (!rd.done) {
        size_t n = 0;
        if ((st = skiff__client_recv(fd, buf, sizeof(buf), deadline, &n, &fail))) {
            /* A reset before any byte of the answer is a break like a close. */
            if (fail == SKIFF__CLIENT_NET && got == 0)
                fail = SKIFF__CLIENT_STALE;
            break;
        }
        if ((st = skiff__client_reader_feed(&rd, buf, n))) {
            fail = SKIFF__CLIENT_BROKEN;
            break;
        }
        got += n;
        if (n == 0 && !rd.done) {
            fail = got == 0 ? SKIFF__CLIENT_STALE : SKIFF__CLIENT_NET;
            st = skiff_status_new(SKIFF_CODE_UNAVAILABLE, "connection closed by the server %s",
                                  got ? "mid-answer" : "before answering");
            break;
        }
    }
    if (!st) {
        bool answered = false;
        st = skiff__client_reader_decode(&rd, out_ans, &answered);
        fail = !st ? SKIFF__CLIENT_OK : answered ? SKIFF__CLIENT_ANSWERED : SKIFF__CLIENT_BROKEN;
        if (fail != SKIFF__CLIENT_BROKEN && rd.keep_alive) {
            skiff__client_conn_put(ep, conn);
            fd = -1;
        }
    }
    if (fd >= 0)
        close(fd);
    skiff__client_reader_free(&rd);
    *out_st = st;
    return fail;
}

skiff_status_t *skiff_client_predict(skiff_client_t *c, const skiff_client_feed_t *feeds,
                                     int n_feeds, const char *const *fetch, int n_fetch,
                                     const skiff_client_call_t *call,
                                     skiff_client_result_t **out_result)
{
    if (!c || !out_result)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "skiff_client_predict: client or out_result is NULL");
    *out_result = NULL;
    skiff_client_call_t k = call ? *call : (skiff_client_call_t){0};
    if (k.timeout_ms < 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "timeout_ms must not be negative");
    int timeout_ms = k.timeout_ms ? k.timeout_ms : c->timeout_ms;
    skiff__client_req req;
    skiff_status_t *st =
        skiff__client_req_build(c->conf, feeds, n_feeds, fetch, n_fetch, k.batch, &req);
    if (st)
        return st;
    skiff__request_out ro = {.inputs = req.inputs,
                             .n_inputs = req.n_inputs,
                             .fetch = req.fetch,
                             .n_fetch = req.n_fetch,
                             .log_id = k.log_id,
                             .model = c->model};
    unsigned start = atomic_fetch_add(&c->next, 1u);
    skiff__buf bytes = {0}, errors = {0};
    skiff_code_t code = SKIFF_CODE_OK;
    bool mixed = false;
    skiff__infer_request *ans = NULL;
    for (int e = 0; e < c->n_eps && !ans && !st; e++) {
        skiff__client_ep *ep = &c->eps[(start + (unsigned)e) % (unsigned)c->n_eps];
        for (int attempt = 0; attempt < 2; attempt++) {
            int64_t corr = atomic_fetch_add(&c->correlation, 1) + 1;
            skiff__buf_reset(&bytes);
            skiff_status_t *tst =
                skiff__client_encode(&c->wire, &ro, corr, timeout_ms, ep->label, &bytes);
            if (tst) {
                st = tst;
                break;
            }
            uint64_t deadline = skiff__now_ns() + (uint64_t)timeout_ms * 1000000u;
            skiff__client_fail f = c->wire.transport == SKIFF_CLIENT_GRPC
                                       ? skiff__client_grpc_exchange(
                                             ep, &c->wire, &bytes, timeout_ms, deadline, &ans, &tst)
                                       : exchange(c, ep, &bytes, corr, deadline, &ans, &tst);
            if (f == SKIFF__CLIENT_OK)
                break;
            if (f == SKIFF__CLIENT_ANSWERED) {
                st = tst;
                break;
            }
            if (f == SKIFF__CLIENT_STALE && attempt == 0) {
                skiff_status_free(tst);
                continue;
            }
            skiff_code_t tc = f == SKIFF__CLIENT_TIMEOUT  ? SKIFF_CODE_DEADLINE_EXCEEDED
                              : f == SKIFF__CLIENT_BROKEN ? SKIFF_CODE_INTERNAL
                                                          : SKIFF_CODE_UNAVAILABLE;
            mixed = mixed || (code != SKIFF_CODE_OK && code != tc);
            code = tc;
            (void)skiff__buf_printf(&errors, "%s%s: %s%s", errors.len ? "; " : "", ep->label,
                                    skiff_status_message(tst),
                                    f == SKIFF__CLIENT_TIMEOUT ? " (timeout)" : "");
            skiff_status_free(tst);
            break;
        }
    }
    if (!st && !ans) {
        (void)skiff__buf_char(&errors, '\0');
        st = skiff_status_new(mixed ? SKIFF_CODE_UNAVAILABLE : code,
                              "no endpoint answered (timeout %d ms): %s", timeout_ms,
                              errors.data ? (const char *)errors.data : "out of memory");
    }
    if (!st)
        st = skiff__client_result_build(c->conf, ans, req.fetch, req.n_fetch, out_result);
    if (!st)
        (*out_result)->log_id = k.log_id;
    skiff__infer_request_free(ans);
    skiff__buf_free(&bytes);
    skiff__buf_free(&errors);
    skiff__client_req_free(&req);
    return st;
}
