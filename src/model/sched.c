/* sched.c - the request queue, instance threads and dynamic batching.
 *
 * One mutex and one condition variable per model guard a FIFO of jobs and
 * the instances' busy flags. An instance thread sleeps until the queue has a
 * job, takes it, and - only if more jobs were already waiting, which means
 * every instance was busy when they came - merges compatible jobs behind it
 * (same dtypes and trailing dims) up to max_batch rows, waiting at most
 * max_queue_delay_us from the oldest job for the batch to fill. A lone job on
 * an idle model therefore runs the moment it arrives. Deadlines are checked
 * when a job leaves the queue.
 *
 * Merged inputs are concatenated along dim 0; each output is sliced back by
 * the jobs' rows (or by the rows of their first LoD input, for sequence
 * outputs). An output that cannot be sliced (its dim 0 matches neither) makes
 * the batch rerun job by job, so merging never changes an answer.
 *
 * With --batch_sizes, a run's rows are padded up to the next allowed batch
 * size with copies of its last row, whose outputs are dropped. The engine
 * compiles work per input shape, so this bounds the shapes a model ever
 * compiles (each costs a slow first run) at the price of the padding's
 * compute. Off by default.
 *
 * An inline run (skiff__model_run_inline) borrows an idle instance's context
 * on the caller's thread: for tiny models the hand-off to another thread and
 * back costs more than the model itself.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "model/model_int.h"

const double skiff__latency_bounds_us[SKIFF__HIST_N] = {
    10,    25,    50,     100,    250,    500, 1000,  2500, 5000, 10000,
    25000, 50000, 100000, 250000, 500000, 1e6, 2.5e6, 5e6,  1e7,  3e7,
};
const double skiff__batch_bounds[SKIFF__HIST_N] = {
    1,    2,    4,    8,    16,    32,    64,    128,    256,    512,
    1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288,
};

void skiff__hist_add(skiff__hist *h, const double *bounds, uint64_t v)
{
    int i = 0;
    while (i < SKIFF__HIST_N && (double)v > bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

uint64_t skiff__stats_failures(skiff__model_stats *st)
{
    uint64_t n = 0;
    for (int i = 1; i < 10; i++)
        n += atomic_load_explicit(&st->req_by_code[i], memory_order_relaxed);
    return n;
}

#define ADD(field, v) atomic_fetch_add_explicit(&(field), (v), memory_order_relaxed)

static skiff_status_t *oom(void)
{
    return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
}

/* ---- jobs ------------------------------------------------------------------- */

skiff_status_t *skiff__job_new(const skiff__model *m, skiff__job **out_job)
{
    size_t nf = (size_t)m->d.n_feed + 1, no = (size_t)m->d.n_fetch + 1;
    *out_job = NULL;
    skiff__job *j = skiff__calloc(1, sizeof(*j));
    if (!j)
        return oom();
    j->n_feed = m->d.n_feed;
    j->n_fetch = m->d.n_fetch;
    j->inputs = skiff__calloc(nf, sizeof(*j->inputs));
    j->lod = skiff__calloc(nf, sizeof(*j->lod));
    j->n_lod = skiff__calloc(nf, sizeof(*j->n_lod));
    j->want = skiff__calloc(no, sizeof(*j->want));
    j->outputs = skiff__calloc(no, sizeof(*j->outputs));
    j->out_lod = skiff__calloc(no, sizeof(*j->out_lod));
    j->n_out_lod = skiff__calloc(no, sizeof(*j->n_out_lod));
    if (!j->inputs || !j->lod || !j->n_lod || !j->want || !j->outputs || !j->out_lod ||
        !j->n_out_lod) {
        skiff__job_free(j);
        return oom();
    }
    j->lod_rows = -1;
    j->lod_input = -1;
    *out_job = j;
    return NULL;
}

void skiff__job_reset(skiff__job *j)
{
    /* Also called on a half-made job (skiff__job_new out of memory). */
    for (int i = 0; j->outputs && j->out_lod && j->n_out_lod && i < j->n_fetch; i++) {
        skiff_tensor_free(j->outputs[i]);
        j->outputs[i] = NULL;
        skiff__free(j->out_lod[i]);
        j->out_lod[i] = NULL;
        j->n_out_lod[i] = 0;
    }
    skiff_status_free(j->status);
    j->status = NULL;
    j->next = NULL;
    j->t_submit = j->t_start = j->t_end = 0;
    j->batch_rows = 0;
}

