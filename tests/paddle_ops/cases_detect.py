"""Paddle's detection ops (src/engine/paddle_ops_detect.c, kernels in
src/engine/kernels/cpu/paddle_detect.c), each against a numpy account of
Paddle's semantics, and the two real detection models of
../shared/paddle-models run end to end."""
import os

import numpy as np

from pdprog import Prog, INT32
from run_ops import Case, rng

F32 = np.float32
HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))), "shared",
                      "paddle-models")


# ---- prior_box ---------------------------------------------------------------------------------

def expand_ratios(ars, flip):
    out = [1.0]
    for a in ars:
        if any(abs(a - o) < 1e-6 for o in out):
            continue
        out.append(a)
        if flip:
            out.append(1.0 / a)
    return out


def prior_box_ref(fh, fw, ih, iw, mins, maxs, ars, var, flip, clip, step_w, step_h, offset,
                  mm_order):
    ars = expand_ratios(ars, flip)
    if step_w == 0 or step_h == 0:
        step_w, step_h = iw / fw, ih / fh
    rows = []
    for h in range(fh):
        for w in range(fw):
            cx, cy = (w + offset) * step_w, (h + offset) * step_h
            cell = []
            for s, mn in enumerate(mins):
                sizes = []
                if mm_order:
                    sizes.append((mn / 2, mn / 2))
                    if maxs:
                        r = np.sqrt(mn * maxs[s]) / 2
                        sizes.append((r, r))
                    sizes += [(mn * np.sqrt(a) / 2, mn / np.sqrt(a) / 2) for a in ars
                              if abs(a - 1) >= 1e-6]
                else:
                    sizes += [(mn * np.sqrt(a) / 2, mn / np.sqrt(a) / 2) for a in ars]
                    if maxs:
                        r = np.sqrt(mn * maxs[s]) / 2
                        sizes.append((r, r))
                cell += [[(cx - bw) / iw, (cy - bh) / ih, (cx + bw) / iw, (cy + bh) / ih]
                         for bw, bh in sizes]
            rows.append(cell)
    boxes = np.array(rows, np.float64).reshape(fh, fw, -1, 4)
    if clip:
        boxes = np.clip(boxes, 0, 1)
    return boxes.astype(F32), np.broadcast_to(np.array(var, F32), boxes.shape).copy()


def prior_case(feat, img, mins, maxs=(), ars=(1.0,), flip=False, clip=False, step_w=0.0,
               step_h=0.0, offset=0.5, mm_order=False):
    var = [0.1, 0.1, 0.2, 0.2]
    g = Prog()
    g.feed("feat", feat)
    g.feed("img", img)
    g.var("boxes")
    g.var("vars")
    g.op("prior_box", {"Input": "feat", "Image": "img"}, {"Boxes": "boxes", "Variances": "vars"},
         min_sizes=[float(x) for x in mins], max_sizes=[float(x) for x in maxs],
         aspect_ratios=[float(x) for x in ars], variances=var, flip=flip, clip=clip,
         step_w=step_w, step_h=step_h, offset=offset, min_max_aspect_ratios_order=mm_order)
    g.fetch("boxes")
    g.fetch("vars")
    b, v = prior_box_ref(feat[2], feat[3], img[2], img[3], list(mins), list(maxs), list(ars), var,
                         flip, clip, step_w, step_h, offset, mm_order)
    inputs = {"feat": np.zeros(feat, F32), "img": np.zeros(img, F32)}
    return g, inputs, {"boxes": b, "vars": v}


def case_prior_box_blazeface_like():
    g, i, e = prior_case([1, 4, 5, 6], [1, 3, 40, 48], [16, 24], step_w=8.0, step_h=8.0)
    return Case(g, i, e)


def case_prior_box_flip_clip_max():
    g, i, e = prior_case([1, 2, 3, 4], [1, 3, 30, 50], [20, 40], maxs=[35, 70], ars=[2.0, 3.0],
                         flip=True, clip=True)
    return Case(g, i, e)


def case_prior_box_min_max_order():
    g, i, e = prior_case([2, 2, 4, 3], [2, 3, 64, 48], [10, 30], maxs=[20, 45],
                         ars=[2.0, 2.0, 1.0, 0.5], flip=True, step_w=16.0, step_h=12.0,
                         offset=0.25, mm_order=True)
    return Case(g, i, e)


def case_prior_box_no_flip_order():
    g, i, e = prior_case([1, 1, 3, 3], [1, 3, 90, 90], [30], maxs=[60], ars=[2.0, 3.0],
                         mm_order=True, clip=True)
    return Case(g, i, e)


