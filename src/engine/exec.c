/* exec.c - execution contexts: running a compiled model (compile.c).
 *
 * A skiff_context_t owns everything a run mutates: one runtime tensor per
 * value, the buffer pool, and per-node kernel caches. The skiff_model_t it
 * runs is never written after compilation.
 *
 * Memory: intermediate buffers come from a per-context pool of blocks. A
 * value's block goes back to the pool as soon as its last consumer has run
 * (liveness by consumer count), so a steady-state run reuses the same blocks
 * and calls malloc only when a new input shape needs a bigger one. View ops
 * (Reshape, Squeeze...) share their input's block through a refcount.
 *
 * Shape chains: nodes whose inputs are all constants or derived from Shape
 * and Size outputs (Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as
 * exporters write them) compute the same values whenever the shapes they
 * read are the same. A context keeps their (small) outputs from the last run
 * with the shapes each Shape/Size node saw; while a run sees the same shapes,
 * those nodes are not run again but answer from that memo. A shape that
 * differs drops the memo, and that run records it anew. So folding happens
 * per input-shape signature, once the shapes are known, and a graph whose
 * shapes depend on data is still right: the check is on the shapes the
 * Shape nodes actually see. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

typedef struct skiff__block {
    void *data;
    size_t cap;
    int refs; /* values currently using it; 0 = free */
} block;

/* A runtime value: header, owning block (NULL for inputs, constants and
 * standalone tensors), consumers still to run. */
typedef skiff__rt rt_value;

/* The buffer pool: a context's own, or its parent's for a subgraph's
 * child context. */
typedef struct pool {
    block **blocks;
    int n_blocks, cap_blocks;
    size_t peak, naive, live;
} pool;

struct skiff__exec {
    skiff_context_t *ctx; /* NULL in standalone (constant folding) mode */
    size_t max_bytes;     /* largest output a kernel may ask for; 0: SKIFF__MAX_TENSOR_BYTES */
    uint64_t max_macs;    /* most multiply-adds one node may take; 0: no limit */
    bool over_limit;      /* a kernel asked for more than max_bytes */
    /* The loop budget: iterations so far and the most allowed, kept by the
     * top-level context (or folding's standalone exec); root points there. */
    skiff__exec *root;
    uint64_t iters, max_iters;
    double folded_macs; /* constant folding: the work of a folded node's subgraphs */
    /* skiff__kctx_scratch: one buffer for every node's temporary work
     * (oneDNN scratchpads), grown to the largest asked for */
    void *scratch;
    size_t scratch_cap;
};

/* The most inputs (a fused sum besides) and outputs a node may have: a
 * Loop's carried values and the outer values its body reads count. */
#define MAX_NODE_IN 255
#define MAX_NODE_OUT 64

/* Outputs of a shape-derived node larger than this are recomputed each run. */
#define MEMO_MAX_BYTES ((size_t)64 << 10)

/* A node's memo: a Shape/Size node's input shape, or a derived node's outputs
 * (owned copies) from the run that recorded them. */
typedef struct memo_entry {
    bool valid;
    int ndim;
    int64_t dims[SKIFF_MAX_DIMS];
    int n_out;
    skiff_tensor_t *out[16];
} memo_entry;

struct skiff_context {
    const skiff_model_t *m;
    int threads;
    skiff__thr_adapt adapt;
    rt_value *rt;
    void **cache; /* per node */
    pool own;
    pool *pool; /* &own, or the parent's */
    bool child; /* a subgraph's context (skiff__sub_context) */
    skiff__exec exec;
    rt_value scratch[MAX_NODE_OUT]; /* omitted outputs of the running node */
    bool profile;
    uint64_t *prof_ns; /* per node, accumulated while profiling */
    uint64_t prof_runs;
    memo_entry **memo;  /* per node, allocated when first needed */
    uint64_t memo_hits; /* nodes answered from the memo, all runs */
};

/* ---- pool ---- */

static block *pool_get(skiff_context_t *c, size_t need)
{
    pool *p = c->pool;
    block *best = NULL;
    for (int i = 0; i < p->n_blocks; i++) {
        block *b = p->blocks[i];
        if (b->refs == 0 && b->cap >= need && (!best || b->cap < best->cap))
            best = b;
    }
    /* Reuse only when not grossly oversized, so a tiny tensor does not pin
     * the largest buffer. */
    if (best && (best->cap <= need * 4 || best->cap <= 4096)) {
        best->refs = 1;
        return best;
    }
    if (p->n_blocks == p->cap_blocks) {
        int cap = p->cap_blocks ? p->cap_blocks * 2 : 32;
        block **nb = skiff__realloc(p->blocks, sizeof(*nb) * (size_t)cap);
        if (!nb)
            return NULL;
        p->blocks = nb;
        p->cap_blocks = cap;
    }
    block *b = skiff__malloc(sizeof(*b));
    if (!b)
        return NULL;
    b->cap = need < 64 ? 64 : need;
    b->data = skiff__aligned_alloc(b->cap);
    if (!b->data) {
        skiff__free(b);
        return NULL;
    }
    b->refs = 1;
    p->blocks[p->n_blocks++] = b;
    return b;
}

static void rt_release(skiff_context_t *c, rt_value *r)
{
    if (!r->set)
        return;
    if (r->blk && --r->blk->refs == 0)
        c->pool->live -= r->blk->cap;
    if (r->t.dtype == SKIFF_DTYPE_STRING && r->blk && r->blk->refs == 0 && r->t.data) {
        int64_t n = skiff_tensor_numel(&r->t);
        char **s = r->t.data;
        for (int64_t i = 0; i < n; i++) {
            skiff__free(s[i]);
            s[i] = NULL;
        }
    }
    if (skiff__is_seq(&r->t) && r->blk && r->blk->refs == 0 && r->t.data) {
        skiff_tensor_t **e = r->t.data;
        for (int64_t i = 0; i < r->t.dims[0]; i++) {
            skiff__value_free(e[i]);
            e[i] = NULL;
        }
    }
    r->blk = NULL;
    r->set = false;
}

static void value_release(skiff_context_t *c, int v) { rt_release(c, &c->rt[v]); }

/* Runtime slot for output idx of the running node: its value, or a scratch
 * slot when the graph omits that output (name ""). */
static rt_value *out_slot(skiff_context_t *c, const skiff__node *n, int idx)
{
    int v = n->out[idx];
    return v >= 0 ? &c->rt[v] : &c->scratch[idx];
}

