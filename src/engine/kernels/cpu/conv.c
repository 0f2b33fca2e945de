/* conv.c - Conv and ConvTranspose on oneDNN.
 *
 * Tensors between nodes are plain NCHW, but oneDNN's fast convolutions want
 * other layouts (on AVX-512: channels-last activations, blocked weights).
 * Each context compiles, per input shape, a primitive with "any" layouts
 * and wraps it in reorders where the chosen layout differs from the user's;
 * constant weights are reordered once per layout into node->prep, shared by
 * every context, which then holds them alone (the store frees the model's
 * copy; see dnnl_util.h). Three refinements cut the reorders:
 *   - an edge between Convs (and pools; see skiff__plan_layouts) holds its
 *     tensor channels-last, so neither end reorders it;
 *   - a 1x1 convolution with plain ends times the blocked primitive against
 *     oneDNN's plain GEMM-based one on its first input and keeps the faster;
 *   - fused activations run as post-ops, and a fused sum as a sum post-op
 *     over the destination, so dst = act(conv(x) + sum).
 *
 * ConvTranspose whose ONNX pads cannot be expressed as oneDNN padding
 * (output_padding, or output_shape larger than the full result) computes
 * the full unpadded result and copies the requested window, filling
 * positions no input reaches with the bias. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "conv_int.h"
#include "dnnl_util.h"
#include "quant_int.h"

/* The ways one convolution can run; where several apply, the first input
 * of each shape class times them and the node keeps the fastest. */
typedef enum {
    CAND_BLOCKED,  /* oneDNN's direct kernel in its chosen ("any") layouts */
    CAND_PLAIN,    /* plain NCHW in place (oneDNN's GEMM-based convolution) */
    CAND_WINOGRAD, /* oneDNN's Winograd kernel (3x3, stride 1, nChw16c) */
    CAND_MATMUL,   /* a channels-last 1x1 as one matmul [N*spatial, C] x [C, M] */
} conv_cand;

/* Shape classes whose timed choice a node keeps. The channels, kernel,
 * strides and layouts are the node's own; what varies between runs is the
 * batch and the image size. A choice holds for every batch size above 1
 * (the candidates' relative cost hardly moves once the threads can split
 * images; at batch 1 they split one image) and for every image size within
 * a factor of CONV_CLASS_SPAN in pixels of the size it was timed on, so a
 * class is "batch 1" or "more" plus the image sizes near a timed one. The
 * winner changes slowly with the size, and where it changes the candidates
 * cost about the same, so a choice timed nearby costs little; timing every
 * new size instead cost the PP-OCRv4 recognizer several times its run for
 * each new width (docs/performance.md, "New input shapes"). The span is
 * centred on the timed size rather than cut into fixed bands, so two sizes
 * a few pixels apart never straddle a band's edge and both pay a trial
 * (ResNet-50 at 224x224 then 256x320 did, at every layer). Past the limit,
 * new classes get the direct kernel without a trial. */
#define CONV_PICKS_MAX 32
#define CONV_CLASS_SPAN 2

/* oneDNN's GEMM-based 1x1 (CAND_PLAIN) is timed only on images of at most
 * this many pixels. It won only on small images (the PP-OCRv4 recognizer's
 * last 1x1s, 20-200 pixels) and lost by 3x to 60x from 480 pixels up, where
 * timing it cost most of a trial (docs/performance.md, "New input shapes"). */
#define CONV_PLAIN_TRIAL_PX 1024

static bool cpu_has_vnni(void);

/* Trials run so far in this process (skiff__conv_trials). */
static _Atomic uint64_t conv_trials;

/* An int8 convolution's constants, worked out once at load (QLinearConv
 * whose scales, zero points and weights are constants, and the Conv
 * between DequantizeLinear and QuantizeLinear that the int8 pass fuses).
 * oneDNN computes acc = sum (x - x_zp) w exactly in int32, then
 * (acc + bias) * scale[m], the post-ops, + y_zp, rounded to nearest even
 * and saturated: QLinearConv's arithmetic with the multiplier in float. */
typedef struct conv_q {
    dnnl_data_type_t x_dt, y_dt; /* u8 or s8; y_dt f32 when the result stays float */
    int32_t xz, yz;
    int n_scales;  /* 1 or M */
    float *scales; /* x_scale * w_scale[m] (/ y_scale where folded) */
    float *bias;   /* in accumulator units: B, or b / (x_scale * w_scale[m]); NULL: none */
    int n_act;     /* the post-ops: the node's activations, rescaled where */
    skiff__fused_act act[SKIFF_MAX_ACTS + 1]; /* y_scale is folded into scales */
    /* a fused residual (fuse_qdq_sums): the quantized sum input added as
     * sum_scale * (s - sum_zp) in the result's units, before the post-ops */
    bool has_sum;
    skiff__fused_act pre_sum; /* the clip to the join's y range, before the sum */
    float sum_scale;
    int32_t sum_zp;
    dnnl_data_type_t sum_dt;
    /* int8 x on a CPU without VNNI: oneDNN would halve the weights to keep
     * its s8 x s8 pairs from saturating, a rounding the QDQ arithmetic does
     * not have; x ^ 0x80 is x + 128 as uint8 instead (x_dt u8, xz + 128),
     * one pass over x per run */
    bool flip_x;
} conv_q;

typedef struct conv_prep {
    skiff__wpack wp;
    bool has_wp; /* W is a constant: pack it once into wp */
    conv_q *q;   /* int8 convolution; NULL for float ones */
    /* The timed choice per shape class, shared by every context, so each
     * class is timed once per model and all contexts run the same kernel. */
    pthread_mutex_t mu;
    int n_picks;
    skiff__shape_key pick_key[CONV_PICKS_MAX];
    conv_cand pick[CONV_PICKS_MAX];
} conv_prep;

/* ---- attributes ---- */

static skiff_status_t *read_list(const skiff__node *node, const char *name, int nsp, int64_t dflt,
                                 int64_t min, int64_t *dst, bool *present)
{
    const int64_t *v;
    int n = skiff__attr_ints(node, name, &v);
    for (int i = 0; i < nsp; i++)
        dst[i] = dflt;
    if (present)
        *present = n >= 0;
    if (n < 0)
        return NULL;
    int off = 0;
    if (strcmp(name, "output_shape") == 0 && n == nsp + 2)
        off = 2; /* some exporters include N and C */
    else if (n != nsp)
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                               "attribute '%s': expected %d values, got %d", name, nsp, n);
    for (int i = 0; i < nsp; i++) {
        if (v[i + off] < min)
            return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                                   "attribute '%s': expected values >= %lld, got %lld", name,
                                   (long long)min, (long long)v[i + off]);
        dst[i] = v[i + off];
    }
    return NULL;
}

skiff_status_t *skiff__conv_parse_attrs(const skiff__node *node, int nsp, bool transpose,
                                        conv_attrs *a)
{
    memset(a, 0, sizeof(*a));
    a->nsp = nsp;
    a->group = skiff__attr_int(node, "group", 1);
    if (a->group < 1)
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                               "attribute 'group': expected >= 1, got %lld", (long long)a->group);
    const char *ap = skiff__attr_str(node, "auto_pad", "NOTSET");
    if (ap[0] == '\0' || strcmp(ap, "NOTSET") == 0)
        a->auto_pad = PAD_NOTSET;
    else if (strcmp(ap, "SAME_UPPER") == 0)
        a->auto_pad = PAD_SAME_UPPER;
    else if (strcmp(ap, "SAME_LOWER") == 0)
        a->auto_pad = PAD_SAME_LOWER;
    else if (strcmp(ap, "VALID") == 0)
        a->auto_pad = PAD_VALID;
    else
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                               "attribute 'auto_pad': unknown value '%s'", ap);
    skiff_status_t *st;
    if ((st = read_list(node, "kernel_shape", nsp, 0, 1, a->k, &a->has_k)) ||
        (st = read_list(node, "strides", nsp, 1, 1, a->s, NULL)) ||
        (st = read_list(node, "dilations", nsp, 1, 1, a->d, NULL)))
        return st;
    if (transpose &&
        ((st = read_list(node, "output_padding", nsp, 0, 0, a->out_pad, NULL)) ||
         (st = read_list(node, "output_shape", nsp, 0, 0, a->out_shape, &a->has_out_shape))))
        return st;
    const int64_t *v;
    int n = skiff__attr_ints(node, "pads", &v);
    if (n >= 0 && a->auto_pad == PAD_NOTSET) {
        if (n != 2 * nsp)
            return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                                   "attribute 'pads': expected %d values, got %d", 2 * nsp, n);
        for (int i = 0; i < 2 * nsp; i++)
            if (v[i] < 0)
                return skiff__node_err(node, SKIFF_CODE_INVALID_ARG,
                                       "attribute 'pads': negative padding %lld", (long long)v[i]);
        for (int i = 0; i < nsp; i++) {
            a->pb[i] = v[i];
            a->pe[i] = v[i + nsp];
        }
    }
    return NULL;
}

/* ---- primitive cache entry (Conv and ConvTranspose share it) ---- */

typedef struct conv_entry {
    dnnl_primitive_t prim;
    dnnl_primitive_t src_reorder, dst_reorder, sum_reorder, wei_reorder;
    dnnl_memory_t m_src_user, m_src, m_wei_user, m_wei, m_bias, m_dst, m_dst_user, m_sum_user;
    dnnl_memory_t m_scratch;
    dnnl_memory_t m_zp_src, m_zp_dst; /* int8: the zero points as runtime arguments */
    void *wei_buf;                    /* weights packed for this entry only (trials, full store) */
    /* Per-run buffers live in the context's scratch (skiff__kctx_scratch),
     * not in the entry, so cached shapes hold no activation-sized memory:
     * oneDNN's scratchpad at 0, then the reordered dst and src and the
     * ConvTranspose full result at these offsets; work_bytes in all (dst
     * before src measured ~10% faster on the PP-OCR detector's deconvs). */
    size_t scratch_size, src_off, dst_off, full_off, work_bytes;
    /* Where m_src and m_dst point now. oneDNN zeroes a blocked layout's
     * padding whenever a handle is set, a pass over the whole buffer, so
     * they are set only when the scratch moved. Every primitive zeroes its
     * output's padding anyway, so what other nodes leave there is harmless. */
    void *src_at, *dst_at;
    size_t acc_bytes; /* what the primitive writes: the dst region, or Y in place */
    /* the weights as the model holds them, in the view the primitive's
     * were packed from (Conv's, or the matmul candidate's [C, M]) */
    dnnl_memory_desc_t wei_from;
    bool wei_user_direct; /* W is not constant and read as stored: set the handle per run */
    bool wei_each_run;    /* weights are not constant: reorder every run */
    bool has_bias, has_sum;
    bool crop; /* ConvTranspose: full result + window copy */
} conv_entry;

