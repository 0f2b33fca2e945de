/* control.c - ONNX control flow: If, Loop, Scan and SequenceMap.
 *
 * Each subgraph was compiled with the model (compile.c), so a node here
 * only runs it: in a child context of the running context (exec.c,
 * skiff__sub_context), made on the node's first run and kept in its cache,
 * which shares the parent's buffer pool and limits. The subgraph's inputs
 * are its declared ones followed by the outer values it reads, which the
 * node gets as its implicit inputs (attr->sub_in says which feeds which).
 *
 * Loop-carried values are held in skiff__rt slots: a reference on the pool
 * buffer the body wrote, so the next iteration reads them without a copy,
 * and the node's outputs take the last ones over the same way. Each
 * iteration's scan outputs are appended to one growing buffer per output
 * and stacked at the end. Every iteration is counted against the run's
 * loop budget (skiff__kctx_iterate), so no trip count or condition can make
 * a run hang. */
#include <limits.h>
#include <string.h>

#include "../../engine_int.h"

/* A scan output's slices, appended one per iteration into one buffer that
 * grows by doubling (kept across runs): every slice must have the first's
 * type and shape. Strings are owned copies. */
typedef struct scan_buf {
    skiff_dtype_t dtype;
    int ndim;
    int64_t dims[SKIFF_MAX_DIMS];
    size_t slice; /* bytes per slice */
    int64_t n;    /* slices held */
    char *buf;
    size_t cap;
} scan_buf;

static void scan_clear(scan_buf *b)
{
    if (b->dtype == SKIFF_DTYPE_STRING && b->buf) {
        int64_t n = b->n * (int64_t)(b->slice / sizeof(char *));
        for (int64_t i = 0; i < n; i++)
            skiff__free(((char **)b->buf)[i]);
    }
    b->n = 0;
}

/* Per-node, per-context state: a child context per subgraph and the slot
 * arrays a run fills. */
typedef struct cf_cache {
    skiff_context_t *sc[2];
    skiff__rt *slot;        /* the body's inputs of one run */
    skiff__rt **ptr;        /* pointers to them */
    skiff__rt *carry;       /* loop-carried values (or scan states) */
    skiff__rt *next;        /* the body's new ones */
    struct scan_buf *scans; /* per scan output: the slices so far */
    int n_slot, n_carry, n_scan;
} cf_cache;

static void cf_cache_free(void *p)
{
    cf_cache *c = p;
    if (!c)
        return;
    for (int s = 0; c->scans && s < c->n_scan; s++) {
        scan_clear(&c->scans[s]);
        skiff__free(c->scans[s].buf);
    }
    skiff__free(c->scans);
    skiff__free(c->slot);
    skiff__free(c->ptr);
    skiff__free(c->carry);
    skiff__free(c->next);
    skiff_context_free(c->sc[0]);
    skiff_context_free(c->sc[1]);
    skiff__free(c);
}

static const skiff__attr *graph_attr(const skiff__node *n, const char *name)
{
    const skiff__attr *a = skiff__attr_find(n, name);
    return a && a->type == SKIFF_ATTR_GRAPH && a->sub ? a : NULL;
}

static int sub_inputs(const skiff__attr *a) { return skiff_model_input_count(a->sub); }
static int sub_formal(const skiff__attr *a) { return a->sub->g->n_formal; }
static int sub_outputs(const skiff__attr *a) { return skiff_model_output_count(a->sub); }

/* The node's cache with room for `slots` inputs, `carry` carried values and
 * `scan` scan outputs; its child context for subgraph a in *sc. */