/* ---- kernel services ---- */

skiff_tensor_t *skiff__kctx_output(skiff__kctx *k, int idx, skiff_dtype_t dtype, int ndim,
                                   const int64_t *dims, skiff_status_t **st)
{
    if (idx < 0 || idx >= k->n_out) {
        *st = skiff__kerr(k, SKIFF_CODE_INTERNAL, "kernel wrote output %d of %d", idx, k->n_out);
        return NULL;
    }
    size_t es = skiff_dtype_size(dtype);
    int64_t n = skiff_shape_numel(ndim, dims);
    size_t nbytes;
    if (ndim < 0 || ndim > SKIFF_MAX_DIMS || es == 0 || n < 0 ||
        !skiff__mul_size((size_t)n, es, &nbytes) || nbytes > SKIFF__MAX_TENSOR_BYTES) {
        char sb[200];
        *st = skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "output %d would have invalid shape %s (%s)",
                          idx, skiff_shape_str(ndim < 0 ? 0 : ndim, dims, sb, sizeof(sb)),
                          skiff_dtype_name(dtype));
        return NULL;
    }
    if (k->exec && k->exec->max_bytes && nbytes > k->exec->max_bytes) {
        char sb[200];
        k->exec->over_limit = k->exec->root->over_limit = true;
        *st = skiff__kerr(k, SKIFF_CODE_RESOURCE_EXHAUSTED,
                          "output %d of shape %s would take %zu bytes, more than the limit of %zu",
                          idx, skiff_shape_str(ndim, dims, sb, sizeof(sb)), nbytes,
                          k->exec->max_bytes);
        return NULL;
    }
    skiff_context_t *c = k->exec ? k->exec->ctx : NULL;
    if (!c) { /* standalone: a fresh owned tensor */
        skiff_tensor_t *t;
        *st = skiff_tensor_new(dtype, ndim, dims, &t);
        if (*st)
            return NULL;
        skiff_tensor_free(k->out[idx]);
        k->out[idx] = t;
        return t;
    }
    rt_value *r = out_slot(c, k->node, idx);
    rt_release(c, r);
    block *b = pool_get(c, nbytes);
    if (!b) {
        *st = skiff__kerr(k, SKIFF_CODE_RESOURCE_EXHAUSTED,
                          "out of memory for output %d (%zu bytes)", idx, nbytes);
        return NULL;
    }
    c->pool->live += b->cap;
    if (c->pool->live > c->pool->peak)
        c->pool->peak = c->pool->live;
    c->pool->naive += nbytes;
    r->blk = b;
    r->set = true;
    r->t.dtype = dtype;
    r->t.ndim = ndim;
    if (ndim)
        memcpy(r->t.dims, dims, sizeof(int64_t) * (size_t)ndim);
    r->t.data = b->data;
    r->t.nbytes = nbytes;
    r->t.flags = 0;
    if (dtype == SKIFF_DTYPE_STRING)
        memset(b->data, 0, nbytes);
    k->out[idx] = &r->t;
    return &r->t;
}

skiff_tensor_t *skiff__kctx_output_over(skiff__kctx *k, int idx, int in_idx, skiff_dtype_t dtype,
                                        int ndim, const int64_t *dims, skiff_status_t **st)
{
    skiff_context_t *c = k->exec ? k->exec->ctx : NULL;
    const skiff__node *n = k->node;
    int v = !c || idx < 0 || idx >= k->n_out  ? -1
            : in_idx >= 0 && in_idx < n->n_in ? n->in[in_idx]
            : in_idx == n->n_in               ? n->sum_input
                                              : -1;
    const skiff_tensor_t *src = v >= 0 ? k->in[in_idx] : NULL;
    bool same = src && src->dtype == dtype && src->ndim == ndim && dtype != SKIFF_DTYPE_STRING;
    for (int i = 0; same && i < ndim; i++)
        same = src->dims[i] == dims[i];
    const skiff__value *val = v >= 0 ? &k->graph->values[v] : NULL;
    rt_value *in = v >= 0 ? &c->rt[v] : NULL;
    /* dies here (this node is its last pending use, once), owns its block
     * alone, and is neither a graph input nor an output */
    if (!same || val->is_input || val->is_output || in->pending != 1 || !in->blk ||
        in->blk->refs != 1 || in->t.data != in->blk->data || in->blk->cap < src->nbytes)
        return skiff__kctx_output(k, idx, dtype, ndim, dims, st);
    rt_value *r = out_slot(c, n, idx);
    rt_release(c, r);
    r->blk = in->blk;
    r->blk->refs++;
    c->pool->naive += src->nbytes;
    r->set = true;
    r->t = *src;
    r->t.flags = 0;
    k->out[idx] = &r->t;
    return &r->t;
}

void *skiff__kctx_scratch(skiff__kctx *k, size_t size)
{
    skiff__exec *x = k->exec;
    if (!x)
        return NULL;
    if (size < 64)
        size = 64;
    if (x->scratch_cap < size) {
        skiff__free(x->scratch);
        x->scratch = skiff__aligned_alloc(size);
        x->scratch_cap = x->scratch ? size : 0;
    }
    return x->scratch;
}

skiff_status_t *skiff__kctx_cost(skiff__kctx *k, double macs)
{
    /* Folding a node with subgraphs: its nodes' work together is bounded
     * by the one node's limit. */
    if (k->exec && !k->exec->root->ctx && k->exec != k->exec->root) {
        k->exec->root->folded_macs += macs;
        macs = k->exec->root->folded_macs;
    }
    if (!k->exec || !k->exec->max_macs || macs <= (double)k->exec->max_macs)
        return NULL;
    k->exec->over_limit = k->exec->root->over_limit = true;
    return skiff__kerr(k, SKIFF_CODE_RESOURCE_EXHAUSTED,
                       "needs about %.3g multiply-adds, more than the limit of %llu", macs,
                       (unsigned long long)k->exec->max_macs);
}

