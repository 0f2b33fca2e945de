/* pipeline.c - the DAG runtime behind pipeline.h.
 *
 * Each op has a bounded queue and `concurrency` threads. A request (preq)
 * keeps, per op, the count of input ops not yet done and, once the op ran,
 * its output values. An op's thread takes a request from its queue, runs
 * the op, and counts it done in each op that reads it, queueing those whose
 * count reaches zero. Every op of the DAG is counted once per request, run
 * or skipped (after an error upstream), so the request finishes exactly once:
 * when the last op is counted, the answer is built and done() called.
 *
 * Queues are bounded (channel_size, or DEFAULT_QUEUE): a submit that finds a
 * first op's queue full is refused at once (overload), while an op thread
 * handing on to a full queue waits for room; the graph has no cycles, so the
 * last ops always drain.
 *
 * A local op runs its model through the servable's interface: inline on the
 * op thread when an instance is idle, else queued to the model's scheduler
 * with the op thread waiting for it, so the model's batching and instance
 * limits hold across the pipeline and its direct clients alike.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/core.h"
#include "pipeline/pipeline.h"
#include "pipeline/plugin.h"
#include "pipeline/pyop.h"
#include "skiff/client.h"
#include "vision/steps.h"

#define DEFAULT_QUEUE 1024
#define MAX_STEP_IO 8
/* An op whose runs average under INLINE_MAX_NS (measured over its first
 * INLINE_AFTER runs and on) runs on the thread that has the request in hand
 * (a front end's I/O thread, or the thread of the op before it) when it has
 * a free slot and nothing queued: two thread hand-offs cost more than such an
 * op. Python and remote ops always run on their own threads. */
#define INLINE_MAX_NS 250000ull
#define INLINE_AFTER 8

const double skiff__pipe_bounds_s[12] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                         0.01,   0.025,   0.05,   0.1,   1.0,    10.0};

/* ---- values ------------------------------------------------------------------------------ */

static void val_unref(skiff__pipe_val *v)
{
    if (v && atomic_fetch_sub(&v->refs, 1) == 1) {
        skiff_tensor_free(v->t);
        skiff__free(v->lod);
        skiff__free(v);
    }
}

static skiff__pipe_val *val_ref(skiff__pipe_val *v)
{
    atomic_fetch_add(&v->refs, 1);
    return v;
}

static skiff_status_t *oom(void)
{
    return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
}

/* Sets name to v (a reference handed over, also on error). */
static skiff_status_t *dict_set(skiff__pipe_dict *d, const char *name, size_t len,
                                skiff__pipe_val *v, bool produced)
{
    for (int i = 0; i < d->n; i++)
        if (strlen(d->vars[i].name) == len && !memcmp(d->vars[i].name, name, len)) {
            val_unref(d->vars[i].v);
            d->vars[i].v = v;
            d->vars[i].produced = produced;
            return NULL;
        }
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 8;
        skiff__pipe_var *nv = skiff__realloc(d->vars, sizeof(*nv) * (size_t)cap);
        if (!nv) {
            val_unref(v);
            return oom();
        }
        d->vars = nv;
        d->cap = cap;
    }
    char *n = skiff__malloc(len + 1);
    if (!n) {
        val_unref(v);
        return oom();
    }
    memcpy(n, name, len);
    n[len] = '\0';
    d->vars[d->n++] = (skiff__pipe_var){.name = n, .v = v, .produced = produced};
    return NULL;
}

static skiff_status_t *new_val(skiff_tensor_t *t, const int64_t *lod, int n_lod,
                               skiff__pipe_val **out)
{
    *out = NULL;
    skiff__pipe_val *v = skiff__calloc(1, sizeof(*v));
    if (!v) {
        skiff_tensor_free(t);
        return oom();
    }
    if (lod && n_lod > 0) {
        v->lod = skiff__malloc(sizeof(int64_t) * (size_t)n_lod);
        if (!v->lod) {
            skiff__free(v);
            skiff_tensor_free(t);
            return oom();
        }
        memcpy(v->lod, lod, sizeof(int64_t) * (size_t)n_lod);
        v->n_lod = n_lod;
    }
    atomic_init(&v->refs, 1);
    v->t = t;
    *out = v;
    return NULL;
}

skiff_status_t *skiff__pipe_dict_set(skiff__pipe_dict *d, const char *name, skiff__pipe_val *v)
{
    return dict_set(d, name, strlen(name), v, true);
}

void skiff__pipe_val_ref(skiff__pipe_val *v) { val_ref(v); }

void skiff__pipe_val_unref(skiff__pipe_val *v) { val_unref(v); }

skiff_status_t *skiff__pipe_dict_put(skiff__pipe_dict *d, const char *name, size_t name_len,
                                     skiff_tensor_t *t, const int64_t *lod, int n_lod)
{
    skiff__pipe_val *v;
    skiff_status_t *st = new_val(t, lod, n_lod, &v);
    return st ? st : dict_set(d, name, name_len, v, true);
}

skiff_status_t *skiff__pipe_dict_put_str(skiff__pipe_dict *d, const char *name, size_t name_len,
                                         const char *s, size_t n)
{
    skiff_tensor_t *t;
    skiff_status_t *st = skiff_tensor_new(SKIFF_DTYPE_STRING, 0, NULL, &t);
    if (st)
        return st;
    char *copy = skiff__malloc(n + 1);
    if (!copy) {
        skiff_tensor_free(t);
        return oom();
    }
    memcpy(copy, s, n);
    copy[n] = '\0';
    ((char **)t->data)[0] = copy;
    return skiff__pipe_dict_put(d, name, name_len, t, NULL, 0);
}

const skiff__pipe_var *skiff__pipe_dict_get(const skiff__pipe_dict *d, const char *name)
{
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->vars[i].name, name))
            return &d->vars[i];
    return NULL;
}

void skiff__pipe_dict_clear(skiff__pipe_dict *d)
{
    for (int i = 0; i < d->n; i++) {
        skiff__free(d->vars[i].name);
        val_unref(d->vars[i].v);
    }
    d->n = 0;
}

void skiff__pipe_dict_free(skiff__pipe_dict *d)
{
    skiff__pipe_dict_clear(d);
    skiff__free(d->vars);
    *d = (skiff__pipe_dict){0};
}

/* ---- the pipeline ------------------------------------------------------------------------ */

typedef struct preq preq;

typedef struct pstep {
    skiff__step *s;
    const skiff__pipe_step *conf;
} pstep;

typedef struct pop {
    struct skiff__pipeline *p;
    const skiff__pipe_op_conf *conf;
    int index;
    int *succ; /* ops that read this one */
    int n_succ;
    int *inputs; /* op indices, input_ops order */
    int n_inputs;
    pstep *pre, *post;
    skiff__servable *sv;
    const skiff__model_desc *d;
    bool *want;             /* [n_fetch] from fetch_list; NULL: every output */
    void *py;               /* a Python op (pyop.h), or NULL */
    skiff__plugin *plug;    /* a C plugin op (plugin.h), or NULL */
    skiff_client_t *client; /* a remote op's client (server_endpoints), or NULL */

    pthread_t *th;
    int n_th;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_room;
    preq **q; /* ring of cap */
    int qcap, qhead, qlen;
    bool stop;

    _Atomic uint64_t ok, failed, sum_ns;
    _Atomic uint64_t le[12];
    pthread_mutex_t jmu; /* guards jobs: the model's jobs kept for reuse */
    skiff__job *jobs[8];
    int n_jobs;
    _Atomic int busy;        /* threads running the op now (its own or inline) */
    _Atomic uint64_t runs;   /* runs measured */
    _Atomic uint64_t avg_ns; /* moving average of a run */
} pop;

