#!/usr/bin/python3
"""Writes bench/http/models/image: a 3x224x224 float32 input reduced to its 3
channel means (GlobalAveragePool + Flatten), so the HTTP benchmark measures
moving a large tensor through the server rather than compute.
Needs numpy and onnx (Debian: python3-numpy python3-onnx)."""
import os

import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
g = helper.make_graph(
    [helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
     helper.make_node("Flatten", ["pooled"], ["means"], axis=1)],
    "image_means",
    [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, 224, 224])],
    [helper.make_tensor_value_info("means", TensorProto.FLOAT, ["n", 3])])
m = helper.make_model(g, producer_name="skiff-bench", opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 7
onnx.checker.check_model(m)
d = os.path.join(HERE, "models", "image")
os.makedirs(d, exist_ok=True)
onnx.save(m, os.path.join(d, "model.onnx"))
with open(os.path.join(d, "serving_server_conf.prototxt"), "w") as f:
    f.write('feed_var {\n  name: "image"\n  alias_name: "image"\n  is_lod_tensor: false\n'
            '  feed_type: 1\n  shape: 3\n  shape: 224\n  shape: 224\n}\n'
            'fetch_var {\n  name: "means"\n  alias_name: "means"\n  is_lod_tensor: false\n'
            '  fetch_type: 1\n  shape: 3\n}\n')
print("wrote", d)