void skiff__job_clear(skiff__job *j)
{
    skiff__job_reset(j);
    memset((void *)j->inputs, 0, sizeof(*j->inputs) * (size_t)j->n_feed);
    memset((void *)j->lod, 0, sizeof(*j->lod) * (size_t)j->n_feed);
    memset(j->n_lod, 0, sizeof(*j->n_lod) * (size_t)j->n_feed);
    memset(j->want, 0, sizeof(*j->want) * (size_t)j->n_fetch);
    j->deadline_ns = 0;
    j->log_id = 0;
    j->done = NULL;
    j->user = NULL;
    j->rows = 0;
}

void skiff__job_free(skiff__job *j)
{
    if (!j)
        return;
    skiff__job_reset(j);
    skiff__free((void *)j->inputs);
    skiff__free((void *)j->lod);
    skiff__free(j->n_lod);
    skiff__free(j->want);
    skiff__free(j->outputs);
    skiff__free(j->out_lod);
    skiff__free(j->n_out_lod);
    skiff__free(j);
}

/* "[-1,13]" for a var, the batch dim shown as -1 (or its fixed size). */
static void var_shape(const skiff__model_var *v, char *buf, size_t cap)
{
    int64_t dims[SKIFF_MAX_DIMS];
    int n = 0;
    if (v->batched)
        dims[n++] = v->fixed_batch;
    for (int i = 0; i < v->ndim && n < SKIFF_MAX_DIMS; i++)
        dims[n++] = v->dims[i];
    skiff_shape_str(n, dims, buf, cap);
}

static skiff_status_t *check_lod(const skiff__model_var *v, const int64_t *lod, int n, int64_t rows)
{
    bool ok = n >= 2 && lod[0] == 0 && lod[n - 1] == rows;
    for (int i = 1; ok && i < n; i++)
        ok = lod[i] >= lod[i - 1];
    if (ok)
        return NULL;
    return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                            "input '%s': LoD offsets must start at 0, never decrease and end at "
                            "%lld (the rows of the data); got %d offsets",
                            v->alias, (long long)rows, n);
}

skiff_status_t *skiff__model_check_job(const skiff__model *m, skiff__job *job)
{
    int64_t rows = -1, seqs = -1;
    const char *rows_from = NULL;
    job->lod_rows = -1;
    job->lod_input = -1;
    for (int i = 0; i < m->d.n_feed; i++) {
        const skiff__model_var *v = &m->d.feed[i];
        const skiff_tensor_t *t = job->inputs[i];
        char want[160], got[160];
        if (!t)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "missing input '%s'", v->alias);
        if (t->dtype != v->dtype)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "input '%s': expected %s, got %s",
                                    v->alias, skiff_dtype_name(v->dtype),
                                    skiff_dtype_name(t->dtype));
        if (v->ndim >= 0) {
            bool ok = t->ndim == v->ndim + (v->batched ? 1 : 0);
            int off = v->batched ? 1 : 0;
            for (int k = 0; ok && k < v->ndim; k++)
                ok = v->dims[k] < 0 || t->dims[k + off] == v->dims[k];
            if (ok && v->batched && v->fixed_batch >= 0)
                ok = t->dims[0] == v->fixed_batch;
            if (!ok) {
                var_shape(v, want, sizeof(want));
                skiff_shape_str(t->ndim, t->dims, got, sizeof(got));
                return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                        "input '%s': expected shape %s, got %s", v->alias, want,
                                        got);
            }
        }
        if (!v->batched || t->ndim < 1)
            continue;
        if (v->is_lod) {
            int64_t s = 1;
            if (job->lod[i]) {
                skiff_status_t *st = check_lod(v, job->lod[i], job->n_lod[i], t->dims[0]);
                if (st)
                    return st;
                s = job->n_lod[i] - 1;
            }
            if (job->lod_input < 0) {
                job->lod_input = i;
                job->lod_rows = t->dims[0];
            }
            if (seqs < 0)
                seqs = s;
        } else if (rows < 0) {
            rows = t->dims[0];
            rows_from = v->alias;
        } else if (rows != t->dims[0]) {
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "input '%s' has %lld rows but input '%s' has %lld: batched "
                                    "inputs must agree in dim 0",
                                    v->alias, (long long)t->dims[0], rows_from, (long long)rows);
        }
    }
    job->rows = rows >= 0 ? rows : (seqs >= 0 ? seqs : 1);
    return NULL;
}

/* ---- running ------------------------------------------------------------------ */

static bool wanted(const skiff__job *j, int k)
{
    for (int i = 0; i < j->n_fetch; i++)
        if (j->want[i])
            return j->want[k];
    return true;
}