def case_prior_box_rank_error():
    g = Prog()
    g.feed("feat", [4, 5, 6])
    g.feed("img", [1, 3, 40, 48])
    g.var("boxes")
    g.var("vars")
    g.op("prior_box", {"Input": "feat", "Image": "img"}, {"Boxes": "boxes", "Variances": "vars"},
         min_sizes=[16.0], variances=[0.1, 0.1, 0.2, 0.2], aspect_ratios=[1.0])
    g.fetch("boxes")
    return Case(g, {"feat": np.zeros((4, 5, 6), F32), "img": np.zeros((1, 3, 40, 48), F32)},
                error="must be rank 4")


def case_prior_box_max_below_min():
    g, i, _ = prior_case([1, 2, 3, 4], [1, 3, 30, 50], [20, 40], maxs=[35, 30])
    return Case(g, i, error="max_sizes: every max size must be above its min size")


# ---- density_prior_box -------------------------------------------------------------------------

def density_ref(fh, fw, ih, iw, sizes, ratios, dens, var, clip, step_w, step_h, offset):
    f = F32
    if step_w == 0 or step_h == 0:
        step_w, step_h = f(iw) / f(fw), f(ih) / f(fh)
    step_w, step_h = f(step_w), f(step_h)
    step_avg = int((step_w + step_h) * 0.5)
    out = []
    for h in range(fh):
        for w in range(fw):
            cx, cy = f((w + f(offset)) * step_w), f((h + f(offset)) * step_h)
            for s, size in enumerate(sizes):
                d = dens[s]
                shift = step_avg // d
                for r in ratios:
                    q = np.sqrt(f(r))
                    bw, bh = f(f(size) * q), f(f(size) / q)
                    dcx = f(cx - step_avg / 2. + shift / 2.)
                    dcy = f(cy - step_avg / 2. + shift / 2.)
                    for di in range(d):
                        for dj in range(d):
                            x, y = f(dcx + f(dj * shift)), f(dcy + f(di * shift))
                            out.append([max((x - bw / 2.) / iw, 0.), max((y - bh / 2.) / ih, 0.),
                                        min((x + bw / 2.) / iw, 1.), min((y + bh / 2.) / ih, 1.)])
    b = np.array(out, np.float64).reshape(fh, fw, -1, 4)
    if clip:
        b = np.clip(b, 0, 1)
    return b.astype(F32), np.broadcast_to(np.array(var, F32), b.shape).copy()


def density_case(flatten, clip, step):
    feat, img = [1, 2, 3, 4], [1, 3, 48, 64]
    sizes, ratios, dens, var = [8.0, 24.0], [1.0, 2.0], [3, 1], [0.1, 0.1, 0.2, 0.2]
    g = Prog()
    g.feed("feat", feat)
    g.feed("img", img)
    g.var("boxes")
    g.var("vars")
    g.op("density_prior_box", {"Input": "feat", "Image": "img"},
         {"Boxes": "boxes", "Variances": "vars"}, fixed_sizes=sizes, fixed_ratios=ratios,
         densities=dens, variances=var, clip=clip, step_w=step, step_h=step, offset=0.5,
         flatten_to_2d=flatten)
    g.fetch("boxes")
    g.fetch("vars")
    b, v = density_ref(3, 4, 48, 64, sizes, ratios, dens, var, clip, step, step, 0.5)
    if flatten:
        b, v = b.reshape(-1, 4), v.reshape(-1, 4)
    return Case(g, {"feat": np.zeros(feat, F32), "img": np.zeros(img, F32)},
                {"boxes": b, "vars": v})


def case_density_prior_box():
    return density_case(False, False, 0.0)


def case_density_prior_box_flatten_clip_step():
    return density_case(True, True, 14.0)


# ---- box_coder ---------------------------------------------------------------------------------

def rand_boxes(r, n, scale=1.0):
    xy = r.random((n, 2)) * scale
    wh = (r.random((n, 2)) * 0.5 + 0.05) * scale
    return np.concatenate([xy, xy + wh], 1).astype(F32)


def encode_ref(prior, pvar, target, norm):
    add = 0.0 if norm else 1.0
    pw = prior[:, 2] - prior[:, 0] + add
    ph = prior[:, 3] - prior[:, 1] + add
    pcx, pcy = prior[:, 0] + pw / 2, prior[:, 1] + ph / 2
    tcx = (target[:, 2] + target[:, 0]) / 2
    tcy = (target[:, 3] + target[:, 1]) / 2
    tw = target[:, 2] - target[:, 0] + add
    th = target[:, 3] - target[:, 1] + add
    out = np.stack([(tcx[:, None] - pcx) / pw, (tcy[:, None] - pcy) / ph,
                    np.log(np.abs(tw[:, None] / pw)), np.log(np.abs(th[:, None] / ph))], -1)
    if pvar is not None:
        out = out / np.broadcast_to(pvar, out.shape)
    return out.astype(F32)


