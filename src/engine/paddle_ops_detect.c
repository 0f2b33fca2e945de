/* paddle_ops_detect.c - Paddle's detection ops (prior_box, density_prior_box,
 * box_coder, yolo_box, multiclass_nms, multiclass_nms3) as nodes of the
 * "paddle" domain, whose kernels (kernels/cpu/paddle_detect.c) keep Paddle's
 * semantics. The mapping checks each op's attributes the way Paddle does, so
 * a bad model is refused at load, and hands them on as node attributes. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "paddle_int.h"

/* Most values a list attribute of these ops may hold. */
#define LIST_CAP 64

/* A float list attribute (floats or float64s) into v; its count, -1 when
 * absent, LIST_CAP + 1 when longer than v. */
static int attr_floats(const pd_op *op, const char *name, float *v)
{
    const pd_attr *a = skiff__pd_attr(op, name);
    if (!a)
        return -1;
    size_t n = a->n_floats ? a->n_floats : a->n_float64s;
    if (n > LIST_CAP)
        return LIST_CAP + 1;
    for (size_t i = 0; i < n; i++)
        v[i] = a->n_floats ? a->floats[i] : (float)a->float64s[i];
    return (int)n;
}

static skiff_status_t *bad_attr(const pd_op *op, const char *name, const char *what)
{
    return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s: attribute %s: %s", op->type, name,
                            what);
}

/* The value of input slot `slot`; -1 when an optional slot is absent or empty. */
static skiff_status_t *in_slot(skiff__pd_ctx *c, const pd_op *op, const char *slot, bool required,
                               int *out)
{
    const char *name = skiff__pd_slot(op->inputs, op->n_inputs, slot);
    *out = -1;
    if (!required && (!name || !name[0]))
        return NULL;
    return skiff__pd_need(c, op, name, slot, out);
}

/* The variable of output slot `slot`, or a fresh name after `base` when the
 * op leaves it out (an output nothing reads). */
static const char *out_slot(skiff__pd_ctx *c, const pd_op *op, const char *slot, const char *base,
                            char *buf, size_t cap)
{
    const char *name = skiff__pd_slot(op->outputs, op->n_outputs, slot);
    if (name && name[0])
        return name;
    skiff__pd_tmp_name(c, buf, cap, base, slot);
    return buf;
}

/* variances: four positive values. */
static skiff_status_t *variances(const pd_op *op, float *v)
{
    int n = attr_floats(op, "variances", v);
    if (n != 4)
        return bad_attr(op, "variances", "expected 4 values");
    for (int i = 0; i < 4; i++)
        if (!(v[i] > 0))
            return bad_attr(op, "variances", "every value must be positive");
    return NULL;
}

/* Input and Image in, Boxes and Variances out: the two prior-box ops. */
static skiff_status_t *emit_prior(skiff__pd_ctx *c, const pd_op *op, skiff__node **n)
{
    int ins[2];
    skiff_status_t *st;
    if ((st = in_slot(c, op, "Input", true, &ins[0])) ||
        (st = in_slot(c, op, "Image", true, &ins[1])))
        return st;
    const char *boxes = skiff__pd_slot(op->outputs, op->n_outputs, "Boxes");
    if (!boxes || !boxes[0])
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s has no output Boxes", op->type);
    char vbuf[300];
    const char *outs[2] = {boxes, out_slot(c, op, "Variances", boxes, vbuf, sizeof(vbuf))};
    return skiff__pd_emit_in(c, SKIFF_DOMAIN_PADDLE, op->type, ins, 2, outs, 2, n);
}

/* step_w and step_h as one pair; 0 in either means image size / feature size. */
static skiff_status_t *attr_step(const pd_op *op, skiff__node *n)
{
    float step[2] = {(float)skiff__pd_attr_float(op, "step_w", 0.0),
                     (float)skiff__pd_attr_float(op, "step_h", 0.0)};
    if (step[0] < 0 || step[1] < 0)
        return bad_attr(op, "step_w/step_h", "must not be negative");
    return skiff__pd_node_attr_floats(n, "step", step, 2);
}

/* prior_box: aspect ratios expanded as Paddle does: 1 first, each given
 * ratio once (within 1e-6), followed by its reciprocal when flip is set. */