/* LoD offsets of job j's first LoD input ([0, rows] when the client gave none). */
static const int64_t *job_lod(const skiff__job *j, int *n, int64_t tmp[2])
{
    if (j->lod_input >= 0 && j->lod[j->lod_input]) {
        *n = j->n_lod[j->lod_input];
        return j->lod[j->lod_input];
    }
    tmp[0] = 0;
    tmp[1] = j->lod_rows;
    *n = 2;
    return tmp;
}

static skiff_status_t *set_out_lod(skiff__job *j, int k, const int64_t *lod, int n, int64_t shift)
{
    j->out_lod[k] = skiff__malloc(sizeof(int64_t) * (size_t)n);
    if (!j->out_lod[k])
        return oom();
    for (int i = 0; i < n; i++)
        j->out_lod[k][i] = lod[i] - shift;
    j->n_out_lod[k] = n;
    return NULL;
}

static void drop_outputs(skiff__job *j)
{
    for (int k = 0; k < j->n_fetch; k++) {
        skiff_tensor_free(j->outputs[k]);
        j->outputs[k] = NULL;
        skiff__free(j->out_lod[k]);
        j->out_lod[k] = NULL;
        j->n_out_lod[k] = 0;
    }
}

/* Copies rows [r0, r0 + nr) of src into a new tensor. */
static skiff_status_t *slice_rows(const skiff_tensor_t *src, int64_t r0, int64_t nr,
                                  skiff_tensor_t **out)
{
    int64_t dims[SKIFF_MAX_DIMS];
    memcpy(dims, src->dims, sizeof(int64_t) * (size_t)src->ndim);
    dims[0] = nr;
    skiff_tensor_t *t;
    skiff_status_t *st = skiff_tensor_new(src->dtype, src->ndim, dims, &t);
    if (st)
        return st;
    int64_t per = src->dims[0] > 0 ? skiff_tensor_numel(src) / src->dims[0] : 0;
    size_t es = skiff_dtype_size(src->dtype);
    if (src->dtype == SKIFF_DTYPE_STRING) {
        char *const *s = (char *const *)src->data + r0 * per;
        char **d = t->data;
        for (int64_t i = 0; i < nr * per; i++) {
            d[i] = skiff__strdup(s[i] ? s[i] : "");
            if (!d[i]) {
                skiff_tensor_free(t);
                return oom();
            }
        }
    } else if (nr * per > 0) {
        memcpy(t->data, (const char *)src->data + (size_t)(r0 * per) * es, (size_t)(nr * per) * es);
    }
    *out = t;
    return NULL;
}

/* One run of one job. With `borrow` the outputs point into the context
 * (valid while the caller holds the instance) instead of being copied. */
/* The LoD offsets of feed i as a tensor for its <name>.lod input: the
 * job's, or one sequence of all its rows. Caller frees. */
static skiff_status_t *lod_tensor(const skiff__job *job, int i, skiff_tensor_t **out)
{
    const skiff_tensor_t *t = job->inputs[i];
    int64_t one[2] = {0, t->ndim >= 1 ? t->dims[0] : 1};
    const int64_t *lod = job->lod[i] ? job->lod[i] : one;
    int64_t n = job->lod[i] ? job->n_lod[i] : 2;
    skiff_status_t *st = skiff_tensor_new(SKIFF_DTYPE_INT64, 1, &n, out);
    if (!st)
        memcpy((*out)->data, lod, sizeof(int64_t) * (size_t)n);
    return st;
}

/* A fetch's LoD from its <name>.lod output: int64 offsets. */
static skiff_status_t *lod_from_output(skiff__job *j, int k, const skiff__model_var *v,
                                       const skiff_tensor_t *o, const skiff_tensor_t *lod)
{
    int64_t n = lod->ndim == 1 ? lod->dims[0] : 0;
    const int64_t *p = lod->data;
    if (lod->dtype != SKIFF_DTYPE_INT64 || n < 2 || n > INT32_MAX || p[0] != 0 ||
        p[n - 1] != (o->ndim >= 1 ? o->dims[0] : 1))
        return skiff_status_new(SKIFF_CODE_INTERNAL,
                                "output '%s': its LoD output is not offsets of its rows", v->alias);
    return set_out_lod(j, k, p, (int)n, 0);
}