def decode_ref(prior, pvar, target, norm, axis):
    add = 0.0 if norm else 1.0
    n, m = target.shape[:2]
    out = np.zeros_like(target, np.float64)
    for i in range(n):
        for j in range(m):
            pj = j if axis == 0 else i
            p = prior[pj].astype(np.float64)
            v = np.ones(4) if pvar is None else (pvar[pj] if pvar.ndim == 2 else pvar)
            t = target[i, j]
            pw, ph = p[2] - p[0] + add, p[3] - p[1] + add
            pcx, pcy = p[0] + pw / 2, p[1] + ph / 2
            cx, cy = v[0] * t[0] * pw + pcx, v[1] * t[1] * ph + pcy
            w, h = np.exp(v[2] * t[2]) * pw, np.exp(v[3] * t[3]) * ph
            out[i, j] = [cx - w / 2, cy - h / 2, cx + w / 2 - add, cy + h / 2 - add]
    return out.astype(F32)


def box_coder_case(code, norm, axis=0, var_mode="input", seed=0, target_shape=None):
    r = rng(seed)
    scale = 1.0 if norm else 100.0
    m = 5
    prior = rand_boxes(r, m, scale)
    pvar = (r.random((m, 4)) * 0.3 + 0.1).astype(F32)
    attr_var = [0.1, 0.1, 0.2, 0.2]
    g = Prog()
    g.feed("prior", [m, 4])
    ins = {"PriorBox": "prior", "TargetBox": "target"}
    inputs = {"prior": prior}
    if var_mode == "input":
        g.feed("pvar", [m, 4])
        ins["PriorBoxVar"] = "pvar"
        inputs["pvar"] = pvar
    if code == "encode_center_size":
        target = rand_boxes(r, 3, scale)
        want = encode_ref(prior, pvar if var_mode == "input" else
                          (np.array(attr_var, F32) if var_mode == "attr" else None), target, norm)
    else:
        shape = target_shape or ((2, m, 4) if axis == 0 else (m, 3, 4))
        target = (r.standard_normal(shape) * 0.5).astype(F32)
        v = pvar if var_mode == "input" else (np.array(attr_var, F32) if var_mode == "attr"
                                              else None)
        want = decode_ref(prior, v, target, norm, axis) if target_shape is None else None
    g.feed("target", list(target.shape))
    inputs["target"] = target
    g.var("out")
    g.op("box_coder", ins, {"OutputBox": "out"}, code_type=code, box_normalized=norm, axis=axis,
         variance=attr_var if var_mode == "attr" else [])
    g.fetch("out")
    return g, inputs, want


def case_box_coder_encode_var_input_unnormalized():
    g, i, w = box_coder_case("encode_center_size", False, var_mode="input")
    return Case(g, i, {"out": w}, rtol=1e-4, atol=1e-4)


def case_box_coder_encode_var_attr():
    g, i, w = box_coder_case("encode_center_size", True, var_mode="attr", seed=1)
    return Case(g, i, {"out": w}, rtol=1e-4, atol=1e-4)


def case_box_coder_decode_axis0_var_input():
    g, i, w = box_coder_case("decode_center_size", True, axis=0, var_mode="input", seed=2)
    return Case(g, i, {"out": w}, rtol=1e-4, atol=1e-5)


def case_box_coder_decode_axis1_var_attr_unnormalized():
    g, i, w = box_coder_case("decode_center_size", False, axis=1, var_mode="attr", seed=3)
    return Case(g, i, {"out": w}, rtol=1e-4, atol=1e-3)


def case_box_coder_decode_no_variance():
    g, i, w = box_coder_case("decode_center_size", True, axis=0, var_mode="none", seed=4)
    return Case(g, i, {"out": w}, rtol=1e-4, atol=1e-5)


def case_box_coder_decode_rank_error():
    g, i, _ = box_coder_case("decode_center_size", True, target_shape=(5, 4))
    return Case(g, i, error="decode_center_size expects shape [N, M, 4]")


def case_box_coder_decode_count_error():
    g, i, _ = box_coder_case("decode_center_size", True, target_shape=(2, 6, 4))
    return Case(g, i, error="PriorBox has 5 boxes")