static skiff_status_t *map_prior_box(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    float mins[LIST_CAP], maxs[LIST_CAP], ars[LIST_CAP], var[LIST_CAP], exp_ar[2 * LIST_CAP + 1];
    int n_min = attr_floats(op, "min_sizes", mins), n_max = attr_floats(op, "max_sizes", maxs),
        n_ar = attr_floats(op, "aspect_ratios", ars);
    skiff_status_t *st;
    if (n_min < 1 || n_min > LIST_CAP)
        return bad_attr(op, "min_sizes", "expected 1 to 64 values");
    if (n_max < 0)
        n_max = 0;
    if (n_ar < 0) {
        ars[0] = 1.0f;
        n_ar = 1;
    }
    if (n_max > LIST_CAP || n_ar > LIST_CAP)
        return bad_attr(op, "max_sizes/aspect_ratios", "more than 64 values");
    if (n_max && n_max != n_min)
        return bad_attr(op, "max_sizes", "expected as many values as min_sizes, or none");
    for (int i = 0; i < n_min; i++) {
        if (!(mins[i] > 0))
            return bad_attr(op, "min_sizes", "every value must be positive");
        if (n_max && !(maxs[i] > mins[i]))
            return bad_attr(op, "max_sizes", "every max size must be above its min size");
    }
    if ((st = variances(op, var)))
        return st;
    bool flip = skiff__pd_attr_bool(op, "flip", false);
    int n_exp = 1;
    exp_ar[0] = 1.0f;
    for (int i = 0; i < n_ar; i++) {
        if (!(ars[i] > 0))
            return bad_attr(op, "aspect_ratios", "every ratio must be positive");
        bool seen = false;
        for (int k = 0; k < n_exp && !seen; k++)
            seen = fabsf(ars[i] - exp_ar[k]) < 1e-6f;
        if (seen)
            continue;
        exp_ar[n_exp++] = ars[i];
        if (flip)
            exp_ar[n_exp++] = 1.0f / ars[i];
    }
    skiff__node *n;
    if ((st = emit_prior(c, op, &n)) ||
        (st = skiff__pd_node_attr_floats(n, "min_sizes", mins, n_min)) ||
        (st = skiff__pd_node_attr_floats(n, "max_sizes", maxs, n_max)) ||
        (st = skiff__pd_node_attr_floats(n, "aspect_ratios", exp_ar, n_exp)) ||
        (st = skiff__pd_node_attr_floats(n, "variances", var, 4)) ||
        (st = skiff__pd_node_attr_int(n, "clip", skiff__pd_attr_bool(op, "clip", false))) ||
        (st = attr_step(op, n)) ||
        (st = skiff__pd_node_attr_float(n, "offset",
                                        (float)skiff__pd_attr_float(op, "offset", 0.5))))
        return st;
    return skiff__pd_node_attr_int(n, "min_max_aspect_ratios_order",
                                   skiff__pd_attr_bool(op, "min_max_aspect_ratios_order", false));
}

static skiff_status_t *map_density_prior_box(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    float sizes[LIST_CAP], ratios[LIST_CAP], var[LIST_CAP];
    int64_t dens[LIST_CAP + 1];
    int n_size = attr_floats(op, "fixed_sizes", sizes),
        n_ratio = attr_floats(op, "fixed_ratios", ratios),
        n_dens = skiff__pd_attr_ints(op, "densities", dens, LIST_CAP + 1);
    skiff_status_t *st;
    if (n_size < 1 || n_size > LIST_CAP)
        return bad_attr(op, "fixed_sizes", "expected 1 to 64 values");
    if (n_ratio < 1 || n_ratio > LIST_CAP)
        return bad_attr(op, "fixed_ratios", "expected 1 to 64 values");
    if (n_dens != n_size)
        return bad_attr(op, "densities", "expected one density per fixed size");
    for (int i = 0; i < n_size; i++) {
        if (!(sizes[i] > 0))
            return bad_attr(op, "fixed_sizes", "every value must be positive");
        if (dens[i] < 1 || dens[i] > 1024)
            return bad_attr(op, "densities", "every density must be in [1, 1024]");
    }
    for (int i = 0; i < n_ratio; i++)
        if (!(ratios[i] > 0))
            return bad_attr(op, "fixed_ratios", "every ratio must be positive");
    if ((st = variances(op, var)))
        return st;
    skiff__node *n;
    if ((st = emit_prior(c, op, &n)) ||
        (st = skiff__pd_node_attr_floats(n, "fixed_sizes", sizes, n_size)) ||
        (st = skiff__pd_node_attr_floats(n, "fixed_ratios", ratios, n_ratio)) ||
        (st = skiff__pd_node_attr_ints(n, "densities", dens, n_dens)) ||
        (st = skiff__pd_node_attr_floats(n, "variances", var, 4)) ||
        (st = skiff__pd_node_attr_int(n, "clip", skiff__pd_attr_bool(op, "clip", false))) ||
        (st = attr_step(op, n)) ||
        (st = skiff__pd_node_attr_float(n, "offset",
                                        (float)skiff__pd_attr_float(op, "offset", 0.5))))
        return st;
    return skiff__pd_node_attr_int(n, "flatten_to_2d",
                                   skiff__pd_attr_bool(op, "flatten_to_2d", false));
}