static skiff_status_t *run_one(skiff__model *m, skiff__instance *in, skiff__job *job, bool borrow)
{
    skiff_tensor_t *lods[8] = {0}; /* the LoD inputs built for this run */
    int n_lods = 0;
    skiff_status_t *st = NULL;
    for (int i = 0; i < m->d.n_feed; i++) {
        in->in_ptrs[m->d.feed[i].engine_index] = job->inputs[i];
        if (!st && m->d.feed[i].lod_index >= 0) {
            if (n_lods == 8)
                st = skiff_status_new(SKIFF_CODE_UNSUPPORTED, "more than 8 LoD inputs");
            else if (!(st = lod_tensor(job, i, &lods[n_lods])))
                in->in_ptrs[m->d.feed[i].lod_index] = lods[n_lods++];
        }
    }
    if (!st)
        st = skiff_context_run(in->ctx, in->in_ptrs, m->n_engine_in, in->out_ptrs);
    for (int k = 0; !st && k < m->d.n_fetch; k++) {
        if (!wanted(job, k))
            continue;
        const skiff__model_var *v = &m->d.fetch[k];
        const skiff_tensor_t *o = in->out_ptrs[v->engine_index];
        if (borrow)
            job->outputs[k] = (skiff_tensor_t *)o;
        else if ((st = skiff_tensor_clone(o, &job->outputs[k])))
            break;
        if (v->lod_index >= 0) {
            /* copied before the LoD inputs it may alias are freed */
            st = lod_from_output(job, k, v, o, in->out_ptrs[v->lod_index]);
        } else if (v->is_lod && o->ndim >= 1) {
            int64_t tmp[2];
            int n;
            if (job->lod_input >= 0 && o->dims[0] == job->lod_rows) {
                const int64_t *lod = job_lod(job, &n, tmp);
                st = set_out_lod(job, k, lod, n, 0);
            } else if (job->rows == 1) {
                tmp[0] = 0;
                tmp[1] = o->dims[0];
                st = set_out_lod(job, k, tmp, 2, 0);
            }
        }
    }
    for (int i = 0; i < n_lods; i++)
        skiff_tensor_free(lods[i]);
    if (st) {
        if (borrow)
            memset(job->outputs, 0, sizeof(*job->outputs) * (size_t)job->n_fetch);
        drop_outputs(job);
    }
    job->status = st;
    return st;
}

skiff_status_t *skiff__sched_run_one(skiff__model *m, skiff__instance *in, skiff__job *job)
{
    return run_one(m, in, job, false);
}

/* Whether b can run in one batch with a (inputs concatenated along dim 0). */
static bool compatible(const skiff__model *m, const skiff__job *a, const skiff__job *b)
{
    for (int i = 0; i < m->d.n_feed; i++) {
        const skiff__model_var *v = &m->d.feed[i];
        const skiff_tensor_t *x = a->inputs[i], *y = b->inputs[i];
        if (x->dtype != y->dtype || x->ndim != y->ndim)
            return false;
        if (v->batched) {
            if (x->ndim < 1)
                return false;
            if (memcmp(x->dims + 1, y->dims + 1, sizeof(int64_t) * (size_t)(x->ndim - 1)) != 0)
                return false;
        } else {
            /* An unbatched input is shared by the whole batch: it must be
             * the same value in every job. */
            if (x->dtype == SKIFF_DTYPE_STRING || x->nbytes != y->nbytes ||
                memcmp(x->dims, y->dims, sizeof(int64_t) * (size_t)x->ndim) != 0 ||
                (x->nbytes && memcmp(x->data, y->data, x->nbytes) != 0))
                return false;
        }
    }
    return (a->lod_input < 0) == (b->lod_input < 0);
}

/* Rows a run of `rows` rows is padded to: the smallest allowed batch size
 * that holds them, or rows itself (no sizes, none big enough, LoD inputs). */
static int64_t padded_rows(const skiff__model *m, const skiff__job *first, int64_t rows)
{
    if (rows < 1 || first->lod_input >= 0)
        return rows;
    for (int i = 0; i < m->d.n_batch_sizes; i++)
        if (m->d.batch_sizes[i] >= rows)
            return m->d.batch_sizes[i];
    return rows;
}

/* Fills the `pad` rows after data's first `rows` rows with copies of the
 * last of those. */
static void pad_rows(void *data, size_t row_bytes, int64_t rows, int64_t pad)
{
    const char *last = (const char *)data + (size_t)(rows - 1) * row_bytes;
    for (int64_t r = 0; r < pad; r++)
        memcpy((char *)data + (size_t)(rows + r) * row_bytes, last, row_bytes);
}