static void entry_free(void *p)
{
    conv_entry *e = p;
    if (!e)
        return;
    dnnl_primitive_t prims[] = {e->prim, e->src_reorder, e->dst_reorder, e->sum_reorder,
                                e->wei_reorder};
    for (size_t i = 0; i < sizeof(prims) / sizeof(prims[0]); i++)
        if (prims[i])
            dnnl_primitive_destroy(prims[i]);
    dnnl_memory_t mems[] = {e->m_src_user, e->m_src,    e->m_wei_user, e->m_wei,
                            e->m_bias,     e->m_dst,    e->m_dst_user, e->m_sum_user,
                            e->m_scratch,  e->m_zp_src, e->m_zp_dst};
    for (size_t i = 0; i < sizeof(mems) / sizeof(mems[0]); i++)
        if (mems[i])
            dnnl_memory_destroy(mems[i]);
    skiff__free(e->wei_buf);
    skiff__free(e);
}

/* Memory object over a fresh buffer (*buf, freed by the caller). */
static dnnl_status_t mem_with_buf(const dnnl_memory_desc_t *md, dnnl_memory_t *m, void **buf)
{
    size_t size = dnnl_memory_desc_get_size(md);
    *buf = skiff__aligned_alloc(size ? size : 64);
    if (!*buf)
        return dnnl_out_of_memory;
    return dnnl_memory_create(m, md, skiff__dnnl_engine(), *buf);
}

static dnnl_status_t reorder_prim(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                                  dnnl_primitive_t *out)
{
    dnnl_engine_t eng = skiff__dnnl_engine();
    dnnl_primitive_desc_t pd;
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&pd, from, eng, to, eng, NULL);
    if (s != dnnl_success)
        return s;
    s = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    return s;
}

typedef struct conv_setup {
    bool transpose;
    int ndim;
    /* dst_user is what the primitive's result is copied to: Y, or the full
     * buffer on the crop path. */
    dnnl_memory_desc_t src_user, wei_user, bias, dst_user, sum_user;
    dnnl_dims_t strides, dil, pl, pr;
    bool has_bias, with_sum;
    skiff__wpack *wp; /* shared packed store; NULL when W is not constant */
    /* what the primitive reads X and W as: f32, or bf16 for a node the
     * precision pass marked (X reordered to it per run, W packed once);
     * the result, bias and sum stay f32. int8: X u8/s8, W s8, the result
     * as q says (then src_user and dst_user have those types too). */
    dnnl_data_type_t dt, wdt, ddt;
    const conv_q *q;
} conv_setup;

static dnnl_status_t make_pd(const conv_setup *cs, const dnnl_memory_desc_t *src,
                             const dnnl_memory_desc_t *wei, const dnnl_memory_desc_t *dst,
                             const_dnnl_primitive_attr_t attr, bool winograd,
                             dnnl_primitive_desc_t *pd)
{
    dnnl_engine_t eng = skiff__dnnl_engine();
    const dnnl_memory_desc_t *bias = cs->has_bias ? &cs->bias : NULL;
    dnnl_status_t s;
    if (cs->transpose) {
        dnnl_deconvolution_desc_t d;
        s = dnnl_dilated_deconvolution_forward_desc_init(&d, dnnl_forward_inference,
                                                         dnnl_deconvolution_direct, src, wei, bias,
                                                         dst, cs->strides, cs->dil, cs->pl, cs->pr);
        if (s == dnnl_success)
            s = dnnl_primitive_desc_create(pd, &d, attr, eng, NULL);
    } else {
        dnnl_convolution_desc_t d;
        s = dnnl_dilated_convolution_forward_desc_init(
            &d, dnnl_forward_inference,
            winograd ? dnnl_convolution_winograd : dnnl_convolution_direct, src, wei, bias, dst,
            cs->strides, cs->dil, cs->pl, cs->pr);
        if (s == dnnl_success)
            s = dnnl_primitive_desc_create(pd, &d, attr, eng, NULL);
    }
    return s;
}

/* SKIFF_CONV_ALGO=blocked|plain|winograd|matmul pins the kernel wherever it
 * applies, for measuring one against another; unset or anything else
 * means auto (time the candidates). Read when a primitive is compiled,
 * never per run. Returns the pinned kind, or -1 for auto. */
static int pinned_algo(void)
{
    const char *e = getenv("SKIFF_CONV_ALGO");
    if (e && strcmp(e, "blocked") == 0)
        return CAND_BLOCKED;
    if (e && strcmp(e, "plain") == 0)
        return CAND_PLAIN;
    if (e && strcmp(e, "winograd") == 0)
        return CAND_WINOGRAD;
    if (e && strcmp(e, "matmul") == 0)
        return CAND_MATMUL;
    return -1;
}

#define TRY(call)                                                                                  \
    do {                                                                                           \
        s = (call);                                                                                \
        if (s != dnnl_success)                                                                     \
            goto done;                                                                             \
    } while (0)

/* A 1x1 stride-1 convolution whose X, Y and sum are channels-last is a
 * matrix product: X is [N*spatial, C], Y (and the sum) [N*spatial, M], and
 * the ONNX weights [M, C, 1...] are [C, M] read with strides (1, C). */
static dnnl_status_t matmul_view(const conv_setup *cs, conv_setup *mm)
{
    *mm = *cs;
    const dnnl_dims_t *sd = &cs->src_user.dims, *dd = &cs->dst_user.dims;
    int64_t rows = (*sd)[0];
    for (int i = 2; i < cs->ndim; i++)
        rows *= (*sd)[i];
    int64_t C = (*sd)[1], M = (*dd)[1];
    dnnl_dims_t xd = {rows, C}, xs = {C, 1}, yd = {rows, M}, ys = {M, 1};
    dnnl_dims_t wd = {C, M}, ws = {1, C}, bd = {1, M};
    dnnl_data_type_t sdt = cs->with_sum ? cs->sum_user.data_type : cs->dst_user.data_type;
    dnnl_status_t s =
        dnnl_memory_desc_init_by_strides(&mm->src_user, 2, xd, cs->src_user.data_type, xs);
    if (s == dnnl_success)
        s = dnnl_memory_desc_init_by_strides(&mm->dst_user, 2, yd, cs->dst_user.data_type, ys);
    if (s == dnnl_success)
        s = dnnl_memory_desc_init_by_strides(&mm->sum_user, 2, yd, sdt, ys);
    if (s == dnnl_success) /* float32, or int8 for a quantized convolution */
        s = dnnl_memory_desc_init_by_strides(&mm->wei_user, 2, wd, cs->wei_user.data_type, ws);
    if (s == dnnl_success)
        s = dnnl_memory_desc_init_by_strides(&mm->bias, 2, bd, dnnl_f32, ys);
    return s;
}

/* Compiles one candidate. Constant weights go to the shared store, or,
 * for a candidate on trial (private_pack), into the entry's own buffer,
 * which the winner later hands to the store (adopt_weights). */
