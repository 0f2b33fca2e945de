/* paddle_ops_quant.c - Paddle's fake quantization ops (quantization-aware
 * "slim" models) as FakeQuant nodes of the paddle domain
 * (kernels/cpu/paddle_quant.c), computed exactly in fp32. The weights'
 * quantization has constant inputs, so it folds at load.
 *
 * Rounding: the fake_* ops round ties away from zero unless their
 * round_type attribute says 0 (ties to even); quantize_linear rounds ties to
 * even unless round_type says 1. */
#include <stdio.h>
#include <string.h>

#include "paddle_int.h"

/* The idx-th argument of an input slot, or NULL. */
static const char *slot_arg(const pd_op *op, const char *param, size_t idx)
{
    for (size_t i = 0; i < op->n_inputs; i++)
        if (op->inputs[i]->parameter && !strcmp(op->inputs[i]->parameter, param))
            return idx < op->inputs[i]->n_arguments ? op->inputs[i]->arguments[idx] : NULL;
    return NULL;
}

/* bin (or range) of a bit width: 2^(bits-1) - 1. */
static skiff_status_t *bin_of(const pd_op *op, int64_t bits, float *out)
{
    if (bits < 2 || bits > 16)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s: bit length %lld is not in [2, 16]",
                                op->type, (long long)bits);
    *out = (float)((1 << (bits - 1)) - 1);
    return NULL;
}

/* One FakeQuant node x [, scale] -> out. */
static skiff_status_t *fake_quant(skiff__pd_ctx *c, const pd_op *op, const char *out, int x,
                                  int scale, const char *mode, int64_t bits, int64_t round_type,
                                  int64_t axis, float range)
{
    int ins[2] = {x, scale};
    const char *outs[1] = {out};
    skiff__node *n;
    skiff_status_t *st;
    if (axis < -1 || (axis >= 0 && skiff__pd_rank_of(c, slot_arg(op, "X", 0)) >= 0 &&
                      axis >= skiff__pd_rank_of(c, slot_arg(op, "X", 0))))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s: quant_axis %lld out of range",
                                op->type, (long long)axis);
    if ((st = skiff__pd_emit_in(c, SKIFF_DOMAIN_PADDLE, "FakeQuant", ins, scale >= 0 ? 2 : 1, outs,
                                1, &n)) ||
        (st = skiff__pd_node_attr_str(n, "mode", mode)) ||
        (st = skiff__pd_node_attr_int(n, "bit_length", bits)) ||
        (st = skiff__pd_node_attr_int(n, "round_type", round_type)) ||
        (st = skiff__pd_node_attr_int(n, "quant_axis", axis)))
        return st;
    return range > 0 ? skiff__pd_node_attr_float(n, "range", range) : NULL;
}

/* A zero point must be absent or all zeros: Paddle's symmetric schemes. */
static skiff_status_t *zero_point_ok(skiff__pd_ctx *c, const pd_op *op)
{
    const char *zn = slot_arg(op, "ZeroPoint", 0);
    int z = zn ? skiff__pd_value_of(c, zn) : -1;
    const skiff_tensor_t *t = z >= 0 ? c->g->values[z].constant : NULL;
    if (!t)
        return NULL;
    for (int64_t i = 0; i < skiff_tensor_numel(t); i++)
        if (skiff__tensor_get_f64(t, i) != 0.0)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                    "op %s: ZeroPoint '%s' is not zero (only symmetric "
                                    "quantization is defined)",
                                    op->type, zn);
    return NULL;
}

/* The fake_* quantize(-dequantize) ops: arg names the mode and where the
 * scale comes from ("qdq", "qdq:in" with InScale, "q", "q:in"); the
 * channel-wise ones carry quant_axis. */
static skiff_status_t *map_fake(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    const char *on;
    int x, s = -1;
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) ||
        (st = skiff__pd_need(c, op, slot_arg(op, "X", 0), "X", &x)))
        return st;
    bool in_scale = strstr(arg, ":in") != NULL;
    if (in_scale && (st = skiff__pd_need(c, op, slot_arg(op, "InScale", 0), "InScale", &s)))
        return st;
    bool channel = strstr(op->type, "channel_wise") != NULL;
    char mode[4];
    snprintf(mode, sizeof(mode), "%.*s", (int)strcspn(arg, ":"), arg);
    return fake_quant(c, op, on, x, s, mode, skiff__pd_attr_int(op, "bit_length", 8),
                      skiff__pd_attr_int(op, "round_type", 1),
                      channel ? skiff__pd_attr_int(op, "quant_axis", 0) : -1, 0.0f);
}

