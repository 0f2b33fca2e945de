/* random.c - the random generators of the default domain: RandomUniform,
 * RandomNormal, RandomUniformLike, RandomNormalLike (opset 1), Bernoulli
 * (opset 15) and Multinomial (opset 7).
 *
 * Each node keeps its generator (xoshiro256**) in its per-context cache, so
 * successive runs of one context continue one sequence and contexts never
 * share state. With the 'seed' attribute the generator starts from that
 * seed: a new context of the same model produces the same values in the
 * same order. Without it the start is drawn from the clock, the context's
 * address and a process-wide counter. The values are skiff's own: no
 * engine's random sequence is reproduced, so tests check shapes, types and
 * ranges, never values (the conformance runner does not compare the outputs
 * of a graph holding one of these ops; docs/operators.md).
 *
 * Constant folding never evaluates these ops (passes.c), so each run draws
 * anew. Normal values come from the Box-Muller transform. */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "../../engine_int.h"

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, 1). */
static double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

static double rng_normal(rng *r)
{
    double u1 = 1.0 - rng_unit(r), u2 = rng_unit(r); /* u1 in (0, 1] */
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void rng_cache_free(void *c) { skiff__free(c); }

/* The node's generator in this context, made on first use. */
static rng *node_rng(skiff__kctx *ctx, skiff_status_t **st)
{
    if (!ctx->cache) {
        *st = skiff__kerr(ctx, SKIFF_CODE_INTERNAL, "no kernel cache slot");
        return NULL;
    }
    rng *r = *ctx->cache;
    if (r)
        return r;
    r = skiff__calloc(1, sizeof(*r));
    if (!r) {
        *st = skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    static atomic_uint_fast64_t counter;
    uint64_t x;
    const skiff__attr *seed = skiff__attr_find(ctx->node, "seed");
    if (seed && (seed->type == SKIFF_ATTR_FLOAT || seed->type == SKIFF_ATTR_INT)) {
        double v = seed->type == SKIFF_ATTR_FLOAT ? (double)seed->f : (double)seed->i;
        memcpy(&x, &v, sizeof(x));
    } else {
        x = skiff__now_ns() ^ (uint64_t)(uintptr_t)ctx->cache ^
            (atomic_fetch_add(&counter, 1) * 0xD1B54A32D192ED03ull);
    }
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&x);
    *ctx->cache = r;
    return r;
}

/* The 'dtype' attribute when present, else `dflt`; must pass `ok`. */
static skiff_status_t *attr_dtype(const skiff__kctx *ctx, skiff_dtype_t dflt,
                                  bool (*ok)(skiff_dtype_t), skiff_dtype_t *out)
{
    const skiff__attr *a = skiff__attr_find(ctx->node, "dtype");
    int64_t v = a && a->type == SKIFF_ATTR_INT ? a->i : (int64_t)dflt;
    *out = (skiff_dtype_t)v;
    if (v < 1 || v > 16 || !ok(*out))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'dtype': %lld is not a type this op produces", (long long)v);
    return NULL;
}

static bool float_ok(skiff_dtype_t t) { return skiff__dtype_is_float(t); }
static bool index_ok(skiff_dtype_t t) { return t == SKIFF_DTYPE_INT32 || t == SKIFF_DTYPE_INT64; }
static bool bern_ok(skiff_dtype_t t) { return skiff__dtype_is_numeric(t) || t == SKIFF_DTYPE_BOOL; }

/* The output shape: the 'shape' attribute, or input 0's for the *Like ops. */
static skiff_status_t *gen_shape(const skiff__kctx *ctx, bool like, int *nd, int64_t *dims,
                                 skiff_dtype_t *in_dt)
{
    char a[64];
    *in_dt = SKIFF_DTYPE_FLOAT32;
    if (like) {
        const skiff_tensor_t *X;
        skiff_status_t *st = skiff__kctx_input(ctx, 0, "input", &X);
        if (st)
            return st;
        *nd = X->ndim;
        memcpy(dims, X->dims, sizeof(int64_t) * (size_t)X->ndim);
        *in_dt = X->dtype;
        return NULL;
    }
    const int64_t *sh = NULL;
    int n = skiff__attr_ints(ctx->node, "shape", &sh);
    if (n < 0 || n > SKIFF_MAX_DIMS)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'shape': required, with at most %d dims", SKIFF_MAX_DIMS);
    for (int i = 0; i < n; i++)
        if (sh[i] < 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'shape': negative dim in %s",
                               skiff_shape_str(n, sh, a, sizeof(a)));
    int64_t numel = skiff_shape_numel(n, sh);
    if (numel < 0 || (uint64_t)numel > SKIFF__MAX_TENSOR_BYTES / 8)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "attribute 'shape': %s is too large",
                           skiff_shape_str(n, sh, a, sizeof(a)));
    *nd = n;
    memcpy(dims, sh, sizeof(int64_t) * (size_t)n);
    return NULL;
}