struct skiff__pipeline {
    const skiff__pipe_conf *conf;
    pop *ops;
    int n_ops;
    int *roots; /* ops without input ops */
    int n_roots;
    bool *leaf; /* [n_ops] no op reads it */
    /* dag.tracer.interval_s: a thread logging each op's figures */
    pthread_t tracer;
    bool tracer_started, tracer_stop;
    pthread_mutex_t tmu;
    pthread_cond_t tcv;
};

/* The tracer: every interval, per op, what happened since the last line
 * (Paddle's tracer reports the same: query count, QPS, success, latency,
 * and each op's queue). */
static void *tracer_main(void *arg)
{
    skiff__pipeline *p = arg;
    pthread_setname_np(pthread_self(), "sk-tracer");
    int64_t every = p->conf->tracer_interval_s;
    uint64_t *last = skiff__calloc((size_t)p->n_ops * 3, sizeof(uint64_t));
    if (!last)
        return NULL;
    pthread_mutex_lock(&p->tmu);
    while (!p->tracer_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += every;
        while (!p->tracer_stop && pthread_cond_timedwait(&p->tcv, &p->tmu, &ts) != ETIMEDOUT)
            ;
        if (p->tracer_stop)
            break;
        pthread_mutex_unlock(&p->tmu);
        for (int i = 0; i < p->n_ops; i++) {
            pop *o = &p->ops[i];
            uint64_t ok = atomic_load(&o->ok), bad = atomic_load(&o->failed),
                     ns = atomic_load(&o->sum_ns);
            uint64_t dok = ok - last[3 * i], dbad = bad - last[3 * i + 1],
                     dns = ns - last[3 * i + 2];
            last[3 * i] = ok;
            last[3 * i + 1] = bad;
            last[3 * i + 2] = ns;
            pthread_mutex_lock(&o->mu);
            int qlen = o->qlen;
            pthread_mutex_unlock(&o->mu);
            uint64_t n = dok + dbad;
            skiff_log(SKIFF_LOG_INFO,
                      "tracer: op %s: query count %llu, QPS %.2f q/s, succ %.3f, latency ave "
                      "%.3f ms, queue %d/%d, threads busy %d/%d",
                      o->conf->name, (unsigned long long)n, (double)n / (double)every,
                      n ? (double)dok / (double)n : 1.0, n ? (double)dns / (double)n / 1e6 : 0.0,
                      qlen, o->qcap, atomic_load(&o->busy), o->n_th);
        }
        pthread_mutex_lock(&p->tmu);
    }
    pthread_mutex_unlock(&p->tmu);
    skiff__free(last);
    return NULL;
}

struct preq {
    skiff__pipeline *p;
    skiff__pipe_call *call;
    skiff__pipe_dict *outs; /* [n_ops] */
    _Atomic int *pending;   /* [n_ops] input ops not yet counted */
    _Atomic int remaining;  /* ops not yet counted */
    pthread_mutex_t mu;     /* guards the first error */
    bool failed;
    uint64_t t0;
    uint64_t *t_run; /* [2 * n_ops] start, end (profile) */
};

static void preq_free(preq *r)
{
    for (int i = 0; i < r->p->n_ops; i++)
        skiff__pipe_dict_free(&r->outs[i]);
    skiff__free(r->outs);
    skiff__free((void *)r->pending);
    skiff__free(r->t_run);
    pthread_mutex_destroy(&r->mu);
    skiff__free(r);
}

/* Records the request's first error (the op's name leads the message);
 * err_no: an op's own error code, or 0. */