static skiff_status_t *cf_setup(skiff__kctx *k, int which, const skiff__attr *a, int slots,
                                int carry, int scan, cf_cache **out, skiff_context_t **sc)
{
    cf_cache *c = *k->cache;
    if (!c) {
        c = skiff__calloc(1, sizeof(*c));
        if (!c)
            return skiff__kerr(k, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        *k->cache = c;
    }
    if (c->n_slot < slots) {
        skiff__free(c->slot);
        skiff__free(c->ptr);
        c->slot = skiff__calloc((size_t)slots, sizeof(*c->slot));
        c->ptr = skiff__calloc((size_t)slots, sizeof(*c->ptr));
        c->n_slot = c->slot && c->ptr ? slots : 0;
    }
    if (c->n_carry < carry) {
        skiff__free(c->carry);
        skiff__free(c->next);
        c->carry = skiff__calloc((size_t)carry, sizeof(*c->carry));
        c->next = skiff__calloc((size_t)carry, sizeof(*c->next));
        c->n_carry = c->carry && c->next ? carry : 0;
    }
    if (c->n_scan < scan) {
        scan_buf *ns = skiff__realloc(c->scans, sizeof(*ns) * (size_t)scan);
        if (ns) {
            memset(ns + c->n_scan, 0, sizeof(*ns) * (size_t)(scan - c->n_scan));
            c->scans = ns;
            c->n_scan = scan;
        }
    }
    if (c->n_slot < slots || c->n_carry < carry || c->n_scan < scan)
        return skiff__kerr(k, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    for (int i = 0; i < slots; i++)
        c->ptr[i] = &c->slot[i];
    if (!c->sc[which]) {
        skiff_status_t *st = skiff__sub_context(k, a->sub, &c->sc[which]);
        if (st)
            return skiff_status_wrap(st, "node '%s' (%s)", k->node->name, k->node->op_type);
    }
    *out = c;
    *sc = c->sc[which];
    return NULL;
}

/* Appends t (this iteration's scan output) to b: the first slice sets the
 * type and shape, the rest must match; the whole stays under the tensor
 * size limit. */
static skiff_status_t *scan_append(skiff__kctx *k, int idx, scan_buf *b, const skiff_tensor_t *t)
{
    char x[200], y[200];
    if (!t || skiff__is_seq(t) || skiff_dtype_size(t->dtype) == 0 || t->ndim >= SKIFF_MAX_DIMS)
        return skiff__kerr(k, SKIFF_CODE_UNSUPPORTED, "scan output %d: %s slices cannot be stacked",
                           idx, t ? skiff_dtype_name(t->dtype) : "missing");
    if (b->n == 0) {
        b->dtype = t->dtype;
        b->ndim = t->ndim;
        memcpy(b->dims, t->dims, sizeof(b->dims));
        b->slice = t->nbytes;
    }
    bool same = t->dtype == b->dtype && t->ndim == b->ndim;
    for (int d = 0; same && d < t->ndim; d++)
        same = t->dims[d] == b->dims[d];
    if (!same)
        return skiff__kerr(
            k, SKIFF_CODE_INVALID_ARG,
            "scan output %d: iteration %lld gave %s %s, iteration 0 %s %s", idx, (long long)b->n,
            skiff_dtype_name(t->dtype), skiff_shape_str(t->ndim, t->dims, x, sizeof(x)),
            skiff_dtype_name(b->dtype), skiff_shape_str(b->ndim, b->dims, y, sizeof(y)));
    size_t need = (size_t)(b->n + 1) * b->slice;
    size_t limit = skiff__kctx_max_bytes(k);
    if (need > limit)
        return skiff__kerr(k, SKIFF_CODE_RESOURCE_EXHAUSTED,
                           "scan output %d would take more than %zu bytes after %lld iterations",
                           idx, limit, (long long)b->n + 1);
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need)
            cap *= 2;
        char *nb = skiff__realloc(b->buf, cap);
        if (!nb)
            return skiff__kerr(k, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        b->buf = nb;
        b->cap = cap;
    }
    char *dst = b->buf + (size_t)b->n * b->slice;
    if (t->dtype == SKIFF_DTYPE_STRING) {
        int64_t n = skiff_tensor_numel(t);
        memset(dst, 0, b->slice);
        b->n++; /* from here scan_clear frees what was copied */
        for (int64_t i = 0; i < n; i++) {
            const char *s = ((char *const *)t->data)[i];
            if (!(((char **)dst)[i] = skiff__strdup(s ? s : "")))
                return skiff__kerr(k, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        }
        return NULL;
    }
    if (b->slice)
        memcpy(dst, t->data, b->slice);
    b->n++;
    return NULL;
}

/* A slot that lends t to the subgraph for one run (t may be NULL: a
 * missing input, which the run reports). */
static void lend(skiff__rt *slot, const skiff_tensor_t *t)
{
    memset(slot, 0, sizeof(*slot));
    if (t) {
        slot->t = *t;
        slot->set = true;
    }
}

/* Fills slots [from, from + captured) with the outer values subgraph a
 * reads. */
static void lend_captured(const skiff__kctx *k, const skiff__attr *a, skiff__rt *slot, int from)
{
    int n_cap = sub_inputs(a) - sub_formal(a);
    for (int j = 0; j < n_cap; j++)
        lend(&slot[from + j], k->in[a->sub_in[j]]);
}

static skiff_status_t *sub_failed(const skiff__kctx *k, const skiff__attr *a, skiff_status_t *st)
{
    return skiff_status_wrap(st, "node '%s' (%s), subgraph '%s'", k->node->name, k->node->op_type,
                             a->name);
}

/* The truth of a one-element condition tensor. */
static skiff_status_t *truth(const skiff__kctx *k, const skiff_tensor_t *t, const char *what,
                             bool *out)
{
    if (!t || skiff__is_seq(t) || skiff_tensor_numel(t) != 1 || t->dtype == SKIFF_DTYPE_STRING ||
        skiff_dtype_size(t->dtype) == 0)
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "%s must be one bool, got %s", what,
                           t ? skiff_dtype_name(t->dtype) : "nothing");
    *out = skiff__tensor_get_f64(t, 0) != 0.0;
    return NULL;
}

/* Checks a subgraph's input and output counts against the node. */
static skiff_status_t *check_counts(const skiff__node *n, const skiff__attr *a, int formal,
                                    int outputs)
{
    if (!a)
        return skiff__node_err(n, SKIFF_CODE_INVALID_ARG, "missing graph attribute");
    if (sub_formal(a) != formal || sub_outputs(a) != outputs)
        return skiff__node_err(n, SKIFF_CODE_INVALID_ARG,
                               "subgraph '%s' has %d inputs and %d outputs, the node needs %d "
                               "and %d",
                               a->name, sub_formal(a), sub_outputs(a), formal, outputs);
    return NULL;
}

/* Stacks a scan output's slices along a new axis (Loop's and Scan's scan
 * outputs): output idx has the slices' shape with their count inserted at
 * `axis`, slice t at position t (T - 1 - t when reverse). */
static skiff_status_t *stack_slices(skiff__kctx *k, int idx, const scan_buf *b, int64_t axis,
                                    bool reverse, skiff_dtype_t dflt)
{
    skiff_status_t *st = NULL;
    int64_t T = b->n;
    if (T == 0) {
        int64_t zero = 0;
        return skiff__kctx_output(k, idx, dflt, 1, &zero, &st) ? NULL : st;
    }
    int r = b->ndim, ax;
    if (!skiff__norm_axis(axis, r + 1, &ax))
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "scan output %d: axis %lld out of range", idx,
                           (long long)axis);
    int64_t dims[SKIFF_MAX_DIMS], outer = 1, inner = 1;
    for (int d = 0, o = 0; d <= r; d++)
        dims[d] = d == ax ? T : b->dims[o++];
    for (int d = 0; d < ax; d++)
        outer *= b->dims[d];
    for (int d = ax; d < r; d++)
        inner *= b->dims[d];
    skiff_tensor_t *y = skiff__kctx_output(k, idx, b->dtype, r + 1, dims, &st);
    if (!y)
        return st;
    size_t es = skiff_dtype_size(b->dtype);
    for (int64_t t = 0; t < T; t++) {
        int64_t p = reverse ? T - 1 - t : t;
        const char *src = b->buf + (size_t)t * b->slice;
        for (int64_t o = 0; o < outer; o++) {
            int64_t from = o * inner, to = (o * T + p) * inner;
            if (b->dtype == SKIFF_DTYPE_STRING) {
                for (int64_t i = 0; i < inner; i++) {
                    const char *s = ((char *const *)src)[from + i];
                    if (!(((char **)y->data)[to + i] = skiff__strdup(s ? s : "")))
                        return skiff__kerr(k, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
                }
            } else if (inner) {
                memcpy((char *)y->data + (size_t)to * es, src + (size_t)from * es,
                       (size_t)inner * es);
            }
        }
    }
    return NULL;
}

/* The declared type of subgraph output i (float32 when it has none): what an
 * empty scan output is made of. */
static skiff_dtype_t declared(const skiff__attr *a, int i)
{
    const skiff_value_info_t *vi = skiff_model_output(a->sub, i);
    return vi && skiff_dtype_size(vi->dtype) ? vi->dtype : SKIFF_DTYPE_FLOAT32;
}

/* ---- If ---- */

/* The node's input and output counts against its subgraph's; the kernel
 * checks them too, as folding may run it before prepare. */
static skiff_status_t *if_counts(const skiff__node *n)
{
    skiff_status_t *st = check_counts(n, graph_attr(n, "then_branch"), 0, n->n_out);
    if (!st)
        st = check_counts(n, graph_attr(n, "else_branch"), 0, n->n_out);
    if (!st && n->n_in - n->n_implicit != 1)
        st = skiff__node_err(n, SKIFF_CODE_INVALID_ARG, "expected 1 input (cond), got %d",
                             n->n_in - n->n_implicit);
    return st;
}

static skiff_status_t *prepare_if(skiff__node *n, const skiff__graph *g)
{
    (void)g;
    return if_counts(n);
}

static skiff_status_t *run_if(skiff__kctx *k)
{
    bool cond = false;
    skiff_status_t *st = if_counts(k->node);
    if (!st)
        st = truth(k, k->in[0], "input 'cond'", &cond);
    if (st)
        return st;
    const skiff__attr *a = graph_attr(k->node, cond ? "then_branch" : "else_branch");
    if (!a)
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "missing branch");
    int n = sub_inputs(a);
    cf_cache *c = NULL;
    skiff_context_t *sc = NULL;
    if ((st = cf_setup(k, cond ? 0 : 1, a, n, 0, 0, &c, &sc)))
        return st;
    lend_captured(k, a, c->slot, 0);
    st = skiff__sub_run(sc, c->ptr, n);
    for (int o = 0; !st && o < k->n_out; o++) {
        skiff__rt h = {0};
        st = skiff__sub_hold(sc, o, &h);
        if (!st)
            st = skiff__kctx_output_rt(k, o, sc, &h);
    }
    skiff__sub_release(sc);
    return st ? sub_failed(k, a, st) : NULL;
}