skiff_status_t *skiff__kctx_alias(skiff__kctx *k, int idx, int in_idx, int ndim,
                                  const int64_t *dims)
{
    const skiff_tensor_t *src = in_idx >= 0 && in_idx < k->n_in ? k->in[in_idx] : NULL;
    if (!src || idx < 0 || idx >= k->n_out)
        return skiff__kerr(k, SKIFF_CODE_INTERNAL, "bad alias %d <- %d", idx, in_idx);
    if (ndim < 0 || ndim > SKIFF_MAX_DIMS ||
        skiff_shape_numel(ndim, dims) != skiff_tensor_numel(src))
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "cannot view %lld elements with %d dims",
                           (long long)skiff_tensor_numel(src), ndim);
    skiff_context_t *c = k->exec ? k->exec->ctx : NULL;
    if (!c || src->dtype == SKIFF_DTYPE_STRING) {
        /* Standalone or strings: copy (string elements cannot be shared). */
        skiff_status_t *st = NULL;
        skiff_tensor_t *t = skiff__kctx_output(k, idx, src->dtype, ndim, dims, &st);
        if (!t)
            return st;
        if (src->dtype == SKIFF_DTYPE_STRING) {
            int64_t n = skiff_tensor_numel(src);
            for (int64_t i = 0; i < n; i++) {
                const char *s = ((char *const *)src->data)[i];
                ((char **)t->data)[i] = skiff__strdup(s ? s : "");
                if (!((char **)t->data)[i])
                    return skiff__kerr(k, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
            }
        } else if (src->nbytes) {
            memcpy(t->data, src->data, src->nbytes);
        }
        return NULL;
    }
    int sv = k->node->in[in_idx];
    rt_value *r = out_slot(c, k->node, idx);
    rt_release(c, r);
    r->t = *src;
    r->t.ndim = ndim;
    if (ndim)
        memcpy(r->t.dims, dims, sizeof(int64_t) * (size_t)ndim);
    r->t.flags = 0;
    r->blk = sv >= 0 ? c->rt[sv].blk : NULL; /* NULL for inputs and constants */
    if (r->blk)
        r->blk->refs++;
    r->set = true;
    k->out[idx] = &r->t;
    return NULL;
}

/* ---- context ---- */

skiff_status_t *skiff_context_new(const skiff_model_t *m, const skiff_context_options_t *opts,
                                  skiff_context_t **out_context)
{
    skiff_context_t *c = skiff__calloc(1, sizeof(*c));
    if (!c)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    c->m = m;
    c->threads = opts && opts->threads > 0 ? opts->threads : skiff_cpu_count();
    const char *ad = getenv("SKIFF_THREADS_ADAPT");
    skiff__adapt_init(&c->adapt, c->threads);
    c->adapt.on = c->adapt.on && !(ad && ad[0] == '0');
    c->exec.max_bytes = opts ? opts->max_tensor_bytes : 0;
    c->exec.max_macs = opts ? opts->max_node_macs : 0;
    c->exec.max_iters =
        opts && opts->max_loop_iterations ? opts->max_loop_iterations : SKIFF__MAX_LOOP_ITERATIONS;
    c->exec.root = &c->exec;
    c->pool = &c->own;
    c->rt = skiff__calloc((size_t)m->g->n_values + 1, sizeof(rt_value));
    c->cache = skiff__calloc((size_t)m->g->n_nodes + 1, sizeof(void *));
    c->exec.ctx = c;
    if (!c->rt || !c->cache) {
        skiff_context_free(c);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    *out_context = c;
    return NULL;
}

static void release_all(skiff_context_t *c)
{
    for (int v = 0; v < c->m->g->n_values; v++)
        value_release(c, v);
    for (int o = 0; o < MAX_NODE_OUT; o++)
        rt_release(c, &c->scratch[o]);
}

void skiff_context_free(skiff_context_t *c)
{
    if (!c)
        return;
    if (c->rt)
        release_all(c);
    if (c->cache)
        for (int i = 0; i < c->m->g->n_nodes; i++) {
            const skiff__node *n = &c->m->g->nodes[i];
            if (c->cache[i] && n->op && n->op->cache_free)
                n->op->cache_free(c->cache[i]);
        }
    for (int i = 0; i < c->own.n_blocks; i++) { /* a child's own pool is empty */
        skiff__free(c->own.blocks[i]->data);
        skiff__free(c->own.blocks[i]);
    }
    skiff__free(c->own.blocks);
    skiff__free(c->exec.scratch);
    if (c->memo) {
        for (int i = 0; i < c->m->g->n_nodes; i++)
            if (c->memo[i]) {
                for (int o = 0; o < c->memo[i]->n_out; o++)
                    skiff_tensor_free(c->memo[i]->out[o]);
                skiff__free(c->memo[i]);
            }
        skiff__free(c->memo);
    }
    skiff__free(c->prof_ns);
    skiff__free(c->rt);
    skiff__free(c->cache);
    skiff__free(c);
}

void skiff_context_memory_stats(const skiff_context_t *c, size_t *out_peak, size_t *out_naive)
{
    if (out_peak)
        *out_peak = c->pool->peak;
    if (out_naive)
        *out_naive = c->pool->naive;
}

void skiff_context_memory_held(const skiff_context_t *c, size_t *out_buffers, size_t *out_scratch)
{
    size_t held = 0;
    for (int i = 0; i < c->pool->n_blocks; i++)
        held += c->pool->blocks[i]->cap;
    if (out_buffers)
        *out_buffers = held;
    if (out_scratch)
        *out_scratch = c->exec.scratch_cap;
}

static skiff_status_t *check_input(const skiff_value_info_t *info, const skiff_tensor_t *t)
{
    char want[200], got[200];
    if (!t)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "input '%s' is missing", info->name);
    if (info->dtype != SKIFF_DTYPE_UNDEFINED && t->dtype != info->dtype)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "input '%s': expected %s, got %s",
                                info->name, skiff_dtype_name(info->dtype),
                                skiff_dtype_name(t->dtype));
    bool bad = t->ndim < 0 || t->ndim > SKIFF_MAX_DIMS;
    if (!bad && info->ndim >= 0) {
        bad = t->ndim != info->ndim;
        for (int i = 0; !bad && i < t->ndim; i++)
            bad = info->dims[i] >= 0 && t->dims[i] != info->dims[i];
    }
    if (!bad)
        bad = skiff_tensor_numel(t) < 0;
    if (!bad && t->dtype != SKIFF_DTYPE_STRING && !skiff__is_seq(t) &&
        (size_t)skiff_tensor_numel(t) * skiff_dtype_size(t->dtype) != t->nbytes)
        return skiff_status_new(
            SKIFF_CODE_INVALID_ARG, "input '%s': shape %s needs %zu bytes, the tensor holds %zu",
            info->name, skiff_shape_str(t->ndim, t->dims, got, sizeof(got)),
            (size_t)skiff_tensor_numel(t) * skiff_dtype_size(t->dtype), t->nbytes);
    if (bad)
        return skiff_status_new(
            SKIFF_CODE_INVALID_ARG, "input '%s': expected shape %s, got %s", info->name,
            skiff_shape_str(info->ndim < 0 ? 0 : info->ndim, info->dims, want, sizeof(want)),
            skiff_shape_str(t->ndim < 0 ? 0 : t->ndim, t->dims, got, sizeof(got)));
    return NULL;
}