# ---- multiclass_nms ----------------------------------------------------------------------------

def iou32(a, b, normalized):
    f = F32
    if b[0] > a[2] or b[2] < a[0] or b[1] > a[3] or b[3] < a[1]:
        return f(0)
    norm = f(0) if normalized else f(1)

    def area(x):
        if x[2] < x[0] or x[3] < x[1]:
            return f(0)
        w, h = f(x[2] - x[0]), f(x[3] - x[1])
        return f(w * h) if normalized else f((w + 1) * (h + 1))
    iw = f(f(min(a[2], b[2]) - max(a[0], b[0])) + norm)
    ih = f(f(min(a[3], b[3]) - max(a[1], b[1])) + norm)
    inter = f(iw * ih)
    return f(inter / f(f(area(a) + area(b)) - inter))


def nms_fast(boxes, scores, thr, nms_thr, eta, top_k, normalized):
    """Paddle's NMSFast for one class: (box index list) in the order kept."""
    cand = [(scores[i], i) for i in range(len(scores)) if scores[i] > F32(thr)]
    cand.sort(key=lambda p: -p[0])  # stable: equal scores keep index order
    if top_k > -1 and top_k < len(cand):
        cand = cand[:top_k]
    sel = []
    adaptive = F32(nms_thr)
    for _, idx in cand:
        keep = True
        for k in sel:
            if not keep:
                break
            keep = iou32(boxes[idx], boxes[k], normalized) <= adaptive
        if keep:
            sel.append(idx)
        if keep and eta < 1 and adaptive > 0.5:
            adaptive = F32(adaptive * F32(eta))
    return sel


def multiclass_nms_ref(bboxes, scores, bg, thr, top_k, nms_thr, eta, keep_top_k, normalized,
                       rois_num=None):
    """Out rows, Index, per-image counts, as Paddle's multiclass_nms3 gives them."""
    rows, index, counts = [], [], []
    if rois_num is None:
        images = [(bboxes[i], scores[i], lambda c, j, i=i, m=scores.shape[2]: i * m + j)
                  for i in range(scores.shape[0])]
        per_class = False
    else:
        images, start = [], 0
        nc = scores.shape[1]
        for k in rois_num:
            images.append((bboxes[start:start + k], scores[start:start + k].T,
                           lambda c, j, s=start, nc=nc: (s + j) * nc + c))
            start += k
        per_class = True
    for b, s, idx_of in images:
        sel = {}
        for c in range(s.shape[0]):
            if c == bg:
                continue
            cb = b[:, c] if per_class else b
            sel[c] = nms_fast(cb, s[c], thr, nms_thr, eta, top_k, normalized)
            if per_class:
                sel[c].sort()
        total = sum(len(v) for v in sel.values())
        if keep_top_k > -1 and total > keep_top_k:
            pairs = [(s[c][j], c, j) for c in sorted(sel) for j in sel[c]]
            pairs.sort(key=lambda p: -p[0])
            new = {}
            for _, c, j in pairs[:keep_top_k]:
                new.setdefault(c, []).append(j)
            if per_class:
                for c in new:
                    new[c].sort()
            sel = new
        n = 0
        for c in sorted(sel):
            for j in sel[c]:
                box = b[j, c] if per_class else b[j]
                rows.append([c, s[c][j]] + list(box))
                index.append(idx_of(c, j))
                n += 1
        counts.append(n)
    return (np.array(rows, F32).reshape(-1, 6), np.array(index, np.int32).reshape(-1, 1),
            np.array(counts, np.int32))


def nms_data(seed, n, m, c, normalized):
    """Boxes in clusters, so NMS has overlaps to suppress."""
    r = rng(seed)
    scale = 1.0 if normalized else 200.0
    centers = r.random((n, 4, 2)) * 0.7 + 0.15
    pick = r.integers(0, 4, (n, m))
    ctr = np.take_along_axis(centers, pick[..., None], 1) + r.standard_normal((n, m, 2)) * 0.02
    wh = r.random((n, m, 2)) * 0.15 + 0.1
    boxes = (np.concatenate([ctr - wh / 2, ctr + wh / 2], -1) * scale).astype(F32)
    scores = r.random((n, c, m)).astype(F32)
    return boxes, scores