/* ---- Loop ---- */

/* The node's input and output counts against its subgraph's; the kernel
 * checks them too, as folding may run it before prepare. */
static skiff_status_t *loop_counts(const skiff__node *n)
{
    int explicit_in = n->n_in - n->n_implicit, carried = explicit_in - 2;
    if (carried < 0)
        return skiff__node_err(n, SKIFF_CODE_INVALID_ARG,
                               "expected inputs M, cond and the carried values, got %d",
                               explicit_in);
    if (n->n_out < carried)
        return skiff__node_err(n, SKIFF_CODE_INVALID_ARG, "%d carried values but only %d outputs",
                               carried, n->n_out);
    return check_counts(n, graph_attr(n, "body"), carried + 2, 1 + n->n_out);
}

static skiff_status_t *prepare_loop(skiff__node *n, const skiff__graph *g)
{
    (void)g;
    return loop_counts(n);
}

/* Releases every slot a Loop or Scan holds and empties its scan buffers. */
static void cf_drop(skiff_context_t *sc, cf_cache *c, int carried, int n_scan)
{
    for (int j = 0; j < carried; j++) {
        skiff__rt_release(sc, &c->carry[j]);
        skiff__rt_release(sc, &c->next[j]);
    }
    for (int s = 0; s < n_scan; s++)
        scan_clear(&c->scans[s]);
    skiff__sub_release(sc);
}