static dnnl_status_t build_entry(const conv_setup *cs, const_dnnl_primitive_attr_t attr,
                                 conv_cand cand, bool private_pack, conv_entry *e,
                                 skiff_status_t **st)
{
    *st = NULL;
    dnnl_engine_t eng = skiff__dnnl_engine();
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_t any_src, any_wei, any_dst, src_dt;
    dnnl_status_t s;
    conv_setup mm;
    if (cand == CAND_MATMUL) {
        /* the same buffers seen as matrices; everything below then works on
         * these descriptors (no reorders: src, dst and sum are given, but
         * for X's conversion to bf16) */
        TRY(matmul_view(cs, &mm));
        cs = &mm;
        TRY(dnnl_memory_desc_init_by_tag(&any_wei, 2, mm.wei_user.dims, cs->wdt,
                                         dnnl_format_tag_any));
        src_dt = mm.src_user;
        src_dt.data_type = cs->dt;
        dnnl_matmul_desc_t d;
        TRY(dnnl_matmul_desc_init(&d, &src_dt, &any_wei, mm.has_bias ? &mm.bias : NULL,
                                  &mm.dst_user));
        TRY(dnnl_primitive_desc_create(&pd, &d, attr, eng, NULL));
        goto built;
    }
    TRY(dnnl_memory_desc_init_by_tag(&any_wei, cs->wei_user.ndims, cs->wei_user.dims, cs->wdt,
                                     dnnl_format_tag_any));
    TRY(dnnl_memory_desc_init_by_tag(&any_src, cs->ndim, cs->src_user.dims, cs->dt,
                                     dnnl_format_tag_any));
    TRY(dnnl_memory_desc_init_by_tag(&any_dst, cs->ndim, cs->dst_user.dims, cs->ddt,
                                     dnnl_format_tag_any));
    if (cand == CAND_WINOGRAD) {
        TRY(make_pd(cs, &any_src, &any_wei, &any_dst, attr, true, &pd));
    } else {
        s = dnnl_unimplemented;
        if (cand == CAND_BLOCKED)
            s = make_pd(cs, &any_src, &any_wei, &any_dst, attr, false, &pd);
        src_dt = cs->src_user;
        src_dt.data_type = cs->dt;
        if (s != dnnl_success)
            TRY(make_pd(cs, &src_dt, &any_wei, &cs->dst_user, attr, false, &pd));
    }

built:;
    const dnnl_memory_desc_t *src_md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dst_md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);

    size_t src_bytes = 0, dst_bytes = 0;
    TRY(dnnl_memory_create(&e->m_src_user, &cs->src_user, eng, DNNL_MEMORY_NONE));
    if (!dnnl_memory_desc_equal(src_md, &cs->src_user)) {
        TRY(reorder_prim(&cs->src_user, src_md, &e->src_reorder));
        TRY(dnnl_memory_create(&e->m_src, src_md, eng, DNNL_MEMORY_NONE));
        src_bytes = dnnl_memory_desc_get_size(src_md);
    }
    TRY(dnnl_memory_create(&e->m_dst_user, &cs->dst_user, eng, DNNL_MEMORY_NONE));
    if (!dnnl_memory_desc_equal(dst_md, &cs->dst_user)) {
        TRY(reorder_prim(dst_md, &cs->dst_user, &e->dst_reorder));
        TRY(dnnl_memory_create(&e->m_dst, dst_md, eng, DNNL_MEMORY_NONE));
        dst_bytes = dnnl_memory_desc_get_size(dst_md);
    }
    /* the sum post-op accumulates into what the primitive writes, so that
     * starts as the addend: copied when the layouts agree, else reordered */
    const dnnl_memory_desc_t *acc_md = e->dst_reorder ? dst_md : &cs->dst_user;
    e->acc_bytes = dnnl_memory_desc_get_size(acc_md);
    if (cs->with_sum && !dnnl_memory_desc_equal(&cs->sum_user, acc_md)) {
        TRY(reorder_prim(&cs->sum_user, acc_md, &e->sum_reorder));
        TRY(dnnl_memory_create(&e->m_sum_user, &cs->sum_user, eng, DNNL_MEMORY_NONE));
    }
    if (cs->wp) {
        /* constant weights, all read through the store (it may have released
         * the model's copy): the shared copy, or a private one for a
         * candidate on trial (or when the store is full) */
        void *packed = skiff__wpack_or_private(cs->wp, private_pack, wei_md, &cs->wei_user,
                                               &e->wei_buf, &s, st);
        if (!packed)
            goto done;
        e->wei_from = cs->wei_user;
        TRY(dnnl_memory_create(&e->m_wei, wei_md, eng, packed));
    } else if (dnnl_memory_desc_equal(wei_md, &cs->wei_user)) {
        e->wei_user_direct = true;
        TRY(dnnl_memory_create(&e->m_wei, &cs->wei_user, eng, DNNL_MEMORY_NONE));
    } else {
        e->wei_each_run = true;
        TRY(mem_with_buf(wei_md, &e->m_wei, &e->wei_buf));
        TRY(reorder_prim(&cs->wei_user, wei_md, &e->wei_reorder));
        TRY(dnnl_memory_create(&e->m_wei_user, &cs->wei_user, eng, DNNL_MEMORY_NONE));
    }
    if (cs->has_bias)
        TRY(dnnl_memory_create(&e->m_bias, &cs->bias, eng, DNNL_MEMORY_NONE));
    if (cs->q) {
        dnnl_memory_desc_t zmd;
        dnnl_dims_t one = {1};
        TRY(dnnl_memory_desc_init_by_tag(&zmd, 1, one, dnnl_s32, dnnl_a));
        if (cs->q->xz)
            TRY(dnnl_memory_create(&e->m_zp_src, &zmd, eng, (void *)&cs->q->xz));
        if (cs->q->yz && cs->q->y_dt != dnnl_f32)
            TRY(dnnl_memory_create(&e->m_zp_dst, &zmd, eng, (void *)&cs->q->yz));
    }
    e->has_bias = cs->has_bias;
    e->has_sum = cs->with_sum;
    TRY(skiff__dnnl_prim_create(pd, &e->prim, &e->m_scratch, &e->scratch_size));
    e->dst_off = skiff__page_up(e->m_scratch ? e->scratch_size : 0);
    e->src_off = e->dst_off + skiff__page_up(dst_bytes);
    e->full_off = e->src_off + skiff__page_up(src_bytes);
    e->work_bytes =
        e->full_off + (e->crop ? skiff__page_up(dnnl_memory_desc_get_size(&cs->dst_user)) : 0);
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return s;
}

static dnnl_status_t exec_reorder(dnnl_primitive_t r, dnnl_stream_t stream, dnnl_memory_t from,
                                  dnnl_memory_t to)
{
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return dnnl_primitive_execute(r, stream, 2, args);
}

typedef struct conv_io {
    const void *x, *w, *b, *sum;
    void *y;
    size_t y_bytes;
    char *work; /* the context's scratch, at least the entry's work_bytes */
} conv_io;

static dnnl_status_t exec_entry(conv_entry *e, dnnl_stream_t stream, const conv_io *io)
{
    dnnl_status_t s;
    dnnl_memory_t src = e->m_src_user, dst = e->m_dst_user;
    void *y = e->crop ? io->work + e->full_off : io->y;
    TRY(dnnl_memory_set_data_handle(e->m_src_user, (void *)io->x));
    if (e->src_reorder) {
        if (e->src_at != io->work + e->src_off) {
            TRY(dnnl_memory_set_data_handle(e->m_src, io->work + e->src_off));
            e->src_at = io->work + e->src_off;
        }
        TRY(exec_reorder(e->src_reorder, stream, e->m_src_user, e->m_src));
        src = e->m_src;
    }
    if (e->wei_user_direct) {
        TRY(dnnl_memory_set_data_handle(e->m_wei, (void *)io->w));
    } else if (e->wei_each_run) {
        TRY(dnnl_memory_set_data_handle(e->m_wei_user, (void *)io->w));
        TRY(exec_reorder(e->wei_reorder, stream, e->m_wei_user, e->m_wei));
    }
    if (e->has_bias)
        TRY(dnnl_memory_set_data_handle(e->m_bias, (void *)io->b));
    if (e->m_scratch)
        TRY(dnnl_memory_set_data_handle(e->m_scratch, io->work));
    TRY(dnnl_memory_set_data_handle(e->m_dst_user, y));
    if (e->dst_reorder) {
        if (e->dst_at != io->work + e->dst_off) {
            TRY(dnnl_memory_set_data_handle(e->m_dst, io->work + e->dst_off));
            e->dst_at = io->work + e->dst_off;
        }
        dst = e->m_dst;
    }
    if (e->has_sum) {
        /* the sum post-op accumulates into dst, so dst starts as the addend */
        void *acc = e->dst_reorder ? io->work + e->dst_off : y;
        if (e->sum_reorder) {
            TRY(dnnl_memory_set_data_handle(e->m_sum_user, (void *)io->sum));
            TRY(exec_reorder(e->sum_reorder, stream, e->m_sum_user, dst));
        } else if (io->sum != acc) {
            memcpy(acc, io->sum, e->acc_bytes);
        }
    }
    dnnl_exec_arg_t args[7];
    int n = 0;
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, src};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, e->m_wei};
    if (e->has_bias)
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, e->m_bias};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, dst};
    if (e->m_scratch)
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, e->m_scratch};
    if (e->m_zp_src)
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, e->m_zp_src};
    if (e->m_zp_dst)
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST, e->m_zp_dst};
    TRY(dnnl_primitive_execute(e->prim, stream, n, args));
    if (e->dst_reorder)
        TRY(exec_reorder(e->dst_reorder, stream, e->m_dst, e->m_dst_user));
    s = dnnl_stream_wait(stream);
done:
    return s;
}

static conv_entry *new_entry(const conv_setup *cs, const_dnnl_primitive_attr_t attr, conv_cand cand,
                             bool private_pack, bool crop, dnnl_status_t *s, skiff_status_t **st)
{
    conv_entry *e = skiff__calloc(1, sizeof(*e));
    if (!e) {
        *s = dnnl_out_of_memory;
        return NULL;
    }
    e->crop = crop;
    *s = build_entry(cs, attr, cand, private_pack, e, st);
    if (*s != dnnl_success) {
        entry_free(e);
        return NULL;
    }
    return e;
}

/* Several kernels can run one convolution, and which is fastest depends on
 * the shape and the machine:
 *   - a 1x1 convolution on plain NCHW is one GEMM per image, which can beat
 *     the blocked kernel once the two reorders around it are counted (it
 *     does for channel-reducing 1x1s at small spatial sizes);
 *   - a channels-last 1x1 convolution is one matrix product over all its
 *     pixels (oneDNN's matmul);
 *   - a 3x3 stride-1 convolution can run as Winograd, fewer multiplies but
 *     a transform each way and reorders to nChw16c (it wins at batch 1 on
 *     ResNet's 3x3s on AVX-512).
 * So the candidates are timed on the real input, interleaved, reorders
 * included, and the fastest is kept. A candidate that has taken more than
 * twice the leader's best stops running: the losers are often ten times
 * slower (oneDNN's GEMM-based 1x1 against the blocked kernel at large
 * images), and their runs were most of a trial's cost. Returns the
 * winner's index; frees the others. Every candidate computes the same
 * function, so the result is the winner's whichever it is. */
static int pick_fastest(conv_entry **c, int n, dnnl_stream_t stream, const conv_io *io)
{
    uint64_t best[4] = {UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX};
    bool out_of_race[4] = {false, false, false, false};
    int win = 0;
    atomic_fetch_add_explicit(&conv_trials, 1, memory_order_relaxed);
    for (int rep = 0; rep < 4; rep++) {
        for (int k = 0; k < n; k++) {
            if (out_of_race[k])
                continue;
            uint64_t t0 = skiff__now_ns();
            if (exec_entry(c[k], stream, io) != dnnl_success) {
                win = k; /* the run that follows reports the error */
                goto out;
            }
            uint64_t dt = skiff__now_ns() - t0;
            if (rep > 0 && dt < best[k]) /* rep 0 warms caches and pages */
                best[k] = dt;
        }
        win = 0;
        for (int k = 1; k < n; k++)
            if (best[k] < best[win])
                win = k;
        for (int k = 0; k < n && rep > 0; k++)
            if (best[k] / 2 > best[win])
                out_of_race[k] = true;
    }
out:
    for (int k = 0; k < n; k++)
        if (k != win)
            entry_free(c[k]);
    return win;
}

/* The trial winner's privately packed weights move to the shared store
 * (or are dropped for the copy already there). */
static dnnl_status_t adopt_weights(conv_entry *e, skiff__wpack *wp)
{
    if (!wp || !e->wei_buf || e->wei_each_run)
        return dnnl_success;
    const dnnl_memory_desc_t *md = NULL;
    dnnl_status_t s = dnnl_memory_get_memory_desc(e->m_wei, &md);
    if (s != dnnl_success)
        return s;
    dnnl_memory_desc_t want = *md;
    void *own = e->wei_buf;
    void *use = skiff__wpack_adopt(wp, &want, &e->wei_from, &e->wei_buf);
    if (use == own)
        return dnnl_success;
    /* the entry now reads the store's copy; own is freed or the store's */
    return dnnl_memory_set_data_handle(e->m_wei, use);
}