def nms_case(op, boxes, scores, attrs, rois_num=None):
    g = Prog()
    g.feed("boxes", list(boxes.shape))
    g.feed("scores", list(scores.shape))
    ins = {"BBoxes": "boxes", "Scores": "scores"}
    inputs = {"boxes": boxes, "scores": scores}
    if rois_num is not None:
        g.feed("rois", [len(rois_num)], dtype=INT32)
        ins["RoisNum"] = "rois"
        inputs["rois"] = np.array(rois_num, np.int32)
    g.var("out", [-1, 6], lod_level=1)
    outs = {"Out": "out"}
    if op == "multiclass_nms3":
        g.var("index", [-1, 1], dtype=INT32)
        g.var("nums", [-1], dtype=INT32)
        outs.update({"Index": "index", "NmsRoisNum": "nums"})
    g.op(op, ins, outs, **attrs)
    g.fetch("out")
    if op == "multiclass_nms3":
        g.fetch("index")
        g.fetch("nums")
    return g, inputs


def nms_expect(op, boxes, scores, attrs, rois_num=None):
    out, index, counts = multiclass_nms_ref(
        boxes, scores, attrs["background_label"], attrs["score_threshold"], attrs["nms_top_k"],
        attrs["nms_threshold"], attrs["nms_eta"], attrs["keep_top_k"], attrs["normalized"],
        rois_num)
    if op == "multiclass_nms":
        if len(out) == 0:
            out = np.array([[-1]], F32)
        return {"out": out}
    return {"out": out, "index": index, "nums": counts}


def nms_attrs(**kw):
    a = dict(background_label=0, score_threshold=0.3, nms_top_k=40, nms_threshold=0.45,
             nms_eta=1.0, keep_top_k=-1, normalized=True)
    a.update(kw)
    return a


def case_multiclass_nms_normalized():
    boxes, scores = nms_data(1, 1, 60, 4, True)
    a = nms_attrs()
    g, i = nms_case("multiclass_nms", boxes, scores, a)
    return Case(g, i, nms_expect("multiclass_nms", boxes, scores, a))


def case_multiclass_nms_pixels_eta_keep_top_k():
    boxes, scores = nms_data(2, 1, 80, 3, False)
    a = nms_attrs(background_label=-1, nms_eta=0.9, nms_threshold=0.7, keep_top_k=12,
                  normalized=False, score_threshold=0.1, nms_top_k=-1)
    g, i = nms_case("multiclass_nms", boxes, scores, a)
    e = nms_expect("multiclass_nms", boxes, scores, a)
    assert len(e["out"]) == 12
    return Case(g, i, e)


def case_multiclass_nms_nothing_above_threshold():
    boxes, scores = nms_data(3, 1, 20, 3, True)
    a = nms_attrs(score_threshold=1.5)
    g, i = nms_case("multiclass_nms", boxes, scores, a)
    return Case(g, i, {"out": np.array([[-1]], F32)})


def case_multiclass_nms3_batch():
    boxes, scores = nms_data(4, 3, 50, 5, True)
    scores[1] *= 0.2  # image 1: few or no boxes above the threshold
    a = nms_attrs(background_label=2, nms_top_k=15, keep_top_k=20, score_threshold=0.15)
    g, i = nms_case("multiclass_nms3", boxes, scores, a)
    return Case(g, i, nms_expect("multiclass_nms3", boxes, scores, a))


def case_multiclass_nms3_keep_all_bg_none():
    boxes, scores = nms_data(5, 2, 40, 3, False)
    a = nms_attrs(background_label=-1, keep_top_k=-1, nms_top_k=-1, normalized=False,
                  nms_eta=0.8, nms_threshold=0.8)
    g, i = nms_case("multiclass_nms3", boxes, scores, a)
    return Case(g, i, nms_expect("multiclass_nms3", boxes, scores, a))


def case_multiclass_nms3_nothing_above_threshold():
    boxes, scores = nms_data(6, 2, 30, 3, True)
    a = nms_attrs(score_threshold=1.0)
    g, i = nms_case("multiclass_nms3", boxes, scores, a)
    return Case(g, i, {"out": np.zeros((0, 6), F32), "index": np.zeros((0, 1), np.int32),
                       "nums": np.array([0, 0], np.int32)})


def case_multiclass_nms3_rois_num():
    r = rng(7)
    m, c = 30, 3
    boxes = np.stack([rand_boxes(r, m) for _ in range(c)], 1)  # [M, C, 4]
    boxes[:, 1] = boxes[:, 0] + (r.standard_normal((m, 4)) * 0.01).astype(F32)
    scores = r.random((m, c)).astype(F32)
    rois = [12, 0, 18]
    a = nms_attrs(keep_top_k=9, score_threshold=0.2, nms_threshold=0.3)
    g, i = nms_case("multiclass_nms3", boxes, scores, a, rois)
    return Case(g, i, nms_expect("multiclass_nms3", boxes, scores, a, rois))