/* The node's outputs [0, carried): the last carried values, or the initial
 * ones (inputs first..) when nothing ran. */
static skiff_status_t *carried_out(skiff__kctx *k, skiff_context_t *sc, cf_cache *c, int carried,
                                   int first, bool ran)
{
    skiff_status_t *st = NULL;
    for (int j = 0; !st && j < carried; j++) {
        if (ran) {
            st = skiff__kctx_output_rt(k, j, sc, &c->carry[j]);
        } else if (!k->in[first + j]) {
            st = skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "missing initial value %d", j);
        } else {
            st = skiff__kctx_output_copy(k, j, k->in[first + j]);
        }
    }
    return st;
}

static skiff_status_t *run_loop(skiff__kctx *k)
{
    const skiff__node *n = k->node;
    skiff_status_t *cst = loop_counts(n);
    if (cst)
        return cst;
    const skiff__attr *a = graph_attr(n, "body");
    if (!a) /* a body that did not compile, or a run before prepare (folding) */
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "missing graph attribute 'body'");
    int carried = n->n_in - n->n_implicit - 2, n_scan = n->n_out - carried;
    int64_t M = INT64_MAX;
    bool cond = true;
    skiff_status_t *st = NULL;
    if (k->in[0]) {
        if (skiff_tensor_numel(k->in[0]) != 1 || skiff__is_seq(k->in[0]) ||
            skiff_dtype_size(k->in[0]->dtype) == 0 || k->in[0]->dtype == SKIFF_DTYPE_STRING)
            return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "input 'M' must be one int64");
        M = skiff__tensor_get_i64(k->in[0], 0);
    }
    if (k->in[1] && (st = truth(k, k->in[1], "input 'cond'", &cond)))
        return st;
    int n_slots = sub_inputs(a);
    cf_cache *c = NULL;
    skiff_context_t *sc = NULL;
    if ((st = cf_setup(k, 0, a, n_slots, carried, n_scan, &c, &sc)))
        return st;
    int64_t iter = 0;
    bool cond_now = cond;
    skiff_tensor_t it = {.dtype = SKIFF_DTYPE_INT64, .ndim = 0, .data = &iter, .nbytes = 8};
    skiff_tensor_t ct = {.dtype = SKIFF_DTYPE_BOOL, .ndim = 0, .data = &cond_now, .nbytes = 1};
    int64_t T = 0;
    for (; T < M && cond_now; T++) {
        if ((st = skiff__kctx_iterate(k, 1)))
            break;
        iter = T;
        lend(&c->slot[0], &it);
        lend(&c->slot[1], &ct);
        for (int j = 0; j < carried; j++) {
            if (T > 0)
                c->slot[2 + j] = c->carry[j]; /* the run takes its own reference */
            else
                lend(&c->slot[2 + j], k->in[2 + j]);
        }
        lend_captured(k, a, c->slot, 2 + carried);
        if ((st = skiff__sub_run(sc, c->ptr, n_slots))) {
            st = sub_failed(k, a, st);
            break;
        }
        bool next_cond = cond_now;
        if ((st = truth(k, skiff__sub_output(sc, 0), "the body's condition", &next_cond)))
            break;
        for (int j = 0; !st && j < carried; j++)
            st = skiff__sub_hold(sc, 1 + j, &c->next[j]);
        for (int s = 0; !st && s < n_scan; s++)
            st = scan_append(k, carried + s, &c->scans[s], skiff__sub_output(sc, 1 + carried + s));
        if (st)
            break;
        for (int j = 0; j < carried; j++) {
            skiff__rt_release(sc, &c->carry[j]);
            c->carry[j] = c->next[j];
            memset(&c->next[j], 0, sizeof(c->next[j]));
        }
        cond_now = next_cond;
    }
    if (!st)
        st = carried_out(k, sc, c, carried, 2, T > 0);
    for (int s = 0; !st && s < n_scan; s++)
        st = stack_slices(k, carried + s, &c->scans[s], 0, false, declared(a, 1 + carried + s));
    cf_drop(sc, c, carried, n_scan);
    return st;
}