static const skiff_tensor_t *value_tensor(skiff_context_t *c, const skiff_tensor_t *const *inputs,
                                          int v)
{
    const skiff__value *val = &c->m->g->values[v];
    if (val->constant)
        return val->constant;
    rt_value *r = &c->rt[v];
    return r->set ? &r->t : NULL;
    (void)inputs;
}

/* ---- shape memo ---- */

static memo_entry *memo_get(skiff_context_t *c, int ni)
{
    if (!c->memo) {
        c->memo = skiff__calloc((size_t)c->m->g->n_nodes + 1, sizeof(*c->memo));
        if (!c->memo)
            return NULL;
    }
    if (!c->memo[ni])
        c->memo[ni] = skiff__calloc(1, sizeof(memo_entry));
    return c->memo[ni];
}

/* Drops the derived nodes' outputs; the shapes the roots saw stay (each is
 * what that root saw last, which is what the next run compares with). */
static void memo_invalidate(skiff_context_t *c)
{
    for (int i = 0; c->memo && i < c->m->g->n_nodes; i++)
        if (c->memo[i] && c->m->shape_kind[i] == SKIFF__SHAPE_DERIVED)
            c->memo[i]->valid = false;
}

/* A Shape/Size node is about to run on x: true when x has the shape it had
 * when the memo was recorded (and records x's shape otherwise). */
static bool memo_root_same(skiff_context_t *c, int ni, const skiff_tensor_t *x, bool *oom)
{
    memo_entry *e = memo_get(c, ni);
    *oom = !e;
    if (!e || !x)
        return false;
    if (e->valid && e->ndim == x->ndim &&
        (x->ndim == 0 || memcmp(e->dims, x->dims, sizeof(int64_t) * (size_t)x->ndim) == 0))
        return true;
    e->ndim = x->ndim;
    if (x->ndim > 0)
        memcpy(e->dims, x->dims, sizeof(int64_t) * (size_t)x->ndim);
    e->valid = true;
    return false;
}

/* Keeps copies of a derived node's outputs, when they are small. */
static bool memo_store(skiff_context_t *c, int ni, const skiff__node *n)
{
    size_t total = 0;
    for (int o = 0; o < n->n_out; o++) {
        const rt_value *r = n->out[o] >= 0 ? &c->rt[n->out[o]] : NULL;
        if (!r)
            continue;
        if (!r->set || r->t.dtype == SKIFF_DTYPE_STRING || skiff__is_seq(&r->t))
            return true;
        total += r->t.nbytes;
    }
    if (total > MEMO_MAX_BYTES)
        return true;
    memo_entry *e = memo_get(c, ni);
    if (!e)
        return false;
    e->valid = false;
    for (int o = 0; o < e->n_out; o++) {
        skiff_tensor_free(e->out[o]);
        e->out[o] = NULL;
    }
    e->n_out = n->n_out;
    for (int o = 0; o < n->n_out; o++) {
        if (n->out[o] < 0)
            continue;
        const skiff_tensor_t *t = &c->rt[n->out[o]].t;
        skiff_status_t *st = skiff_tensor_new(t->dtype, t->ndim, t->dims, &e->out[o]);
        if (st) {
            skiff_status_free(st);
            return false; /* stays invalid */
        }
        if (t->nbytes)
            memcpy(e->out[o]->data, t->data, t->nbytes);
    }
    e->valid = true;
    return true;
}

/* Sets a derived node's outputs from its memo, if it has one. */
static bool memo_restore(skiff_context_t *c, int ni, const skiff__node *n)
{
    memo_entry *e = c->memo ? c->memo[ni] : NULL;
    if (!e || !e->valid)
        return false;
    for (int o = 0; o < n->n_out; o++) {
        int v = n->out[o];
        if (v < 0)
            continue;
        rt_value *r = &c->rt[v];
        rt_release(c, r);
        r->t = *e->out[o];
        r->t.flags = 0;
        r->blk = NULL;
        r->set = true;
    }
    c->memo_hits++;
    return true;
}

uint64_t skiff__context_memo_hits(const skiff_context_t *c) { return c->memo_hits; }

void skiff__adapt_init(skiff__thr_adapt *a, int threads)
{
    memset(a, 0, sizeof(*a));
    a->on = threads > 1;
    a->threads[0] = threads;
    a->threads[1] = threads / 2;
    a->period_runs = SKIFF__ADAPT_RUNS_MIN;
    a->period_ns = SKIFF__ADAPT_NS_MIN;
}

static uint64_t shape_sig(const skiff_tensor_t *const *inputs, int n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a over dtype, rank and dims */
    for (int i = 0; i < n; i++) {
        const skiff_tensor_t *t = inputs[i];
        h = (h ^ (uint64_t)t->dtype) * 1099511628211ull;
        h = (h ^ (uint64_t)t->ndim) * 1099511628211ull;
        for (int d = 0; d < t->ndim; d++)
            h = (h ^ (uint64_t)t->dims[d]) * 1099511628211ull;
    }
    return h;
}

/* The mode this run uses. */
int skiff__adapt_pick(skiff__thr_adapt *a, uint64_t sig, uint64_t now)
{
    if (sig != a->sig) { /* a new shape: its own figures; the mode carries over */
        a->sig = sig;
        a->seen[0] = a->seen[1] = 0;
        a->ewma[0] = a->ewma[1] = a->best[0] = a->best[1] = 0;
        a->suspect = false;
        a->probe_n = 0;
        a->probe_sum = 0;
    }
    int other = !a->cur;
    if (a->probe_n > 0)
        return other; /* a try is two timed runs */
    if (a->seen[a->cur] < 2)
        return a->cur; /* time the current mode first */
    /* Probe the other mode on a schedule that stretches while the choice
     * holds; a current mode that slows down (suspect) is probed sooner. The
     * probe's cost over a normal run bounds how often: at most 1%. */
    uint64_t period_runs = a->suspect ? SKIFF__ADAPT_RUNS_MIN : a->period_runs;
    uint64_t period_ns = a->suspect ? SKIFF__ADAPT_NS_MIN : a->period_ns;
    if (a->since < period_runs || now - a->last_ns < period_ns ||
        now - a->last_ns < 100 * a->last_extra)
        return a->cur;
    return other;
}