/* Runs compatible jobs as one batch of their rows plus `pad` copies of the
 * last row (none with LoD inputs). Returns false (and leaves every job
 * without outputs) when an output cannot be split back by job. */
static bool run_merged(skiff__model *m, skiff__instance *in, skiff__job **jobs, int k, int64_t pad,
                       skiff_status_t **out_st)
{
    skiff_tensor_t **merged = skiff__calloc((size_t)m->d.n_feed + 1, sizeof(*merged));
    void **strarr = skiff__calloc((size_t)m->d.n_feed + 1, sizeof(*strarr));
    skiff_status_t *st = (!merged || !strarr) ? oom() : NULL;
    int64_t total_rows = 0, total_lod = 0;
    for (int j = 0; j < k; j++) {
        total_rows += jobs[j]->rows;
        total_lod += jobs[j]->lod_rows > 0 ? jobs[j]->lod_rows : 0;
    }
    for (int i = 0; !st && i < m->d.n_feed; i++) {
        const skiff__model_var *v = &m->d.feed[i];
        const skiff_tensor_t *t0 = jobs[0]->inputs[i];
        if (!v->batched) {
            in->in_ptrs[v->engine_index] = t0;
            continue;
        }
        int64_t dims[SKIFF_MAX_DIMS];
        memcpy(dims, t0->dims, sizeof(int64_t) * (size_t)t0->ndim);
        dims[0] = 0;
        for (int j = 0; j < k; j++)
            dims[0] += jobs[j]->inputs[i]->dims[0];
        int64_t data_rows = dims[0];
        dims[0] += pad;
        size_t es = skiff_dtype_size(t0->dtype);
        size_t row_bytes = (size_t)(skiff_shape_numel(t0->ndim - 1, dims + 1)) * es;
        if (t0->dtype == SKIFF_DTYPE_STRING) {
            /* Strings stay borrowed: the merged tensor is an array of the
             * jobs' pointers, wrapped without ownership. */
            int64_t n = skiff_shape_numel(t0->ndim, dims);
            size_t bytes = (size_t)(n > 0 ? n : 0) * es;
            strarr[i] = skiff__malloc(bytes ? bytes : 1);
            if (!strarr[i]) {
                st = oom();
                break;
            }
            size_t off = 0;
            for (int j = 0; j < k; j++) {
                const skiff_tensor_t *t = jobs[j]->inputs[i];
                if (t->nbytes)
                    memcpy((char *)strarr[i] + off, t->data, t->nbytes);
                off += t->nbytes;
            }
            if (pad > 0)
                pad_rows(strarr[i], row_bytes, data_rows, pad);
            st = skiff_tensor_wrap(t0->dtype, t0->ndim, dims, strarr[i], bytes, &merged[i]);
        } else {
            st = skiff_tensor_new(t0->dtype, t0->ndim, dims, &merged[i]);
            size_t off = 0;
            for (int j = 0; !st && j < k; j++) {
                const skiff_tensor_t *t = jobs[j]->inputs[i];
                if (t->nbytes)
                    memcpy((char *)merged[i]->data + off, t->data, t->nbytes);
                off += t->nbytes;
            }
            if (!st && pad > 0)
                pad_rows(merged[i]->data, row_bytes, data_rows, pad);
        }
        if (!st)
            in->in_ptrs[v->engine_index] = merged[i];
    }
    if (!st)
        st = skiff_context_run(in->ctx, in->in_ptrs, m->n_engine_in, in->out_ptrs);
    bool split_ok = true;
    for (int o = 0; !st && split_ok && o < m->d.n_fetch; o++) {
        const skiff__model_var *v = &m->d.fetch[o];
        const skiff_tensor_t *t = in->out_ptrs[v->engine_index];
        int64_t d0 = t->ndim >= 1 ? t->dims[0] : -1;
        bool has_lod = jobs[0]->lod_input >= 0;
        /* Which rows of the output belong to which job. */
        int by = 0; /* 1: job rows, 2: LoD rows */
        if (v->is_lod && has_lod && d0 == total_lod)
            by = 2;
        else if (d0 == total_rows + pad)
            by = 1;
        else if (has_lod && d0 == total_lod)
            by = 2;
        if (!by) {
            split_ok = false;
            break;
        }
        int64_t r0 = 0;
        for (int j = 0; !st && j < k; j++) {
            skiff__job *job = jobs[j];
            int64_t nr = by == 1 ? job->rows : job->lod_rows;
            if (wanted(job, o)) {
                st = slice_rows(t, r0, nr, &job->outputs[o]);
                if (!st && v->is_lod) {
                    int64_t tmp[2];
                    int n;
                    if (by == 2) {
                        const int64_t *lod = job_lod(job, &n, tmp);
                        st = set_out_lod(job, o, lod, n, 0);
                    } else if (job->rows == 1) {
                        tmp[0] = 0;
                        tmp[1] = nr;
                        st = set_out_lod(job, o, tmp, 2, 0);
                    }
                }
            }
            r0 += nr;
        }
    }
    for (int i = 0; merged && i < m->d.n_feed; i++)
        skiff_tensor_free(merged[i]);
    for (int i = 0; strarr && i < m->d.n_feed; i++)
        skiff__free(strarr[i]);
    skiff__free(merged);
    skiff__free(strarr);
    if (st || !split_ok) {
        for (int j = 0; j < k; j++)
            drop_outputs(jobs[j]);
    }
    *out_st = st;
    return split_ok;
}