static void fail(preq *r, skiff_code_t code, int err_no, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(preq *r, skiff_code_t code, int err_no, const char *fmt, ...)
{
    pthread_mutex_lock(&r->mu);
    if (!r->failed) {
        r->failed = true;
        r->call->code = code;
        r->call->err_no = err_no;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->call->msg, sizeof(r->call->msg), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&r->mu);
}

static bool has_failed(preq *r)
{
    pthread_mutex_lock(&r->mu);
    bool f = r->failed;
    pthread_mutex_unlock(&r->mu);
    return f;
}

/* Queues r for op o; waits for room unless from_submit (then false when full). */
static bool enqueue(pop *o, preq *r, bool wait)
{
    pthread_mutex_lock(&o->mu);
    while (o->qlen == o->qcap && !o->stop) {
        if (!wait) {
            pthread_mutex_unlock(&o->mu);
            return false;
        }
        pthread_cond_wait(&o->cv_room, &o->mu);
    }
    o->q[(o->qhead + o->qlen) % o->qcap] = r;
    o->qlen++;
    pthread_cond_signal(&o->cv_work);
    pthread_mutex_unlock(&o->mu);
    return true;
}

static void profile_text(preq *r, skiff__buf *b)
{
    skiff__pipeline *p = r->p;
    for (int i = 0; i < p->n_ops; i++) {
        uint64_t a = r->t_run[2 * i], e = r->t_run[2 * i + 1];
        if (!a)
            continue;
        skiff__buf_printf(b, "%s%s: start %.3f ms, end %.3f ms, %.3f ms", b->len ? "; " : "",
                          p->ops[i].conf->name, (double)(a - r->t0) / 1e6,
                          (double)(e - r->t0) / 1e6, (double)(e - a) / 1e6);
    }
}

/* The request is over: the answer from the last ops, then done() (or, when
 * submit itself finishes it, the call's sync_done). */
static void finish(preq *r, bool sync)
{
    skiff__pipeline *p = r->p;
    skiff__pipe_call *c = r->call;
    skiff_status_t *st = NULL;
    if (!r->failed) {
        c->code = SKIFF_CODE_OK;
        for (int i = 0; !st && i < p->n_ops; i++) {
            if (!p->leaf[i])
                continue;
            skiff__pipe_dict *d = &r->outs[i];
            for (int k = 0; !st && k < d->n; k++)
                if (d->vars[k].produced)
                    st = dict_set(&c->out, d->vars[k].name, strlen(d->vars[k].name),
                                  val_ref(d->vars[k].v), true);
        }
        if (!st && c->profile) {
            skiff__buf b = {0};
            profile_text(r, &b);
            st = skiff__pipe_dict_put_str(&c->out, "pipeline.profile", 16, b.data ? b.data : "",
                                          b.len);
            skiff__buf_free(&b);
        }
        if (st) {
            skiff__pipe_dict_clear(&c->out);
            c->code = skiff_status_code(st);
            snprintf(c->msg, sizeof(c->msg), "answer: %s", skiff_status_message(st));
            skiff_status_free(st);
        }
    }
    preq_free(r);
    c->priv = NULL;
    if (sync)
        c->sync_done = true;
    else
        c->done(c->user);
}

/* A slot to run o on the caller's thread, when o is quick and idle. */
static bool inline_claim(pop *o)
{
    if (o->py || o->client || atomic_load_explicit(&o->runs, memory_order_relaxed) < INLINE_AFTER ||
        atomic_load_explicit(&o->avg_ns, memory_order_relaxed) > INLINE_MAX_NS)
        return false;
    pthread_mutex_lock(&o->mu);
    bool queued = o->qlen > 0;
    pthread_mutex_unlock(&o->mu);
    if (queued)
        return false;
    int b = atomic_load(&o->busy);
    while (b < o->n_th)
        if (atomic_compare_exchange_weak(&o->busy, &b, b + 1))
            return true;
    return false;
}

static void run_op(pop *o, preq *r);
static void count_done(preq *r, pop *o, bool in_line);

/* Runs o for r on this thread (a slot claimed), then hands on. */
static void run_here(pop *o, preq *r)
{
    if (!has_failed(r))
        run_op(o, r);
    atomic_fetch_sub(&o->busy, 1);
    count_done(r, o, true);
}

/* Op o is counted for r (ran or skipped): hand on, maybe finish. in_line:
 * the caller may run a quick next op itself. */
static void count_done(preq *r, pop *o, bool in_line)
{
    skiff__pipeline *p = r->p;
    for (int i = 0; i < o->n_succ; i++) {
        int s = o->succ[i];
        if (atomic_fetch_sub(&r->pending[s], 1) != 1)
            continue;
        if (in_line && inline_claim(&p->ops[s]))
            run_here(&p->ops[s], r);
        else
            enqueue(&p->ops[s], r, true);
    }
    if (atomic_fetch_sub(&r->remaining, 1) == 1)
        finish(r, false);
}

/* ---- running an op ---------------------------------------------------------------------- */

/* Runs one step on the op's working values. */
static skiff_status_t *run_step(const pstep *ps, skiff__pipe_dict *d, const char **prev,
                                int *n_prev)
{
    const skiff__pipe_step *sc = ps->conf;
    const char *in_names[MAX_STEP_IO];
    int nin = 0;
    if (sc->n_in > 0) {
        for (int i = 0; i < sc->n_in && nin < MAX_STEP_IO; i++)
            in_names[nin++] = sc->in[i];
    } else if (*n_prev > 0) {
        for (int i = 0; i < *n_prev && nin < MAX_STEP_IO; i++)
            in_names[nin++] = prev[i];
    } else if (d->n == 1) {
        in_names[nin++] = d->vars[0].name;
    } else {
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "step %s (line %d) names no `in` and the op holds %d values: "
                                "name the one it reads",
                                sc->name, sc->line, d->n);
    }
    const skiff_tensor_t *in[MAX_STEP_IO];
    for (int i = 0; i < nin; i++) {
        const skiff__pipe_var *v = skiff__pipe_dict_get(d, in_names[i]);
        if (!v) {
            skiff__buf have = {0};
            for (int k = 0; k < d->n; k++)
                skiff__buf_printf(&have, "%s%s", k ? ", " : "", d->vars[k].name);
            skiff_status_t *st = skiff_status_new(
                SKIFF_CODE_INVALID_ARG, "step %s (line %d): no value '%s' (the op holds: %s)",
                sc->name, sc->line, in_names[i], have.data ? have.data : "nothing");
            skiff__buf_free(&have);
            return st;
        }
        in[i] = v->v->t;
    }
    skiff_tensor_t *out[SKIFF_STEP_MAX_OUT] = {0};
    int nout = 0;
    skiff_status_t *st = skiff__vision_step_run(ps->s, in, nin, out, SKIFF_STEP_MAX_OUT, &nout);
    if (st)
        return skiff_status_wrap(st, "line %d", sc->line); /* the step names itself */
    const char *const *out_names = sc->n_out > 0 ? sc->out : in_names;
    int n_names = sc->n_out > 0 ? sc->n_out : nin;
    if (nout > n_names) {
        for (int i = 0; i < nout; i++)
            skiff_tensor_free(out[i]);
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "step %s (line %d) gives %d values and `out` names %d: name "
                                "each in `out`",
                                sc->name, sc->line, nout, n_names);
    }
    for (int i = 0; i < nout; i++) {
        skiff_status_t *e =
            skiff__pipe_dict_put(d, out_names[i], strlen(out_names[i]), out[i], NULL, 0);
        out[i] = NULL;
        if (e) {
            for (int k = i + 1; k < nout; k++)
                skiff_tensor_free(out[k]);
            return e;
        }
        /* the dict's own copy of the name: it lives as long as the values */
        prev[i] = skiff__pipe_dict_get(d, out_names[i])->name;
    }
    *n_prev = nout;
    return NULL;
}

static skiff_status_t *run_steps(const pstep *steps, int n, skiff__pipe_dict *d)
{
    const char *prev[MAX_STEP_IO];
    int n_prev = 0;
    for (int i = 0; i < n; i++) {
        skiff_status_t *st = run_step(&steps[i], d, prev, &n_prev);
        if (st)
            return st;
    }
    return NULL;
}

typedef struct wait_ctx {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} wait_ctx;

static void job_done(skiff__job *job, void *user)
{
    wait_ctx *w = user;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

typedef struct inline_ctx {
    pop *o;
    skiff__pipe_dict *d;
    skiff_status_t *st;
} inline_ctx;

/* The job's outputs into the values (cloned when borrowed). */
static skiff_status_t *take_outputs(pop *o, skiff__job *job, skiff__pipe_dict *d, bool borrowed)
{
    for (int k = 0; k < o->d->n_fetch; k++) {
        skiff_tensor_t *t = job->outputs[k];
        if (!t)
            continue;
        skiff_status_t *st;
        if (borrowed) {
            skiff_tensor_t *c;
            if ((st = skiff_tensor_clone(t, &c)))
                return st;
            t = c;
        } else {
            job->outputs[k] = NULL;
        }
        const char *name = o->d->fetch[k].alias;
        if ((st = skiff__pipe_dict_put(d, name, strlen(name), t, job->out_lod[k],
                                       job->n_out_lod[k])))
            return st;
    }
    return NULL;
}

static void inline_outputs(skiff__job *job, void *user)
{
    inline_ctx *ic = user;
    ic->st = job->status ? NULL : take_outputs(ic->o, job, ic->d, true);
}

/* One try of a remote op: the client conf's feeds from the values, over
 * the op's transport with failover across server_endpoints. */
static skiff_status_t *run_remote(pop *o, skiff__pipe_dict *d, uint64_t deadline, uint64_t log_id)
{
    int nf = skiff_client_feed_count(o->client);
    skiff_client_feed_t feeds[64];
    if (nf > 64)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "client conf with %d feeds (at most 64)",
                                nf);
    for (int k = 0; k < nf; k++) {
        const char *name = skiff_client_feed_name(o->client, k);
        const skiff__pipe_var *v = skiff__pipe_dict_get(d, name);
        if (!v)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "the remote model needs input '%s', which no step or input "
                                    "op gave",
                                    name);
        feeds[k] = (skiff_client_feed_t){name, v->v->t, v->v->lod, v->v->n_lod};
    }
    skiff_client_call_t call = {.batch = true, .log_id = log_id};
    if (deadline) {
        uint64_t now = skiff__now_ns();
        if (now >= deadline)
            return skiff_status_new(SKIFF_CODE_DEADLINE_EXCEEDED, "no time left for the call");
        int64_t ms = (int64_t)((deadline - now) / 1000000ull);
        call.timeout_ms = ms > 0 ? (int)(ms < INT32_MAX ? ms : INT32_MAX) : 1;
    }
    skiff_client_result_t *res = NULL;
    skiff_status_t *st = skiff_client_predict(o->client, feeds, nf, o->conf->fetch_list,
                                              o->conf->n_fetch_list, &call, &res);
    if (st)
        return skiff_status_wrap(st, "remote %s", o->conf->server_endpoints[0]);
    for (int i = 0; !st && i < res->n_outputs; i++) {
        skiff_client_output_t *out = &res->outputs[i];
        skiff_tensor_t *t = out->tensor;
        out->tensor = NULL;
        st = skiff__pipe_dict_put(d, out->name, strlen(out->name), t, out->lod, out->n_lod);
    }
    skiff_client_result_free(res);
    return st;
}