/* fake_dequantize_max_abs: x * Scale / max_range. */
static skiff_status_t *map_dequant_max_abs(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *on;
    int x, s;
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) ||
        (st = skiff__pd_need(c, op, slot_arg(op, "X", 0), "X", &x)) ||
        (st = skiff__pd_need(c, op, slot_arg(op, "Scale", 0), "Scale", &s)))
        return st;
    float range = (float)skiff__pd_attr_float(op, "max_range", 0.0);
    if (!(range > 0.0f))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s: max_range %g is not positive",
                                op->type, (double)range);
    return fake_quant(c, op, on, x, s, "dq", 8, 1, -1, range);
}

/* fake_channel_wise_dequantize_max_abs: x * Scales[0][c] / range0, then,
 * with a second scale (the activation's), * Scales[1] / range1. */
static skiff_status_t *map_dequant_channel(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    const char *on;
    int x, s0, s1 = -1;
    skiff_status_t *st;
    if ((st = skiff__pd_out_slot(op, &on)) ||
        (st = skiff__pd_need(c, op, slot_arg(op, "X", 0), "X", &x)) ||
        (st = skiff__pd_need(c, op, slot_arg(op, "Scales", 0), "Scales", &s0)))
        return st;
    if (slot_arg(op, "Scales", 1) &&
        (st = skiff__pd_need(c, op, slot_arg(op, "Scales", 1), "Scales", &s1)))
        return st;
    int64_t bits[2] = {8, 8};
    skiff__pd_attr_ints(op, "quant_bits", bits, 2);
    float r0 = 0.0f, r1 = 0.0f;
    if ((st = bin_of(op, bits[0], &r0)) || (st = bin_of(op, bits[1], &r1)))
        return st;
    int64_t axis = skiff__pd_attr_int(op, "quant_axis", 0);
    if (s1 < 0)
        return fake_quant(c, op, on, x, s0, "dq", bits[0], 1, axis, r0);
    char mid[300];
    skiff__pd_tmp_name(c, mid, sizeof(mid), on, "dq");
    if ((st = fake_quant(c, op, mid, x, s0, "dq", bits[0], 1, axis, r0)))
        return st;
    return fake_quant(c, op, on, skiff__pd_value_of(c, mid), s1, "dq", bits[1], 1, -1, r1);
}

/* quantize_linear (levels) and dequantize_linear (values) with a symmetric
 * scale per tensor or per quant_axis channel. */
static skiff_status_t *map_linear(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    const char *yn = skiff__pd_slot(op->outputs, op->n_outputs, "Y");
    int x, s;
    skiff_status_t *st;
    if (!yn || !yn[0])
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s has no output Y", op->type);
    if ((st = skiff__pd_need(c, op, slot_arg(op, "X", 0), "X", &x)) ||
        (st = skiff__pd_need(c, op, slot_arg(op, "Scale", 0), "Scale", &s)) ||
        (st = zero_point_ok(c, op)))
        return st;
    int64_t bits = skiff__pd_attr_int(op, "bit_length", 8);
    float bin = 0.0f;
    if ((st = bin_of(op, bits, &bin)))
        return st;
    return fake_quant(c, op, yn, x, s, arg, bits, skiff__pd_attr_int(op, "round_type", 0),
                      skiff__pd_attr_int(op, "quant_axis", -1), bin);
}

const skiff__pd_map skiff__pd_ops_quant[] = {
    {.type = "fake_quantize_dequantize_moving_average_abs_max", .map = map_fake, .arg = "qdq:in"},
    {.type = "fake_quantize_dequantize_abs_max", .map = map_fake, .arg = "qdq"},
    {.type = "fake_channel_wise_quantize_dequantize_abs_max", .map = map_fake, .arg = "qdq"},
    {.type = "fake_quantize_abs_max", .map = map_fake, .arg = "q"},
    {.type = "fake_quantize_moving_average_abs_max", .map = map_fake, .arg = "q:in"},
    {.type = "fake_quantize_range_abs_max", .map = map_fake, .arg = "q:in"},
    {.type = "fake_channel_wise_quantize_abs_max", .map = map_fake, .arg = "q"},
    {.type = "fake_dequantize_max_abs", .map = map_dequant_max_abs},
    {.type = "fake_channel_wise_dequantize_max_abs", .map = map_dequant_channel},
    {.type = "quantize_linear", .map = map_linear, .arg = "q"},
    {.type = "dequantize_linear", .map = map_linear, .arg = "dq"},
    {.type = NULL},
};
