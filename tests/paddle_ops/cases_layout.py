"""Paddle's image ops in their attribute variants: NHWC data_format,
padding_algorithm SAME/VALID, groups and dilations, average pooling's
exclusive rule, interpolation's align_corners/align_mode; numpy versions
of Paddle's definitions."""
import math

import numpy as np

from pdprog import Prog
from run_ops import Case, rng

F = np.float32


def rand(shape, seed=0):
    return rng(seed).standard_normal(shape).astype(F)


def same_pads(size, k, s, d=1):
    out = (size + s - 1) // s
    need = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return need // 2, need - need // 2


def conv_nchw(x, w, stride, pads, dil, groups):
    n, cin, h, wd = x.shape
    cout, cpg, kh, kw = w.shape
    (pt, pb), (pl, pr) = pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (h + pt + pb - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + pl + pr - dil[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, cout, oh, ow), np.float64)
    opg = cout // groups
    for o in range(cout):
        g = o // opg
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cpg:(g + 1) * cpg,
                           i * stride[0]:i * stride[0] + dil[0] * (kh - 1) + 1:dil[0],
                           j * stride[1]:j * stride[1] + dil[1] * (kw - 1) + 1:dil[1]]
                y[:, o, i, j] = (patch * w[o]).sum(axis=(1, 2, 3))
    return y.astype(F)


def conv_case(x_nchw, w, nhwc=False, algo="EXPLICIT", paddings=(0, 0), strides=(1, 1),
              dilations=(1, 1), groups=1, op="conv2d"):
    kh, kw = w.shape[2:]
    h, wd = x_nchw.shape[2:]
    if algo == "SAME":
        pads = (same_pads(h, kh, strides[0], dilations[0]), same_pads(wd, kw, strides[1], dilations[1]))
    elif algo == "VALID":
        pads = ((0, 0), (0, 0))
    elif len(paddings) == 2:
        pads = ((paddings[0], paddings[0]), (paddings[1], paddings[1]))
    else:
        pads = ((paddings[0], paddings[1]), (paddings[2], paddings[3]))
    y = conv_nchw(x_nchw, w, strides, pads, dilations, groups)
    x = x_nchw.transpose(0, 2, 3, 1).copy() if nhwc else x_nchw
    want = y.transpose(0, 2, 3, 1).copy() if nhwc else y
    g = Prog()
    g.feed("x", list(x.shape))
    g.param("w", w)
    g.var("y", list(want.shape))
    g.op(op, {"Input": "x", "Filter": "w"}, {"Output": "y"}, strides=list(strides),
         paddings=list(paddings), dilations=list(dilations), groups=groups,
         padding_algorithm=algo, data_format="NHWC" if nhwc else "NCHW")
    g.fetch("y")
    return Case(g, {"x": x}, {"y": want}, rtol=1e-4, atol=1e-4)


def case_conv_nhwc():
    return conv_case(rand((1, 3, 6, 5), 1), rand((4, 3, 3, 3), 2), nhwc=True, paddings=(1, 1))


def case_conv_same_stride2():
    return conv_case(rand((1, 2, 7, 6), 3), rand((3, 2, 3, 3), 4), algo="SAME", strides=(2, 2))


def case_conv_valid_dilated():
    return conv_case(rand((1, 2, 9, 9), 5), rand((2, 2, 3, 3), 6), algo="VALID",
                     dilations=(2, 2), paddings=(5, 5))


def case_conv_four_paddings_groups():
    return conv_case(rand((1, 4, 5, 6), 7), rand((6, 2, 3, 2), 8), paddings=(1, 0, 2, 1),
                     groups=2)


def case_depthwise_nhwc_same():
    return conv_case(rand((2, 4, 6, 6), 9), rand((4, 1, 3, 3), 10), nhwc=True, algo="SAME",
                     groups=4, op="depthwise_conv2d")