/* A finished job back to the op's pool (or freed). */
static void job_put(pop *o, skiff__job *job)
{
    skiff__job_clear(job);
    pthread_mutex_lock(&o->jmu);
    if (o->n_jobs < 8) {
        o->jobs[o->n_jobs++] = job;
        job = NULL;
    }
    pthread_mutex_unlock(&o->jmu);
    skiff__job_free(job);
}

/* One try of the op's model on the values. */
static skiff_status_t *run_model(pop *o, skiff__pipe_dict *d, uint64_t deadline, uint64_t log_id)
{
    if (o->client)
        return run_remote(o, d, deadline, log_id);
    skiff__job *job = NULL;
    skiff_status_t *st = NULL;
    pthread_mutex_lock(&o->jmu);
    if (o->n_jobs > 0)
        job = o->jobs[--o->n_jobs];
    pthread_mutex_unlock(&o->jmu);
    if (!job && (st = o->sv->ops->job_new(o->sv, &job)))
        return st;
    const skiff__model_desc *md = o->d;
    for (int k = 0; k < md->n_feed; k++) {
        const skiff__pipe_var *v = skiff__pipe_dict_get(d, md->feed[k].alias);
        if (!v && strcmp(md->feed[k].alias, md->feed[k].name) != 0)
            v = skiff__pipe_dict_get(d, md->feed[k].name);
        if (!v) {
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                  "model '%s' needs input '%s', which no step or input op gave",
                                  md->name, md->feed[k].alias);
            break;
        }
        job->inputs[k] = v->v->t;
        job->lod[k] = v->v->lod;
        job->n_lod[k] = v->v->n_lod;
    }
    for (int k = 0; !st && o->want && k < md->n_fetch; k++)
        job->want[k] = o->want[k];
    job->deadline_ns = deadline;
    job->log_id = log_id;
    if (!st)
        st = o->sv->ops->check(o->sv, job);
    if (st) {
        job_put(o, job);
        return st;
    }
    inline_ctx ic = {o, d, NULL};
    if (o->sv->ops->run_inline(o->sv, job, inline_outputs, &ic)) {
        st = job->status ? skiff_status_wrap(job->status, "model '%s'", md->name) : ic.st;
        job->status = NULL;
        job_put(o, job);
        return st;
    }
    wait_ctx w = {.done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    job->done = job_done;
    job->user = &w;
    st = o->sv->ops->submit(o->sv, job);
    if (!st) {
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        if (job->status) {
            st = skiff_status_wrap(job->status, "model '%s'", md->name);
            job->status = NULL;
        } else {
            st = take_outputs(o, job, d, false);
        }
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    job_put(o, job);
    return st;
}

static bool retryable(skiff_code_t code)
{
    return code == SKIFF_CODE_INTERNAL || code == SKIFF_CODE_UNAVAILABLE ||
           code == SKIFF_CODE_DEADLINE_EXCEEDED || code == SKIFF_CODE_RESOURCE_EXHAUSTED;
}

static const char *p_name(const skiff__pipeline *p, int i) { return p->ops[i].conf->name; }

typedef struct py_model_ctx {
    pop *o;
    uint64_t deadline;
    uint64_t log_id;
} py_model_ctx;

/* A Python op's run_model: the op's model on the feed values. */
static skiff_status_t *py_model(void *ctx, skiff__pipe_dict *feed)
{
    py_model_ctx *m = ctx;
    return run_model(m->o, feed, m->deadline, m->log_id);
}

/* A Python op: its inputs by op name, its answer into d. */
static skiff_status_t *run_py(pop *o, preq *r, skiff__pipe_dict *d, int *err_no)
{
    skiff__pipe_call *c = r->call;
    const skiff__pipe_dict *ins[64];
    const char *names[64];
    int n = 0;
    if (o->n_inputs == 0) {
        ins[n] = &c->in;
        names[n++] = "@DAGExecutor";
    }
    for (int i = 0; i < o->n_inputs && n < 64; i++) {
        ins[n] = &r->outs[o->inputs[i]];
        names[n++] = p_name(o->p, o->inputs[i]);
    }
    uint64_t dl = c->deadline_ns;
    if (o->conf->timeout_ms > 0) {
        uint64_t op_dl = skiff__now_ns() + (uint64_t)o->conf->timeout_ms * 1000000ull;
        if (!dl || op_dl < dl)
            dl = op_dl;
    }
    py_model_ctx m = {o, dl, c->log_id};
    return skiff__py_op_run(o->py, o->conf->name, ins, names, n, c->log_id, c->log_id,
                            o->sv || o->client ? py_model : NULL, &m, o->sv ? o->d : NULL, d,
                            err_no);
}

/* Runs op o for r: inputs, steps, model; the result in r->outs[o]. */
/* preprocess, the model (tried up to retry times) or plugin, postprocess */
static skiff_status_t *run_body(pop *o, const skiff__pipe_call *c, skiff__pipe_dict *d)
{
    skiff_status_t *st = run_steps(o->pre, o->conf->n_pre, d);
    if (!st && (o->sv || o->client)) {
        /* an op with a model answers what it gives from the model on */
        for (int k = 0; k < d->n; k++)
            d->vars[k].produced = false;
        int tries = o->conf->retry > 0 ? o->conf->retry : 1;
        for (int t = 0; t < tries; t++) {
            uint64_t now = skiff__now_ns();
            uint64_t dl = c->deadline_ns;
            if (o->conf->timeout_ms > 0) {
                uint64_t op_dl = now + (uint64_t)o->conf->timeout_ms * 1000000ull;
                if (!dl || op_dl < dl)
                    dl = op_dl;
            }
            skiff_status_free(st);
            st = run_model(o, d, dl, c->log_id);
            if (!st || !retryable(skiff_status_code(st)))
                break;
            if (c->deadline_ns && skiff__now_ns() >= c->deadline_ns)
                break;
        }
    }
    if (!st && o->plug) {
        /* like a model: the op answers what it gives from the plugin on */
        for (int k = 0; k < d->n; k++)
            d->vars[k].produced = false;
        st = skiff__plugin_run(o->plug, d);
    }
    if (!st)
        st = run_steps(o->post, o->conf->n_post, d);
    return st;
}

/* Rows idx[0..n) of t, a new tensor (strings copied). */
static skiff_status_t *take_rows(const skiff_tensor_t *t, const int64_t *idx, int64_t n,
                                 skiff_tensor_t **out)
{
    int64_t dims[SKIFF_MAX_DIMS];
    memcpy(dims, t->dims, sizeof(int64_t) * (size_t)t->ndim);
    dims[0] = n;
    skiff_status_t *st = skiff_tensor_new(t->dtype, t->ndim, dims, out);
    if (st)
        return st;
    int64_t per = t->dims[0] ? skiff_tensor_numel(t) / t->dims[0] : 0;
    size_t row = (size_t)per * skiff_dtype_size(t->dtype);
    for (int64_t r = 0; r < n; r++) {
        if (t->dtype != SKIFF_DTYPE_STRING) {
            memcpy((char *)(*out)->data + (size_t)r * row, (const char *)t->data + idx[r] * row,
                   row);
            continue;
        }
        for (int64_t e = 0; e < per; e++) {
            const char *v = ((char *const *)t->data)[idx[r] * per + e];
            if (!(((char **)(*out)->data)[r * per + e] = skiff__strdup(v ? v : ""))) {
                skiff_tensor_free(*out);
                *out = NULL;
                return oom();
            }
        }
    }
    return NULL;
}

typedef struct split_key {
    double aspect;
    int64_t row;
} split_key;

static int cmp_split_key(const void *a, const void *b)
{
    const split_key *x = a, *y = b;
    if (x->aspect != y->aspect)
        return x->aspect < y->aspect ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row; /* stable */
}

/* One `split:` run: the groups, their results, and (split_parallel > 1)
 * the helpers that take groups in turn beside the op's own thread. */
typedef struct split_run {
    pop *o;
    const skiff__pipe_call *c;
    const skiff__pipe_dict *d;
    const int64_t *order; /* row order: groups are runs of split_rows in it */
    int64_t N;
    int n_groups;
    skiff__pipe_val **parts; /* [group][split_out]: each group's out values */
    atomic_int next;         /* the next group to take */
    atomic_bool failed;      /* a group failed: take no more */
    pthread_mutex_t mu;
    skiff_status_t *st; /* the first failure (under mu) */
} split_run;

/* Group g: its rows of the in values, every other value shared, the op's
 * body, and its out values kept in parts. */
static skiff_status_t *run_group(split_run *sr, int g)
{
    const skiff__pipe_op_conf *oc = sr->o->conf;
    int64_t g0 = (int64_t)g * oc->split_rows;
    int64_t gn = sr->N - g0 < oc->split_rows ? sr->N - g0 : oc->split_rows;
    skiff__pipe_dict sub = {0};
    skiff_status_t *st = NULL;
    for (int k = 0; !st && k < sr->d->n; k++)
        st = dict_set(&sub, sr->d->vars[k].name, strlen(sr->d->vars[k].name),
                      val_ref(sr->d->vars[k].v), false);
    for (int k = 0; !st && k < oc->n_split_in; k++) {
        skiff_tensor_t *t;
        st = take_rows(skiff__pipe_dict_get(sr->d, oc->split_in[k])->v->t, sr->order + g0, gn, &t);
        if (!st)
            st = skiff__pipe_dict_put(&sub, oc->split_in[k], strlen(oc->split_in[k]), t, NULL, 0);
    }
    if (!st)
        st = run_body(sr->o, sr->c, &sub);
    for (int k = 0; !st && k < oc->n_split_out; k++) {
        const skiff__pipe_var *v = skiff__pipe_dict_get(&sub, oc->split_out[k]);
        if (!v || v->v->t->ndim < 1 || v->v->t->dims[0] != gn || v->v->n_lod > 0)
            st =
                skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                 "split: the op gave %s '%s' for a group of %lld rows (it "
                                 "joins values with one row per row of the group)",
                                 v ? "a differently sized" : "no", oc->split_out[k], (long long)gn);
        else
            sr->parts[(size_t)g * (size_t)oc->n_split_out + (size_t)k] = val_ref(v->v);
    }
    skiff__pipe_dict_free(&sub);
    return st;
}