def case_multiclass_nms_mismatched_m():
    boxes, _ = nms_data(8, 1, 20, 3, True)
    scores = rng(8).random((1, 3, 21)).astype(F32)
    g, i = nms_case("multiclass_nms", boxes, scores, nms_attrs())
    return Case(g, i, error="disagree: expected BBoxes [N, M, 4] and Scores [N, C, M]")


def case_multiclass_nms_2d_scores_without_rois_num():
    boxes = rng(10).random((20, 3, 4)).astype(F32)
    scores = rng(10).random((20, 3)).astype(F32)
    g, i = nms_case("multiclass_nms", boxes, scores, nms_attrs())
    return Case(g, i, error="Scores of rank 2 need the RoisNum input")


def case_multiclass_nms3_rois_num_sum_error():
    boxes = rng(11).random((20, 3, 4)).astype(F32)
    scores = rng(11).random((20, 3)).astype(F32)
    g, i = nms_case("multiclass_nms3", boxes, scores, nms_attrs(), [8, 8])
    return Case(g, i, error="counts add up to 16, BBoxes has 20 boxes")


def case_multiclass_nms_bbox_rank_error():
    boxes = rng(9).random((20, 4)).astype(F32)
    scores = rng(9).random((1, 3, 20)).astype(F32)
    g, i = nms_case("multiclass_nms", boxes, scores, nms_attrs())
    return Case(g, i, error="input 'BBoxes': expected rank 3, got rank 2")


# ---- yolo_box ----------------------------------------------------------------------------------

def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def yolo_ref(x, img_size, anchors, class_num, conf_thresh, ratio, clip, scale, iou_aware,
             factor):
    n, _, h, w = x.shape
    an = len(anchors) // 2
    x = x.astype(np.float64)
    if iou_aware:
        iou, x = x[:, :an], x[:, an:]
    x = x.reshape(n, an, 5 + class_num, h, w)
    bias = -0.5 * (scale - 1)
    gx, gy = np.meshgrid(np.arange(w), np.arange(h))
    boxes = np.zeros((n, an, h, w, 4))
    scores = np.zeros((n, an, h, w, class_num))
    for i in range(n):
        ih, iw = float(img_size[i, 0]), float(img_size[i, 1])
        for a in range(an):
            e = x[i, a]
            conf = sigmoid(e[4])
            if iou_aware:
                conf = conf ** (1 - factor) * sigmoid(iou[i, a]) ** factor
            keep = conf >= conf_thresh
            bx = (gx + sigmoid(e[0]) * scale + bias) * iw / w
            by = (gy + sigmoid(e[1]) * scale + bias) * ih / h
            bw = np.exp(e[2]) * anchors[2 * a] * iw / (ratio * w)
            bh = np.exp(e[3]) * anchors[2 * a + 1] * ih / (ratio * h)
            b = np.stack([bx - bw / 2, by - bh / 2, bx + bw / 2, by + bh / 2], -1)
            if clip:
                b[..., 0] = np.maximum(b[..., 0], 0)
                b[..., 1] = np.maximum(b[..., 1], 0)
                b[..., 2] = np.minimum(b[..., 2], iw - 1)
                b[..., 3] = np.minimum(b[..., 3], ih - 1)
            boxes[i, a] = np.where(keep[..., None], b, 0)
            sc = conf[None] * sigmoid(e[5:])
            scores[i, a] = np.where(keep[..., None], np.moveaxis(sc, 0, -1), 0)
    return (boxes.reshape(n, -1, 4).astype(F32), scores.reshape(n, -1, class_num).astype(F32))


def yolo_case(seed, clip, scale, iou_aware, factor=0.5, channels=None):
    anchors, class_num, ratio, conf = [10, 13, 16, 30, 33, 23], 3, 8, 0.4
    an = len(anchors) // 2
    c = channels or an * (5 + class_num + (1 if iou_aware else 0))
    x = (rng(seed).standard_normal((2, c, 4, 5)) * 1.5).astype(F32)
    img = np.array([[32, 40], [50, 70]], np.int32)
    g = Prog()
    g.feed("x", list(x.shape))
    g.feed("img", [2, 2], dtype=INT32)
    g.var("boxes")
    g.var("scores")
    g.op("yolo_box", {"X": "x", "ImgSize": "img"}, {"Boxes": "boxes", "Scores": "scores"},
         anchors=anchors, class_num=class_num, conf_thresh=conf, downsample_ratio=ratio,
         clip_bbox=clip, scale_x_y=scale, iou_aware=iou_aware, iou_aware_factor=factor)
    g.fetch("boxes")
    g.fetch("scores")
    inputs = {"x": x, "img": img}
    if channels:
        return g, inputs, None
    b, s = yolo_ref(x, img, anchors, class_num, conf, ratio, clip, scale, iou_aware, factor)
    return g, inputs, {"boxes": b, "scores": s}