/* ---- Scan (opset 9 and later: no batch axis) ---- */

typedef struct scan_plan {
    int n_state, n_in, n_out; /* N, M, K */
    int64_t T;
    const int64_t *in_dir, *out_dir, *in_axis, *out_axis;
    int n_in_dir, n_out_dir, n_in_axis, n_out_axis;
} scan_plan;

/* The node's input and output counts against its subgraph's; the kernel
 * checks them too, as folding may run it before prepare. */
static skiff_status_t *scan_counts(const skiff__node *n)
{
    int64_t m = skiff__attr_int(n, "num_scan_inputs", -1);
    int explicit_in = n->n_in - n->n_implicit;
    if (m < 1 || m > explicit_in)
        return skiff__node_err(n, SKIFF_CODE_INVALID_ARG,
                               "num_scan_inputs %lld does not fit %d inputs", (long long)m,
                               explicit_in);
    int n_state = explicit_in - (int)m;
    if (n->n_out < n_state)
        return skiff__node_err(n, SKIFF_CODE_INVALID_ARG, "%d states but only %d outputs", n_state,
                               n->n_out);
    const int64_t *v;
    int counts[4] = {skiff__attr_ints(n, "scan_input_directions", &v),
                     skiff__attr_ints(n, "scan_input_axes", &v),
                     skiff__attr_ints(n, "scan_output_directions", &v),
                     skiff__attr_ints(n, "scan_output_axes", &v)};
    int want[4] = {(int)m, (int)m, n->n_out - n_state, n->n_out - n_state};
    for (int i = 0; i < 4; i++)
        if (counts[i] >= 0 && counts[i] != want[i])
            return skiff__node_err(
                n, SKIFF_CODE_INVALID_ARG, "scan_%s_%s has %d values, expected %d",
                i < 2 ? "input" : "output", i % 2 ? "axes" : "directions", counts[i], want[i]);
    return check_counts(n, graph_attr(n, "body"), explicit_in, n->n_out);
}

static skiff_status_t *prepare_scan(skiff__node *n, const skiff__graph *g)
{
    (void)g;
    return scan_counts(n);
}

/* Slice t of scan input x along axis (reversed when rev) for the body: a
 * view when axis is 0, else a copy in a pool buffer held by *h. */
