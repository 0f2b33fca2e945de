/* sequence.c - ONNX sequences and optionals as values: SequenceEmpty,
 * SequenceConstruct, SequenceInsert, SequenceAt, SequenceErase,
 * SequenceLength, SplitToSequence, ConcatFromSequence, Optional,
 * OptionalHasElement, OptionalGetElement.
 *
 * A sequence is a value of the internal type SKIFF__DTYPE_SEQUENCE (see
 * engine_int.h): an array of owned element tensors. Ops that make a new
 * sequence from an old one copy its elements, as values are immutable once
 * made; none of these ops is folded into a constant. */
#include <string.h>

#include "../../engine_int.h"

#define ELEMS(t) ((skiff_tensor_t **)(t)->data)

/* Input i as a sequence, or an error naming it. */
static skiff_status_t *seq_input(const skiff__kctx *k, int i, const skiff_tensor_t **out)
{
    const skiff_tensor_t *s = skiff__kctx_opt(k, i);
    if (!s || s->dtype != SKIFF__DTYPE_SEQUENCE)
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "input %d must be a sequence, got %s", i,
                           s ? skiff_dtype_name(s->dtype) : "nothing");
    *out = s;
    return NULL;
}

/* A tensor input (not a sequence), or an error naming it. */
static skiff_status_t *tensor_input(const skiff__kctx *k, int i, const char *name,
                                    const skiff_tensor_t **out)
{
    skiff_status_t *st = skiff__kctx_input(k, i, name, out);
    if (!st && (skiff__is_seq(*out) || skiff_dtype_size((*out)->dtype) == 0))
        st = skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "input '%s' must be a tensor", name);
    return st;
}

/* A position input (one integer) in [-n, n + extra), made non-negative. */
static skiff_status_t *position(const skiff__kctx *k, int i, int64_t n, int64_t extra, int64_t dflt,
                                int64_t *out)
{
    const skiff_tensor_t *p = skiff__kctx_opt(k, i);
    if (!p) {
        *out = dflt;
        return NULL;
    }
    if (skiff__is_seq(p) || skiff_tensor_numel(p) != 1 ||
        (p->dtype != SKIFF_DTYPE_INT32 && p->dtype != SKIFF_DTYPE_INT64))
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "input 'position' must be one int32/int64");
    int64_t v = skiff__tensor_get_i64(p, 0);
    if (v < -n || v >= n + extra)
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG,
                           "position %lld is out of range for a sequence of %lld", (long long)v,
                           (long long)n);
    *out = v < 0 ? v + n : v;
    return NULL;
}

/* Checks that t may join a sequence of element type elem. */
static skiff_status_t *elem_fits(const skiff__kctx *k, int64_t elem, const skiff_tensor_t *t)
{
    if (elem != SKIFF_DTYPE_UNDEFINED && (int64_t)t->dtype != elem)
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "a %s tensor cannot join a sequence of %s",
                           skiff_dtype_name(t->dtype), skiff_dtype_name((skiff_dtype_t)elem));
    return NULL;
}

static skiff_status_t *run_seq_empty(skiff__kctx *k)
{
    int64_t dt = skiff__attr_int(k->node, "dtype", SKIFF_DTYPE_FLOAT32);
    if (skiff_dtype_size((skiff_dtype_t)dt) == 0)
        return skiff__kerr(k, SKIFF_CODE_UNSUPPORTED, "dtype %lld is not supported", (long long)dt);
    skiff_status_t *st = NULL;
    skiff__kctx_output_seq(k, 0, SKIFF__DTYPE_SEQUENCE, 0, dt, &st);
    return st;
}

static skiff_status_t *run_seq_construct(skiff__kctx *k)
{
    skiff_status_t *st = NULL;
    const skiff_tensor_t *first;
    if ((st = tensor_input(k, 0, "inputs", &first)))
        return st;
    for (int i = 1; i < k->n_in; i++) {
        const skiff_tensor_t *x;
        if ((st = tensor_input(k, i, "inputs", &x)) || (st = elem_fits(k, first->dtype, x)))
            return st;
    }
    skiff_tensor_t *s =
        skiff__kctx_output_seq(k, 0, SKIFF__DTYPE_SEQUENCE, k->n_in, first->dtype, &st);
    for (int i = 0; s && !st && i < k->n_in; i++)
        st = skiff__value_clone(k->in[i], &ELEMS(s)[i]);
    return st;
}