/* The pick memo's key (see CONV_PICKS_MAX): the shape key (X's dtype,
 * rank, N, C and spatial dims first) with N reduced to 1 or 2 and the
 * spatial dims to their product, in the first one's place and 0 in the
 * others'. *px_at is that place, or -1 when X has no spatial dims. */
static skiff__shape_key pick_key(const skiff__shape_key *shape, int *px_at)
{
    skiff__shape_key k = *shape;
    *px_at = -1;
    if (k.n > 2 && k.v[2] > 2)
        k.v[2] = 2;
    int64_t rank = k.n > 1 ? k.v[1] : 0;
    if (rank < 3 || k.n < 2 + rank)
        return k;
    int64_t px = 1;
    for (int64_t i = 4; i < 2 + rank; i++) {
        px *= k.v[i];
        k.v[i] = 0;
    }
    k.v[4] = px;
    *px_at = 4;
    return k;
}

uint64_t skiff__conv_trials(void)
{
    return atomic_load_explicit(&conv_trials, memory_order_relaxed);
}

/* The choice for the class of `shape`: a pick whose key agrees but for
 * the pixels, and whose pixels are within CONV_CLASS_SPAN of these; the
 * nearest such one where several are. */
static bool find_pick(conv_prep *p, const skiff__shape_key *shape, conv_cand *out)
{
    int at;
    skiff__shape_key k = pick_key(shape, &at);
    int64_t px = at >= 0 ? k.v[at] : 0;
    double best = 0;
    bool found = false;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n_picks; i++) {
        const skiff__shape_key *pk = &p->pick_key[i];
        if (pk->n != k.n)
            continue;
        bool same = true;
        for (int j = 0; j < k.n && same; j++)
            same = j == at || pk->v[j] == k.v[j];
        if (!same)
            continue;
        double ratio = 1;
        if (at >= 0) {
            int64_t lo = px < pk->v[at] ? px : pk->v[at], hi = px < pk->v[at] ? pk->v[at] : px;
            if (hi > lo * CONV_CLASS_SPAN)
                continue;
            ratio = lo > 0 ? (double)hi / (double)lo : 1;
        }
        if (!found || ratio < best) {
            *out = p->pick[i];
            best = ratio;
            found = true;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return found;
}

static bool picks_full(conv_prep *p)
{
    pthread_mutex_lock(&p->mu);
    bool full = p->n_picks >= CONV_PICKS_MAX;
    pthread_mutex_unlock(&p->mu);
    return full;
}

static void record_pick(conv_prep *p, const skiff__shape_key *shape, conv_cand cand)
{
    conv_cand have;
    if (find_pick(p, shape, &have))
        return;
    pthread_mutex_lock(&p->mu);
    if (p->n_picks < CONV_PICKS_MAX) {
        int at;
        p->pick_key[p->n_picks] = pick_key(shape, &at);
        p->pick[p->n_picks++] = cand;
    }
    pthread_mutex_unlock(&p->mu);
}

/* Builds the entry for a new input shape: the kernel already picked for
 * its shape class, the one SKIFF_CONV_ALGO pins, or the fastest of the
 * candidates that apply (see pick_fastest). */
static conv_entry *compile_entry(const conv_setup *cs, const_dnnl_primitive_attr_t attr,
                                 conv_prep *prep, const skiff__shape_key *key, const conv_attrs *a,
                                 bool src_cl, bool dst_cl, int64_t g, bool crop, skiff__kctx *ctx,
                                 dnnl_stream_t stream, const conv_io *io, dnnl_status_t *s,
                                 skiff_status_t **st)
{
    int pinned = pinned_algo();
    if ((pinned == CAND_WINOGRAD && cs->dt != dnnl_f32) ||
        (pinned == CAND_MATMUL && cs->q && !cpu_has_vnni()))
        pinned = -1; /* no bf16 or int8 Winograd here; int8 matmul only with VNNI */
    conv_cand known = CAND_BLOCKED;
    bool have = prep && find_pick(prep, key, &known);
    if (pinned == CAND_PLAIN || (have && known == CAND_PLAIN))
        return new_entry(cs, attr, CAND_PLAIN, false, crop, s, st);
    if (have && (known == CAND_WINOGRAD || known == CAND_MATMUL)) {
        conv_entry *e = new_entry(cs, attr, known, false, crop, s, st);
        if (e || *st)
            return e;
    }
    bool one_by_one = !cs->transpose && g == 1, wino_shape = !cs->transpose && g == 1;
    for (int i = 0; i < a->nsp; i++) {
        one_by_one = one_by_one && a->k[i] == 1 && a->s[i] == 1 && a->pb[i] == 0 && a->pe[i] == 0;
        wino_shape = wino_shape && a->k[i] == 3 && a->s[i] == 1 && a->d[i] == 1;
    }
    wino_shape = wino_shape && a->nsp == 2 && !crop;
    /* channels-last at both ends, and the sum too (its view is Y's) */
    bool mm_shape = one_by_one && src_cl && dst_cl && !crop &&
                    (!cs->with_sum || dnnl_memory_desc_equal(&cs->sum_user, &cs->dst_user));
    if ((pinned == CAND_WINOGRAD && wino_shape) || (pinned == CAND_MATMUL && mm_shape)) {
        conv_entry *e = new_entry(cs, attr, (conv_cand)pinned, false, crop, s, st);
        if (e || *st)
            return e;
    }
    int64_t px = 1;
    for (int i = 2; i < cs->ndim; i++)
        px *= cs->src_user.dims[i];
    /* bf16 converts X either way, and has no Winograd; int8 has the direct
     * kernel and, with VNNI, the matmul view (oneDNN's int8 matmul takes the
     * same scales, zero points and post-ops; without VNNI its u8 x s8 pairs
     * may saturate, which the convolution guards against and it does not) */
    bool f32 = cs->dt == dnnl_f32;
    bool try_plain =
        pinned < 0 && one_by_one && !src_cl && !dst_cl && px <= CONV_PLAIN_TRIAL_PX && f32;
    bool try_wino = pinned < 0 && wino_shape && f32;
    bool try_mm = pinned < 0 && mm_shape && (!cs->q || cpu_has_vnni());
    if (!prep || (!try_plain && !try_wino && !try_mm) || have || picks_full(prep))
        return new_entry(cs, attr, CAND_BLOCKED, false, crop, s, st);

    conv_entry *c[4];
    conv_cand kind[4];
    int n = 0;
    c[n] = new_entry(cs, attr, CAND_BLOCKED, true, crop, s, st);
    if (!c[n])
        return NULL;
    kind[n++] = CAND_BLOCKED;
    /* a candidate oneDNN cannot build drops out; running out of memory fails */
    for (int k = 0; k < 3; k++) {
        conv_cand want = k == 0 ? CAND_PLAIN : k == 1 ? CAND_WINOGRAD : CAND_MATMUL;
        bool wanted = want == CAND_PLAIN ? try_plain && (c[0]->src_reorder || c[0]->dst_reorder)
                      : want == CAND_WINOGRAD ? try_wino
                                              : try_mm;
        if (!wanted)
            continue;
        c[n] = new_entry(cs, attr, want, true, crop, s, st);
        if (!c[n] && (*st || *s == dnnl_out_of_memory)) {
            for (int j = 0; j < n; j++)
                entry_free(c[j]);
            return NULL;
        }
        if (c[n] && want == CAND_PLAIN && (c[n]->src_reorder || c[n]->dst_reorder)) {
            entry_free(c[n]);
            c[n] = NULL;
        }
        if (c[n])
            kind[n++] = want;
    }
    int win = 0;
    if (n > 1) {
        size_t need = 0;
        for (int j = 0; j < n; j++)
            need = c[j]->work_bytes > need ? c[j]->work_bytes : need;
        conv_io trial = *io;
        trial.work = skiff__kctx_scratch(ctx, need);
        /* Y is the sum's buffer (skiff__kctx_output_over): the trials add
         * into a copy of the sum, and the sum is put back for the real run */
        bool alias = io->sum && io->sum == io->y;
        void *copy = alias ? skiff__aligned_alloc(io->y_bytes ? io->y_bytes : 64) : NULL;
        if (!trial.work || (alias && !copy)) {
            for (int j = 0; j < n; j++)
                entry_free(c[j]);
            *s = dnnl_out_of_memory;
            return NULL;
        }
        if (alias) {
            memcpy(copy, io->sum, io->y_bytes);
            trial.sum = copy;
        }
        win = pick_fastest(c, n, stream, &trial);
        if (alias)
            memcpy(io->y, copy, io->y_bytes);
        skiff__free(copy);
    }
    if ((*s = adopt_weights(c[win], cs->wp)) != dnnl_success) {
        entry_free(c[win]);
        return NULL;
    }
    if (n > 1)
        record_pick(prep, key, kind[win]);
    return c[win];
}

/* ---- shared run ---- */

/* Y[n, m, ...] = bias[m] (or 0): outputs no input reaches. */
static void fill_bias(float *y, const float *b, int64_t n, int64_t m, int64_t inner, int threads)
{
#pragma omp parallel for num_threads(threads) if (n * m * inner > 65536)
    for (int64_t nm = 0; nm < n * m; nm++) {
        float v = b ? b[nm % m] : 0.f;
        float *o = y + nm * inner;
        for (int64_t i = 0; i < inner; i++)
            o[i] = v;
    }
}

/* Same for channels-last Y[n, ..., m]. */
static void fill_bias_cl(float *y, const float *b, int64_t n, int64_t m, int64_t inner, int threads)
{
#pragma omp parallel for num_threads(threads) if (n * m * inner > 65536)
    for (int64_t ni = 0; ni < n * inner; ni++)
        for (int64_t c = 0; c < m; c++)
            y[ni * m + c] = b ? b[c] : 0.f;
}

/* Fused sum and activations in C, for the paths oneDNN does not apply them
 * on; Y and the sum input are each row-major or channels-last (y_cl, s_cl). */
static skiff_status_t *conv_epilogue(const skiff__kctx *ctx, skiff_tensor_t *Y, bool y_cl,
                                     bool s_cl)
{
    if (!y_cl && !s_cl)
        return skiff__nn_epilogue(ctx, Y);
    bool bcast;
    skiff_status_t *st = NULL;
    const skiff_tensor_t *S = skiff__nn_sum_tensor(ctx, Y, &bcast, &st);
    if (st)
        return st;
    int64_t n = skiff_tensor_numel(Y);
    if (S && (bcast || y_cl != s_cl)) {
        skiff__nn_add_bcast(Y->data, Y->ndim, Y->dims, y_cl, S->data, S->ndim, S->dims,
                            s_cl && S->ndim >= 3, ctx->threads);
    } else if (S) {
        float *o = Y->data;
        const float *a = S->data;
#pragma omp parallel for simd num_threads(ctx->threads) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            o[i] += a[i];
    }
    skiff__nn_apply_act(ctx->node, Y->data, n, ctx->threads);
    return NULL;
}

/* ConvTranspose crop path: Y[n,m,o] = full[n,m,o+pb] inside, bias outside.
 * Shapes are padded to 3 spatial dims. */
static void crop_copy(float *y, const float *full, const float *b, int64_t nm, int64_t m,
                      const int64_t *od, const int64_t *fd, const int64_t *pb, int threads)
{
    int64_t o_inner = od[0] * od[1] * od[2], f_inner = fd[0] * fd[1] * fd[2];
#pragma omp parallel for num_threads(threads) if (nm * o_inner > 65536)
    for (int64_t c = 0; c < nm; c++) {
        float bv = b ? b[c % m] : 0.f;
        float *yo = y + c * o_inner;
        const float *fo = full + c * f_inner;
        for (int64_t z = 0; z < od[0]; z++) {
            int64_t fz = z + pb[0];
            for (int64_t h = 0; h < od[1]; h++) {
                int64_t fh = h + pb[1];
                float *row = yo + (z * od[1] + h) * od[2];
                bool inside = fz >= 0 && fz < fd[0] && fh >= 0 && fh < fd[1];
                const float *frow = inside ? fo + (fz * fd[1] + fh) * fd[2] : NULL;
                for (int64_t w = 0; w < od[2]; w++) {
                    int64_t fw = w + pb[2];
                    row[w] = inside && fw >= 0 && fw < fd[2] ? frow[fw] : bv;
                }
            }
        }
    }
}

skiff_status_t *skiff__conv_out_shape(const skiff__kctx *ctx, const skiff_tensor_t *X,
                                      bool transpose, conv_attrs *a, int64_t *yd, int64_t *full,
                                      bool *degenerate, bool *crop)
{
    const int nsp = X->ndim - 2;
    for (int i = 0; i < nsp; i++) {
        int64_t in = X->dims[2 + i], s = a->s[i], dk = (a->k[i] - 1) * a->d[i] + 1;
        if (in == 0 || a->k[i] == 0)
            *degenerate = true;
        if (!transpose) {
            if (a->auto_pad == PAD_SAME_UPPER || a->auto_pad == PAD_SAME_LOWER) {
                int64_t o = (in + s - 1) / s;
                int64_t total = (o - 1) * s + dk - in;
                if (total < 0)
                    total = 0;
                a->pb[i] = a->auto_pad == PAD_SAME_UPPER ? total / 2 : total - total / 2;
                a->pe[i] = total - a->pb[i];
                yd[2 + i] = o;
            } else {
                int64_t span = in + a->pb[i] + a->pe[i] - dk;
                if (span < 0)
                    return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                       "input 'X': spatial dim %d (%lld, padded %lld) is smaller "
                                       "than the dilated kernel (%lld)",
                                       i, (long long)in, (long long)(in + a->pb[i] + a->pe[i]),
                                       (long long)dk);
                yd[2 + i] = span / s + 1;
            }
        } else {
            int64_t f = in > 0 ? s * (in - 1) + dk : 0;
            full[i] = f;
            if (a->has_out_shape || a->auto_pad == PAD_SAME_UPPER ||
                a->auto_pad == PAD_SAME_LOWER) {
                int64_t o = a->has_out_shape ? a->out_shape[i] : in * s;
                int64_t total = f + a->out_pad[i] - o;
                if (total < 0)
                    total = 0;
                /* ONNX: SAME_UPPER puts the odd padding at the end */
                a->pb[i] = a->auto_pad == PAD_SAME_UPPER ? total / 2 : total - total / 2;
                a->pe[i] = total - a->pb[i];
                yd[2 + i] = o;
            } else {
                int64_t o = f + a->out_pad[i] - a->pb[i] - a->pe[i];
                if (o < 0)
                    return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                                       "pads exceed the output of spatial dim %d", i);
                yd[2 + i] = o;
            }
            if (f - yd[2 + i] - a->pb[i] < 0)
                *crop = true;
        }
    }
    return NULL;
}