static skiff_status_t *scan_slice(skiff__kctx *k, skiff_context_t *sc, const skiff_tensor_t *x,
                                  int axis, int64_t t, bool rev, skiff__rt *h)
{
    int64_t T = x->dims[axis], p = rev ? T - 1 - t : t;
    int64_t dims[SKIFF_MAX_DIMS], outer = 1, inner = 1;
    for (int d = 0, o = 0; d < x->ndim; d++)
        if (d != axis)
            dims[o++] = x->dims[d];
    for (int d = 0; d < axis; d++)
        outer *= x->dims[d];
    for (int d = axis + 1; d < x->ndim; d++)
        inner *= x->dims[d];
    size_t es = skiff_dtype_size(x->dtype);
    if (axis == 0) {
        memset(h, 0, sizeof(*h));
        h->t.dtype = x->dtype;
        h->t.ndim = x->ndim - 1;
        memcpy(h->t.dims, dims, sizeof(int64_t) * (size_t)h->t.ndim);
        h->t.data = (char *)x->data + (size_t)(p * inner) * es;
        h->t.nbytes = (size_t)inner * es;
        h->set = true;
        return NULL;
    }
    skiff_status_t *st = skiff__sub_alloc(sc, x->dtype, x->ndim - 1, dims, h);
    if (st)
        return skiff_status_wrap(st, "node '%s' (%s)", k->node->name, k->node->op_type);
    for (int64_t o = 0; o < outer; o++) {
        int64_t from = (o * T + p) * inner, to = o * inner;
        if (x->dtype == SKIFF_DTYPE_STRING) {
            for (int64_t i = 0; i < inner; i++) {
                const char *s = ((char *const *)x->data)[from + i];
                if (!(((char **)h->t.data)[to + i] = skiff__strdup(s ? s : "")))
                    return skiff__kerr(k, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
            }
        } else if (inner) {
            memcpy((char *)h->t.data + (size_t)to * es, (const char *)x->data + (size_t)from * es,
                   (size_t)inner * es);
        }
    }
    return NULL;
}

static int64_t attr_at(const int64_t *v, int n, int i) { return v && i < n ? v[i] : 0; }

static skiff_status_t *run_scan(skiff__kctx *k)
{
    const skiff__node *n = k->node;
    skiff_status_t *cst = scan_counts(n);
    if (cst)
        return cst;
    const skiff__attr *a = graph_attr(n, "body");
    if (!a) /* a body that did not compile, or a run before prepare (folding) */
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "missing graph attribute 'body'");
    scan_plan p = {.n_in = (int)skiff__attr_int(n, "num_scan_inputs", 1)};
    p.n_state = n->n_in - n->n_implicit - p.n_in;
    p.n_out = n->n_out - p.n_state;
    p.n_in_dir = skiff__attr_ints(n, "scan_input_directions", &p.in_dir);
    p.n_in_axis = skiff__attr_ints(n, "scan_input_axes", &p.in_axis);
    p.n_out_dir = skiff__attr_ints(n, "scan_output_directions", &p.out_dir);
    p.n_out_axis = skiff__attr_ints(n, "scan_output_axes", &p.out_axis);
    int axes[256]; /* num_scan_inputs <= a node's inputs (prepare_scan) */
    p.T = -1;
    for (int m = 0; m < p.n_in; m++) {
        const skiff_tensor_t *x;
        skiff_status_t *st = skiff__kctx_input(k, p.n_state + m, "scan input", &x);
        if (st)
            return st;
        if (skiff__is_seq(x) || skiff_dtype_size(x->dtype) == 0 || x->ndim < 1 ||
            !skiff__norm_axis(attr_at(p.in_axis, p.n_in_axis, m), x->ndim, &axes[m]))
            return skiff__kerr(k, SKIFF_CODE_INVALID_ARG,
                               "scan input %d: %s of rank %d cannot be scanned along axis %lld", m,
                               skiff_dtype_name(x->dtype), x->ndim,
                               (long long)attr_at(p.in_axis, p.n_in_axis, m));
        int64_t len = x->dims[axes[m]];
        if (p.T >= 0 && len != p.T)
            return skiff__kerr(k, SKIFF_CODE_INVALID_ARG,
                               "scan input %d has %lld steps, scan input 0 %lld", m, (long long)len,
                               (long long)p.T);
        p.T = len;
    }
    int n_slots = sub_inputs(a);
    cf_cache *c = NULL;
    skiff_context_t *sc = NULL;
    skiff_status_t *st = cf_setup(k, 0, a, n_slots, p.n_state, p.n_out, &c, &sc);
    if (st)
        return st;
    int64_t T = 0;
    for (; T < p.T; T++) {
        if ((st = skiff__kctx_iterate(k, 1)))
            break;
        for (int j = 0; j < p.n_state; j++) {
            if (T > 0)
                c->slot[j] = c->carry[j];
            else
                lend(&c->slot[j], k->in[j]);
        }
        for (int m = 0; !st && m < p.n_in; m++)
            st = scan_slice(k, sc, k->in[p.n_state + m], axes[m], T,
                            attr_at(p.in_dir, p.n_in_dir, m) != 0, &c->slot[p.n_state + m]);
        if (!st) {
            lend_captured(k, a, c->slot, p.n_state + p.n_in);
            if ((st = skiff__sub_run(sc, c->ptr, n_slots)))
                st = sub_failed(k, a, st);
        }
        for (int m = 0; m < p.n_in; m++) /* the run holds its own reference */
            skiff__rt_release(sc, &c->slot[p.n_state + m]);
        if (st)
            break;
        for (int j = 0; !st && j < p.n_state; j++)
            st = skiff__sub_hold(sc, j, &c->next[j]);
        for (int s = 0; !st && s < p.n_out; s++)
            st = scan_append(k, p.n_state + s, &c->scans[s], skiff__sub_output(sc, p.n_state + s));
        if (st)
            break;
        for (int j = 0; j < p.n_state; j++) {
            skiff__rt_release(sc, &c->carry[j]);
            c->carry[j] = c->next[j];
            memset(&c->next[j], 0, sizeof(c->next[j]));
        }
    }
    if (!st)
        st = carried_out(k, sc, c, p.n_state, 0, T > 0);
    for (int s = 0; !st && s < p.n_out; s++)
        st = stack_slices(k, p.n_state + s, &c->scans[s], attr_at(p.out_axis, p.n_out_axis, s),
                          attr_at(p.out_dir, p.n_out_dir, s) != 0, declared(a, p.n_state + s));
    cf_drop(sc, c, p.n_state, p.n_out);
    return st;
}

/* ---- Scan, opset 8: a batch axis first, sequence_lens as input 0 ---- */

/* The node's input and output counts against its subgraph's; the kernel
 * checks them too, as folding may run it before prepare. */
static skiff_status_t *scan8_counts(const skiff__node *n)
{
    int64_t m = skiff__attr_int(n, "num_scan_inputs", -1);
    int explicit_in = n->n_in - n->n_implicit;
    if (m < 1 || m > explicit_in - 1)
        return skiff__node_err(n, SKIFF_CODE_INVALID_ARG,
                               "num_scan_inputs %lld does not fit %d inputs", (long long)m,
                               explicit_in);
    int n_state = explicit_in - 1 - (int)m;
    if (n->n_out < n_state)
        return skiff__node_err(n, SKIFF_CODE_INVALID_ARG, "%d states but only %d outputs", n_state,
                               n->n_out);
    return check_counts(n, graph_attr(n, "body"), explicit_in - 1, n->n_out);
}

static skiff_status_t *prepare_scan8(skiff__node *n, const skiff__graph *g)
{
    (void)g;
    return scan8_counts(n);
}

