#!/usr/bin/python3
"""bench/rpc/grpc_bodies.py - the inputs of bench/rpc/run.sh's gRPC figures.

  grpc_bodies.py body MODEL INPUT SHAPE OUT     a KServe v2 ModelInferRequest as
      one gRPC message (5-byte prefix, then the protobuf), the FP32 input INPUT of
      SHAPE (comma-separated) in raw_input_contents; values i % 1000 / 1000
  grpc_bodies.py identity OUT.onnx             an ONNX model y = Identity(x),
      x float32 [N,3,224,224] (the large-tensor round trip: the engine's work is
      one copy)

The protobuf is written by hand (field numbers from KServe's
grpc_predict_v2.proto): ModelInferRequest 1 model_name, 5 inputs, 7
raw_input_contents; InferInputTensor 1 name, 2 datatype, 3 shape (packed).
"""
import struct
import sys


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def body(model, name, shape, out):
    count = 1
    for d in shape:
        count *= d
    raw = struct.pack("<%df" % count, *[(i % 1000) / 1000.0 for i in range(count)])
    packed = b"".join(varint(d) for d in shape)
    tensor = field(1, 2, name.encode()) + field(2, 2, b"FP32") + field(3, 2, packed)
    msg = field(1, 2, model.encode()) + field(5, 2, tensor) + field(7, 2, raw)
    with open(out, "wb") as f:
        f.write(b"\0" + struct.pack(">I", len(msg)) + msg)
    print("%s: %d bytes (%d float32 = %d bytes raw)" % (out, len(msg) + 5, count, len(raw)))


def identity(out):
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, 224])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 224, 224])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, out)
    print("%s: Identity, float32 [N,3,224,224]" % out)


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "body":
        body(sys.argv[2], sys.argv[3], [int(d) for d in sys.argv[4].split(",")], sys.argv[5])
    elif len(sys.argv) == 3 and sys.argv[1] == "identity":
        identity(sys.argv[2])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