/* Takes groups until none is left or one failed. */
static void *split_worker(void *arg)
{
    split_run *sr = arg;
    for (;;) {
        int g = atomic_fetch_add(&sr->next, 1);
        if (g >= sr->n_groups || atomic_load(&sr->failed))
            break;
        skiff_status_t *st = run_group(sr, g);
        if (st) {
            atomic_store(&sr->failed, true);
            pthread_mutex_lock(&sr->mu);
            if (!sr->st)
                sr->st = st;
            else
                skiff_status_free(st);
            pthread_mutex_unlock(&sr->mu);
        }
    }
    return NULL;
}

/* The groups on the op's thread and up to split_parallel - 1 helpers. */
static skiff_status_t *run_groups(split_run *sr)
{
    int want = sr->o->conf->split_parallel;
    if (want > sr->n_groups)
        want = sr->n_groups;
    pthread_t th[64];
    int n_th = 0;
    atomic_init(&sr->next, 0);
    atomic_init(&sr->failed, false);
    pthread_mutex_init(&sr->mu, NULL);
    sr->st = NULL;
    /* a helper that cannot start leaves its groups to the others */
    for (int i = 1; i < want && n_th < (int)(sizeof(th) / sizeof(th[0])); i++)
        if (pthread_create(&th[n_th], NULL, split_worker, sr) == 0)
            n_th++;
    split_worker(sr);
    for (int i = 0; i < n_th; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&sr->mu);
    return sr->st;
}

/* `split:` the op's body once per group of rows (see skiff__pipe_op_conf). */
static skiff_status_t *run_split(pop *o, const skiff__pipe_call *c, skiff__pipe_dict *d)
{
    const skiff__pipe_op_conf *oc = o->conf;
    int64_t N = -1;
    for (int k = 0; k < oc->n_split_in; k++) {
        const skiff__pipe_var *v = skiff__pipe_dict_get(d, oc->split_in[k]);
        if (!v)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "split: no value '%s' to cut into rows (the op's inputs "
                                    "give none)",
                                    oc->split_in[k]);
        if (v->v->t->ndim < 1 || v->v->n_lod > 0 || (N >= 0 && v->v->t->dims[0] != N))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "split: value '%s' has %lld rows%s, expected %lld like '%s'",
                                    oc->split_in[k],
                                    (long long)(v->v->t->ndim ? v->v->t->dims[0] : 0),
                                    v->v->n_lod ? " and LoD" : "", (long long)N, oc->split_in[0]);
        N = v->v->t->dims[0];
    }
    if (N <= oc->split_rows && !oc->split_sort)
        return run_body(o, c, d);
    if (N == 0)
        return run_body(o, c, d);
    int n_groups = (int)((N + oc->split_rows - 1) / oc->split_rows);
    split_key *keys = skiff__malloc(sizeof(*keys) * (size_t)N);
    int64_t *order = skiff__malloc(sizeof(int64_t) * (size_t)N);
    skiff__pipe_val **parts =
        skiff__calloc((size_t)oc->n_split_out * (size_t)n_groups, sizeof(*parts));
    skiff_status_t *st = !keys || !order || !parts ? oom() : NULL;
    const skiff__pipe_var *sv = oc->split_sort ? skiff__pipe_dict_get(d, oc->split_sort) : NULL;
    if (!st && oc->split_sort &&
        (!sv || sv->v->t->dtype != SKIFF_DTYPE_INT64 || sv->v->t->ndim != 2 ||
         sv->v->t->dims[0] != N || sv->v->t->dims[1] != 2))
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                              "split: sort_by '%s' must be int64 [%lld, 2] (height, width) sizes",
                              oc->split_sort, (long long)N);
    for (int64_t r = 0; !st && r < N; r++) {
        const int64_t *hw = sv ? (const int64_t *)sv->v->t->data + 2 * r : NULL;
        keys[r] = (split_key){hw ? (double)hw[1] / (double)(hw[0] > 0 ? hw[0] : 1) : 0, r};
    }
    if (!st)
        qsort(keys, (size_t)N, sizeof(*keys), cmp_split_key);
    for (int64_t r = 0; !st && r < N; r++)
        order[r] = keys[r].row;
    if (!st) {
        split_run sr = {
            .o = o, .c = c, .d = d, .order = order, .N = N, .n_groups = n_groups, .parts = parts};
        st = run_groups(&sr);
    }
    /* every group's out values agree with group 0's in type and row shape */
    for (int g = 1; !st && g < n_groups; g++)
        for (int k = 0; !st && k < oc->n_split_out; k++) {
            const skiff_tensor_t *t0 = parts[k]->t,
                                 *t = parts[(size_t)g * (size_t)oc->n_split_out + (size_t)k]->t;
            if (t0->dtype != t->dtype || t0->ndim != t->ndim ||
                memcmp(t0->dims + 1, t->dims + 1, sizeof(int64_t) * (size_t)(t0->ndim - 1)) != 0)
                st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                      "split: '%s' has rows of another shape or type in each "
                                      "group; join values whose rows agree (decoded results)",
                                      oc->split_out[k]);
        }
    /* join: output row order[r] is row r of the groups taken in turn */
    for (int k = 0; !st && k < oc->n_split_out; k++) {
        const skiff_tensor_t *t0 = parts[k]->t;
        int64_t dims[SKIFF_MAX_DIMS];
        memcpy(dims, t0->dims, sizeof(int64_t) * (size_t)t0->ndim);
        dims[0] = N;
        skiff_tensor_t *y;
        if ((st = skiff_tensor_new(t0->dtype, t0->ndim, dims, &y)))
            break;
        int64_t per = skiff_tensor_numel(y) / N;
        size_t row = (size_t)per * skiff_dtype_size(t0->dtype);
        for (int64_t r = 0; !st && r < N; r++) {
            const skiff_tensor_t *t =
                parts[(size_t)(r / oc->split_rows) * (size_t)oc->n_split_out + (size_t)k]->t;
            int64_t tr = r % oc->split_rows, dst = order[r];
            if (t0->dtype != SKIFF_DTYPE_STRING) {
                memcpy((char *)y->data + (size_t)dst * row, (const char *)t->data + tr * row, row);
                continue;
            }
            for (int64_t e = 0; !st && e < per; e++) {
                const char *v = ((char *const *)t->data)[tr * per + e];
                if (!(((char **)y->data)[dst * per + e] = skiff__strdup(v ? v : "")))
                    st = oom();
            }
        }
        if (st)
            skiff_tensor_free(y);
        else
            st = skiff__pipe_dict_put(d, oc->split_out[k], strlen(oc->split_out[k]), y, NULL, 0);
    }
    for (size_t i = 0; parts && i < (size_t)n_groups * (size_t)oc->n_split_out; i++)
        if (parts[i])
            val_unref(parts[i]);
    skiff__free(parts);
    skiff__free(order);
    skiff__free(keys);
    return st;
}