/* Row b of x (its first axis) as a view, shifted by `step` rows of its
 * second axis when step >= 0. */
static void row_view(const skiff_tensor_t *x, int64_t b, int64_t step, skiff__rt *h)
{
    int skip = step >= 0 ? 2 : 1;
    int64_t inner = 1;
    for (int d = skip; d < x->ndim; d++)
        inner *= x->dims[d];
    int64_t at = step >= 0 ? b * x->dims[1] + step : b;
    memset(h, 0, sizeof(*h));
    h->t.dtype = x->dtype;
    h->t.ndim = x->ndim - skip;
    memcpy(h->t.dims, x->dims + skip, sizeof(int64_t) * (size_t)h->t.ndim);
    h->t.data = (char *)x->data + (size_t)(at * inner) * skiff_dtype_size(x->dtype);
    h->t.nbytes = (size_t)inner * skiff_dtype_size(x->dtype);
    h->set = true;
}

static skiff_status_t *run_scan8(skiff__kctx *k)
{
    const skiff__node *n = k->node;
    skiff_status_t *cst = scan8_counts(n);
    if (cst)
        return cst;
    const skiff__attr *a = graph_attr(n, "body");
    if (!a) /* a body that did not compile, or a run before prepare (folding) */
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "missing graph attribute 'body'");
    int n_in = (int)skiff__attr_int(n, "num_scan_inputs", 1);
    int n_state = n->n_in - n->n_implicit - 1 - n_in, n_out = n->n_out - n_state;
    const int64_t *dir;
    int n_dir = skiff__attr_ints(n, "directions", &dir);
    int64_t B = -1, T = -1;
    for (int i = 1; i < 1 + n_state + n_in; i++) {
        const skiff_tensor_t *x;
        skiff_status_t *st = skiff__kctx_input(k, i, "state or scan input", &x);
        if (st)
            return st;
        bool scan = i > n_state;
        if (skiff__is_seq(x) || skiff_dtype_size(x->dtype) == 0 || x->ndim < (scan ? 2 : 1) ||
            (B >= 0 && x->dims[0] != B) || (scan && T >= 0 && x->dims[1] != T))
            return skiff__kerr(k, SKIFF_CODE_INVALID_ARG,
                               "input %d: expected a tensor of [batch%s, ...] as the others", i,
                               scan ? ", steps" : "");
        B = x->dims[0];
        if (scan)
            T = x->dims[1];
    }
    const skiff_tensor_t *lens = k->in[0];
    for (int64_t b = 0; lens && b < skiff_tensor_numel(lens); b++)
        if (skiff__tensor_get_i64(lens, b) != T)
            return skiff__kerr(k, SKIFF_CODE_UNSUPPORTED,
                               "sequence_lens other than the full %lld steps", (long long)T);
    int n_slots = sub_inputs(a);
    cf_cache *c = NULL;
    skiff_context_t *sc = NULL;
    skiff_status_t *st = cf_setup(k, 0, a, n_slots, n_state, n_out + n_state, &c, &sc);
    if (st)
        return st;
    for (int64_t b = 0; !st && b < B; b++) {
        for (int64_t t = 0; !st && t < T; t++) {
            if ((st = skiff__kctx_iterate(k, 1)))
                break;
            for (int j = 0; j < n_state; j++) {
                if (t > 0)
                    c->slot[j] = c->carry[j];
                else
                    row_view(k->in[1 + j], b, -1, &c->slot[j]);
            }
            for (int m = 0; m < n_in; m++)
                row_view(k->in[1 + n_state + m], b, attr_at(dir, n_dir, m) != 0 ? T - 1 - t : t,
                         &c->slot[n_state + m]);
            lend_captured(k, a, c->slot, n_state + n_in);
            if ((st = skiff__sub_run(sc, c->ptr, n_slots))) {
                st = sub_failed(k, a, st);
                break;
            }
            for (int j = 0; !st && j < n_state; j++)
                st = skiff__sub_hold(sc, j, &c->next[j]);
            for (int s = 0; !st && s < n_out; s++)
                st = scan_append(k, n_state + s, &c->scans[s], skiff__sub_output(sc, n_state + s));
            for (int j = 0; !st && j < n_state; j++) {
                skiff__rt_release(sc, &c->carry[j]);
                c->carry[j] = c->next[j];
                memset(&c->next[j], 0, sizeof(c->next[j]));
            }
        }
        for (int j = 0; !st && j < n_state; j++) { /* batch b's final state */
            skiff__rt v;
            if (T == 0)
                row_view(k->in[1 + j], b, -1, &v);
            st = scan_append(k, j, &c->scans[n_out + j], T ? &c->carry[j].t : &v.t);
            skiff__rt_release(sc, &c->carry[j]);
        }
    }
    for (int j = 0; !st && j < n_state; j++)
        st = stack_slices(k, j, &c->scans[n_out + j], 0, false, k->in[1 + j]->dtype);
    for (int s = 0; !st && s < n_out; s++) {
        st = stack_slices(k, n_state + s, &c->scans[s], 0, false, declared(a, n_state + s));
        skiff_tensor_t *y = k->out[n_state + s];
        if (!st && B > 0 && T > 0 && y->ndim < SKIFF_MAX_DIMS) { /* [B*T, ...] -> [B, T, ...] */
            memmove(y->dims + 2, y->dims + 1, sizeof(int64_t) * (size_t)(y->ndim - 1));
            y->dims[0] = B;
            y->dims[1] = T;
            y->ndim++;
        }
    }
    cf_drop(sc, c, n_state, n_out + n_state);
    return st;
}

