#!/usr/bin/python3
"""Writes the small ONNX models the unit tests use into tests/data/.

Run with Debian's python3 (python3-onnx, python3-numpy):
    /usr/bin/python3 tools/make_test_models.py
The outputs are committed; rerun only when changing them."""
import os
import numpy as np
import onnx
from onnx import helper, TensorProto, numpy_helper

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(7)


def save(model, name):
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, name))


# y = relu(x @ W + b) @ W2 + b2 : Gemm, Relu, Gemm with a dynamic batch.
w1 = rng.standard_normal((4, 8)).astype(np.float32)
b1 = rng.standard_normal(8).astype(np.float32)
w2 = rng.standard_normal((8, 3)).astype(np.float32)
b2 = rng.standard_normal(3).astype(np.float32)
g = helper.make_graph(
    [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1"),
        helper.make_node("Relu", ["h"], ["hr"], name="relu1"),
        helper.make_node("Identity", ["hr"], ["hi"], name="id1"),
        helper.make_node("Gemm", ["hi", "w2", "b2"], ["y"], name="fc2"),
    ],
    "mlp",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
    [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"),
     numpy_helper.from_array(w2, "w2"), numpy_helper.from_array(b2, "b2")],
)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "mlp.onnx")
x = rng.standard_normal((2, 4)).astype(np.float32)
np.save(os.path.join(OUT, "mlp_x.npy"), x)
y = np.maximum(x @ w1 + b1, 0) @ w2 + b2
np.save(os.path.join(OUT, "mlp_y.npy"), y.astype(np.float32))

# Two unsupported ops, to check that the loader lists both at once.
g = helper.make_graph(
    [
        helper.make_node("FooOp", ["x"], ["a"], name="foo1", domain="com.example"),
        helper.make_node("BarOp", ["a"], ["y"], name="bar1", domain="com.example"),
    ],
    "unsupported",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                        helper.make_opsetid("com.example", 1)])
onnx.save(m, os.path.join(OUT, "unsupported.onnx"))

# Constant folding: y = x + (c1 * c2), with a Constant node.
g = helper.make_graph(
    [
        helper.make_node("Constant", [], ["c1"], value=numpy_helper.from_array(
            np.array([1, 2, 3], dtype=np.float32))),
        helper.make_node("Mul", ["c1", "c2"], ["c"], name="mulc"),
        helper.make_node("Add", ["x", "c"], ["y"], name="addx"),
    ],
    "fold",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
    [numpy_helper.from_array(np.array([2, 2, 2], dtype=np.float32), "c2")],
)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "fold.onnx")

# External data: the weight of a MatMul lives in a side file.
wext = rng.standard_normal((4, 2)).astype(np.float32)
t = numpy_helper.from_array(wext, "wext")
g = helper.make_graph(
    [helper.make_node("MatMul", ["x", "wext"], ["y"], name="mm")],
    "external",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    [t],
)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
onnx.external_data_helper.convert_model_to_external_data(
    m, all_tensors_to_one_file=True, location="external.bin", size_threshold=0)
onnx.save(m, os.path.join(OUT, "external.onnx"))
np.save(os.path.join(OUT, "external_w.npy"), wext)
print("wrote", sorted(os.listdir(OUT)))