static void run_op(pop *o, preq *r)
{
    skiff__pipeline *p = o->p;
    skiff__pipe_dict *d = &r->outs[o->index];
    skiff__pipe_call *c = r->call;
    uint64_t t0 = skiff__now_ns();
    r->t_run[2 * o->index] = t0;
    if (c->deadline_ns && t0 > c->deadline_ns) {
        fail(r, SKIFF_CODE_DEADLINE_EXCEEDED, 0,
             "op %s: the request's time ran out before it began", o->conf->name);
        return;
    }
    skiff_status_t *st = NULL;
    int err_no = 0;
    if (o->py) {
        st = run_py(o, r, d, &err_no);
        goto done;
    }
    /* inputs: the request, or the input ops' values in input_ops order */
    if (o->n_inputs == 0) {
        for (int k = 0; !st && k < c->in.n; k++)
            st = dict_set(d, c->in.vars[k].name, strlen(c->in.vars[k].name),
                          val_ref(c->in.vars[k].v), false);
    }
    for (int i = 0; !st && i < o->n_inputs; i++) {
        const skiff__pipe_dict *src = &r->outs[o->inputs[i]];
        for (int k = 0; !st && k < src->n; k++)
            st = dict_set(d, src->vars[k].name, strlen(src->vars[k].name), val_ref(src->vars[k].v),
                          false);
    }
    if (!st)
        st = o->conf->n_split_in ? run_split(o, c, d) : run_body(o, c, d);
done:;
    uint64_t t1 = skiff__now_ns();
    r->t_run[2 * o->index + 1] = t1;
    if (!st && o->conf->timeout_ms > 0 && t1 - t0 > (uint64_t)o->conf->timeout_ms * 1000000ull)
        st = skiff_status_new(SKIFF_CODE_DEADLINE_EXCEEDED,
                              "took %.1f ms, over its timeout %" PRId64 " ms",
                              (double)(t1 - t0) / 1e6, o->conf->timeout_ms);
    uint64_t us = (t1 - t0) / 1000;
    atomic_fetch_add_explicit(&o->sum_ns, t1 - t0, memory_order_relaxed);
    uint64_t avg = atomic_load_explicit(&o->avg_ns, memory_order_relaxed);
    uint64_t n_runs = atomic_fetch_add_explicit(&o->runs, 1, memory_order_relaxed);
    atomic_store_explicit(&o->avg_ns, n_runs == 0 ? t1 - t0 : avg - avg / 8 + (t1 - t0) / 8,
                          memory_order_relaxed);
    for (int b = 0; b < 12; b++)
        if ((double)us <= skiff__pipe_bounds_s[b] * 1e6)
            atomic_fetch_add_explicit(&o->le[b], 1, memory_order_relaxed);
    if (st) {
        atomic_fetch_add_explicit(&o->failed, 1, memory_order_relaxed);
        fail(r, skiff_status_code(st), err_no, "op %s: %s", o->conf->name,
             skiff_status_message(st));
        skiff_status_free(st);
        skiff__pipe_dict_clear(d);
        return;
    }
    atomic_fetch_add_explicit(&o->ok, 1, memory_order_relaxed);
    (void)p;
}

static void *op_main(void *arg)
{
    pop *o = arg;
    char name[16];
    snprintf(name, sizeof(name), "sk-op-%.9s", o->conf->name);
    pthread_setname_np(pthread_self(), name);
    for (;;) {
        pthread_mutex_lock(&o->mu);
        while (o->qlen == 0 && !o->stop)
            pthread_cond_wait(&o->cv_work, &o->mu);
        if (o->qlen == 0 && o->stop) {
            pthread_mutex_unlock(&o->mu);
            break;
        }
        preq *r = o->q[o->qhead];
        o->qhead = (o->qhead + 1) % o->qcap;
        o->qlen--;
        pthread_cond_signal(&o->cv_room);
        pthread_mutex_unlock(&o->mu);
        atomic_fetch_add(&o->busy, 1);
        if (!has_failed(r))
            run_op(o, r);
        atomic_fetch_sub(&o->busy, 1);
        count_done(r, o, true);
    }
    return NULL;
}

/* ---- building ----------------------------------------------------------------------------- */

static int op_index(const skiff__pipe_conf *c, const char *name)
{
    for (int i = 0; i < c->n_ops; i++)
        if (!strcmp(c->ops[i].name, name))
            return i;
    return -1;
}

static skiff_status_t *make_steps(const skiff__pipe_op_conf *oc, const skiff__pipe_step *sc, int n,
                                  pstep **out)
{
    *out = NULL;
    if (n == 0)
        return NULL;
    pstep *ps = skiff__calloc((size_t)n, sizeof(*ps));
    if (!ps)
        return oom();
    *out = ps;
    for (int i = 0; i < n; i++) {
        ps[i].conf = &sc[i];
        if (sc[i].n_in > MAX_STEP_IO || sc[i].n_out > MAX_STEP_IO)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "op %s: step %s (line %d): at most %d names in `in` and `out`",
                                    oc->name, sc[i].name, sc[i].line, MAX_STEP_IO);
        skiff_status_t *st = skiff__vision_step_new(
            sc[i].name, (const skiff__step_param *)sc[i].params, (size_t)sc[i].n_params, &ps[i].s);
        if (st)
            return skiff_status_wrap(st, "op %s: line %d", oc->name, sc[i].line);
    }
    return NULL;
}