static skiff_status_t *gen(skiff__kctx *ctx, bool like, bool normal)
{
    int nd = 0;
    int64_t dims[SKIFF_MAX_DIMS];
    skiff_dtype_t in_dt, dt;
    skiff_status_t *st;
    if ((st = gen_shape(ctx, like, &nd, dims, &in_dt)))
        return st;
    if (like && !float_ok(in_dt) && !skiff__attr_find(ctx->node, "dtype"))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'input' is %s: attribute 'dtype' must name a float type",
                           skiff_dtype_name(in_dt));
    if ((st = attr_dtype(ctx, in_dt, float_ok, &dt)))
        return st;
    double p0 = skiff__attr_float(ctx->node, normal ? "mean" : "low", 0.0f);
    double p1 = skiff__attr_float(ctx->node, normal ? "scale" : "high", 1.0f);
    if (!isfinite(p0) || !isfinite(p1) || (!normal && p1 < p0) || (normal && p1 < 0.0))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           normal ? "attributes 'mean' %g, 'scale' %g: expected finite, scale >= 0"
                                  : "attributes 'low' %g, 'high' %g: expected finite, low <= high",
                           p0, p1);
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, dt, nd, dims, &st);
    rng *r = Y ? node_rng(ctx, &st) : NULL;
    if (!r)
        return st;
    const int64_t n = skiff_tensor_numel(Y);
    for (int64_t i = 0; i < n; i++) {
        double v = normal ? p0 + p1 * rng_normal(r) : p0 + (p1 - p0) * rng_unit(r);
        skiff__store_f64(Y->data, dt, i, v);
    }
    return NULL;
}

static skiff_status_t *run_uniform(skiff__kctx *ctx) { return gen(ctx, false, false); }
static skiff_status_t *run_normal(skiff__kctx *ctx) { return gen(ctx, false, true); }
static skiff_status_t *run_uniform_like(skiff__kctx *ctx) { return gen(ctx, true, false); }
static skiff_status_t *run_normal_like(skiff__kctx *ctx) { return gen(ctx, true, true); }

static skiff_status_t *run_bernoulli(skiff__kctx *ctx)
{
    const skiff_tensor_t *X;
    skiff_dtype_t dt;
    skiff_status_t *st;
    if ((st = skiff__kctx_input(ctx, 0, "input", &X)))
        return st;
    if (!skiff__dtype_is_float(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "input", X->dtype);
    if ((st = attr_dtype(ctx, X->dtype, bern_ok, &dt)))
        return st;
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, dt, X->ndim, X->dims, &st);
    rng *r = Y ? node_rng(ctx, &st) : NULL;
    if (!r)
        return st;
    const int64_t n = skiff_tensor_numel(X);
    for (int64_t i = 0; i < n; i++) {
        double p = skiff__tensor_get_f64(X, i);
        if (!(p >= 0.0 && p <= 1.0))
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'input': element %lld is %g, not a probability in [0, 1]",
                               (long long)i, p);
        bool one = rng_unit(r) < p;
        if (dt == SKIFF_DTYPE_BOOL)
            ((uint8_t *)Y->data)[i] = one;
        else
            skiff__store_f64(Y->data, dt, i, one ? 1.0 : 0.0);
    }
    return NULL;
}

