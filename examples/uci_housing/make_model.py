#!/usr/bin/python3
"""Builds the uci_housing serving model: Paddle's fit_a_line, solved exactly.

Paddle Serving's hello-world trains a one-layer linear regression (fc, 13 -> 1)
on the Boston housing data. A linear model has a closed-form optimum, so this
script skips SGD and solves least squares on the same normalised training split,
then writes:

  uci_housing_model/model.onnx                    Gemm: x [-1,13] float32 -> fc_0.tmp_1 [-1,1]
  uci_housing_model/serving_server_conf.prototxt  feed x, fetch fc_0.tmp_1 as "price"
  uci_housing_client/serving_client_conf.prototxt same content, for clients

Normalisation is paddle.dataset.uci_housing's: over all 506 rows, each feature
becomes (v - mean) / (max - min); the first 80% of rows train, the rest test.

Needs numpy and onnx (Debian: python3-numpy python3-onnx). Run from anywhere:
  /usr/bin/python3 examples/uci_housing/make_model.py
"""
import csv
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
CSV = os.path.join(HERE, "boston_house_prices.csv")

CONF = """feed_var {
  name: "x"
  alias_name: "x"
  is_lod_tensor: false
  feed_type: 1
  shape: 13
}
fetch_var {
  name: "fc_0.tmp_1"
  alias_name: "price"
  is_lod_tensor: false
  fetch_type: 1
  shape: 1
}
"""


def load():
    with open(CSV, newline="") as f:
        rows = list(csv.reader(f))
    # sklearn's file: a "506,13" count line, then the column names, then data.
    data = np.array([[float(v) for v in r] for r in rows[2:]], dtype=np.float64)
    assert data.shape == (506, 14), data.shape
    maxs, mins, avgs = data.max(axis=0), data.min(axis=0), data.sum(axis=0) / data.shape[0]
    for i in range(13):
        data[:, i] = (data[:, i] - avgs[i]) / (maxs[i] - mins[i])
    offset = int(data.shape[0] * 0.8)
    return data[:offset], data[offset:]


def main():
    train, test = load()
    a = np.hstack([train[:, :13], np.ones((train.shape[0], 1))])
    sol, *_ = np.linalg.lstsq(a, train[:, 13], rcond=None)
    w = sol[:13].astype(np.float32).reshape(13, 1)
    b = np.array([sol[13]], dtype=np.float32)

    pred = test[:, :13].astype(np.float32) @ w + b
    mse = float(np.mean((pred[:, 0] - test[:, 13]) ** 2))

    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "fc_0.w_0", "fc_0.b_0"], ["fc_0.tmp_1"], name="fc_0")],
        "uci_housing",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 13])],
        [helper.make_tensor_value_info("fc_0.tmp_1", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(w, "fc_0.w_0"), numpy_helper.from_array(b, "fc_0.b_0")],
    )
    model = helper.make_model(graph, producer_name="skiff-examples",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model)

    server = os.path.join(HERE, "uci_housing_model")
    client = os.path.join(HERE, "uci_housing_client")
    os.makedirs(server, exist_ok=True)
    os.makedirs(client, exist_ok=True)
    onnx.save(model, os.path.join(server, "model.onnx"))
    with open(os.path.join(server, "serving_server_conf.prototxt"), "w") as f:
        f.write(CONF)
    with open(os.path.join(client, "serving_client_conf.prototxt"), "w") as f:
        f.write(CONF)

    demo = np.array([[0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584,
                      0.6283, 0.4919, 0.1856, 0.0795, -0.0332]], dtype=np.float32)
    print("train rows %d, test rows %d, test MSE %.3f" % (train.shape[0], test.shape[0], mse))
    print("demo request predicts price %.4f (thousands of dollars)" % float((demo @ w + b)[0, 0]))
    print("wrote %s and %s" % (server, client))
    return 0


if __name__ == "__main__":
    sys.exit(main())