void skiff__adapt_note(skiff__thr_adapt *a, int mode, uint64_t dt, uint64_t now)
{
    double t = (double)dt;
    a->reduced_runs += mode == 1;
    if (a->seen[mode]++ == 0) { /* compiled this run: not a timing */
        if (mode == a->cur)
            a->since++;
        return;
    }
    a->ewma[mode] = a->ewma[mode] > 0 ? 0.75 * a->ewma[mode] + 0.25 * t : t;
    if (a->best[mode] == 0 || t < a->best[mode])
        a->best[mode] = t;
    if (mode == a->cur) {
        a->since++;
        if (a->seen[mode] >= 3)
            a->suspect = a->ewma[mode] > SKIFF__ADAPT_SLOW * a->best[mode];
        return;
    }
    /* a try of the other mode: two timed runs, judged on their mean */
    a->probe_sum += t;
    if (++a->probe_n < 2)
        return;
    double mean = a->probe_sum / a->probe_n;
    a->probe_n = 0;
    a->probe_sum = 0;
    a->last_ns = now;
    a->since = 0;
    a->last_extra = mean > a->ewma[a->cur] ? (uint64_t)(2.0 * (mean - a->ewma[a->cur])) : 0;
    if (mean < SKIFF__ADAPT_WIN * a->ewma[a->cur]) {
        a->cur = mode;
        a->switches++;
        a->suspect = false;
        a->period_runs = SKIFF__ADAPT_RUNS_MIN;
        a->period_ns = SKIFF__ADAPT_NS_MIN;
        a->ewma[mode] = mean;
    } else {
        a->period_runs =
            a->period_runs * 2 < SKIFF__ADAPT_RUNS_MAX ? a->period_runs * 2 : SKIFF__ADAPT_RUNS_MAX;
        a->period_ns =
            a->period_ns * 2 < SKIFF__ADAPT_NS_MAX ? a->period_ns * 2 : SKIFF__ADAPT_NS_MAX;
    }
}

void skiff_context_thread_stats(const skiff_context_t *c, int *out_threads,
                                int *out_reduced_threads, uint64_t *out_reduced_runs,
                                uint64_t *out_switches)
{
    *out_threads = c->threads;
    *out_reduced_threads = c->adapt.threads[1];
    *out_reduced_runs = c->adapt.reduced_runs;
    *out_switches = c->adapt.switches;
}

static skiff_status_t *context_run(skiff_context_t *c, const skiff_tensor_t *const *inputs,
                                   skiff__rt *const *held, int n_inputs,
                                   const skiff_tensor_t **outputs);

skiff_status_t *skiff_context_run(skiff_context_t *c, const skiff_tensor_t *const *inputs,
                                  int n_inputs, const skiff_tensor_t **outputs)
{
    skiff__thr_adapt *a = &c->adapt;
    if (!a->on || n_inputs != c->m->g->n_inputs)
        return context_run(c, inputs, NULL, n_inputs, outputs);
    uint64_t t0 = skiff__now_ns();
    int mode = skiff__adapt_pick(a, shape_sig(inputs, n_inputs), t0);
    c->threads = a->threads[mode];
    skiff_status_t *st = context_run(c, inputs, NULL, n_inputs, outputs);
    uint64_t t1 = skiff__now_ns();
    if (!st)
        skiff__adapt_note(a, mode, t1 - t0, t1);
    return st;
}

/* Runs c's graph on inputs (borrowed tensors) or, for a child context,
 * held (slots whose buffers the run shares); outputs NULL for a child, whose
 * outputs stay in its values. */