/* A remote op's transport when its local_service_conf gives none: dag's. */
static skiff__pipe_client_type conf_client_type(const skiff__pipe_conf *c)
{
    return c->dag_client_type == SKIFF__PIPE_LOCAL ? SKIFF__PIPE_BRPC : c->dag_client_type;
}

static skiff_status_t *op_init(skiff__pipeline *p, int i, skiff__pipe_find_cb find, void *user)
{
    const skiff__pipe_conf *c = p->conf;
    const skiff__pipe_op_conf *oc = &c->ops[i];
    pop *o = &p->ops[i];
    o->p = p;
    o->conf = oc;
    o->index = i;
    if (oc->py_class && !oc->py_obj)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "op %s (line %d): `class: %s` was not loaded",
                                oc->name, oc->line, oc->py_class);
    o->py = oc->py_obj;
    if (o->py && (oc->n_pre > 0 || oc->n_post > 0))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "op %s (line %d) is a Python op: its preprocess and postprocess "
                                "are its methods, not config steps",
                                oc->name, oc->line);
    if (oc->plugin && (oc->model_config || o->py))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "op %s (line %d): a plugin op has no model and no Python class "
                                "(give each its own op)",
                                oc->name, oc->line);
    if (oc->plugin) {
        skiff_status_t *pst = skiff__plugin_load(oc->plugin, oc->plugin_params, oc->n_plugin_params,
                                                 oc->name, &o->plug);
        if (pst)
            return skiff_status_wrap(pst, "line %d", oc->line);
    }
    if (oc->n_server_endpoints > 0) {
        if (oc->model_config || oc->plugin)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "op %s (line %d): server_endpoints makes a remote op: give it "
                                    "client_config, not a local model or a plugin",
                                    oc->name, oc->line);
        if (!oc->client_config)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "op %s (line %d): server_endpoints needs client_config (the "
                                    "remote model's serving_client_conf.prototxt or its folder)",
                                    oc->name, oc->line);
        skiff__buf eps = {0};
        for (int k = 0; k < oc->n_server_endpoints; k++)
            skiff__buf_printf(&eps, "%s%s", k ? "," : "", oc->server_endpoints[k]);
        skiff__pipe_client_type ct =
            oc->client_type == SKIFF__PIPE_LOCAL ? conf_client_type(c) : oc->client_type;
        skiff_client_options_t co = {.transport = ct == SKIFF__PIPE_GRPC   ? SKIFF_CLIENT_GRPC
                                                  : ct == SKIFF__PIPE_HTTP ? SKIFF_CLIENT_HTTP_JSON
                                                                           : SKIFF_CLIENT_BRPC,
                                     .timeout_ms = oc->timeout_ms > 0 ? (int)oc->timeout_ms : 0};
        skiff_status_t *cst =
            eps.data ? skiff_client_new(oc->client_config, eps.data, &co, &o->client)
                     : skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        skiff__buf_free(&eps);
        if (cst)
            return skiff_status_wrap(cst, "op %s (line %d): server_endpoints", oc->name, oc->line);
    }
    skiff_status_t *st = make_steps(oc, oc->pre, oc->n_pre, &o->pre);
    if (!st)
        st = make_steps(oc, oc->post, oc->n_post, &o->post);
    if (st)
        return st;
    if (oc->model_config) {
        o->sv = find(user, oc);
        if (!o->sv)
            return skiff_status_new(SKIFF_CODE_NOT_FOUND, "op %s (line %d): model '%s' not loaded",
                                    oc->name, oc->line, oc->model_config);
        o->d = o->sv->ops->describe(o->sv);
        if (oc->n_fetch_list > 0) {
            o->want = skiff__calloc((size_t)o->d->n_fetch + 1, sizeof(bool));
            if (!o->want)
                return oom();
            for (int f = 0; f < oc->n_fetch_list; f++) {
                int k = -1;
                for (int j = 0; j < o->d->n_fetch; j++)
                    if (!strcmp(o->d->fetch[j].alias, oc->fetch_list[f]) ||
                        !strcmp(o->d->fetch[j].name, oc->fetch_list[f]))
                        k = j;
                if (k < 0) {
                    skiff__buf have = {0};
                    for (int j = 0; j < o->d->n_fetch; j++)
                        skiff__buf_printf(&have, "%s%s", j ? ", " : "", o->d->fetch[j].alias);
                    st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                          "op %s (line %d): fetch_list names '%s', which model "
                                          "'%s' does not give (it gives: %s)",
                                          oc->name, oc->line, oc->fetch_list[f], o->d->name,
                                          have.data ? have.data : "nothing");
                    skiff__buf_free(&have);
                    return st;
                }
                o->want[k] = true;
            }
        }
    }
    o->n_inputs = oc->n_input_ops;
    if (o->n_inputs > 0) {
        o->inputs = skiff__calloc((size_t)o->n_inputs, sizeof(int));
        if (!o->inputs)
            return oom();
        for (int k = 0; k < o->n_inputs; k++) {
            o->inputs[k] = op_index(c, oc->input_ops[k]);
            if (o->inputs[k] < 0 || o->inputs[k] == i)
                return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                        "op %s (line %d): input_ops names '%s', which is not "
                                        "another op",
                                        oc->name, oc->line, oc->input_ops[k]);
        }
    }
    o->qcap = c->channel_size > 0 ? c->channel_size : DEFAULT_QUEUE;
    o->q = skiff__calloc((size_t)o->qcap, sizeof(*o->q));
    if (!o->q)
        return oom();
    pthread_mutex_init(&o->mu, NULL);
    pthread_mutex_init(&o->jmu, NULL);
    pthread_cond_init(&o->cv_work, NULL);
    pthread_cond_init(&o->cv_room, NULL);
    return NULL;
}

static skiff_status_t *link_ops(skiff__pipeline *p)
{
    int n = p->n_ops;
    p->leaf = skiff__calloc((size_t)n, sizeof(bool));
    p->roots = skiff__calloc((size_t)n, sizeof(int));
    if (!p->leaf || !p->roots)
        return oom();
    for (int i = 0; i < n; i++) {
        p->leaf[i] = true;
        if (p->ops[i].n_inputs == 0)
            p->roots[p->n_roots++] = i;
    }
    for (int i = 0; i < n; i++) {
        pop *o = &p->ops[i];
        for (int k = 0; k < o->n_inputs; k++) {
            pop *src = &p->ops[o->inputs[k]];
            int *s = skiff__realloc(src->succ, sizeof(int) * (size_t)(src->n_succ + 1));
            if (!s)
                return oom();
            src->succ = s;
            src->succ[src->n_succ++] = i;
            p->leaf[o->inputs[k]] = false;
        }
    }
    /* every op reachable from a root, with no cycle: Kahn's order */
    int *indeg = skiff__calloc((size_t)n, sizeof(int)),
        *stack = skiff__calloc((size_t)n, sizeof(int));
    if (!indeg || !stack) {
        skiff__free(indeg);
        skiff__free(stack);
        return oom();
    }
    int top = 0, seen = 0;
    for (int i = 0; i < n; i++) {
        indeg[i] = p->ops[i].n_inputs;
        if (!indeg[i])
            stack[top++] = i;
    }
    while (top > 0) {
        int i = stack[--top];
        seen++;
        for (int k = 0; k < p->ops[i].n_succ; k++)
            if (--indeg[p->ops[i].succ[k]] == 0)
                stack[top++] = p->ops[i].succ[k];
    }
    skiff_status_t *st = NULL;
    if (seen != n) {
        for (int i = 0; i < n; i++)
            if (indeg[i] > 0) {
                st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                      "op %s (line %d) is on a cycle of input_ops",
                                      p->ops[i].conf->name, p->ops[i].conf->line);
                break;
            }
    } else if (p->n_roots == 0) {
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "no op reads the request");
    }
    skiff__free(indeg);
    skiff__free(stack);
    return st;
}