/* Samples class indices from each row's unnormalised log-probabilities. */
static skiff_status_t *run_multinomial(skiff__kctx *ctx)
{
    const skiff_tensor_t *X;
    skiff_dtype_t dt;
    skiff_status_t *st;
    char a[64];
    if ((st = skiff__kctx_input(ctx, 0, "input", &X)))
        return st;
    if (!skiff__dtype_is_float(X->dtype))
        return skiff__kctx_bad_dtype(ctx, "input", X->dtype);
    if (X->ndim != 2 || X->dims[1] < 1)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'input': expected [batch_size, class_size >= 1], got %s",
                           skiff_shape_str(X->ndim, X->dims, a, sizeof(a)));
    if ((st = attr_dtype(ctx, SKIFF_DTYPE_INT32, index_ok, &dt)))
        return st;
    int64_t samples = skiff__attr_int(ctx->node, "sample_size", 1);
    if (samples < 1 || samples > ((int64_t)1 << 32))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "attribute 'sample_size': expected 1..2^32, got %lld",
                           (long long)samples);
    const int64_t B = X->dims[0], C = X->dims[1];
    if ((st = skiff__kctx_cost(ctx, (double)B * (double)(samples + 1) * log2((double)C + 1.0))))
        return st;
    int64_t od[2] = {B, samples};
    skiff_tensor_t *Y = skiff__kctx_output(ctx, 0, dt, 2, od, &st);
    rng *r = Y ? node_rng(ctx, &st) : NULL;
    if (!r)
        return st;
    double *cum = skiff__kctx_scratch(ctx, (size_t)C * sizeof(double));
    if (!cum)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    for (int64_t b = 0; b < B; b++) {
        double mx = -INFINITY, acc = 0.0;
        for (int64_t c = 0; c < C; c++) {
            double v = skiff__tensor_get_f64(X, b * C + c);
            if (isnan(v) || v == INFINITY)
                return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                   "input 'input': row %lld holds %g, not a log-probability",
                                   (long long)b, v);
            mx = v > mx ? v : mx;
        }
        if (mx == -INFINITY)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input 'input': row %lld has no class of non-zero probability",
                               (long long)b);
        for (int64_t c = 0; c < C; c++) {
            acc += exp(skiff__tensor_get_f64(X, b * C + c) - mx);
            cum[c] = acc;
        }
        for (int64_t s = 0; s < samples; s++) {
            double u = rng_unit(r) * acc;
            int64_t lo = 0, hi = C - 1; /* first c with cum[c] > u */
            while (lo < hi) {
                int64_t mid = lo + (hi - lo) / 2;
                if (cum[mid] > u)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            if (dt == SKIFF_DTYPE_INT32)
                ((int32_t *)Y->data)[b * samples + s] = (int32_t)lo;
            else
                ((int64_t *)Y->data)[b * samples + s] = lo;
        }
    }
    return NULL;
}

const skiff__op skiff__ops_random[] = {
    {.type = "RandomUniform", .min_opset = 1, .run = run_uniform, .cache_free = rng_cache_free},
    {.type = "RandomNormal", .min_opset = 1, .run = run_normal, .cache_free = rng_cache_free},
    {.type = "RandomUniformLike",
     .min_opset = 1,
     .run = run_uniform_like,
     .cache_free = rng_cache_free},
    {.type = "RandomNormalLike",
     .min_opset = 1,
     .run = run_normal_like,
     .cache_free = rng_cache_free},
    {.type = "Bernoulli", .min_opset = 15, .run = run_bernoulli, .cache_free = rng_cache_free},
    {.type = "Multinomial", .min_opset = 7, .run = run_multinomial, .cache_free = rng_cache_free},
    {.type = NULL},
};