/* W's ONNX layout as a oneDNN descriptor by strides, with a group dim when
 * g > 1 ([C, M/g, k...] for ConvTranspose, [M, C/g, k...] otherwise). */
static dnnl_status_t wei_desc(dnnl_memory_desc_t *md, const conv_attrs *a, int nsp, int64_t M,
                              int64_t C, int64_t g, bool transpose, dnnl_data_type_t dt)
{
    dnnl_dims_t wd, ws;
    int wn = 0;
    int64_t K = 1;
    for (int i = 0; i < nsp; i++)
        K *= a->k[i];
    int64_t oc = M / g, ic = C / g;
    if (g > 1) {
        wd[wn] = g;
        ws[wn++] = oc * ic * K;
    }
    wd[wn] = oc;
    ws[wn++] = transpose ? K : ic * K;
    wd[wn] = ic;
    ws[wn++] = transpose ? oc * K : K;
    int64_t st_k = 1;
    for (int i = nsp - 1; i >= 0; i--) {
        wd[wn + i] = a->k[i];
        ws[wn + i] = st_k;
        st_k *= a->k[i];
    }
    wn += nsp;
    return dnnl_memory_desc_init_by_strides(md, wn, wd, dt, ws);
}

/* Multiply-adds of the node, for the compute guard: per output (per input
 * for ConvTranspose) one per kernel tap and channel of its group. */
static double conv_macs(const conv_attrs *a, int nsp, bool transpose, int64_t x_n, int64_t y_n,
                        int64_t ic, int64_t oc)
{
    double kprod = 1;
    for (int i = 0; i < nsp; i++)
        kprod *= (double)a->k[i];
    return transpose ? (double)x_n * (double)oc * kprod : (double)y_n * (double)ic * kprod;
}

skiff_status_t *skiff__conv_weight_shape(const skiff__kctx *ctx, const char *wname,
                                         const skiff_tensor_t *W, int64_t C, bool transpose,
                                         conv_attrs *a, int64_t *M)
{
    const int64_t g = a->group;
    if (transpose) {
        if (W->dims[0] != C || C % g != 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input '%s': expected dim 0 = %lld input channels divisible by "
                               "group %lld, got %lld",
                               wname, (long long)C, (long long)g, (long long)W->dims[0]);
        *M = W->dims[1] * g;
    } else {
        *M = W->dims[0];
        if (W->dims[1] * g != C || *M % g != 0)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "input '%s': shape [%lld,%lld,...] does not fit %lld input "
                               "channels in %lld groups",
                               wname, (long long)W->dims[0], (long long)W->dims[1], (long long)C,
                               (long long)g);
    }
    for (int i = 0; i < a->nsp; i++) {
        if (a->has_k && a->k[i] != W->dims[2 + i])
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                               "attribute 'kernel_shape' [%d] = %lld but '%s' has %lld", i,
                               (long long)a->k[i], wname, (long long)W->dims[2 + i]);
        a->k[i] = W->dims[2 + i];
    }
    return NULL;
}

/* The int8 primitive's attr: per-channel (or one) output scales, the
 * zero points as runtime arguments, q's post-ops. */
static dnnl_status_t q_attr(const conv_q *q, dnnl_primitive_attr_t *out)
{
    dnnl_status_t s = q->has_sum ? skiff__dnnl_attr_qsum(&q->pre_sum, q->act, q->n_act,
                                                         q->sum_scale, q->sum_zp, q->sum_dt, out)
                                 : skiff__dnnl_attr(q->act, q->n_act, false, out);
    if (s != dnnl_success)
        return s;
    s = dnnl_primitive_attr_set_output_scales(*out, q->n_scales, q->n_scales > 1 ? 1 << 1 : 0,
                                              q->scales);
    const int32_t rt = DNNL_RUNTIME_S32_VAL;
    if (s == dnnl_success && q->xz)
        s = dnnl_primitive_attr_set_zero_points(*out, DNNL_ARG_SRC, 1, 0, &rt);
    if (s == dnnl_success && q->yz && q->y_dt != dnnl_f32)
        s = dnnl_primitive_attr_set_zero_points(*out, DNNL_ARG_DST, 1, 0, &rt);
    if (s != dnnl_success) {
        dnnl_primitive_attr_destroy(*out);
        *out = NULL;
    }
    return s;
}

static skiff_dtype_t q_dtype(dnnl_data_type_t dt)
{
    return dt == dnnl_u8   ? SKIFF_DTYPE_UINT8
           : dt == dnnl_s8 ? SKIFF_DTYPE_INT8
                           : SKIFF_DTYPE_FLOAT32;
}

static skiff_status_t *conv_common(skiff__kctx *ctx, bool transpose, const conv_q *q);

/* A 2-D ConvTranspose whose kernel equals its stride (no pads, no dilation,
 * one group: the PP-OCR detector's 2x2 stride 2 upsampling to its
 * probability map) places one k x k tile per input pixel with no overlap:
 * Y[n, m, y*k+i, x*k+j] = sum_c X[n, c, y, x] W[c, m, i, j] + B[m]. */
static bool tile_deconv_fits(const conv_attrs *a, int nsp, int64_t g, const skiff_tensor_t *X,
                             const int64_t *yd)
{
    if (nsp != 2 || g != 1)
        return false;
    for (int i = 0; i < 2; i++)
        if (a->k[i] != a->s[i] || a->d[i] != 1 || a->pb[i] || a->pe[i] || a->out_pad[i] ||
            yd[2 + i] != X->dims[2 + i] * a->s[i])
            return false;
    return true;
}

/* That product as one matrix product per image, [H*W, C] x [C, M*kh*kw]
 * (dnnl_sgemm on the weights as the model stores them: no primitive to
 * create for a new input size), each row's tiles then put in place; the
 * fused sum and activations after, in C. In float32, also for a node the
 * precision pass marked bf16. */