static skiff_status_t *run_seq_insert(skiff__kctx *k)
{
    const skiff_tensor_t *seq = NULL, *x = NULL;
    int64_t n, pos;
    skiff_status_t *st = seq_input(k, 0, &seq);
    if (st || (st = tensor_input(k, 1, "tensor", &x)) ||
        (st = elem_fits(k, SKIFF__SEQ_ELEM(seq), x)))
        return st;
    n = seq->dims[0];
    if ((st = position(k, 2, n, 1, n, &pos)))
        return st;
    skiff_tensor_t *s = skiff__kctx_output_seq(k, 0, SKIFF__DTYPE_SEQUENCE, n + 1, x->dtype, &st);
    for (int64_t i = 0, j = 0; s && !st && i <= n; i++)
        st = skiff__value_clone(i == pos ? x : ELEMS(seq)[j++], &ELEMS(s)[i]);
    return st;
}

static skiff_status_t *run_seq_at(skiff__kctx *k)
{
    const skiff_tensor_t *seq = NULL;
    int64_t pos;
    skiff_status_t *st = seq_input(k, 0, &seq);
    if (st || (st = position(k, 1, seq->dims[0], 0, -1, &pos)))
        return st;
    if (!k->in[1] || pos < 0)
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "missing required input 'position'");
    return skiff__kctx_output_copy(k, 0, ELEMS(seq)[pos]);
}

static skiff_status_t *run_seq_erase(skiff__kctx *k)
{
    const skiff_tensor_t *seq = NULL;
    int64_t pos;
    skiff_status_t *st = seq_input(k, 0, &seq);
    if (st)
        return st;
    int64_t n = seq->dims[0];
    if (n == 0)
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "cannot erase from an empty sequence");
    if ((st = position(k, 1, n, 0, n - 1, &pos)))
        return st;
    skiff_tensor_t *s =
        skiff__kctx_output_seq(k, 0, SKIFF__DTYPE_SEQUENCE, n - 1, SKIFF__SEQ_ELEM(seq), &st);
    for (int64_t i = 0, j = 0; s && !st && i < n; i++)
        if (i != pos)
            st = skiff__value_clone(ELEMS(seq)[i], &ELEMS(s)[j++]);
    return st;
}

static skiff_status_t *run_seq_length(skiff__kctx *k)
{
    const skiff_tensor_t *seq = NULL;
    skiff_status_t *st = seq_input(k, 0, &seq);
    if (st)
        return st;
    skiff_tensor_t *y = skiff__kctx_output(k, 0, SKIFF_DTYPE_INT64, 0, NULL, &st);
    if (y)
        *(int64_t *)y->data = seq->dims[0];
    return st;
}

/* Copies x[..., from:from+len, ...] (along axis) into a new owned tensor of
 * rank x->ndim (keep) or x->ndim - 1 (len 1, squeezed). */
static skiff_status_t *slice_out(const skiff_tensor_t *x, int axis, int64_t from, int64_t len,
                                 bool keep, skiff_tensor_t **out)
{
    int64_t dims[SKIFF_MAX_DIMS], outer = 1, inner = 1;
    int r = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (d == axis && !keep)
            continue;
        dims[r++] = d == axis ? len : x->dims[d];
    }
    for (int d = 0; d < axis; d++)
        outer *= x->dims[d];
    for (int d = axis + 1; d < x->ndim; d++)
        inner *= x->dims[d];
    skiff_status_t *st = skiff_tensor_new(x->dtype, r, dims, out);
    if (st)
        return st;
    size_t es = skiff_dtype_size(x->dtype);
    int64_t T = x->dims[axis], chunk = len * inner;
    for (int64_t o = 0; o < outer; o++) {
        int64_t src = (o * T + from) * inner, dst = o * chunk;
        if (x->dtype == SKIFF_DTYPE_STRING) {
            for (int64_t i = 0; i < chunk; i++) {
                const char *s = ((char *const *)x->data)[src + i];
                if (!(((char **)(*out)->data)[dst + i] = skiff__strdup(s ? s : ""))) {
                    skiff_tensor_free(*out);
                    return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
                }
            }
        } else if (chunk) {
            memcpy((char *)(*out)->data + (size_t)dst * es,
                   (const char *)x->data + (size_t)src * es, (size_t)chunk * es);
        }
    }
    return NULL;
}