static skiff_status_t *context_run(skiff_context_t *c, const skiff_tensor_t *const *inputs,
                                   skiff__rt *const *held, int n_inputs,
                                   const skiff_tensor_t **outputs)
{
    const skiff__graph *g = c->m->g;
    if (n_inputs != g->n_inputs)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "expected %d inputs, got %d", g->n_inputs,
                                n_inputs);
    for (int i = 0; i < n_inputs; i++) {
        skiff_status_t *st =
            check_input(&c->m->in_check[i], held ? (held[i]->set ? &held[i]->t : NULL) : inputs[i]);
        if (st)
            return st;
    }
    release_all(c);
    if (!c->child) {
        c->pool->naive = 0;
        c->exec.iters = 0;
    }
    for (int v = 0; v < g->n_values; v++)
        c->rt[v].pending = g->values[v].n_consumers;
    for (int i = 0; i < n_inputs; i++) {
        rt_value *r = &c->rt[g->inputs[i]];
        r->t = held ? held[i]->t : *inputs[i];
        r->t.flags = 0;
        r->blk = held ? held[i]->blk : NULL;
        if (r->blk)
            r->blk->refs++;
        r->set = true;
    }
    if (!c->child) /* a child runs inside its parent's node, on its threads */
        omp_set_num_threads(c->threads);

    const skiff_tensor_t *in_buf[MAX_NODE_IN + 1];
    skiff_tensor_t *out_buf[MAX_NODE_OUT];
    skiff_status_t *st = NULL;
    const unsigned char *kind = c->m->shape_kind;
    bool memo_ok = true; /* every Shape/Size so far saw its recorded shape */
    for (int oi = 0; oi < c->m->n_order && !st; oi++) {
        int ni = c->m->order[oi];
        const skiff__node *n = &g->nodes[ni];
        if (n->n_in > MAX_NODE_IN || n->n_out > MAX_NODE_OUT) {
            st = skiff__node_err(n, SKIFF_CODE_UNSUPPORTED, "too many inputs or outputs");
            break;
        }
        for (int k = 0; k < n->n_in; k++)
            in_buf[k] = n->in[k] >= 0 ? value_tensor(c, inputs, n->in[k]) : NULL;
        int n_in = n->n_in;
        if (n->sum_input >= 0)
            in_buf[n_in++] = value_tensor(c, inputs, n->sum_input);
        for (int k = 0; k < n->n_out; k++)
            out_buf[k] = NULL;
        for (int k = 0; !(n->op->flags & SKIFF_OP_TAKES_SEQ) && k < n_in; k++)
            if (skiff__is_seq(in_buf[k])) {
                st = skiff__node_err(n, SKIFF_CODE_INVALID_ARG,
                                     "input %d is a sequence or optional, the op takes tensors", k);
                break;
            }
        if (st)
            break;
        bool from_memo = false;
        if (kind && kind[ni] == SKIFF__SHAPE_ROOT) {
            bool oom;
            if (!memo_root_same(c, ni, in_buf[0], &oom) && memo_ok) {
                memo_ok = false; /* the memo is stale from here: drop it */
                memo_invalidate(c);
            }
            if (oom) {
                st = skiff__node_err(n, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
                break;
            }
        } else if (kind && kind[ni] == SKIFF__SHAPE_DERIVED && memo_ok) {
            from_memo = memo_restore(c, ni, n);
        }
        if (!from_memo) {
            skiff__kctx k = {
                .node = n,
                .graph = g,
                .in = in_buf,
                .n_in = n->n_in,
                .out = out_buf,
                .n_out = n->n_out,
                .cache = &c->cache[ni],
                .threads = c->threads,
                .exec = &c->exec,
            };
            uint64_t t0 = c->profile ? skiff__now_ns() : 0;
            st = n->op->run(&k);
            if (c->profile)
                c->prof_ns[ni] += skiff__now_ns() - t0;
            for (int o = 0; o < n->n_out; o++)
                rt_release(c, &c->scratch[o]);
            if (st)
                break;
            if (kind && kind[ni] == SKIFF__SHAPE_DERIVED && !memo_store(c, ni, n)) {
                st = skiff__node_err(n, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
                break;
            }
        }
        for (int o = 0; o < n->n_out; o++) {
            int v = n->out[o];
            if (v < 0)
                continue;
            if (!c->rt[v].set) {
                st = skiff__node_err(n, SKIFF_CODE_INTERNAL, "kernel did not produce output %d", o);
                break;
            }
            if (c->rt[v].pending == 0)
                value_release(c, v);
        }
        /* Liveness: release inputs whose last consumer this was. */
        for (int k = 0; k < n_in; k++) {
            int v = k < n->n_in ? n->in[k] : n->sum_input;
            if (v >= 0 && --c->rt[v].pending == 0 && !g->values[v].is_input)
                value_release(c, v);
        }
    }
    if (st) {
        release_all(c);
        return st;
    }
    c->prof_runs += c->profile;
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        const skiff_tensor_t *t = value_tensor(c, inputs, v);
        if (!t || (!c->child && skiff__is_seq(t))) {
            release_all(c);
            if (t)
                return skiff_status_new(
                    SKIFF_CODE_UNSUPPORTED,
                    "output '%s' is a %s, which a run cannot return (tensors "
                    "only)",
                    g->values[v].name, t->dtype == SKIFF__DTYPE_SEQUENCE ? "sequence" : "optional");
            return skiff_status_new(SKIFF_CODE_INTERNAL, "output '%s' was not computed",
                                    g->values[v].name);
        }
        if (outputs)
            outputs[i] = t;
    }
    return NULL;
}

/* ---- subgraphs ---- */

skiff_status_t *skiff__sub_context(skiff__kctx *k, const skiff_model_t *sub, skiff_context_t **out)
{
    skiff_context_options_t o = {.threads = skiff__kctx_threads(k)};
    skiff_context_t *sc;
    skiff_status_t *st = skiff_context_new(sub, &o, &sc);
    if (st)
        return st;
    sc->adapt.on = false;
    sc->child = true;
    if (k->exec) {
        sc->exec.max_bytes = k->exec->max_bytes;
        sc->exec.max_macs = k->exec->max_macs;
        sc->exec.root = k->exec->root;
        if (k->exec->ctx)
            sc->pool = k->exec->ctx->pool;
    }
    *out = sc;
    return NULL;
}

skiff_status_t *skiff__sub_run(skiff_context_t *sc, skiff__rt *const *in, int n)
{
    return context_run(sc, NULL, in, n, NULL);
}

const skiff_tensor_t *skiff__sub_output(skiff_context_t *sc, int i)
{
    const skiff__graph *g = sc->m->g;
    return i >= 0 && i < g->n_outputs ? value_tensor(sc, NULL, g->outputs[i]) : NULL;
}

/* Copies src into a pool buffer held by *h (strings and sequence elements
 * duplicated). */
static skiff_status_t *rt_copy_in(skiff_context_t *c, const skiff_tensor_t *src, skiff__rt *h)
{
    size_t nbytes = skiff__is_seq(src) ? (size_t)src->dims[0] * sizeof(void *) : src->nbytes;
    block *b = pool_get(c, nbytes);
    if (!b)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory (%zu bytes)", nbytes);
    c->pool->live += b->cap;
    if (c->pool->live > c->pool->peak)
        c->pool->peak = c->pool->live;
    h->t = *src;
    h->t.flags = 0;
    h->t.data = b->data;
    h->t.nbytes = nbytes;
    h->blk = b;
    h->set = true;
    if (src->dtype == SKIFF_DTYPE_STRING || skiff__is_seq(src)) {
        memset(b->data, 0, nbytes);
        int64_t n = skiff__is_seq(src) ? src->dims[0] : skiff_tensor_numel(src);
        for (int64_t i = 0; i < n; i++) {
            bool ok;
            if (skiff__is_seq(src)) {
                skiff_status_t *st = skiff__value_clone(((skiff_tensor_t *const *)src->data)[i],
                                                        &((skiff_tensor_t **)h->t.data)[i]);
                ok = !st;
                skiff_status_free(st);
            } else {
                const char *s = ((char *const *)src->data)[i];
                ok = (((char **)h->t.data)[i] = skiff__strdup(s ? s : "")) != NULL;
            }
            if (!ok) {
                rt_release(c, h);
                return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
            }
        }
    } else if (nbytes) {
        memcpy(h->t.data, src->data, nbytes);
    }
    return NULL;
}