static skiff_status_t *tile_deconv(skiff__kctx *ctx, const conv_attrs *a, const skiff_tensor_t *X,
                                   const skiff_tensor_t *W, const skiff_tensor_t *B,
                                   skiff_tensor_t *Y, bool sum_cl)
{
    int64_t N = X->dims[0], C = X->dims[1], H = X->dims[2], Wd = X->dims[3];
    int64_t kh = a->k[0], kw = a->k[1], M = Y->dims[1], mk = M * kh * kw, hw = H * Wd;
    int64_t OH = H * kh, OW = Wd * kw;
    const float *w = W->data;
    conv_prep *prep = ctx->node->prep;
    skiff_status_t *st = NULL;
    if (!w && prep && prep->has_wp) { /* the store holds the weights: the model's layout */
        dnnl_memory_desc_t md;
        dnnl_dims_t wd = {C, M, kh, kw};
        if (dnnl_memory_desc_init_by_tag(&md, 4, wd, dnnl_f32, dnnl_abcd) != dnnl_success)
            return skiff__kerr(ctx, SKIFF_CODE_INTERNAL, "weights descriptor");
        w = skiff__wpack_get(&prep->wp, &md, &md, &st);
        if (!w)
            return st ? st
                      : skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED,
                                    "input 'W': no room for another layout of the weights");
    }
    if (!w)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'W' has no data");
    float *z = skiff__kctx_scratch(ctx, sizeof(float) * (size_t)(hw * mk));
    if (!z)
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED,
                           "out of memory for %lld floats of scratch", (long long)(hw * mk));
    const float *bias = B ? B->data : NULL;
    float *y = Y->data;
    for (int64_t n = 0; n < N; n++) {
        const float *xn = (const float *)X->data + n * C * hw;
        if (dnnl_sgemm('T', 'N', hw, mk, C, 1.f, xn, hw, w, mk, 0.f, z, mk) != dnnl_success)
            return skiff__kerr(ctx, SKIFF_CODE_INTERNAL, "matrix product failed");
        float *yn = y + n * M * OH * OW;
#pragma omp parallel for collapse(2) num_threads(ctx->threads) if (M * OH * OW > 65536)
        for (int64_t m = 0; m < M; m++)
            for (int64_t oy = 0; oy < OH; oy++) {
                int64_t iy = oy / kh, i = oy % kh;
                float bm = bias ? bias[m] : 0.f, *row = yn + (m * OH + oy) * OW;
                const float *zr = z + iy * Wd * mk + (m * kh + i) * kw;
                for (int64_t ix = 0; ix < Wd; ix++)
                    for (int64_t j = 0; j < kw; j++)
                        row[ix * kw + j] = zr[ix * mk + j] + bm;
            }
    }
    return conv_epilogue(ctx, Y, false, sum_cl);
}

/* A bfloat16 fused sum on a path where the sum and activations run in C,
 * in float32 (a broadcast sum, ConvTranspose, an empty input): the run
 * again with the sum converted to float32. */
