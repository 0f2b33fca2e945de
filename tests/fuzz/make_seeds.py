#!/usr/bin/python3
"""Writes the seed corpora of the ONNX-facing fuzz targets (and the .npy one).

    /usr/bin/python3 tests/fuzz/make_seeds.py      # rewrites tests/fuzz/corpus/{fuzz_onnx,...}

Needs numpy and onnx (Debian's python3-onnx, 1.12). The seeds are committed; run this
only to change them. Each is small (a few KB at most): libFuzzer mutates small inputs
far faster, and what matters is that the seeds reach the loader's branches (typed and
raw initializers, attribute-era and input-era opsets, subgraphs, dynamic dims, external
data, every dtype), not that they are big.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
rng = np.random.default_rng(1234)
F = TensorProto.FLOAT


def out_dir(target):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    return d


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def w(name, shape, dtype=np.float32):
    return numpy_helper.from_array(rng.standard_normal(shape).astype(dtype), name)


def model(nodes, inputs, outputs, inits=(), opset=13, name="g"):
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="skiff-fuzz-seeds")
    m.ir_version = 7 if opset < 15 else 8
    return m


def onnx_models():
    n = helper.make_node
    ms = {}
    ms["add"] = model([n("Add", ["x", "y"], ["z"])],
                      [vi("x", F, [2, 3]), vi("y", F, [2, 3])], [vi("z", F, [2, 3])])
    ms["linear_dynamic_batch"] = model(
        [n("MatMul", ["x", "W"], ["h"]), n("Add", ["h", "B"], ["y"])],
        [vi("x", F, ["N", 4])], [vi("y", F, ["N", 3])], [w("W", (4, 3)), w("B", (3,))])
    ms["mlp_uci_like"] = model(
        [n("Gemm", ["x", "W1", "B1"], ["h"], transB=1), n("Relu", ["h"], ["r"]),
         n("Gemm", ["r", "W2", "B2"], ["y"], transB=1)],
        [vi("x", F, ["batch", 13])], [vi("y", F, ["batch", 1])],
        [w("W1", (32, 13)), w("B1", (32,)), w("W2", (1, 32)), w("B2", (1,))])
    # quantized convolutions: what --precision int8 rewrites (QDQ around a Conv
    # with a Relu, the result quantized; a float result) and QLinearConv with
    # constant scales (oneDNN's int8 path)
    u8 = TensorProto.UINT8
    qr = np.random.default_rng(77)  # its own draws: the other seeds stay as they were

    def cq(name, arr):
        return numpy_helper.from_array(np.asarray(arr), name)
    ms["qdq_conv_int8"] = model(
        [n("QuantizeLinear", ["x", "xs", "xz"], ["xq"]), n("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
         n("DequantizeLinear", ["wq", "ws"], ["wd"], axis=0), n("Conv", ["xd", "wd", "b"], ["c"], pads=[1, 1, 1, 1]),
         n("Relu", ["c"], ["r"]), n("QuantizeLinear", ["r", "ys", "yz"], ["yq"]),
         n("DequantizeLinear", ["yq", "ys", "yz"], ["yd"]),
         n("DequantizeLinear", ["w2q", "ws2"], ["w2d"], axis=0), n("Conv", ["yd", "w2d"], ["y"])],
        [vi("x", F, [1, 2, 5, 5])], [vi("y", F, [1, 3, 5, 5])],
        [cq("xs", np.array(0.02, np.float32)), cq("xz", np.array(128, np.uint8)),
         cq("wq", qr.integers(-64, 64, (4, 2, 3, 3)).astype(np.int8)), cq("ws", np.full(4, 0.01, np.float32)),
         cq("b", np.array([0.1, -0.2, 0.3, 0.0], np.float32)), cq("ys", np.array(0.05, np.float32)), cq("yz", np.array(0, np.uint8)),
         cq("w2q", qr.integers(-64, 64, (3, 4, 1, 1)).astype(np.int8)), cq("ws2", np.array(0.02, np.float32))])
    ms["qlinearconv_const"] = model(
        [n("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"], pads=[1, 1, 1, 1])],
        [vi("x", u8, [1, 2, 4, 4])], [vi("y", u8, [1, 3, 4, 4])],
        [cq("xs", np.array(0.02, np.float32)), cq("xz", np.array(120, np.uint8)),
         cq("w", qr.integers(-64, 64, (3, 2, 3, 3)).astype(np.int8)), cq("ws", np.full(3, 0.01, np.float32)),
         cq("wz", np.zeros(3, np.int8)), cq("ys", np.array(0.05, np.float32)), cq("yz", np.array(100, np.uint8)),
         cq("b", np.array([10, -20, 30], np.int32))])
    ms["conv_relu_pool"] = model(
        [n("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1], strides=[1, 1]),
         n("Relu", ["c"], ["r"]),
         n("MaxPool", ["r"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
        [vi("x", F, [1, 1, 6, 6])], [vi("y", F, [1, 2, 3, 3])],
        [w("W", (2, 1, 3, 3)), w("B", (2,))])
    ms["conv_bn_fold"] = model(
        [n("Conv", ["x", "W"], ["c"], kernel_shape=[1, 1]),
         n("BatchNormalization", ["c", "s", "b", "m", "v"], ["y"], epsilon=1e-5)],
        [vi("x", F, [1, 2, 3, 3])], [vi("y", F, [1, 2, 3, 3])],
        [w("W", (2, 2, 1, 1)), w("s", (2,)), w("b", (2,)), w("m", (2,)),
         numpy_helper.from_array(np.ones(2, np.float32), "v")])
    ms["gemm_softmax_opset11"] = model(
        [n("Gemm", ["x", "W", "B"], ["h"], transB=1, alpha=0.5),
         n("Softmax", ["h"], ["y"], axis=1)],
        [vi("x", F, [2, 4])], [vi("y", F, [2, 3])], [w("W", (3, 4)), w("B", (3,))], opset=11)
    shape = numpy_helper.from_array(np.array([3, 2], np.int64), "shape")
    ms["reshape_transpose_constant"] = model(
        [n("Constant", [], ["s"], value=shape),
         n("Reshape", ["x", "s"], ["r"]),
         n("Transpose", ["r"], ["y"], perm=[1, 0])],
        [vi("x", F, [2, 3])], [vi("y", F, [2, 3])])
    ms["squeeze_unsqueeze_opset11"] = model(
        [n("Unsqueeze", ["x"], ["u"], axes=[0]), n("Squeeze", ["u"], ["y"], axes=[0])],
        [vi("x", F, [2, 3])], [vi("y", F, [2, 3])], opset=11)
    ms["squeeze_unsqueeze_opset13"] = model(
        [n("Unsqueeze", ["x", "a"], ["u"]), n("Squeeze", ["u", "a"], ["y"])],
        [vi("x", F, [2, 3])], [vi("y", F, [2, 3])],
        [numpy_helper.from_array(np.array([0], np.int64), "a")])
    ms["slice_opset9"] = model(
        [n("Slice", ["x"], ["y"], starts=[0, 1], ends=[2, 3], axes=[0, 1])],
        [vi("x", F, [3, 4])], [vi("y", F, [2, 2])], opset=9)
    ms["slice_opset13"] = model(
        [n("Slice", ["x", "st", "en", "ax", "sp"], ["y"])],
        [vi("x", F, [3, 4])], [vi("y", F, [2, 2])],
        [numpy_helper.from_array(np.array(v, np.int64), k) for k, v in
         (("st", [0, -1]), ("en", [2, -5]), ("ax", [0, 1]), ("sp", [1, -2]))])
    ms["reduce_mean_opset13"] = model(
        [n("ReduceMean", ["x"], ["y"], axes=[1], keepdims=1)],
        [vi("x", F, [2, 3, 4])], [vi("y", F, [2, 1, 4])])
    ms["reduce_sum_opset18"] = model(
        [n("ReduceSum", ["x", "a"], ["y"], keepdims=0)],
        [vi("x", F, [2, 3])], [vi("y", F, [2])],
        [numpy_helper.from_array(np.array([1], np.int64), "a")], opset=18)
    ms["shape_gather_cast"] = model(
        [n("Shape", ["x"], ["s"]), n("Gather", ["s", "i"], ["g"], axis=0),
         n("Cast", ["g"], ["y"], to=F)],
        [vi("x", F, ["N", 5])], [vi("y", F, [])],
        [numpy_helper.from_array(np.array(1, np.int64), "i")])
    ms["concat_split"] = model(
        [n("Concat", ["x", "x"], ["c"], axis=1), n("Split", ["c"], ["a", "b"], axis=1)],
        [vi("x", F, [2, 2])], [vi("a", F, [2, 2]), vi("b", F, [2, 2])], opset=11)
    ms["activations_clip_opset6"] = model(
        [n("Clip", ["x"], ["c"], min=-1.0, max=1.0), n("LeakyRelu", ["c"], ["l"], alpha=0.2),
         n("Sigmoid", ["l"], ["s"]), n("Tanh", ["s"], ["y"])],
        [vi("x", F, [4])], [vi("y", F, [4])], opset=6)
    ms["layernorm_opset17"] = model(
        [n("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1, epsilon=1e-5)],
        [vi("x", F, [2, 4])], [vi("y", F, [2, 4])],
        [numpy_helper.from_array(np.ones(4, np.float32), "g"),
         numpy_helper.from_array(np.zeros(4, np.float32), "b")], opset=17)
    ms["lstm"] = model(
        [n("LSTM", ["x", "W", "R", "B"], ["y", "yh"], hidden_size=2)],
        [vi("x", F, [3, 1, 2])], [vi("y", F, [3, 1, 1, 2]), vi("yh", F, [1, 1, 2])],
        [w("W", (1, 8, 2)), w("R", (1, 8, 2)), w("B", (1, 16))])
    # Initializers in the typed fields instead of raw_data, and non-float dtypes.
    typed = helper.make_tensor("W", F, [2, 2], [1.0, 2.0, 3.0, 4.0])
    ityped = helper.make_tensor("k", TensorProto.INT64, [1], [1])
    ms["typed_initializers_where"] = model(
        [n("MatMul", ["x", "W"], ["m"]), n("TopK", ["m", "k"], ["v", "i"], axis=1),
         n("Greater", ["v", "x0"], ["g"]), n("Where", ["g", "v", "x0"], ["y"])],
        [vi("x", F, [2, 2])], [vi("y", F, [2, 1]), vi("i", TensorProto.INT64, [2, 1])],
        [typed, ityped, helper.make_tensor("x0", F, [], [0.0])])
    ms["int_double_bool"] = model(
        [n("Add", ["a", "a"], ["s"]), n("Cast", ["s"], ["d"], to=TensorProto.DOUBLE),
         n("Equal", ["a", "a"], ["e"]), n("Not", ["e"], ["y"])],
        [vi("a", TensorProto.INT32, [3])],
        [vi("d", TensorProto.DOUBLE, [3]), vi("y", TensorProto.BOOL, [3])])
    # Control flow: a subgraph in an attribute (the engine may refuse it; it must parse).
    then_g = helper.make_graph([n("Identity", ["x"], ["t"])], "then", [], [vi("t", F, [2])])
    else_g = helper.make_graph([n("Neg", ["x"], ["e"])], "else", [], [vi("e", F, [2])])
    ms["if_subgraph"] = model(
        [n("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
        [vi("c", TensorProto.BOOL, []), vi("x", F, [2])], [vi("y", F, [2])])
    # Control flow: Loop with carried state, a scan output and an If reading
    # outer values; Scan; sequences; and the bombs: a huge trip count, a
    # condition that never ends, subgraphs nested past the limit, branches
    # that do not match their node, and a body reading the loop's own output.
    I64, B = TensorProto.INT64, TensorProto.BOOL
    t_g = helper.make_graph([n("Add", ["acc", "x"], ["t"])], "t", [], [vi("t", F, [2])])
    e_g = helper.make_graph([n("Sub", ["acc", "x"], ["e"])], "e", [], [vi("e", F, [2])])
    body = helper.make_graph(
        [n("Less", ["i", "lim"], ["c"]), n("If", ["c"], ["acc2"], then_branch=t_g, else_branch=e_g),
         n("Identity", ["acc2"], ["row"]), n("Identity", ["ci"], ["co"])],
        "body", [vi("i", I64, []), vi("ci", B, []), vi("acc", F, [2])],
        [vi("co", B, []), vi("acc2", F, [2]), vi("row", F, [2])])
    ms["loop_if_scan_out"] = model(
        [n("Loop", ["M", "", "x"], ["y", "rows"], body=body)],
        [vi("x", F, [2])], [vi("y", F, [2]), vi("rows", F, [3, 2])],
        [helper.make_tensor("M", I64, [], [3]), helper.make_tensor("lim", I64, [], [1])], opset=16)
    ms["loop_huge_trip_count"] = model(
        [n("Loop", ["M", "", "x"], ["y", "rows"], body=body)],
        [vi("x", F, [2])], [vi("y", F, [2]), vi("rows", F, ["T", 2])],
        [helper.make_tensor("M", I64, [], [1 << 62]), helper.make_tensor("lim", I64, [], [1])],
        opset=16)
    fb = helper.make_graph([n("Identity", ["ci"], ["co"]), n("Neg", ["v"], ["v2"])], "fb",
                           [vi("i", I64, []), vi("ci", B, []), vi("v", F, [2])],
                           [vi("co", B, []), vi("v2", F, [2])])
    ms["loop_forever"] = model([n("Loop", ["", "T", "x"], ["y"], body=fb)],
                               [vi("x", F, [2])], [vi("y", F, [2])],
                               [helper.make_tensor("T", B, [], [True])], opset=16)
    sb = helper.make_graph([n("Add", ["s", "r"], ["s2"]), n("Mul", ["s2", "x0"], ["o"])], "sb",
                           [vi("s", F, [2]), vi("r", F, [2])], [vi("s2", F, [2]), vi("o", F, [2])])
    ms["scan_outer_value"] = model(
        [n("Scan", ["z", "x"], ["s", "o"], body=sb, num_scan_inputs=1,
           scan_input_directions=[1], scan_output_axes=[1])],
        [vi("x", F, [3, 2])], [vi("s", F, [2]), vi("o", F, [2, 3])],
        [helper.make_tensor("z", F, [2], [0, 0]), helper.make_tensor("x0", F, [], [0.5])], opset=16)
    qb = helper.make_graph(
        [n("SequenceInsert", ["q", "v"], ["q2"]), n("Identity", ["ci"], ["co"])], "qb",
        [vi("i", I64, []), vi("ci", B, []), helper.make_tensor_sequence_value_info("q", F, None)],
        [vi("co", B, []), helper.make_tensor_sequence_value_info("q2", F, None)])
    ms["sequence_ops"] = model(
        [n("Identity", ["x"], ["v"]),
         n("SplitToSequence", ["x"], ["parts"], axis=0), n("SequenceLength", ["parts"], ["len"]),
         n("SequenceErase", ["parts"], ["p2"]), n("SequenceEmpty", [], ["e0"]),
         n("Loop", ["len", "", "e0"], ["acc"], body=qb), n("SequenceAt", ["acc", "len0"], ["a0"]),
         n("ConcatFromSequence", ["p2"], ["cat"], axis=0)],
        [vi("x", F, [3, 2])], [vi("cat", F, [2, 2]), vi("a0", F, [3, 2])],
        [helper.make_tensor("len0", I64, [], [0])], opset=16)
    deep = helper.make_graph([n("Neg", ["x"], ["d0"])], "d0", [], [vi("d0", F, [2])])
    for d in range(1, 20):
        deep = helper.make_graph(
            [n("If", ["c"], ["d%d" % d], then_branch=deep,
               else_branch=helper.make_graph([n("Abs", ["x"], ["a%d" % d])], "a%d" % d, [],
                                             [vi("a%d" % d, F, [2])]))],
            "d%d" % d, [],
            [vi("d%d" % d, F, [2])])
    ms["if_nested_too_deep"] = model(list(deep.node), [vi("c", B, []), vi("x", F, [2])],
                                     [vi("d19", F, [2])], opset=16)
    two = helper.make_graph([n("Neg", ["x"], ["a"]), n("Abs", ["x"], ["b"])], "two", [],
                            [vi("a", F, [2]), vi("b", F, [2])])
    ms["if_mismatched_outputs"] = model(
        [n("If", ["c"], ["y"], then_branch=two, else_branch=two)],
        [vi("c", B, []), vi("x", F, [2])], [vi("y", F, [2])], opset=16)
    rb = helper.make_graph([n("Add", ["v", "y"], ["v2"]), n("Identity", ["ci"], ["co"])], "rb",
                           [vi("i", I64, []), vi("ci", B, []), vi("v", F, [2])],
                           [vi("co", B, []), vi("v2", F, [2])])
    ms["loop_reads_own_output"] = model(
        [n("Loop", ["M", "", "x"], ["y"], body=rb)], [vi("x", F, [2])], [vi("y", F, [2])],
        [helper.make_tensor("M", I64, [], [2])], opset=16)
    # External data: with no base directory the loader must refuse it cleanly.
    ext = w("W", (2, 2))
    ext.ClearField("raw_data")
    ext.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "weights.bin"), ("offset", "0"), ("length", "16")):
        e = ext.external_data.add()
        e.key, e.value = k, v
    ms["external_data"] = model([n("MatMul", ["x", "W"], ["y"])],
                                [vi("x", F, [1, 2])], [vi("y", F, [1, 2])], [ext])
    # A custom domain op and an opset import beyond what the engine knows.
    cm = model([n("Relu", ["x"], ["r"]), n("Frob", ["r"], ["y"], domain="com.example")],
               [vi("x", F, [2])], [vi("y", F, [2])])
    cm.opset_import.append(helper.make_opsetid("com.example", 1))
    ms["custom_domain"] = cm
    # Detector tail: box decoding, TopK, NonMaxSuppression, RoiAlign; and an
    # audio front end (window, STFT, MelWeightMatrix), losses, Unique and
    # GridSample. Fixed constants only (no draws from rng, so the seeds
    # written after these stay the same).
    c = lambda name, arr: numpy_helper.from_array(np.asarray(arr), name)  # noqa: E731
    I64 = TensorProto.INT64
    ms["detect_nms_roialign"] = model(
        [n("Exp", ["wh"], ["e"]), n("Mul", ["e", "anchors"], ["sz"]),
         n("Concat", ["ctr", "sz"], ["boxes"], axis=2),
         n("ReduceMax", ["scores"], ["best"], axes=[1], keepdims=0),
         n("TopK", ["best", "k"], ["tv", "ti"], axis=1),
         n("NonMaxSuppression", ["boxes", "scores", "mx", "iou", "thr"], ["sel"],
           center_point_box=1),
         n("Gather", ["sel", "col"], ["bi"], axis=1),
         n("Squeeze", ["boxes", "ax0"], ["rois"]),
         n("RoiAlign", ["feat", "rois", "bi0"], ["pooled"], output_height=2, output_width=2,
           sampling_ratio=2, mode="max")],
        [vi("ctr", F, [1, 4, 2]), vi("wh", F, [1, 4, 2]), vi("scores", F, [1, 2, 4]),
         vi("feat", F, [1, 3, 8, 8])],
        [vi("sel", I64, ["S", 3]), vi("tv", F, [1, 2]), vi("ti", I64, [1, 2]),
         vi("bi", I64, ["S", 1]), vi("pooled", F, [4, 3, 2, 2])],
        [c("anchors", np.full((1, 4, 2), 2.0, np.float32)), c("k", np.array([2], np.int64)),
         c("mx", np.array([3], np.int64)), c("iou", np.array([0.5], np.float32)),
         c("thr", np.array([0.1], np.float32)), c("col", np.array([2], np.int64)),
         c("ax0", np.array([0], np.int64)), c("bi0", np.zeros(4, np.int64))], opset=16)
    ms["audio_stft_mel"] = model(
        [n("HannWindow", ["wl"], ["win"]), n("STFT", ["sig", "step", "win"], ["spec"]),
         n("ReduceSumSquare", ["spec"], ["pow"], axes=[3], keepdims=0),
         n("MelWeightMatrix", ["mels", "wl", "rate", "lo", "hi"], ["mel"]),
         n("MatMul", ["pow", "mel"], ["y"]),
         n("DFT", ["sig"], ["d"], axis=1, onesided=1),
         n("BlackmanWindow", ["wl"], ["bw"], periodic=0)],
        [vi("sig", F, [1, 64, 1])],
        [vi("y", F, [1, 7, 4]), vi("d", F, [1, 33, 2]), vi("bw", F, [16])],
        [c("wl", np.array(16, np.int64)), c("step", np.array(8, np.int64)),
         c("mels", np.array(4, np.int64)), c("rate", np.array(8000, np.int64)),
         c("lo", np.array(0.0, np.float32)), c("hi", np.array(4000.0, np.float32))], opset=17)
    ms["loss_unique_gridsample"] = model(
        [n("SoftmaxCrossEntropyLoss", ["x", "t"], ["loss", "lp"], reduction="mean",
           ignore_index=1),
         n("Unique", ["t"], ["u", "ui", "uinv", "ucnt"], sorted=1),
         n("GridSample", ["img", "grid"], ["gs"], mode="bicubic", padding_mode="reflection"),
         n("BitShift", ["bx", "bs"], ["sh"], direction="RIGHT")],
        [vi("x", F, [3, 4]), vi("t", I64, [3]), vi("img", F, [1, 1, 4, 4]),
         vi("grid", F, [1, 2, 3, 2])],
        [vi("loss", F, []), vi("lp", F, [3, 4]), vi("u", I64, ["U"]), vi("ui", I64, ["U"]),
         vi("uinv", I64, [3]), vi("ucnt", I64, ["U"]), vi("gs", F, [1, 1, 2, 3]),
         vi("sh", TensorProto.UINT8, [3])],
        [c("bx", np.array([255, 16, 3], np.uint8)), c("bs", np.array([1, 9, 0], np.uint8))],
        opset=16)
    return ms


def tensor_protos():
    ts = {}
    for dt in (np.float32, np.float64, np.int64, np.int32, np.int16, np.int8, np.uint8,
               np.uint16, np.uint32, np.uint64, np.float16, np.bool_):
        a = (rng.standard_normal((2, 3)) * 10).astype(dt)
        ts["raw_" + np.dtype(dt).name] = numpy_helper.from_array(a, "t")
    ts["scalar_float"] = numpy_helper.from_array(np.array(3.5, np.float32), "s")
    ts["zero_size"] = numpy_helper.from_array(np.zeros((0, 4), np.float32), "z")
    ts["rank8"] = numpy_helper.from_array(np.ones((1, 2, 1, 2, 1, 2, 1, 2), np.float32))
    ts["strings"] = numpy_helper.from_array(np.array([b"ab", b"", b"xyz"], dtype=object), "s")
    mk = helper.make_tensor
    ts["typed_float"] = mk("f", TensorProto.FLOAT, [2, 2], [1.0, 2.0, 3.0, 4.0])
    ts["typed_double"] = mk("d", TensorProto.DOUBLE, [3], [1.0, -2.0, 1e300])
    ts["typed_int64"] = mk("i", TensorProto.INT64, [3], [1, -1, 2**62])
    ts["typed_int32"] = mk("i", TensorProto.INT32, [2], [7, -7])
    ts["typed_int8_in_int32_data"] = mk("i", TensorProto.INT8, [3], [-128, 0, 127])
    ts["typed_bool_in_int32_data"] = mk("b", TensorProto.BOOL, [2], [1, 0])
    ts["typed_uint64"] = mk("u", TensorProto.UINT64, [2], [0, 2**63])
    ts["typed_float16_bits"] = mk("h", TensorProto.FLOAT16, [2],
                                  np.array([1.5, -2.0], np.float16).view(np.uint16).tolist())
    ts["typed_bfloat16_bits"] = mk("h", TensorProto.BFLOAT16, [2], [0x3FC0, 0xC000])
    ext = numpy_helper.from_array(np.ones(4, np.float32), "e")
    ext.ClearField("raw_data")
    ext.data_location = TensorProto.EXTERNAL
    e = ext.external_data.add()
    e.key, e.value = "location", "data.bin"
    ts["external"] = ext
    seg = numpy_helper.from_array(np.ones(4, np.float32), "seg")
    seg.segment.begin, seg.segment.end = 0, 4
    ts["segment"] = seg
    return ts


def npy_files():
    import io
    fs = {}
    arrays = {
        "f4_2x3": rng.standard_normal((2, 3)).astype("<f4"),
        "f8_vec": rng.standard_normal(5),
        "i8_3d": np.arange(24, dtype="<i8").reshape(2, 3, 4),
        "u1_img": np.arange(12, dtype=np.uint8).reshape(2, 2, 3),
        "b1": np.array([True, False, True]),
        "f2": np.array([0.5, -1.0], dtype="<f2"),
        "i4_scalar": np.array(7, dtype="<i4"),
        "zero_size": np.zeros((0, 3), np.float32),
        "u8": np.array([1, 2**63], dtype="<u8"),
        "i2": np.array([-3, 3], dtype="<i2"),
        "u2": np.array([1, 65535], dtype="<u2"),
        "u4": np.array([1, 2**32 - 1], dtype="<u4"),
        "i1": np.array([-128, 127], dtype="i1"),
        "big_endian_refused": np.arange(3, dtype=">f4"),
        "fortran_refused": np.asfortranarray(np.ones((2, 3), np.float32)),
    }
    for k, a in arrays.items():
        b = io.BytesIO()
        np.save(b, a)
        fs[k] = b.getvalue()
    b = io.BytesIO()
    np.lib.format.write_array(b, np.ones((2,), np.float32), version=(2, 0))
    fs["version2"] = b.getvalue()
    fs["truncated_data"] = fs["f4_2x3"][:-5]
    return fs


def paddle09_pb():
    """Paddle 0.9 binary Requests for fuzz_paddle09_pb: byte 0 picks the
    model (0 dense float x[2], 1 LoD words, 2 every type, 3 none)."""
    import subprocess
    import tempfile
    gen = tempfile.mkdtemp()
    pbdir = os.path.join(HERE, "..", "..", "src", "proto", "pb")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", pbdir, "--python_out", gen,
                    os.path.join(pbdir, "general_model_service.proto")], check=True)
    sys.path.insert(0, gen)
    import general_model_service_pb2 as pb
    seeds = {}
    r = pb.Request(fetch_var_names=["price"], log_id=3)
    r.tensor.add(name="x", alias_name="x", elem_type=1, shape=[2, 2]).float_data.extend([1, 2, 3, 4])
    seeds["dense"] = b"\x00" + r.SerializeToString()
    r = pb.Request()
    r.tensor.add(alias_name="words", elem_type=0, shape=[5, 1], lod=[0, 2, 5]).int64_data.extend(range(5))
    seeds["lod"] = b"\x01" + r.SerializeToString()
    r = pb.Request()
    r.tensor.add(name="l", elem_type=0, shape=[1, 2]).int64_data.extend([-1, 2])
    r.tensor.add(name="i", elem_type=2, shape=[1]).int_data.extend([7])
    r.tensor.add(name="d", elem_type=3, shape=[1]).float64_data.extend([0.5])
    r.tensor.add(name="s16", elem_type=4, shape=[1]).int_data.extend([-3])
    r.tensor.add(name="h", elem_type=5, shape=[2], tensor_content=b"\x00\x3c\x00\xc0")
    r.tensor.add(name="u", elem_type=7, shape=[3], tensor_content=b"abc")
    r.tensor.add(name="b", elem_type=9, shape=[2]).bool_data.extend([True, False])
    r.tensor.add(name="s", elem_type=20, shape=[1, 1]).data.extend(["hello"])
    seeds["types"] = b"\x02" + r.SerializeToString()
    r = pb.Request()
    r.tensor.add(name="any", elem_type=1, shape=[3]).float_data.extend([1, float("nan"), float("inf")])
    seeds["no_model"] = b"\x03" + r.SerializeToString()
    seeds["garbage"] = b"\x00\x0a\xff\xff\xff\x0f"
    return seeds


def nested_graph_bomb(levels):
    """A model whose graph holds a node whose graph attribute holds a node...
    `levels` deep, written byte by byte (56 KB for 4000): protobuf decoding
    recursed once per message and overflowed the stack on it."""
    def varint(v):
        out = b""
        while True:
            b, v = v & 0x7F, v >> 7
            if not v:
                return out + bytes([b])
            out += bytes([b | 0x80])

    def field(num, payload):
        return varint(num << 3 | 2) + varint(len(payload)) + payload

    g = b""
    for _ in range(levels):
        attr = field(6, g) + varint(20 << 3) + varint(5)  # g, type GRAPH
        g = field(1, field(5, attr))  # GraphProto.node -> NodeProto.attribute
    return field(7, g)  # ModelProto.graph


def write(target, items, ext, to_bytes):
    d = out_dir(target)
    sizes = []
    for k, v in sorted(items.items()):
        data = to_bytes(v)
        with open(os.path.join(d, k + ext), "wb") as f:
            f.write(data)
        sizes.append(len(data))
    print(f"{target}: {len(sizes)} seeds, {sum(sizes)} bytes, largest {max(sizes)}",
          file=sys.stderr)


def main():
    ms = onnx_models()
    for k, m in ms.items():
        if k not in ("external_data", "custom_domain", "if_subgraph", "if_nested_too_deep",
                     "if_mismatched_outputs", "loop_reads_own_output"):
            onnx.checker.check_model(m)
    write("fuzz_onnx", ms, ".onnx", lambda m: m.SerializeToString())
    write("fuzz_onnx", {"regress_nested_graph_bomb": nested_graph_bomb(4000)}, ".onnx",
          lambda b: b)
    write("fuzz_tensorproto", tensor_protos(), ".pb", lambda t: t.SerializeToString())
    write("fuzz_npy", npy_files(), ".npy", lambda b: b)
    write("fuzz_paddle09_pb", paddle09_pb(), ".bin", lambda b: b)


if __name__ == "__main__":
    main()