/* ---- SequenceMap ---- */

static skiff_status_t *prepare_seq_map(skiff__node *n, const skiff__graph *g)
{
    (void)g;
    return check_counts(n, graph_attr(n, "body"), n->n_in - n->n_implicit, n->n_out);
}

/* The body runs once per element of input 0; sequence inputs give it their
 * i-th element, tensor inputs themselves; output o's i-th element is the
 * body's output o of that run. */
static skiff_status_t *run_seq_map(skiff__kctx *k)
{
    const skiff__node *n = k->node;
    const skiff__attr *a = graph_attr(n, "body");
    if (!a) /* a body that did not compile, or a run before prepare (folding) */
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "missing graph attribute 'body'");
    int explicit_in = n->n_in - n->n_implicit;
    const skiff_tensor_t *s0 = explicit_in >= 1 ? k->in[0] : NULL;
    if (!s0 || s0->dtype != SKIFF__DTYPE_SEQUENCE)
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "input 0 must be a sequence");
    int64_t len = s0->dims[0];
    for (int j = 1; j < explicit_in; j++) {
        const skiff_tensor_t *x = k->in[j];
        if (!x)
            return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "missing input %d", j);
        if (x->dtype == SKIFF__DTYPE_OPTIONAL)
            return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "input %d: an optional", j);
        if (x->dtype == SKIFF__DTYPE_SEQUENCE && x->dims[0] != len)
            return skiff__kerr(k, SKIFF_CODE_INVALID_ARG,
                               "input %d has %lld elements, input 0 %lld", j, (long long)x->dims[0],
                               (long long)len);
    }
    int n_slots = sub_inputs(a);
    cf_cache *c = NULL;
    skiff_context_t *sc = NULL;
    skiff_status_t *st = cf_setup(k, 0, a, n_slots, 0, 0, &c, &sc);
    for (int o = 0; !st && o < k->n_out; o++)
        if (!skiff__kctx_output_seq(k, o, SKIFF__DTYPE_SEQUENCE, len, SKIFF_DTYPE_UNDEFINED, &st))
            break;
    for (int64_t i = 0; !st && i < len; i++) {
        if ((st = skiff__kctx_iterate(k, 1)))
            break;
        for (int j = 0; j < explicit_in; j++) {
            const skiff_tensor_t *x = k->in[j];
            lend(&c->slot[j],
                 x->dtype == SKIFF__DTYPE_SEQUENCE ? ((skiff_tensor_t *const *)x->data)[i] : x);
        }
        lend_captured(k, a, c->slot, explicit_in);
        if ((st = skiff__sub_run(sc, c->ptr, n_slots))) {
            st = sub_failed(k, a, st);
            break;
        }
        for (int o = 0; !st && o < k->n_out; o++) {
            skiff_tensor_t *out = k->out[o];
            const skiff_tensor_t *r = skiff__sub_output(sc, o);
            if (!r) {
                st = skiff__kerr(k, SKIFF_CODE_INTERNAL, "body output %d missing", o);
                break;
            }
            if (i == 0)
                SKIFF__SEQ_ELEM(out) = skiff__is_seq(r) ? SKIFF_DTYPE_UNDEFINED : r->dtype;
            st = skiff__value_clone(r, &((skiff_tensor_t **)out->data)[i]);
        }
    }
    if (sc)
        skiff__sub_release(sc);
    return st;
}

const skiff__op skiff__ops_control[] = {
    {.type = "If",
     .min_opset = 1,
     .prepare = prepare_if,
     .run = run_if,
     .cache_free = cf_cache_free,
     .flags = SKIFF_OP_TAKES_SEQ},
    {.type = "Loop",
     .min_opset = 1,
     .prepare = prepare_loop,
     .run = run_loop,
     .cache_free = cf_cache_free,
     .flags = SKIFF_OP_TAKES_SEQ},
    {.type = "Scan",
     .min_opset = 9,
     .prepare = prepare_scan,
     .run = run_scan,
     .cache_free = cf_cache_free},
    {.type = "Scan", /* opset 8's form; the registry takes the first row that fits */
     .min_opset = 8,
     .prepare = prepare_scan8,
     .run = run_scan8,
     .cache_free = cf_cache_free},
    {.type = "SequenceMap",
     .min_opset = 17,
     .prepare = prepare_seq_map,
     .run = run_seq_map,
     .cache_free = cf_cache_free,
     .flags = SKIFF_OP_TAKES_SEQ | SKIFF_OP_NO_FOLD},
    {.type = NULL},
};