static void stamp_last_inference(skiff__model *m)
{
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    atomic_store_explicit(&m->stats.last_inference_ms,
                          (uint64_t)wall.tv_sec * 1000 + (uint64_t)wall.tv_nsec / 1000000,
                          memory_order_relaxed);
}

/* Runs a batch of jobs and records stats; does not call done. */
static void run_batch(skiff__model *m, skiff__instance *in, skiff__job **jobs, int k)
{
    uint64_t t0 = skiff__now_ns();
    int64_t rows = 0;
    for (int j = 0; j < k; j++) {
        jobs[j]->t_start = t0;
        rows += jobs[j]->rows;
    }
    int64_t pad = padded_rows(m, jobs[0], rows) - rows;
    int runs = 1;
    if (k == 1 && pad == 0) {
        skiff__sched_run_one(m, in, jobs[0]);
    } else {
        skiff_status_t *st = NULL;
        if (run_merged(m, in, jobs, k, pad, &st)) {
            for (int j = 0; j < k; j++)
                jobs[j]->status = j == 0 ? st
                                         : (st ? skiff_status_new(skiff_status_code(st), "%s",
                                                                  skiff_status_message(st))
                                               : NULL);
            if (!st && k > 1)
                ADD(m->stats.merged_jobs, (uint64_t)k);
            if (!st)
                ADD(m->stats.padded_rows, (uint64_t)pad);
        } else {
            skiff_log(SKIFF_LOG_DEBUG,
                      "model %s: outputs of a batch of %lld rows (%lld of them padding) do not "
                      "split by rows; running its %d job(s) one by one, unpadded",
                      m->d.name, (long long)(rows + pad), (long long)pad, k);
            runs = k;
            for (int j = 0; j < k; j++)
                skiff__sched_run_one(m, in, jobs[j]);
        }
    }
    uint64_t t1 = skiff__now_ns();
    uint64_t us = (t1 - t0) / 1000;
    ADD(m->stats.execution_count, (uint64_t)runs);
    ADD(m->stats.inference_count, (uint64_t)rows);
    skiff__hist_add(&m->stats.compute_us, skiff__latency_bounds_us, us);
    if (runs == 1) {
        skiff__hist_add(&m->stats.batch_rows, skiff__batch_bounds, (uint64_t)rows);
    } else {
        for (int j = 0; j < k; j++)
            skiff__hist_add(&m->stats.batch_rows, skiff__batch_bounds, (uint64_t)jobs[j]->rows);
    }
    stamp_last_inference(m);
    for (int j = 0; j < k; j++) {
        skiff__job *job = jobs[j];
        job->t_end = t1;
        job->batch_rows = runs == 1 ? (int)rows : (int)job->rows;
        uint64_t q = job->t_start - job->t_submit;
        ADD(m->stats.queue_ns, q);
        ADD(m->stats.queue_count, 1);
        ADD(m->stats.compute_ns, t1 - t0);
        ADD(m->stats.compute_count, 1);
        skiff__hist_add(&m->stats.queue_us, skiff__latency_bounds_us, q / 1000);
    }
}

static void fail_job(skiff__job *job, skiff_status_t *st)
{
    job->status = st;
    job->t_start = job->t_end = skiff__now_ns();
    job->done(job, job->user);
}

static skiff_status_t *deadline_status(const skiff__model *m, const skiff__job *job, uint64_t now)
{
    return skiff_status_new(SKIFF_CODE_DEADLINE_EXCEEDED,
                            "model '%s': request deadline passed after %.1f ms in the queue "
                            "(the timeout was %.1f ms)",
                            m->d.name, (double)(now - job->t_submit) / 1e6,
                            (double)(job->deadline_ns - job->t_submit) / 1e6);
}