static skiff_status_t *conv_sum_f32(skiff__kctx *ctx, bool transpose)
{
    const skiff_tensor_t *S = ctx->in[ctx->n_in];
    skiff_tensor_t *f = NULL;
    skiff_status_t *st = skiff_tensor_new(SKIFF_DTYPE_FLOAT32, S->ndim, S->dims, &f);
    if (st)
        return st;
    const skiff_tensor_t **ins = skiff__malloc(sizeof(*ins) * (size_t)(ctx->n_in + 1));
    if (!ins) {
        skiff_tensor_free(f);
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    const uint16_t *src = S->data;
    float *dst = f->data;
    int64_t n = skiff_tensor_numel(S);
    for (int64_t i = 0; i < n; i++)
        dst[i] = skiff__bf16_to_f32(src[i]);
    const skiff_tensor_t *const *saved = ctx->in;
    memcpy(ins, saved, sizeof(*ins) * (size_t)ctx->n_in);
    ins[ctx->n_in] = f;
    ctx->in = ins;
    st = conv_common(ctx, transpose, NULL);
    ctx->in = saved;
    skiff__free(ins);
    skiff_tensor_free(f);
    return st;
}

/* Conv, ConvTranspose, and (q set) an int8 convolution: inputs x, x_scale,
 * x_zero_point, w, ... in QLinearConv's order, the constants in q. */
static skiff_status_t *conv_common(skiff__kctx *ctx, bool transpose, const conv_q *q)
{
    const skiff__node *node = ctx->node;
    const skiff_tensor_t *X = ctx->n_in > 0 ? ctx->in[0] : NULL;
    const skiff_tensor_t *W = ctx->n_in > (q ? 3 : 1) ? ctx->in[q ? 3 : 1] : NULL;
    const skiff_tensor_t *B = !q && ctx->n_in > 2 && node->n_in > 2 ? ctx->in[2] : NULL;
    if (!X || !W)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "inputs 'X' and 'W' are required");
    if (q) {
        skiff_dtype_t xdt = q->flip_x ? SKIFF_DTYPE_INT8 : q_dtype(q->x_dt);
        if (X->dtype != xdt || W->dtype != SKIFF_DTYPE_INT8)
            return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input '%s': expected %s, got %s",
                               X->dtype != xdt ? "x" : "w",
                               skiff_dtype_name(X->dtype != xdt ? xdt : SKIFF_DTYPE_INT8),
                               skiff_dtype_name(X->dtype != xdt ? X->dtype : W->dtype));
    } else if ((X->dtype != SKIFF_DTYPE_FLOAT32 &&
                !(X->dtype == SKIFF_DTYPE_BFLOAT16 && node->bf16)) ||
               W->dtype != SKIFF_DTYPE_FLOAT32 || (B && B->dtype != SKIFF_DTYPE_FLOAT32)) {
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED, "dtype %s: only float32 is implemented",
                           skiff_dtype_name(X->dtype != SKIFF_DTYPE_FLOAT32   ? X->dtype
                                            : W->dtype != SKIFF_DTYPE_FLOAT32 ? W->dtype
                                                                              : B->dtype));
    }
    int r = X->ndim;
    if (r < 3)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG,
                           "input 'X': expected rank >= 3 (N, C, spatial...), got %d", r);
    if (r > 2 + CONV_MAX_SP)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED,
                           "input 'X': rank %d (only 1D, 2D and 3D convolutions)", r);
    if (W->ndim != r)
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'W': expected rank %d, got %d", r,
                           W->ndim);
    int nsp = r - 2;
    conv_attrs a;
    skiff_status_t *st = skiff__conv_parse_attrs(node, nsp, transpose, &a);
    if (st)
        return st;
    int64_t N = X->dims[0], C = X->dims[1], g = a.group, M;
    if ((st = skiff__conv_weight_shape(ctx, "W", W, C, transpose, &a, &M)))
        return st;
    if (B && (B->ndim != 1 || B->dims[0] != M))
        return skiff__kerr(ctx, SKIFF_CODE_INVALID_ARG, "input 'B': expected shape [%lld]",
                           (long long)M);

    /* output shape and effective pads */
    int64_t yd[2 + CONV_MAX_SP] = {N, M};
    int64_t full[CONV_MAX_SP] = {0};
    bool degenerate = N == 0 || C == 0 || M == 0;
    bool crop = false;
    if ((st = skiff__conv_out_shape(ctx, X, transpose, &a, yd, full, &degenerate, &crop)))
        return st;
    /* Y in bf16 where the planner asked for it and oneDNN applies the
     * post-ops (the C epilogue works in float32): no sum, or one of Y's shape */
    const skiff_tensor_t *S0 = node->sum_input >= 0 ? ctx->in[ctx->n_in] : NULL;
    bool s_same = S0 && S0->ndim == r;
    for (int i = 0; s_same && i < r; i++)
        s_same = S0->dims[i] == yd[i];
    bool y_bf16 =
        !q && node->y_bf16 && !transpose && !degenerate && !crop && (node->sum_input < 0 || s_same);
    if (S0 && S0->dtype == SKIFF_DTYPE_BFLOAT16 && (transpose || degenerate || crop || !s_same))
        return conv_sum_f32(ctx, transpose); /* the C epilogue adds it */
    skiff_dtype_t ydt = q ? q_dtype(q->y_dt) : y_bf16 ? SKIFF_DTYPE_BFLOAT16 : SKIFF_DTYPE_FLOAT32;
    /* Y over the fused sum's buffer where the sum dies here, in the same
     * layout and type: the sum post-op then accumulates into it, no copy first */
    bool over = (!q || q->has_sum) && !transpose && !degenerate && !crop && node->sum_input >= 0 &&
                node->sum_cl == node->y_cl && S0 && S0->dtype == ydt;
    if (q && q->has_sum && (!S0 || !s_same || S0->dtype != ydt)) {
        char a[96], b[96];
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED,
                           "int8 residual join: the quantized addend %s %s does not match the "
                           "result %s %s (run this model with --precision fp32)",
                           S0 ? skiff_dtype_name(S0->dtype) : "(none)",
                           S0 ? skiff_shape_str(S0->ndim, S0->dims, a, sizeof(a)) : "",
                           skiff_dtype_name(ydt), skiff_shape_str(r, yd, b, sizeof(b)));
    }
    skiff_tensor_t *Y = over ? skiff__kctx_output_over(ctx, 0, ctx->n_in, ydt, r, yd, &st)
                             : skiff__kctx_output(ctx, 0, ydt, r, yd, &st);
    if (!Y)
        return st;
    int64_t y_n = skiff_tensor_numel(Y);
    if (y_n == 0)
        return NULL;
    if ((st = skiff__kctx_cost(
             ctx, conv_macs(&a, nsp, transpose, skiff_tensor_numel(X), y_n, C / g, M / g))))
        return st;
    int64_t inner = y_n / (N * M);
    bool src_cl = !transpose && node->x_cl;
    bool dst_cl = !transpose && node->y_cl;
    bool sum_cl = !transpose && node->sum_cl;
    if (degenerate && q)
        return skiff__kerr(ctx, SKIFF_CODE_UNSUPPORTED,
                           "int8 convolution of an input with no channels or no pixels");
    if (degenerate) {
        if (dst_cl)
            fill_bias_cl(Y->data, B ? B->data : NULL, N, M, inner, ctx->threads);
        else
            fill_bias(Y->data, B ? B->data : NULL, N, M, inner, ctx->threads);
        return conv_epilogue(ctx, Y, dst_cl, sum_cl);
    }
    if (transpose && !q && X->dtype == SKIFF_DTYPE_FLOAT32 && tile_deconv_fits(&a, nsp, g, X, yd))
        return tile_deconv(ctx, &a, X, W, B, Y, sum_cl);
    bool s_bcast;
    const skiff_tensor_t *S = skiff__nn_sum_tensor(ctx, Y, &s_bcast, &st);
    if (st)
        return st;
    /* Post-ops run inside oneDNN only where the primitive writes Y and the
     * sum, if any, is elementwise; elsewhere conv_epilogue applies them. */
    bool fuse = !transpose && !s_bcast;
    const float *bias = q ? q->bias : B ? B->data : NULL;

    skiff__shape_key key = {0};
    skiff__key_add_tensor(&key, X);
    skiff__key_add_tensor(&key, W);
    skiff__key_add(&key, bias != NULL);
    skiff__key_add(&key, S ? (int64_t)S->dtype : -1);
    skiff__key_add(&key, Y->dtype);
    if (!skiff__key_add(&key, s_bcast))
        return skiff__kerr(ctx, SKIFF_CODE_INTERNAL, "cache key overflow");
    skiff__pcache *cache = skiff__pcache_get(ctx, entry_free, &st);
    if (!cache)
        return st;
    conv_entry *e = skiff__pcache_find(cache, &key);
    if (!e) {
        conv_setup cs;
        memset(&cs, 0, sizeof(cs));
        cs.transpose = transpose;
        cs.ndim = r;
        cs.has_bias = bias != NULL;
        cs.with_sum = fuse && S != NULL;
        cs.dt = q ? q->x_dt : node->bf16 ? dnnl_bf16 : dnnl_f32;
        cs.wdt = q ? dnnl_s8 : cs.dt;
        cs.ddt = q ? q->y_dt : y_bf16 ? dnnl_bf16 : dnnl_f32;
        cs.q = q;
        conv_prep *prep = node->prep;
        cs.wp = prep && prep->has_wp ? &prep->wp : NULL;
        dnnl_status_t s = src_cl ? skiff__dnnl_md_cl(&cs.src_user, r, X->dims)
                                 : skiff__dnnl_md_plain(&cs.src_user, r, X->dims);
        int64_t fd[2 + CONV_MAX_SP] = {N, M};
        for (int i = 0; i < nsp; i++)
            fd[2 + i] = crop ? full[i] : yd[2 + i];
        if (s == dnnl_success)
            s = dst_cl ? skiff__dnnl_md_cl(&cs.dst_user, r, fd)
                       : skiff__dnnl_md_plain(&cs.dst_user, r, fd);
        /* same strides, in elements */
        cs.src_user.data_type = q                                  ? q->x_dt
                                : X->dtype == SKIFF_DTYPE_BFLOAT16 ? dnnl_bf16
                                                                   : dnnl_f32;
        cs.dst_user.data_type = cs.ddt;
        if (s == dnnl_success)
            s = skiff__dnnl_md_plain(&cs.bias, 1, &M);
        if (s == dnnl_success && cs.with_sum)
            s = sum_cl ? skiff__dnnl_md_cl(&cs.sum_user, S->ndim, S->dims)
                       : skiff__dnnl_md_plain(&cs.sum_user, S->ndim, S->dims);
        if (s == dnnl_success && cs.with_sum)
            cs.sum_user.data_type = S->dtype == SKIFF_DTYPE_BFLOAT16 ? dnnl_bf16
                                    : S->dtype == SKIFF_DTYPE_UINT8  ? dnnl_u8
                                    : S->dtype == SKIFF_DTYPE_INT8   ? dnnl_s8
                                                                     : dnnl_f32;
        /* weights: ONNX layout described by strides, with a group dim when g > 1;
         * held as float32 (bf16 packs them from that) or, quantized, as int8 */
        if (s == dnnl_success)
            s = wei_desc(&cs.wei_user, &a, nsp, M, C, g, transpose, q ? dnnl_s8 : dnnl_f32);
        for (int i = 0; i < nsp; i++) {
            cs.strides[i] = a.s[i];
            cs.dil[i] = a.d[i] - 1;
            cs.pl[i] = crop ? 0 : a.pb[i];
            cs.pr[i] = crop ? 0 : (transpose ? full[i] - yd[2 + i] - a.pb[i] : a.pe[i]);
        }
        dnnl_primitive_attr_t attr = NULL;
        if (s == dnnl_success && q)
            s = q_attr(q, &attr);
        else if (s == dnnl_success)
            s = skiff__dnnl_attr(node->act, fuse ? node->n_act : 0, cs.with_sum, &attr);
        if (s != dnnl_success) {
            skiff__pcache_release(cache);
            return skiff__dnnl_err(ctx, s, "descriptor setup");
        }
        e = compile_entry(
            &cs, attr, node->prep, &key, &a, src_cl, dst_cl, g, crop, ctx, cache->stream,
            &(conv_io){X->data, W->data, bias, S ? S->data : NULL, Y->data, Y->nbytes}, &s, &st);
        dnnl_primitive_attr_destroy(attr);
        if (!e) {
            skiff__pcache_release(cache);
            return st ? st
                      : skiff__dnnl_err(ctx, s,
                                        transpose ? "deconvolution setup" : "convolution setup");
        }
        skiff__pcache_put(cache, &key, e);
    }
    size_t flip_bytes = q && q->flip_x ? skiff__page_up(X->nbytes) : 0;
    conv_io io = {X->data,
                  W->data,
                  bias,
                  S && fuse ? S->data : NULL,
                  Y->data,
                  Y->nbytes,
                  skiff__kctx_scratch(ctx, e->work_bytes + flip_bytes)};
    if (!io.work) {
        skiff__pcache_release(cache);
        return skiff__kerr(ctx, SKIFF_CODE_RESOURCE_EXHAUSTED,
                           "out of memory for %zu bytes of scratch", e->work_bytes + flip_bytes);
    }
    if (flip_bytes) {
        uint8_t *xf = (uint8_t *)io.work + e->work_bytes;
        const uint8_t *xs = X->data;
        int64_t nb = (int64_t)X->nbytes;
#pragma omp parallel for simd num_threads(ctx->threads) if (nb > 262144)
        for (int64_t i = 0; i < nb; i++)
            xf[i] = xs[i] ^ 0x80u;
        io.x = xf;
    }
    dnnl_status_t s = exec_entry(e, cache->stream, &io);
    if (s != dnnl_success) {
        skiff__pcache_release(cache);
        return skiff__dnnl_err(ctx, s, "execution");
    }
    if (e->crop) {
        int64_t od[3] = {1, 1, 1}, fd[3] = {1, 1, 1}, pb[3] = {0, 0, 0};
        for (int i = 0; i < nsp; i++) {
            od[3 - nsp + i] = yd[2 + i];
            fd[3 - nsp + i] = full[i];
            pb[3 - nsp + i] = a.pb[i];
        }
        /* full already holds the bias; positions outside it get only the bias */
        crop_copy(Y->data, (const float *)(io.work + e->full_off), B ? B->data : NULL, N * M, M, od,
                  fd, pb, ctx->threads);
    }
    skiff__pcache_release(cache);
    if (!fuse || e->crop)
        return conv_epilogue(ctx, Y, dst_cl, sum_cl);
    return NULL;
}

static skiff_status_t *conv_run(skiff__kctx *ctx) { return conv_common(ctx, false, NULL); }

static skiff_status_t *convt_run(skiff__kctx *ctx) { return conv_common(ctx, true, NULL); }

static skiff_status_t *conv_prepare(skiff__node *node, const skiff__graph *graph)
{
    conv_prep *p = skiff__calloc(1, sizeof(*p));
    if (!p)
        return skiff__node_err(node, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    skiff__wpack_init(&p->wp);
    pthread_mutex_init(&p->mu, NULL);
    /* every path reads constant float32 weights through the store */
    p->has_wp = skiff__wpack_source(&p->wp, node, graph, 1, true);
    node->prep = p;
    return NULL;
}

/* ---- int8 convolutions on oneDNN ---- */

const char *skiff__conv_q_unfit(const skiff__node *n, const skiff__graph *g, bool fused)
{
    const skiff_tensor_t *W = const_in(g, n, 3);
    if (!W || W->dtype != SKIFF_DTYPE_INT8 || W->ndim < 3 || W->ndim > 2 + CONV_MAX_SP)
        return "the weights are not a constant int8 tensor of rank 3 to 5";
    int64_t M = W->dims[0];
    const skiff_tensor_t *XZ = const_in(g, n, 2), *WZ = const_in(g, n, 5);
    const skiff_tensor_t *YS = const_in(g, n, 6), *YZ = const_in(g, n, 7);
    if (!good_scales(const_in(g, n, 1), 1) || !good_scales(const_in(g, n, 4), M))
        return "x_scale or w_scale is not a constant positive scale (one, or one per channel)";
    if (!is_u8s8(XZ) || skiff_tensor_numel(XZ) != 1)
        return "x_zero_point is not a constant uint8 or int8 scalar";
    if (WZ) {
        if (WZ->dtype != SKIFF_DTYPE_INT8)
            return "w_zero_point is not int8";
        for (int64_t i = 0; i < skiff_tensor_numel(WZ); i++)
            if (((const int8_t *)WZ->data)[i] != 0)
                return "w_zero_point is not 0 (asymmetric weights)";
    } else if (n->n_in > 5 && n->in[5] >= 0) {
        return "w_zero_point is not a constant";
    }
    bool y_q = n->n_in > 6 && n->in[6] >= 0;
    if (y_q && (!good_scales(YS, 1) || !is_u8s8(YZ) || skiff_tensor_numel(YZ) != 1))
        return "y_scale or y_zero_point is not a constant scalar";
    if (!y_q && !fused)
        return "y_scale is missing";
    if (n->n_in > 8 && n->in[8] >= 0) {
        const skiff_tensor_t *B = const_in(g, n, 8);
        skiff_dtype_t want = fused ? SKIFF_DTYPE_FLOAT32 : SKIFF_DTYPE_INT32;
        if (!B || B->dtype != want || B->ndim != 1 || B->dims[0] != M)
            return "the bias is not a constant of one value per output channel";
    }
    if (!fused && n->n_act)
        return "activations on a QLinearConv";
    if (n->sum_input >= 0) { /* fuse_qdq_sums: a float sum, or a quantized one */
        const skiff_tensor_t *SZ = const_in(g, n, 10), *JZ = const_in(g, n, 12);
        if (!fused || n->n_in != 13 || !good_scales(const_in(g, n, 11), 1) || !is_u8s8(JZ) ||
            skiff_tensor_numel(JZ) != 1 ||
            (y_q && (!good_scales(const_in(g, n, 9), 1) || !is_u8s8(SZ) ||
                     skiff_tensor_numel(SZ) != 1 || SZ->dtype != YZ->dtype)))
            return "a fused sum";
    }
    return NULL;
}

static bool cpu_has_vnni(void)
{
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return (isa & (unsigned)dnnl_cpu_isa_avx512_core_vnni) ==
               (unsigned)dnnl_cpu_isa_avx512_core_vnni ||
           (isa & (unsigned)dnnl_cpu_isa_avx2_vnni) == (unsigned)dnnl_cpu_isa_avx2_vnni;
}

bool skiff__conv_q_may_saturate(const skiff__node *n, const skiff__graph *g)
{
    const skiff_tensor_t *XZ = const_in(g, n, 2), *W = const_in(g, n, 3);
    /* int8 x runs as uint8 too on such a CPU (flip_x) */
    if (!is_u8s8(XZ) || !W || W->ndim < 3 || cpu_has_vnni())
        return false;
    int64_t M = W->dims[0], ic = W->dims[1], taps = skiff_tensor_numel(W) / (M * ic);
    const int8_t *w = W->data;
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c + 1 < ic; c += 2)
            for (int64_t t = 0; t < taps; t++) {
                int a = w[(m * ic + c) * taps + t], b = w[(m * ic + c + 1) * taps + t];
                if (abs(a) + abs(b) > 128)
                    return true;
            }
    return false;
}