static skiff_status_t *run_split_to_seq(skiff__kctx *k)
{
    const skiff_tensor_t *x;
    skiff_status_t *st = tensor_input(k, 0, "input", &x);
    if (st)
        return st;
    int axis;
    if (!skiff__norm_axis(skiff__attr_int(k->node, "axis", 0), x->ndim, &axis))
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "axis %lld is out of range for rank %d",
                           (long long)skiff__attr_int(k->node, "axis", 0), x->ndim);
    bool keep = skiff__attr_int(k->node, "keepdims", 1) != 0;
    int64_t D = x->dims[axis], n, chunk = 1;
    const skiff_tensor_t *split = skiff__kctx_opt(k, 1);
    if (split && (skiff__is_seq(split) || split->ndim > 1 ||
                  (split->dtype != SKIFF_DTYPE_INT32 && split->dtype != SKIFF_DTYPE_INT64)))
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG,
                           "input 'split' must be int32/int64 of rank "
                           "0 or 1");
    if (!split) {
        n = D;
    } else if (split->ndim == 0) {
        chunk = skiff__tensor_get_i64(split, 0);
        if (chunk <= 0)
            return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "split %lld must be positive",
                               (long long)chunk);
        n = (D + chunk - 1) / chunk;
        keep = true;
    } else {
        n = split->dims[0];
        int64_t sum = 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t v = skiff__tensor_get_i64(split, i);
            if (v < 0 || v > D - sum)
                return skiff__kerr(k, SKIFF_CODE_INVALID_ARG,
                                   "split sizes must be non-negative and sum to %lld",
                                   (long long)D);
            sum += v;
        }
        if (sum != D)
            return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "split sizes sum to %lld, not %lld",
                               (long long)sum, (long long)D);
        keep = true;
    }
    if ((st = skiff__kctx_cost(k, (double)skiff_tensor_numel(x))))
        return st;
    skiff_tensor_t *s = skiff__kctx_output_seq(k, 0, SKIFF__DTYPE_SEQUENCE, n, x->dtype, &st);
    int64_t from = 0;
    for (int64_t i = 0; s && !st && i < n; i++) {
        int64_t len = !split             ? 1
                      : split->ndim == 0 ? (from + chunk <= D ? chunk : D - from)
                                         : skiff__tensor_get_i64(split, i);
        st = slice_out(x, axis, from, len, keep, &ELEMS(s)[i]);
        from += len;
    }
    return st;
}

static skiff_status_t *run_concat_from_seq(skiff__kctx *k)
{
    const skiff_tensor_t *seq = NULL;
    skiff_status_t *st = seq_input(k, 0, &seq);
    if (st)
        return st;
    const skiff__attr *ax = skiff__attr_find(k->node, "axis");
    if (!ax)
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "missing attribute 'axis'");
    bool stack = skiff__attr_int(k->node, "new_axis", 0) != 0;
    int64_t n = seq->dims[0];
    if (n == 0)
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "cannot concatenate an empty sequence");
    const skiff_tensor_t *f = ELEMS(seq)[0];
    int r = f->ndim + (stack ? 1 : 0), axis;
    if (skiff__is_seq(f) || f->ndim + stack > SKIFF_MAX_DIMS || (!stack && f->ndim == 0) ||
        !skiff__norm_axis(ax->i, r, &axis))
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "axis %lld is out of range for rank %d",
                           (long long)ax->i, r);
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        const skiff_tensor_t *e = ELEMS(seq)[i];
        bool ok = !skiff__is_seq(e) && e->dtype == f->dtype && e->ndim == f->ndim;
        for (int d = 0; ok && d < f->ndim; d++)
            ok = (!stack && d == axis) || e->dims[d] == f->dims[d];
        if (!ok) {
            char a[200], b[200];
            return skiff__kerr(
                k, SKIFF_CODE_INVALID_ARG,
                "element %lld is %s %s, element 0 %s %s: they do not concatenate", (long long)i,
                skiff_dtype_name(e->dtype), skiff_shape_str(e->ndim, e->dims, a, sizeof(a)),
                skiff_dtype_name(f->dtype), skiff_shape_str(f->ndim, f->dims, b, sizeof(b)));
        }
        total += stack ? 1 : e->dims[axis];
    }
    int64_t dims[SKIFF_MAX_DIMS] = {0}, outer = 1, inner = 1;
    for (int d = 0, o = 0; d < r; d++) {
        if (d != axis)
            dims[d] = f->dims[o++];
        else if ((dims[d] = total), !stack)
            o++; /* the concatenated axis replaces f's */
    }
    for (int d = 0; d < axis; d++)
        outer *= dims[d];
    for (int d = axis + 1; d < r; d++)
        inner *= dims[d];
    skiff_tensor_t *y = skiff__kctx_output(k, 0, f->dtype, r, dims, &st);
    if (!y)
        return st;
    size_t es = skiff_dtype_size(f->dtype);
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        const skiff_tensor_t *e = ELEMS(seq)[i];
        int64_t len = stack ? 1 : e->dims[axis], chunk = len * inner;
        for (int64_t o = 0; o < outer; o++) {
            int64_t src = o * chunk, dst = (o * total + at) * inner;
            if (f->dtype == SKIFF_DTYPE_STRING) {
                for (int64_t j = 0; j < chunk; j++) {
                    const char *s = ((char *const *)e->data)[src + j];
                    if (!(((char **)y->data)[dst + j] = skiff__strdup(s ? s : "")))
                        return skiff__kerr(k, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
                }
            } else if (chunk) {
                memcpy((char *)y->data + (size_t)dst * es, (const char *)e->data + (size_t)src * es,
                       (size_t)chunk * es);
            }
        }
        at += len;
    }
    return NULL;
}