skiff_status_t *skiff__sub_hold(skiff_context_t *sc, int i, skiff__rt *h)
{
    const skiff__graph *g = sc->m->g;
    const skiff_tensor_t *t = skiff__sub_output(sc, i);
    if (!t)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "subgraph output %d was not computed", i);
    rt_value *r = &sc->rt[g->outputs[i]];
    if (g->values[g->outputs[i]].constant || !r->blk)
        return rt_copy_in(sc, t, h);
    *h = *r;
    h->blk->refs++;
    return NULL;
}

skiff_status_t *skiff__sub_alloc(skiff_context_t *sc, skiff_dtype_t dtype, int ndim,
                                 const int64_t *dims, skiff__rt *h)
{
    size_t es = skiff_dtype_size(dtype), nbytes;
    int64_t n = skiff_shape_numel(ndim, dims);
    if (ndim < 0 || ndim > SKIFF_MAX_DIMS || es == 0 || n < 0 ||
        !skiff__mul_size((size_t)n, es, &nbytes) || nbytes > SKIFF__MAX_TENSOR_BYTES ||
        (sc->exec.max_bytes && nbytes > sc->exec.max_bytes))
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED,
                                "a %s tensor of %lld elements is over the tensor size limit",
                                skiff_dtype_name(dtype), (long long)n);
    block *b = pool_get(sc, nbytes);
    if (!b)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory (%zu bytes)", nbytes);
    sc->pool->live += b->cap;
    if (sc->pool->live > sc->pool->peak)
        sc->pool->peak = sc->pool->live;
    memset(&h->t, 0, sizeof(h->t));
    h->t.dtype = dtype;
    h->t.ndim = ndim;
    if (ndim)
        memcpy(h->t.dims, dims, sizeof(int64_t) * (size_t)ndim);
    h->t.data = b->data;
    h->t.nbytes = nbytes;
    if (dtype == SKIFF_DTYPE_STRING)
        memset(b->data, 0, nbytes);
    h->blk = b;
    h->set = true;
    return NULL;
}

void skiff__rt_release(skiff_context_t *sc, skiff__rt *h) { rt_release(sc, h); }

void skiff__sub_release(skiff_context_t *sc) { release_all(sc); }

skiff_status_t *skiff__kctx_output_rt(skiff__kctx *k, int idx, skiff_context_t *sc, skiff__rt *h)
{
    skiff_context_t *c = k->exec ? k->exec->ctx : NULL;
    if (idx < 0 || idx >= k->n_out || !h->set)
        return skiff__kerr(k, SKIFF_CODE_INTERNAL, "bad output %d", idx);
    if (!c || c->pool != sc->pool) { /* folding: a copy the graph can keep */
        skiff_status_t *st = skiff__kctx_output_copy(k, idx, &h->t);
        rt_release(sc, h);
        return st;
    }
    rt_value *r = out_slot(c, k->node, idx);
    rt_release(c, r);
    r->t = h->t;
    r->t.flags = 0;
    r->blk = h->blk;
    r->set = true;
    c->pool->naive += h->t.nbytes;
    h->blk = NULL;
    h->set = false;
    k->out[idx] = &r->t;
    return NULL;
}

size_t skiff__kctx_max_bytes(const skiff__kctx *k)
{
    return k->exec && k->exec->max_bytes ? k->exec->max_bytes : SKIFF__MAX_TENSOR_BYTES;
}

skiff_status_t *skiff__kctx_iterate(skiff__kctx *k, uint64_t n)
{
    skiff__exec *x = k->exec ? k->exec->root : NULL;
    if (!x)
        return NULL;
    x->iters += n;
    if (x->iters <= x->max_iters)
        return NULL;
    x->over_limit = true;
    return skiff__kerr(k, SKIFF_CODE_RESOURCE_EXHAUSTED,
                       "more than %llu loop iterations in one run (the context's "
                       "max_loop_iterations)",
                       (unsigned long long)x->max_iters);
}

/* ---- sequences ---- */