def pool_ref(x, k, s, pads, avg, exclusive, ceil=False):
    n, c, h, w = x.shape
    (pt, pb), (pl, pr) = pads

    def out(size, p0, p1, kk, ss):
        v = (size + p0 + p1 - kk + (ss - 1 if ceil else 0)) // ss + 1
        return v
    oh, ow = out(h, pt, pb, k[0], s[0]), out(w, pl, pr, k[1], s[1])
    y = np.zeros((n, c, oh, ow), F)
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * s[0] - pt, j * s[1] - pl
            h1, w1 = min(h0 + k[0], h + pb), min(w0 + k[1], w + pr)
            hs, ws = max(h0, 0), max(w0, 0)
            he, we = min(h1, h), min(w1, w)
            win = x[:, :, hs:he, ws:we]
            if avg:
                cnt = (he - hs) * (we - ws) if exclusive else (h1 - h0) * (w1 - w0)
                y[:, :, i, j] = win.sum(axis=(2, 3)) / cnt
            else:
                y[:, :, i, j] = win.max(axis=(2, 3))
    return y


def pool_case(x, k, s, paddings, avg, exclusive=True, nhwc=False, algo="EXPLICIT"):
    h, w = x.shape[2:]
    if algo == "SAME":
        pads = (same_pads(h, k[0], s[0]), same_pads(w, k[1], s[1]))
    else:
        pads = ((paddings[0], paddings[0]), (paddings[1], paddings[1]))
    y = pool_ref(x, k, s, pads, avg, exclusive)
    xin = x.transpose(0, 2, 3, 1).copy() if nhwc else x
    want = y.transpose(0, 2, 3, 1).copy() if nhwc else y
    g = Prog()
    g.feed("x", list(xin.shape))
    g.var("y", list(want.shape))
    g.op("pool2d", {"X": "x"}, {"Out": "y"}, pooling_type="avg" if avg else "max", ksize=list(k),
         strides=list(s), paddings=list(paddings), exclusive=exclusive, global_pooling=False,
         adaptive=False, ceil_mode=False, padding_algorithm=algo,
         data_format="NHWC" if nhwc else "NCHW")
    g.fetch("y")
    return Case(g, {"x": xin}, {"y": want}, rtol=1e-5, atol=1e-5)


def case_pool_avg_exclusive_padded():
    return pool_case(rand((1, 2, 5, 5), 11), (3, 3), (2, 2), (1, 1), avg=True, exclusive=True)


def case_pool_avg_inclusive_padded():
    return pool_case(rand((1, 2, 5, 5), 12), (3, 3), (2, 2), (1, 1), avg=True, exclusive=False)


def case_pool_max_nhwc_same():
    return pool_case(rand((1, 3, 7, 6), 13), (3, 3), (2, 2), (0, 0), avg=False, nhwc=True,
                     algo="SAME")