/* ---- optionals ---- */

static skiff_status_t *run_optional(skiff__kctx *k)
{
    const skiff_tensor_t *x = skiff__kctx_opt(k, 0);
    skiff_status_t *st = NULL;
    skiff_tensor_t *o = skiff__kctx_output_seq(k, 0, SKIFF__DTYPE_OPTIONAL, x ? 1 : 0,
                                               x ? (int64_t)x->dtype : SKIFF_DTYPE_UNDEFINED, &st);
    if (o && x)
        st = skiff__value_clone(x, &ELEMS(o)[0]);
    return st;
}

static skiff_status_t *run_optional_has(skiff__kctx *k)
{
    const skiff_tensor_t *x = skiff__kctx_opt(k, 0);
    skiff_status_t *st = NULL;
    skiff_tensor_t *y = skiff__kctx_output(k, 0, SKIFF_DTYPE_BOOL, 0, NULL, &st);
    if (y)
        *(uint8_t *)y->data = x && (x->dtype != SKIFF__DTYPE_OPTIONAL || x->dims[0] > 0);
    return st;
}

static skiff_status_t *run_optional_get(skiff__kctx *k)
{
    const skiff_tensor_t *x = skiff__kctx_opt(k, 0);
    if (!x)
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "missing required input 'input'");
    if (x->dtype != SKIFF__DTYPE_OPTIONAL)
        return skiff__kctx_output_copy(k, 0, x); /* opset 18: a tensor or sequence as it is */
    if (x->dims[0] == 0)
        return skiff__kerr(k, SKIFF_CODE_INVALID_ARG, "the optional input is empty");
    return skiff__kctx_output_copy(k, 0, ELEMS(x)[0]);
}

#define SEQ_FLAGS (SKIFF_OP_NO_FOLD | SKIFF_OP_TAKES_SEQ)

const skiff__op skiff__ops_sequence[] = {
    {.type = "SequenceEmpty", .min_opset = 11, .run = run_seq_empty, .flags = SEQ_FLAGS},
    {.type = "SequenceConstruct", .min_opset = 11, .run = run_seq_construct, .flags = SEQ_FLAGS},
    {.type = "SequenceInsert", .min_opset = 11, .run = run_seq_insert, .flags = SEQ_FLAGS},
    {.type = "SequenceAt", .min_opset = 11, .run = run_seq_at, .flags = SEQ_FLAGS},
    {.type = "SequenceErase", .min_opset = 11, .run = run_seq_erase, .flags = SEQ_FLAGS},
    {.type = "SequenceLength", .min_opset = 11, .run = run_seq_length, .flags = SEQ_FLAGS},
    {.type = "SplitToSequence", .min_opset = 11, .run = run_split_to_seq, .flags = SEQ_FLAGS},
    {.type = "ConcatFromSequence", .min_opset = 11, .run = run_concat_from_seq, .flags = SEQ_FLAGS},
    {.type = "Optional", .min_opset = 15, .run = run_optional, .flags = SEQ_FLAGS},
    {.type = "OptionalHasElement", .min_opset = 15, .run = run_optional_has, .flags = SEQ_FLAGS},
    {.type = "OptionalGetElement", .min_opset = 15, .run = run_optional_get, .flags = SEQ_FLAGS},
    {.type = NULL},
};