skiff_status_t *skiff__value_clone(const skiff_tensor_t *src, skiff_tensor_t **out)
{
    if (!skiff__is_seq(src))
        return skiff_tensor_clone(src, out);
    int64_t n = src->dims[0];
    skiff_tensor_t *t = skiff__calloc(1, sizeof(*t));
    skiff_tensor_t **e = n >= 0 ? skiff__calloc((size_t)n + 1, sizeof(*e)) : NULL;
    if (!t || !e) {
        skiff__free(t);
        skiff__free(e);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    *t = *src;
    t->data = e;
    t->nbytes = (size_t)n * sizeof(*e);
    t->flags = SKIFF_TENSOR_OWNS_DATA;
    for (int64_t i = 0; i < n; i++) {
        skiff_status_t *st = skiff__value_clone(((skiff_tensor_t *const *)src->data)[i], &e[i]);
        if (st) {
            skiff__value_free(t);
            return st;
        }
    }
    *out = t;
    return NULL;
}

void skiff__value_free(skiff_tensor_t *t)
{
    if (!t)
        return;
    if (!skiff__is_seq(t)) {
        skiff_tensor_free(t);
        return;
    }
    skiff_tensor_t **e = t->data;
    for (int64_t i = 0; e && i < t->dims[0]; i++)
        skiff__value_free(e[i]);
    if (t->flags & SKIFF_TENSOR_OWNS_DATA)
        skiff__free(t->data);
    skiff__free(t);
}

skiff_tensor_t *skiff__kctx_output_seq(skiff__kctx *k, int idx, skiff_dtype_t kind, int64_t n,
                                       int64_t elem, skiff_status_t **st)
{
    skiff_context_t *c = k->exec ? k->exec->ctx : NULL;
    size_t nbytes = (size_t)(n > 0 ? n : 0) * sizeof(skiff_tensor_t *);
    if (!c) { /* sequences are never folded into constants */
        if (k->exec)
            k->exec->over_limit = k->exec->root->over_limit = true;
        *st = skiff__kerr(k, SKIFF_CODE_UNSUPPORTED, "a sequence is not a constant");
        return NULL;
    }
    if (idx < 0 || idx >= k->n_out || n < 0 || n > ((int64_t)1 << 40) ||
        (k->exec->max_bytes && nbytes > k->exec->max_bytes)) {
        *st = skiff__kerr(k, SKIFF_CODE_RESOURCE_EXHAUSTED,
                          "output %d: a sequence of %lld tensors is over the limits", idx,
                          (long long)n);
        return NULL;
    }
    rt_value *r = out_slot(c, k->node, idx);
    rt_release(c, r);
    block *b = pool_get(c, nbytes);
    if (!b) {
        *st = skiff__kerr(k, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory for output %d", idx);
        return NULL;
    }
    c->pool->live += b->cap;
    if (c->pool->live > c->pool->peak)
        c->pool->peak = c->pool->live;
    memset(b->data, 0, nbytes);
    memset(&r->t, 0, sizeof(r->t));
    r->blk = b;
    r->set = true;
    r->t.dtype = kind;
    r->t.ndim = 1;
    r->t.dims[0] = n;
    SKIFF__SEQ_ELEM(&r->t) = elem;
    r->t.data = b->data;
    r->t.nbytes = nbytes;
    k->out[idx] = &r->t;
    return &r->t;
}

skiff_status_t *skiff__kctx_output_copy(skiff__kctx *k, int idx, const skiff_tensor_t *src)
{
    skiff_status_t *st = NULL;
    if (skiff__is_seq(src)) {
        skiff_tensor_t *t =
            skiff__kctx_output_seq(k, idx, src->dtype, src->dims[0], SKIFF__SEQ_ELEM(src), &st);
        for (int64_t i = 0; t && !st && i < src->dims[0]; i++)
            st = skiff__value_clone(((skiff_tensor_t *const *)src->data)[i],
                                    &((skiff_tensor_t **)t->data)[i]);
        return st;
    }
    skiff_tensor_t *t = skiff__kctx_output(k, idx, src->dtype, src->ndim, src->dims, &st);
    if (!t)
        return st;
    if (src->dtype == SKIFF_DTYPE_STRING) {
        int64_t n = skiff_tensor_numel(src);
        for (int64_t i = 0; i < n; i++) {
            const char *s = ((char *const *)src->data)[i];
            if (!(((char **)t->data)[i] = skiff__strdup(s ? s : "")))
                return skiff__kerr(k, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        }
    } else if (src->nbytes) {
        memcpy(t->data, src->data, src->nbytes);
    }
    return NULL;
}

/* ---- profiling ---- */

void skiff_context_set_profiling(skiff_context_t *c, int on)
{
    if (on && !c->prof_ns) {
        c->prof_ns = skiff__calloc((size_t)c->m->g->n_nodes + 1, sizeof(uint64_t));
        if (!c->prof_ns)
            return; /* profiling is best effort */
    }
    c->profile = on && c->prof_ns;
}

typedef struct prof_row {
    const char *op;
    uint64_t ns;
    int nodes;
} prof_row;

static int prof_cmp(const void *a, const void *b)
{
    const prof_row *x = a, *y = b;
    return x->ns < y->ns ? 1 : x->ns > y->ns ? -1 : 0;
}

void skiff_context_profile_write(skiff_context_t *c, FILE *out)
{
    const skiff__graph *g = c->m->g;
    if (!c->prof_ns || !c->prof_runs)
        return;
    prof_row *rows = skiff__calloc((size_t)g->n_nodes + 1, sizeof(*rows));
    if (!rows)
        return;
    int n_rows = 0;
    uint64_t total = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const skiff__node *n = &g->nodes[i];
        if (n->dead)
            continue;
        int r = 0;
        while (r < n_rows && strcmp(rows[r].op, n->op_type) != 0)
            r++;
        if (r == n_rows)
            rows[n_rows++].op = n->op_type;
        rows[r].ns += c->prof_ns[i];
        rows[r].nodes++;
        total += c->prof_ns[i];
    }
    qsort(rows, (size_t)n_rows, sizeof(*rows), prof_cmp);
    fprintf(out, "per-operator time (mean over %llu runs):\n", (unsigned long long)c->prof_runs);
    fprintf(out, "  %-24s %6s %10s %6s\n", "op", "nodes", "ms/run", "share");
    for (int r = 0; r < n_rows; r++)
        fprintf(out, "  %-24s %6d %10.3f %5.1f%%\n", rows[r].op, rows[r].nodes,
                (double)rows[r].ns / 1e6 / (double)c->prof_runs,
                total ? 100.0 * (double)rows[r].ns / (double)total : 0.0);
    skiff__free(rows);
    memset(c->prof_ns, 0, sizeof(uint64_t) * (size_t)g->n_nodes);
    c->prof_runs = 0;
}

/* ---- constant folding support ---- */

skiff_status_t *skiff__fold_node(skiff__graph *g, int ni, bool *too_big)
{
    *too_big = false;
    skiff__node *n = &g->nodes[ni];
    const skiff_tensor_t *in_buf[MAX_NODE_IN + 1];
    skiff_tensor_t *out_buf[MAX_NODE_OUT] = {0};
    if (n->n_in > MAX_NODE_IN || n->n_out > MAX_NODE_OUT)
        return skiff__node_err(n, SKIFF_CODE_UNSUPPORTED, "too many inputs or outputs");
    for (int k = 0; k < n->n_in; k++)
        in_buf[k] = n->in[k] >= 0 ? g->values[n->in[k]].constant : NULL;
    skiff__exec standalone = {.ctx = NULL,
                              .max_bytes = SKIFF__FOLD_MAX_BYTES,
                              .max_macs = SKIFF__FOLD_MAX_MACS,
                              .max_iters = SKIFF__FOLD_MAX_ITERATIONS};
    standalone.root = &standalone;
    void *cache = NULL;
    skiff__kctx k = {
        .node = n,
        .graph = g,
        .in = in_buf,
        .n_in = n->n_in,
        .out = out_buf,
        .n_out = n->n_out,
        .cache = &cache,
        .threads = 1,
        .exec = &standalone,
    };
    skiff_status_t *st = n->op->run(&k);
    if (cache && n->op->cache_free)
        n->op->cache_free(cache);
    skiff__free(standalone.scratch);
    for (int o = 0; o < n->n_out; o++) {
        int v = n->out[o];
        if (st || v < 0 || !out_buf[o]) {
            skiff_tensor_free(out_buf[o]);
            continue;
        }
        skiff_tensor_free(g->values[v].constant);
        g->values[v].constant = out_buf[o];
        g->values[v].dtype = out_buf[o]->dtype;
        g->values[v].ndim = out_buf[o]->ndim;
        memcpy(g->values[v].dims, out_buf[o]->dims, sizeof(g->values[v].dims));
    }
    *too_big = st && standalone.over_limit;
    return st;
}