/* Takes queued jobs that fit behind the batch (FIFO: stops at the first that
 * does not); expired ones go to *dead. Called with the lock held. */
static void take_more(skiff__model *m, skiff__job **batch, int *k, int64_t *rows, skiff__job **dead,
                      uint64_t now)
{
    while (m->head && *k < m->d.max_batch) {
        skiff__job *j = m->head;
        if (j->deadline_ns && now > j->deadline_ns) {
            m->head = j->next;
            if (!m->head)
                m->tail = NULL;
            m->depth--;
            j->next = *dead;
            *dead = j;
            continue;
        }
        if (*rows + j->rows > m->d.max_batch || !compatible(m, batch[0], j))
            break;
        m->head = j->next;
        if (!m->head)
            m->tail = NULL;
        m->depth--;
        j->next = NULL;
        batch[(*k)++] = j;
        *rows += j->rows;
    }
}

static void *instance_main(void *arg)
{
    skiff__instance *in = arg;
    skiff__model *m = in->m;
    char tname[16];
    snprintf(tname, sizeof(tname), "sk-%.8s-%d", m->d.name, in->index);
    pthread_setname_np(pthread_self(), tname);

    pthread_mutex_lock(&m->lock);
    for (;;) {
        if (!(m->head && !in->busy)) {
            if (m->closing && !m->head)
                break;
            pthread_cond_wait(&m->cond, &m->lock);
            continue;
        }
        skiff__job *dead = NULL;
        uint64_t now = skiff__now_ns();
        skiff__job *first = m->head;
        m->head = first->next;
        if (!m->head)
            m->tail = NULL;
        m->depth--;
        first->next = NULL;
        if (first->deadline_ns && now > first->deadline_ns) {
            first->next = dead;
            dead = first;
            first = NULL;
        }
        int k = 0;
        int64_t rows = 0;
        if (first) {
            skiff__job **b = in->batch;
            b[0] = first;
            k = 1;
            rows = first->rows;
            /* Busy from here: an inline run must not borrow this context
             * while it waits for a batch to fill. */
            in->busy = true;
            m->idle--;
            if (m->d.mergeable) {
                bool backlog = m->head != NULL;
                take_more(m, b, &k, &rows, &dead, now);
                if (backlog && rows < m->d.max_batch && m->d.max_queue_delay_us > 0) {
                    m->filling++;
                    uint64_t until = first->t_submit + (uint64_t)m->d.max_queue_delay_us * 1000;
                    while (rows < m->d.max_batch && !m->closing &&
                           (now = skiff__now_ns()) < until &&
                           !(m->head && !compatible(m, b[0], m->head))) {
                        struct timespec ts = {.tv_sec = (time_t)(until / 1000000000ull),
                                              .tv_nsec = (long)(until % 1000000000ull)};
                        pthread_cond_timedwait(&m->cond, &m->lock, &ts);
                        take_more(m, b, &k, &rows, &dead, skiff__now_ns());
                    }
                    m->filling--;
                }
            }
            pthread_mutex_unlock(&m->lock);
            now = skiff__now_ns();
            while (dead) {
                skiff__job *d = dead;
                dead = d->next;
                d->next = NULL;
                fail_job(d, deadline_status(m, d, now));
            }
            run_batch(m, in, b, k);
            for (int j = 0; j < k; j++)
                b[j]->done(b[j], b[j]->user);
            pthread_mutex_lock(&m->lock);
            in->busy = false;
            m->idle++;
        } else {
            pthread_mutex_unlock(&m->lock);
            while (dead) {
                skiff__job *d = dead;
                dead = d->next;
                d->next = NULL;
                fail_job(d, deadline_status(m, d, now));
            }
            pthread_mutex_lock(&m->lock);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

skiff_status_t *skiff__model_submit(skiff__model *m, skiff__job *job)
{
    skiff_status_t *st = skiff__model_check_job(m, job);
    if (st)
        return st;
    job->next = NULL;
    job->t_submit = skiff__now_ns();
    pthread_mutex_lock(&m->lock);
    if (m->closing) {
        pthread_mutex_unlock(&m->lock);
        return skiff_status_new(SKIFF_CODE_UNAVAILABLE, "model '%s' is shutting down", m->d.name);
    }
    if (m->depth >= m->d.queue_size) {
        int depth = m->depth;
        pthread_mutex_unlock(&m->lock);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED,
                                "model '%s' is overloaded: its queue is full (%d requests "
                                "waiting); retry later",
                                m->d.name, depth);
    }
    if (m->tail)
        m->tail->next = job;
    else
        m->head = job;
    m->tail = job;
    m->depth++;
    /* Busy instances look at the queue when they finish; only idle ones
     * (or one filling a batch) need waking. */
    if (m->idle > 0 || m->filling > 0)
        pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

bool skiff__model_run_inline(skiff__model *m, skiff__job *job, skiff__job_done_cb with_outputs,
                             void *user)
{
    if (!m->d.inline_ok)
        return false;
    pthread_mutex_lock(&m->lock);
    skiff__instance *in = NULL;
    bool slot = false;
    if (!m->closing && !m->head) {
        /* An inline context of its own first; else an idle instance's. */
        for (int i = 0; i < m->n_islot && !in; i++)
            if (!m->islot[i].busy)
                in = &m->islot[i];
        slot = in != NULL;
        for (int i = 0; i < m->n_inst && !in && m->idle > 0; i++)
            if (!m->inst[i].busy)
                in = &m->inst[i];
    }
    if (in) {
        in->busy = true;
        if (!slot)
            m->idle--;
    }
    pthread_mutex_unlock(&m->lock);
    if (!in)
        return false;
    uint64_t t0 = skiff__now_ns();
    job->t_submit = job->t_start = t0;
    skiff_status_t *st = skiff__model_check_job(m, job);
    if (st)
        job->status = st;
    else
        st = run_one(m, in, job, with_outputs != NULL);
    uint64_t t1 = skiff__now_ns();
    job->t_end = t1;
    job->batch_rows = (int)job->rows;
    if (with_outputs) {
        /* The outputs live in the borrowed context: use them before it goes
         * back, then forget them. */
        with_outputs(job, user);
        if (!st)
            memset(job->outputs, 0, sizeof(*job->outputs) * (size_t)job->n_fetch);
    }
    pthread_mutex_lock(&m->lock);
    in->busy = false;
    if (!slot) {
        m->idle++;
        if (m->head)
            pthread_cond_broadcast(&m->cond);
    }
    pthread_mutex_unlock(&m->lock);
    if (!st) {
        ADD(m->stats.execution_count, 1);
        ADD(m->stats.inline_count, 1);
        stamp_last_inference(m);
        ADD(m->stats.inference_count, (uint64_t)job->rows);
        ADD(m->stats.compute_ns, t1 - t0);
        ADD(m->stats.compute_count, 1);
        ADD(m->stats.queue_count, 1);
        skiff__hist_add(&m->stats.compute_us, skiff__latency_bounds_us, (t1 - t0) / 1000);
        skiff__hist_add(&m->stats.queue_us, skiff__latency_bounds_us, 0);
        skiff__hist_add(&m->stats.batch_rows, skiff__batch_bounds, (uint64_t)job->rows);
    }
    return true;
}

void skiff__model_count_request(skiff__model *m, skiff_code_t code, uint64_t e2e_ns)
{
    if ((unsigned)code < 10)
        ADD(m->stats.req_by_code[code], 1);
    if (code == SKIFF_CODE_OK)
        ADD(m->stats.success_ns, e2e_ns);
    else
        ADD(m->stats.fail_ns, e2e_ns);
    skiff__hist_add(&m->stats.e2e_us, skiff__latency_bounds_us, e2e_ns / 1000);
}

int skiff__model_queue_depth(skiff__model *m)
{
    pthread_mutex_lock(&m->lock);
    int d = m->depth;
    pthread_mutex_unlock(&m->lock);
    return d;
}

skiff_status_t *skiff__sched_start(skiff__model *m)
{
    m->idle = m->n_inst;
    for (int i = 0; i < m->n_inst; i++) {
        m->inst[i].batch = skiff__calloc((size_t)m->d.max_batch + 1, sizeof(skiff__job *));
        if (!m->inst[i].batch)
            return oom();
        int rc = pthread_create(&m->inst[i].thread, NULL, instance_main, &m->inst[i]);
        if (rc != 0)
            return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED,
                                    "model '%s': cannot start instance thread %d: %s", m->d.name, i,
                                    strerror(rc));
        m->inst[i].started = true;
    }
    return NULL;
}

void skiff__sched_stop(skiff__model *m)
{
    pthread_mutex_lock(&m->lock);
    m->closing = true;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    for (int i = 0; m->inst && i < m->n_inst; i++) {
        if (m->inst[i].started) {
            pthread_join(m->inst[i].thread, NULL);
            m->inst[i].started = false;
        }
    }
}