def case_batch_norm_nhwc():
    x = rand((2, 4, 3, 3), 14)
    sc, bi, mu = rand((4,), 15), rand((4,), 16), rand((4,), 17)
    var = np.abs(rand((4,), 18)) + F(0.5)
    y = (x - mu[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5) * sc[:, None, None] + \
        bi[:, None, None]
    g = Prog()
    g.feed("x", [2, 3, 3, 4])
    for n, v in (("sc", sc), ("bi", bi), ("mu", mu), ("var", var)):
        g.param(n, v)
    g.var("y", [2, 3, 3, 4])
    g.op("batch_norm", {"X": "x", "Scale": "sc", "Bias": "bi", "Mean": "mu", "Variance": "var"},
         {"Y": "y"}, epsilon=1e-5, is_test=True, data_layout="NHWC")
    g.fetch("y")
    return Case(g, {"x": x.transpose(0, 2, 3, 1).copy()},
                {"y": y.transpose(0, 2, 3, 1).astype(F)}, rtol=1e-5, atol=1e-5)


def bilinear(x, oh, ow, align_corners, align_mode):
    n, c, h, w = x.shape
    y = np.zeros((n, c, oh, ow), np.float64)

    def src(o, insz, outsz):
        if align_corners:
            return o * (insz - 1) / (outsz - 1) if outsz > 1 else 0.0
        r = insz / outsz
        if align_mode == 0:
            return max(r * (o + 0.5) - 0.5, 0.0)
        return r * o
    for i in range(oh):
        sy = src(i, h, oh)
        y0 = min(int(math.floor(sy)), h - 1)
        y1 = min(y0 + 1, h - 1)
        dy = sy - y0
        for j in range(ow):
            sx = src(j, w, ow)
            x0 = min(int(math.floor(sx)), w - 1)
            x1 = min(x0 + 1, w - 1)
            dx = sx - x0
            y[:, :, i, j] = (x[:, :, y0, x0] * (1 - dy) * (1 - dx) + x[:, :, y0, x1] * (1 - dy) * dx +
                             x[:, :, y1, x0] * dy * (1 - dx) + x[:, :, y1, x1] * dy * dx)
    return y.astype(F)


def interp_case(op, x, oh, ow, want, **attrs):
    g = Prog()
    g.feed("x", list(x.shape))
    g.var("y", list(want.shape))
    g.op(op, {"X": "x"}, {"Out": "y"}, out_h=oh, out_w=ow, **attrs)
    g.fetch("y")
    return Case(g, {"x": x}, {"y": want}, rtol=1e-5, atol=1e-5)


def case_bilinear_align_mode0():
    x = rand((1, 2, 4, 5), 19)
    return interp_case("bilinear_interp_v2", x, 7, 8, bilinear(x, 7, 8, False, 0),
                       align_corners=False, align_mode=0, interp_method="bilinear")


def case_bilinear_align_mode1():
    x = rand((1, 2, 4, 5), 20)
    return interp_case("bilinear_interp_v2", x, 6, 9, bilinear(x, 6, 9, False, 1),
                       align_corners=False, align_mode=1, interp_method="bilinear")


def case_bilinear_align_corners():
    x = rand((1, 1, 4, 4), 21)
    return interp_case("bilinear_interp", x, 7, 5, bilinear(x, 7, 5, True, 1),
                       align_corners=True, interp_method="bilinear")


def case_nearest_nhwc_scale():
    x = rand((1, 3, 3, 2), 22)  # NHWC: 3x3, 2 channels
    y = x.repeat(2, axis=1).repeat(2, axis=2)
    g = Prog()
    g.feed("x", [1, 3, 3, 2])
    g.var("y", [1, 6, 6, 2])
    g.op("nearest_interp_v2", {"X": "x"}, {"Out": "y"}, scale=[2.0, 2.0], align_corners=False,
         data_layout="NHWC", interp_method="nearest")
    g.fetch("y")
    return Case(g, {"x": x}, {"y": y})


def case_nearest_align_corners():
    x = rand((1, 1, 3, 4), 23)
    oh, ow = 5, 7
    # Paddle: int(ratio * i + 0.5), halves up
    ys = [int(math.floor(i * (3 - 1) / (oh - 1) + 0.5)) for i in range(oh)]
    xs = [int(math.floor(j * (4 - 1) / (ow - 1) + 0.5)) for j in range(ow)]
    want = x[:, :, ys][:, :, :, xs]
    return interp_case("nearest_interp", x, oh, ow, want, align_corners=True,
                       interp_method="nearest")


def bias_case(axis, bshape, seed):
    # conv2d + elementwise_add (+ relu): a per-channel bias folds into the
    # convolution; an addend along another axis must not
    x = rand((1, 3, 4, 4), seed)
    w = rand((4, 3, 1, 1), seed + 1)
    b = rand(bshape, seed + 2)
    y = conv_nchw(x, w, (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    if axis == 1:
        y = y + b.reshape(1, 4, 1, 1)
    else:
        y = y + b
    y = np.maximum(y, 0)
    g = Prog()
    g.feed("x", [1, 3, 4, 4])
    g.param("w", w)
    g.param("b", b)
    for v in ("c", "a", "r"):
        g.var(v, [1, 4, 4, 4])
    g.op("conv2d", {"Input": "x", "Filter": "w"}, {"Output": "c"}, strides=[1, 1],
         paddings=[0, 0], dilations=[1, 1], groups=1)
    g.op("elementwise_add", {"X": "c", "Y": "b"}, {"Out": "a"}, axis=axis)
    g.op("relu", {"X": "a"}, {"Out": "r"})
    g.fetch("r")
    return Case(g, {"x": x}, {"r": y.astype(F)}, rtol=1e-4, atol=1e-5)


def case_conv_bias_per_channel():
    return bias_case(1, (4,), 30)


def case_conv_add_along_width_not_a_bias():
    return bias_case(-1, (4,), 33)