/* box_coder: PriorBox, PriorBoxVar (optional; else the `variance`
 * attribute, else none), TargetBox -> OutputBox. */
static skiff_status_t *map_box_coder(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int ins[3];
    skiff_status_t *st;
    if ((st = in_slot(c, op, "PriorBox", true, &ins[0])) ||
        (st = in_slot(c, op, "PriorBoxVar", false, &ins[1])) ||
        (st = in_slot(c, op, "TargetBox", true, &ins[2])))
        return st;
    const char *code = skiff__pd_attr_str(op, "code_type", "encode_center_size");
    if (strcmp(code, "encode_center_size") != 0 && strcmp(code, "decode_center_size") != 0)
        return bad_attr(op, "code_type", "expected encode_center_size or decode_center_size");
    int64_t axis = skiff__pd_attr_int(op, "axis", 0);
    if (axis != 0 && axis != 1)
        return bad_attr(op, "axis", "expected 0 or 1");
    float var[LIST_CAP];
    int n_var = attr_floats(op, "variance", var);
    if (n_var < 0)
        n_var = 0;
    if (n_var != 0 && n_var != 4)
        return bad_attr(op, "variance", "expected 4 values or none");
    const char *on = skiff__pd_slot(op->outputs, op->n_outputs, "OutputBox");
    if (!on || !on[0])
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op box_coder has no output OutputBox");
    skiff__node *n;
    const char *outs[1] = {on};
    if ((st = skiff__pd_emit_in(c, SKIFF_DOMAIN_PADDLE, "box_coder", ins, 3, outs, 1, &n)) ||
        (st = skiff__pd_node_attr_str(n, "code_type", code)) ||
        (st = skiff__pd_node_attr_int(n, "box_normalized",
                                      skiff__pd_attr_bool(op, "box_normalized", true))) ||
        (st = skiff__pd_node_attr_int(n, "axis", axis)))
        return st;
    return skiff__pd_node_attr_floats(n, "variance", var, n_var);
}

/* yolo_box: X, ImgSize -> Boxes, Scores. */
static skiff_status_t *map_yolo_box(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    int ins[2];
    skiff_status_t *st;
    if ((st = in_slot(c, op, "X", true, &ins[0])) ||
        (st = in_slot(c, op, "ImgSize", true, &ins[1])))
        return st;
    int64_t anchors[LIST_CAP + 1];
    int n_anchor = skiff__pd_attr_ints(op, "anchors", anchors, LIST_CAP + 1);
    if (n_anchor < 2 || n_anchor % 2 || n_anchor > LIST_CAP)
        return bad_attr(op, "anchors", "expected 1 to 32 (width, height) pairs");
    int64_t class_num = skiff__pd_attr_int(op, "class_num", 0),
            ratio = skiff__pd_attr_int(op, "downsample_ratio", 32);
    if (class_num < 1 || class_num > 1 << 20)
        return bad_attr(op, "class_num", "must be positive");
    if (ratio < 1 || ratio > 1 << 20)
        return bad_attr(op, "downsample_ratio", "must be positive");
    double scale = skiff__pd_attr_float(op, "scale_x_y", 1.0),
           factor = skiff__pd_attr_float(op, "iou_aware_factor", 0.5);
    if (!(scale > 0))
        return bad_attr(op, "scale_x_y", "must be positive");
    if (!(factor >= 0 && factor <= 1))
        return bad_attr(op, "iou_aware_factor", "must be in [0, 1]");
    const char *boxes = skiff__pd_slot(op->outputs, op->n_outputs, "Boxes");
    if (!boxes || !boxes[0])
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op yolo_box has no output Boxes");
    char sbuf[300];
    const char *outs[2] = {boxes, out_slot(c, op, "Scores", boxes, sbuf, sizeof(sbuf))};
    skiff__node *n;
    if ((st = skiff__pd_emit_in(c, SKIFF_DOMAIN_PADDLE, "yolo_box", ins, 2, outs, 2, &n)) ||
        (st = skiff__pd_node_attr_ints(n, "anchors", anchors, n_anchor)) ||
        (st = skiff__pd_node_attr_int(n, "class_num", class_num)) ||
        (st = skiff__pd_node_attr_float(n, "conf_thresh",
                                        (float)skiff__pd_attr_float(op, "conf_thresh", 0.01))) ||
        (st = skiff__pd_node_attr_int(n, "downsample_ratio", ratio)) ||
        (st =
             skiff__pd_node_attr_int(n, "clip_bbox", skiff__pd_attr_bool(op, "clip_bbox", true))) ||
        (st = skiff__pd_node_attr_float(n, "scale_x_y", (float)scale)) ||
        (st = skiff__pd_node_attr_int(n, "iou_aware", skiff__pd_attr_bool(op, "iou_aware", false))))
        return st;
    return skiff__pd_node_attr_float(n, "iou_aware_factor", (float)factor);
}

