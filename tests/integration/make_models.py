#!/usr/bin/python3
"""Writes the small models the integration tests serve (committed; rerun only
to change them). Each goes to models/<name>/ with model.onnx and
serving_server_conf.prototxt.

  two   a, b float [-1,3] -> s = a + b, p = a * b          several inputs/outputs
  seq   words int64 [-1,1], LoD -> emb = 2 * float(words)    LoD in and out
  slow  x float [-1,1] -> y [-1,4] = x^(K+1) * 512^(K+1)     K batched 512x512 MatMuls,
                                                           tens of ms per row: queueing,
                                                           deadlines, draining
Needs numpy and onnx (Debian: python3-numpy python3-onnx).
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
SLOW_MATMULS = 6


def save(name, graph, conf):
    model = helper.make_model(graph, producer_name="skiff-tests",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    d = os.path.join(HERE, "models", name)
    os.makedirs(d, exist_ok=True)
    onnx.save(model, os.path.join(d, "model.onnx"))
    with open(os.path.join(d, "serving_server_conf.prototxt"), "w") as f:
        f.write(conf)


def var(kind, name, alias, typ, shape, lod=False):
    dims = "".join("  shape: %d\n" % s for s in shape)
    return ('%s_var {\n  name: "%s"\n  alias_name: "%s"\n  is_lod_tensor: %s\n  %s_type: %d\n%s}\n'
            % (kind, name, alias, "true" if lod else "false", kind, typ, dims))


def two():
    g = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Mul", ["a", "b"], ["prod"])],
        "two",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["n", 3]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["n", 3]),
         helper.make_tensor_value_info("prod", TensorProto.FLOAT, ["n", 3])])
    conf = ("# two inputs, two outputs; the conf lists fields in any order\n"
            + var("feed", "a", "a", 1, [3]) + var("feed", "b", "b", 1, [3])
            + var("fetch", "sum", "s", 1, [3]) + var("fetch", "prod", "p", 1, [3]))
    save("two", g, conf)


def seq():
    two_c = numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two")
    g = helper.make_graph(
        [helper.make_node("Cast", ["words"], ["wf"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["wf", "two"], ["emb"])],
        "seq",
        [helper.make_tensor_value_info("words", TensorProto.INT64, ["tokens", 1])],
        [helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["tokens", 1])],
        [two_c])
    conf = var("feed", "words", "words", 0, [-1], lod=True) + var("fetch", "emb", "emb", 1, [-1], lod=True)
    save("seq", g, conf)


def slow():
    n = 512
    inits = [
        numpy_helper.from_array(np.array([1, n * n], dtype=np.int64), "ones_shape"),
        numpy_helper.from_array(np.array([-1, n, n], dtype=np.int64), "sq_shape"),
        numpy_helper.from_array(np.ones((n, 1), dtype=np.float32), "col"),
        numpy_helper.from_array(np.array([-1, n], dtype=np.int64), "flat_shape"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "s0"),
        numpy_helper.from_array(np.array([4], dtype=np.int64), "s4"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "ax1"),
    ]
    nodes = [
        helper.make_node("ConstantOfShape", ["ones_shape"], ["ones"],
                         value=numpy_helper.from_array(np.array([1.0], dtype=np.float32))),
        helper.make_node("Mul", ["x", "ones"], ["wide"]),
        helper.make_node("Reshape", ["wide", "sq_shape"], ["m0"]),
    ]
    cur = "m0"
    for i in range(SLOW_MATMULS):
        nodes.append(helper.make_node("MatMul", [cur, "m0"], ["m%d" % (i + 1)]))
        cur = "m%d" % (i + 1)
    nodes += [
        helper.make_node("MatMul", [cur, "col"], ["colsum"]),
        helper.make_node("Reshape", ["colsum", "flat_shape"], ["flat"]),
        helper.make_node("Slice", ["flat", "s0", "s4", "ax1"], ["y"]),
    ]
    g = helper.make_graph(nodes, "slow",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])], inits)
    conf = var("feed", "x", "x", 1, [1]) + var("fetch", "y", "y", 1, [4])
    save("slow", g, conf)


if __name__ == "__main__":
    two()
    seq()
    slow()
    print("wrote", os.path.join(HERE, "models"))