skiff_status_t *skiff__pipeline_new(const skiff__pipe_conf *conf, skiff__pipe_find_cb find,
                                    void *user, skiff__pipeline **out)
{
    *out = NULL;
    if (conf->n_ops <= 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: no ops", conf->path);
    skiff__pipeline *p = skiff__calloc(1, sizeof(*p));
    if (!p)
        return oom();
    p->conf = conf;
    pthread_mutex_init(&p->tmu, NULL);
    pthread_cond_init(&p->tcv, NULL);
    p->ops = skiff__calloc((size_t)conf->n_ops, sizeof(*p->ops));
    skiff_status_t *st = p->ops ? NULL : oom();
    for (int i = 0; !st && i < conf->n_ops; i++) {
        p->n_ops = i + 1;
        st = op_init(p, i, find, user);
    }
    if (!st)
        st = link_ops(p);
    for (int i = 0; !st && i < p->n_ops; i++) {
        pop *o = &p->ops[i];
        int n = o->conf->concurrency > 0 ? o->conf->concurrency : 1;
        o->th = skiff__calloc((size_t)n, sizeof(pthread_t));
        if (!o->th) {
            st = oom();
            break;
        }
        for (int k = 0; k < n; k++) {
            if (pthread_create(&o->th[k], NULL, op_main, o) != 0) {
                st = skiff_status_new(SKIFF_CODE_INTERNAL, "op %s: cannot start thread %d",
                                      o->conf->name, k);
                break;
            }
            o->n_th++;
        }
    }
    if (!st && conf->tracer_interval_s > 0) {
        if (pthread_create(&p->tracer, NULL, tracer_main, p) != 0)
            st = skiff_status_new(SKIFF_CODE_INTERNAL, "cannot start the tracer thread");
        else
            p->tracer_started = true;
    }
    if (st) {
        skiff__pipeline_free(p);
        return skiff_status_wrap(st, "%s", conf->path);
    }
    *out = p;
    return NULL;
}

const char *skiff__pipeline_name(const skiff__pipeline *p) { return p->conf->name; }

void skiff__pipeline_free(skiff__pipeline *p)
{
    if (!p)
        return;
    if (p->tracer_started) {
        pthread_mutex_lock(&p->tmu);
        p->tracer_stop = true;
        pthread_cond_signal(&p->tcv);
        pthread_mutex_unlock(&p->tmu);
        pthread_join(p->tracer, NULL);
    }
    for (int i = 0; p->ops && i < p->n_ops; i++) {
        pop *o = &p->ops[i];
        if (o->q) {
            pthread_mutex_lock(&o->mu);
            o->stop = true;
            pthread_cond_broadcast(&o->cv_work);
            pthread_cond_broadcast(&o->cv_room);
            pthread_mutex_unlock(&o->mu);
        }
        for (int k = 0; k < o->n_th; k++)
            pthread_join(o->th[k], NULL);
    }
    for (int i = 0; p->ops && i < p->n_ops; i++) {
        pop *o = &p->ops[i];
        for (int k = 0; o->pre && k < o->conf->n_pre; k++)
            skiff__vision_step_free(o->pre[k].s);
        for (int k = 0; o->post && k < o->conf->n_post; k++)
            skiff__vision_step_free(o->post[k].s);
        for (int k = 0; k < o->n_jobs; k++)
            skiff__job_free(o->jobs[k]);
        if (o->q) {
            pthread_mutex_destroy(&o->jmu);
            pthread_mutex_destroy(&o->mu);
            pthread_cond_destroy(&o->cv_work);
            pthread_cond_destroy(&o->cv_room);
        }
        skiff__plugin_free(o->plug);
        skiff_client_free(o->client);
        skiff__free(o->pre);
        skiff__free(o->post);
        skiff__free(o->want);
        skiff__free(o->inputs);
        skiff__free(o->succ);
        skiff__free(o->q);
        skiff__free(o->th);
    }
    skiff__free(p->ops);
    skiff__free(p->roots);
    skiff__free(p->leaf);
    pthread_cond_destroy(&p->tcv);
    pthread_mutex_destroy(&p->tmu);
    skiff__free(p);
}

skiff_status_t *skiff__pipeline_submit(skiff__pipeline *p, skiff__pipe_call *c)
{
    preq *r = skiff__calloc(1, sizeof(*r));
    if (!r)
        return oom();
    r->p = p;
    r->call = c;
    r->t0 = skiff__now_ns();
    pthread_mutex_init(&r->mu, NULL);
    r->outs = skiff__calloc((size_t)p->n_ops, sizeof(*r->outs));
    r->pending = skiff__calloc((size_t)p->n_ops, sizeof(*r->pending));
    r->t_run = skiff__calloc((size_t)p->n_ops * 2, sizeof(uint64_t));
    if (!r->outs || !r->pending || !r->t_run) {
        preq_free(r);
        return oom();
    }
    for (int i = 0; i < p->n_ops; i++)
        atomic_init(&r->pending[i], p->ops[i].n_inputs);
    /* the roots, plus one for this submit, so nothing finishes before every
     * root is queued */
    atomic_init(&r->remaining, p->n_ops + 1);
    c->priv = r;
    c->code = SKIFF_CODE_OK;
    c->msg[0] = '\0';
    c->sync_done = false;
    int queued = 0;
    for (int k = 0; k < p->n_roots; k++) {
        if (inline_claim(&p->ops[p->roots[k]])) {
            run_here(&p->ops[p->roots[k]], r);
            queued++;
            continue;
        }
        if (!enqueue(&p->ops[p->roots[k]], r, false)) {
            if (queued == 0) {
                c->priv = NULL;
                preq_free(r);
                return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED,
                                        "op %s: its queue of %d requests is full",
                                        p->ops[p->roots[k]].conf->name, p->ops[p->roots[k]].qcap);
            }
            /* some roots run already: this one waits for room */
            enqueue(&p->ops[p->roots[k]], r, true);
        }
        queued++;
    }
    if (atomic_fetch_sub(&r->remaining, 1) == 1)
        finish(r, true);
    return NULL;
}

void skiff__pipe_call_clear(skiff__pipe_call *c)
{
    skiff__pipe_dict_free(&c->in);
    skiff__pipe_dict_free(&c->out);
    c->code = SKIFF_CODE_OK;
    c->msg[0] = '\0';
}

int skiff__pipeline_n_ops(const skiff__pipeline *p) { return p->n_ops; }

void skiff__pipeline_op_stats(const skiff__pipeline *p, int i, skiff__pipe_op_stats *out)
{
    pop *o = &p->ops[i];
    out->name = o->conf->name;
    out->ok = atomic_load(&o->ok);
    out->failed = atomic_load(&o->failed);
    out->sum_ns = atomic_load(&o->sum_ns);
    for (int b = 0; b < 12; b++)
        out->le_us[b] = atomic_load(&o->le[b]);
}