/* multiclass_nms: BBoxes, Scores -> Out. multiclass_nms3: BBoxes, Scores,
 * RoisNum (optional) -> Out, Index, NmsRoisNum. */
static skiff_status_t *map_multiclass_nms(skiff__pd_ctx *c, const pd_op *op, const char *arg)
{
    (void)arg;
    bool v3 = strcmp(op->type, "multiclass_nms3") == 0;
    int ins[3];
    skiff_status_t *st;
    const char *on;
    if ((st = skiff__pd_out_slot(op, &on)) || (st = in_slot(c, op, "BBoxes", true, &ins[0])) ||
        (st = in_slot(c, op, "Scores", true, &ins[1])) ||
        (st = in_slot(c, op, "RoisNum", false, &ins[2])))
        return st;
    if (!v3 && ins[2] >= 0)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "op %s: input RoisNum", op->type);
    double nms_thr = skiff__pd_attr_float(op, "nms_threshold", 0.3),
           eta = skiff__pd_attr_float(op, "nms_eta", 1.0);
    if (!(eta > 0))
        return bad_attr(op, "nms_eta", "must be positive");
    char ibuf[300], nbuf[300];
    const char *outs[3] = {on, out_slot(c, op, "Index", on, ibuf, sizeof(ibuf)),
                           out_slot(c, op, "NmsRoisNum", on, nbuf, sizeof(nbuf))};
    skiff__node *n;
    if ((st = skiff__pd_emit_in(c, SKIFF_DOMAIN_PADDLE, op->type, ins, v3 ? 3 : 2, outs, v3 ? 3 : 1,
                                &n)) ||
        (st = skiff__pd_node_attr_int(n, "background_label",
                                      skiff__pd_attr_int(op, "background_label", 0))) ||
        (st = skiff__pd_node_attr_float(n, "score_threshold",
                                        (float)skiff__pd_attr_float(op, "score_threshold", 0.0))) ||
        (st = skiff__pd_node_attr_int(n, "nms_top_k", skiff__pd_attr_int(op, "nms_top_k", -1))) ||
        (st = skiff__pd_node_attr_float(n, "nms_threshold", (float)nms_thr)) ||
        (st = skiff__pd_node_attr_float(n, "nms_eta", (float)eta)) ||
        (st = skiff__pd_node_attr_int(n, "keep_top_k", skiff__pd_attr_int(op, "keep_top_k", -1))))
        return st;
    return skiff__pd_node_attr_int(n, "normalized", skiff__pd_attr_bool(op, "normalized", true));
}

const skiff__pd_map skiff__pd_ops_detect[] = {
    {.type = "prior_box", .map = map_prior_box},
    {.type = "density_prior_box", .map = map_density_prior_box},
    {.type = "box_coder", .map = map_box_coder},
    {.type = "yolo_box", .map = map_yolo_box},
    {.type = "multiclass_nms", .map = map_multiclass_nms},
    {.type = "multiclass_nms3", .map = map_multiclass_nms},
    {.type = NULL},
};