/* Positively homogeneous activations commute with a positive scale. */
static bool scale_free_act(const skiff__fused_act *a)
{
    return a->kind == SKIFF_ACT_RELU || a->kind == SKIFF_ACT_LEAKYRELU || a->kind == SKIFF_ACT_CLIP;
}

static conv_q *q_make(const skiff__node *n, const skiff__graph *g, bool fused)
{
    const skiff_tensor_t *XS = const_in(g, n, 1), *XZ = const_in(g, n, 2), *W = const_in(g, n, 3);
    const skiff_tensor_t *WS = const_in(g, n, 4), *YS = const_in(g, n, 6), *YZ = const_in(g, n, 7);
    const skiff_tensor_t *B = const_in(g, n, 8);
    int64_t M = W->dims[0], nws = skiff_tensor_numel(WS);
    conv_q *q = skiff__calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->x_dt = XZ->dtype == SKIFF_DTYPE_UINT8 ? dnnl_u8 : dnnl_s8;
    q->xz = (int32_t)skiff__tensor_get_i64(XZ, 0);
    if (q->x_dt == dnnl_s8 && !cpu_has_vnni()) {
        q->flip_x = true;
        q->x_dt = dnnl_u8;
        q->xz += 128;
    }
    bool y_q = n->n_in > 6 && n->in[6] >= 0;
    q->y_dt = !y_q ? dnnl_f32 : YZ->dtype == SKIFF_DTYPE_UINT8 ? dnnl_u8 : dnnl_s8;
    q->yz = y_q ? (int32_t)skiff__tensor_get_i64(YZ, 0) : 0;
    float xs = ((const float *)XS->data)[0], ys = y_q ? ((const float *)YS->data)[0] : 1.f;
    bool fold = y_q;
    for (int i = 0; i < n->n_act; i++)
        fold = fold && scale_free_act(&n->act[i]);
    q->n_scales = nws > 1 || B ? (int)M : 1;
    q->scales = skiff__malloc(sizeof(float) * (size_t)q->n_scales);
    q->bias = B ? skiff__malloc(sizeof(float) * (size_t)M) : NULL;
    if (!q->scales || (B && !q->bias)) {
        skiff__free(q->scales);
        skiff__free(q->bias);
        skiff__free(q);
        return NULL;
    }
    for (int64_t m = 0; m < q->n_scales; m++) {
        float acc_scale = xs * ((const float *)WS->data)[nws > 1 ? m : 0];
        q->scales[m] = fold ? acc_scale / ys : acc_scale;
        if (B)
            q->bias[m] = fused ? ((const float *)B->data)[m] / acc_scale
                               : (float)((const int32_t *)B->data)[m];
    }
    for (int i = 0; i < n->n_act; i++) {
        q->act[q->n_act] = n->act[i];
        if (fold && n->act[i].kind == SKIFF_ACT_CLIP) {
            q->act[q->n_act].alpha /= ys;
            q->act[q->n_act].beta /= ys;
        }
        q->n_act++;
    }
    if (y_q && !fold)
        q->act[q->n_act++] = (skiff__fused_act){SKIFF_ACT_LINEAR, 1.f / ys, 0.f};
    q->sum_scale = 1.f;
    q->sum_dt = dnnl_data_type_undef; /* a float sum: added as it is */
    if (n->sum_input >= 0 && y_q) {   /* in the units the post-ops see: y's where folded */
        const skiff_tensor_t *SS = const_in(g, n, 9), *SZ = const_in(g, n, 10);
        q->sum_scale = ((const float *)SS->data)[0] / (fold ? ys : 1.f);
        q->sum_zp = (int32_t)skiff__tensor_get_i64(SZ, 0);
        q->sum_dt = SZ->dtype == SKIFF_DTYPE_UINT8 ? dnnl_u8 : dnnl_s8;
    }
    q->has_sum = n->sum_input >= 0;
    if (q->has_sum) { /* y's quantized range, in the units the post-ops see */
        const skiff_tensor_t *JS = const_in(g, n, 11), *JZ = const_in(g, n, 12);
        float js = ((const float *)JS->data)[0] / (fold ? ys : 1.f);
        int32_t jz = (int32_t)skiff__tensor_get_i64(JZ, 0);
        bool u8 = JZ->dtype == SKIFF_DTYPE_UINT8;
        q->pre_sum = (skiff__fused_act){SKIFF_ACT_CLIP, js * (float)((u8 ? 0 : -128) - jz),
                                        js * (float)((u8 ? 255 : 127) - jz)};
    }
    return q;
}

static skiff_status_t *q_prepare(skiff__node *node, const skiff__graph *graph, bool fused)
{
    const char *why = skiff__conv_q_unfit(node, graph, fused);
    if (why && !fused)
        return NULL; /* QLinearConv by the reference kernel */
    if (why)
        return skiff__node_err(node, SKIFF_CODE_INVALID_ARG, "int8 convolution: %s", why);
    conv_prep *p = skiff__calloc(1, sizeof(*p));
    conv_q *q = p ? q_make(node, graph, fused) : NULL;
    if (!q) {
        skiff__free(p);
        return skiff__node_err(node, SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    skiff__wpack_init(&p->wp);
    pthread_mutex_init(&p->mu, NULL);
    /* the int8 weights stay the model's: packed int8 layouts carry oneDNN's
     * compensation terms, not a layout another can be derived from */
    p->has_wp = skiff__wpack_source(&p->wp, node, graph, 3, false);
    p->q = q;
    node->prep = p;
    return NULL;
}

skiff_status_t *skiff__qlinear_conv_prepare(skiff__node *node, const skiff__graph *graph)
{
    return q_prepare(node, graph, false);
}

static skiff_status_t *qconv_fused_prepare(skiff__node *node, const skiff__graph *graph)
{
    return q_prepare(node, graph, true);
}

bool skiff__conv_q_ready(const skiff__node *node)
{
    const conv_prep *p = node->prep;
    return p && p->q;
}

skiff_status_t *skiff__conv_q_run(skiff__kctx *ctx)
{
    const conv_prep *p = ctx->node->prep;
    return conv_common(ctx, false, p->q);
}

size_t skiff__conv_prep_bytes(void *prep, size_t *out_source)
{
    conv_prep *p = prep;
    return skiff__wpack_bytes(&p->wp, out_source);
}

void skiff__conv_prep_free(void *prep)
{
    conv_prep *p = prep;
    if (!p)
        return;
    if (p->q) {
        skiff__free(p->q->scales);
        skiff__free(p->q->bias);
        skiff__free(p->q);
    }
    skiff__wpack_destroy(&p->wp);
    pthread_mutex_destroy(&p->mu);
    skiff__free(p);
}

/* ---- table ---- */

#define FUSES (SKIFF_OP_FUSES_ACT | SKIFF_OP_FUSES_SUM)

const skiff__op skiff__ops_conv[] = {
    {.type = "Conv",
     .min_opset = 1,
     .prepare = conv_prepare,
     .run = conv_run,
     .prep_free = skiff__conv_prep_free,
     .prep_bytes = skiff__conv_prep_bytes,
     .cache_free = skiff__pcache_free,
     .flags = FUSES | SKIFF_OP_CL_X | SKIFF_OP_CL_Y},
    {.type = "ConvTranspose",
     .min_opset = 1,
     .prepare = conv_prepare,
     .run = convt_run,
     .prep_free = skiff__conv_prep_free,
     .prep_bytes = skiff__conv_prep_bytes,
     .cache_free = skiff__pcache_free,
     .flags = FUSES},
    /* DequantizeLinear -> Conv (-> activations) (-> QuantizeLinear) as one
     * int8 convolution, made by the int8 pass (passes_quant.c); inputs in
     * QLinearConv's order, y_scale and y_zero_point absent when the result
     * stays float, B float. */
    {.type = "QConv",
     .domain = SKIFF_DOMAIN_SKIFF,
     .min_opset = 1,
     .prepare = qconv_fused_prepare,
     .run = skiff__conv_q_run,
     .prep_free = skiff__conv_prep_free,
     .prep_bytes = skiff__conv_prep_bytes,
     .cache_free = skiff__pcache_free,
     /* oneDNN's int8 kernels read and write NHWC: a chain of int8
      * convolutions passes uint8 channels-last, no reorder between */
     .flags = SKIFF_OP_CL_X | SKIFF_OP_CL_Y},
    {.type = NULL},
};