def case_yolo_box_clip_scale():
    g, i, e = yolo_case(1, True, 1.05, False)
    assert (e["boxes"] == 0).all(-1).any() and not (e["boxes"] == 0).all()
    return Case(g, i, e, rtol=1e-4, atol=1e-4)


def case_yolo_box_no_clip():
    g, i, e = yolo_case(2, False, 1.0, False)
    return Case(g, i, e, rtol=1e-4, atol=1e-4)


def case_yolo_box_iou_aware():
    g, i, e = yolo_case(3, True, 1.2, True, factor=0.4)
    return Case(g, i, e, rtol=1e-4, atol=1e-4)


def case_yolo_box_channel_error():
    g, i, _ = yolo_case(4, True, 1.0, False, channels=23)
    return Case(g, i, error="23 channels, expected 24 for 3 anchors and 3 classes")


# ---- the real models ---------------------------------------------------------------------------

class RealModel:
    """A model directory of ../shared/paddle-models, run where it is."""

    def __init__(self, path):
        self.path = path

    def write(self, d, combined=False):
        os.makedirs(d, exist_ok=True)  # the inputs go there, the model stays
        return self.path


def model_case(rel, inputs, check, args=()):
    path = os.path.join(MODELS, rel)
    if not os.path.isdir(path):
        print("  skipped: %s not found" % path)
        g = Prog()
        g.feed("x", [1])
        g.var("y", [1])
        g.op("relu", {"X": "x"}, {"Out": "y"})
        g.fetch("y")
        return Case(g, {"x": np.ones(1, F32)}, {"y": np.ones(1, F32)})
    return Case(RealModel(path), inputs, check=check, args=args)


def scene(h, w):
    """A rendered scene: a table top with a bottle, a cup, a box, a ball."""
    from PIL import Image, ImageDraw
    im = Image.new("RGB", (w, h), (200, 210, 220))
    d = ImageDraw.Draw(im)
    d.rectangle([0, int(h * 0.6), w, h], fill=(120, 90, 60))
    d.rectangle([int(w * 0.15), int(h * 0.25), int(w * 0.22), int(h * 0.65)], fill=(30, 120, 40))
    d.rectangle([int(w * 0.17), int(h * 0.17), int(w * 0.2), int(h * 0.25)], fill=(20, 20, 20))
    d.ellipse([int(w * 0.4), int(h * 0.45), int(w * 0.55), int(h * 0.68)], fill=(240, 240, 240))
    d.rectangle([int(w * 0.65), int(h * 0.4), int(w * 0.9), int(h * 0.7)], fill=(180, 140, 90))
    d.ellipse([int(w * 0.28), int(h * 0.7), int(w * 0.38), int(h * 0.83)], fill=(220, 60, 30))
    return im


def face(h, w):
    """A drawn face: head, eyes, nose, mouth on a plain background."""
    from PIL import Image, ImageDraw
    im = Image.new("RGB", (w, h), (90, 110, 140))
    d = ImageDraw.Draw(im)
    cx, cy, r = w // 2, h // 2, min(h, w) // 4
    d.ellipse([cx - r, cy - int(r * 1.25), cx + r, cy + int(r * 1.25)], fill=(225, 185, 160))
    for ex in (cx - r // 2.5, cx + r // 2.5):
        d.ellipse([ex - r // 6, cy - r // 3 - r // 10, ex + r // 6, cy - r // 3 + r // 10],
                  fill=(250, 250, 250))
        d.ellipse([ex - r // 14, cy - r // 3 - r // 14, ex + r // 14, cy - r // 3 + r // 14],
                  fill=(40, 30, 20))
    d.polygon([(cx, cy - r // 8), (cx - r // 8, cy + r // 4), (cx + r // 8, cy + r // 4)],
              fill=(200, 150, 130))
    d.ellipse([cx - r // 3, cy + r // 2, cx + r // 3, cy + r // 2 + r // 6], fill=(170, 60, 60))
    d.ellipse([cx - r, cy - int(r * 1.3), cx + r, cy - int(r * 0.7)], fill=(60, 40, 30))
    return im


def detections_check(out_key, img_h, img_w, n_classes, nums_key=None, n_img=1, margin=0.0):
    """Out has the right shape, labels in range, scores in [0, 1], rows by
    label and by descending score within a label, every box inside the image
    (by `margin`: box_coder does not clip, so priors at the border may decode
    a little outside it)."""
    def check(outs):
        key = [k for k in outs if k.endswith(out_key)]
        if len(key) != 1:
            return "output %s not found among %s" % (out_key, sorted(outs))
        out = outs[key[0]]
        if out.ndim != 2 or out.shape[1] != 6 or out.dtype != F32:
            return "detections: shape %s %s, expected [No, 6] float32" % (out.shape, out.dtype)
        if len(out) == 0:
            return "no detections at all"
        lab, sc, b = out[:, 0], out[:, 1], out[:, 2:]
        if not ((lab == np.round(lab)) & (lab >= 0) & (lab < n_classes)).all():
            return "labels out of range: %s" % lab[:10]
        if not ((sc >= 0) & (sc <= 1)).all():
            return "scores outside [0, 1]: %s" % sc[:10]
        inside = ((b[:, 0] >= -margin) & (b[:, 1] >= -margin) & (b[:, 2] <= img_w + margin)
                  & (b[:, 3] <= img_h + margin) & (b[:, 0] <= b[:, 2]) & (b[:, 1] <= b[:, 3]))
        if not inside.all():
            bad = out[~inside][:3]
            return "boxes outside the %gx%g image: %s" % (img_w, img_h, bad)
        for lo in np.unique(lab):
            s = sc[lab == lo]
            if not (np.diff(s) <= 0).all():
                return "label %d: scores not in descending order" % lo
        if not (np.diff(lab) >= 0).all():
            return "rows not ordered by label"
        if nums_key:
            nums = [outs[k] for k in outs if k.endswith(nums_key)]
            if len(nums) != 1 or nums[0].shape != (n_img,) or nums[0].sum() != len(out):
                return "NmsRoisNum %s does not count the %d rows" % (nums, len(out))
        return None
    return check


def case_model_ppyolo_tiny():
    """PP-YOLO tiny (PaddleDetection export): Resize to 320x320 without
    keeping the ratio, NormalizeImage (ImageNet mean/std on [0,1]), Permute;
    im_shape is the resized size and scale_factor resized/original, so the
    boxes come back in the original 480x640 image."""
    h, w = 480, 640
    im = scene(h, w).resize((320, 320), resample=2)
    x = np.asarray(im, np.float32) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406], F32)) / np.array([0.229, 0.224, 0.225], F32)
    x = x.transpose(2, 0, 1)[None].astype(F32)
    inputs = {"image": x, "im_shape": np.array([[320, 320]], F32),
              "scale_factor": np.array([[320 / h, 320 / w]], F32)}
    return model_case("ppdet_ppyolo_tiny", inputs,
                      detections_check("multiclass_nms3_0.tmp_0", h - 1, w - 1, 13,
                                       nums_key="multiclass_nms3_0.tmp_2"))


def case_model_blazeface():
    """Paddle Serving's BlazeFace: image [1, 3, H, W] of any size (its conf
    gives only the channels), here 320x320, RGB less the mean [123, 117, 104]
    and scaled by 1/127.502231 as PaddleDetection's BlazeFace config does;
    boxes come out normalized to the image. The best detection must be the
    drawn face."""
    h, w = 320, 320
    im = np.asarray(face(h, w), np.float32)
    x = ((im - np.array([123, 117, 104], F32)) / F32(127.502231)).transpose(2, 0, 1)[None]
    # the 128-pixel priors (0.4 of the image) of the border cells reach 0.175
    # beyond it, and box_coder does not clip
    check = detections_check("detection_output_0.tmp_0", 1.0, 1.0, 2, margin=0.25)
    r = min(h, w) // 4
    head = np.array([w // 2 - r, h // 2 - int(r * 1.3), w // 2 + r, h // 2 + int(r * 1.25)],
                    np.float64) / np.array([w, h, w, h])

    def check_face(outs):
        err = check(outs)
        if err:
            return err
        out = [v for k, v in outs.items() if k.endswith("detection_output_0.tmp_0")][0]
        best = out[np.argmax(out[:, 1])]
        iou = iou32(best[2:].astype(F32), head.astype(F32), True)
        if best[1] < 0.2 or iou < 0.5:
            return "the best detection %s is not the drawn face %s (IoU %g)" % (best, head, iou)
        return None
    return model_case("serving_blazeface/serving_server", {"image": x.astype(F32)}, check_face)
