"""A Python op that misbehaves on request, for the pipeline catalogue
(tests/robustness/cases/80_pipeline.cases, server `pipe_py`). The request's
`mode` value picks what preprocess or postprocess does; `text` is the data.
Mode "ok" (or none) answers text upper-cased: the good request."""
import numpy as np
from paddle_serving_server.pipeline import Op


class BadStr:
    def __str__(self):
        raise RuntimeError("__str__ refuses")


class BadArray:
    def __array__(self, dtype=None):
        raise RuntimeError("__array__ refuses")


def recurse(n):
    return recurse(n + 1) + 1


# mode -> the value postprocess answers under "out" (a callable is called)
OUTPUTS = {
    "object": lambda: object(),
    "bad_str": lambda: BadStr(),
    "bad_array": lambda: BadArray(),
    "complex": lambda: np.array([1 + 2j, 3 - 1j]),
    "datetime": lambda: np.array(["2024-01-01"], dtype="datetime64[D]"),
    "ragged": lambda: [[1, 2], [3]],
    "deep": lambda: np.zeros([1] * 40),
    "surrogate": lambda: "bad \udcff text",
    "nested_dict": lambda: {"a": {"b": 1}},
    "none": lambda: None,
    "bytes_nul": lambda: b"a\x00b",
    "big_string": lambda: "x" * (8 << 20),
    "structured": lambda: np.zeros(2, dtype=[("a", "i4"), ("b", "f4")]),
}


class Misbehave(Op):
    def init_op(self):
        self.calls = 0

    def preprocess(self, input_dicts, data_id, log_id):
        (_, d), = input_dicts.items()
        mode = d.get("mode", "ok")
        self.calls += 1
        if mode == "raise":
            raise ValueError("misbehave raises as asked")
        if mode == "key_error":
            return {"v": d["no_such_key"]}, True, None, ""
        if mode == "system_exit":
            raise SystemExit(3)
        if mode == "keyboard_interrupt":
            raise KeyboardInterrupt()
        if mode == "recursion":
            recurse(0)
        if mode == "non_dict":
            return ["not", "a", "dict"], True, None, ""
        if mode == "non_tuple_str":
            return "just a string"
        if mode == "errcode":
            return None, False, 57, "misbehave refuses with its own code"
        if mode == "errcode_text":
            return None, False, "five", "a code that is not a number"
        if mode == "errcode_huge":
            return None, False, 1 << 40, "a code past int32"
        if mode == "errcode_none_info":
            return None, False, 58, None
        if mode == "errcode_nul_info":
            return None, False, 59, "nul \x00 inside"
        return {"text": d.get("text", ""), "mode": mode}, True, None, ""

    def postprocess(self, input_dicts, fetch_dict, data_id, log_id):
        mode = fetch_dict["mode"]
        if mode == "post_raise":
            raise TypeError("postprocess raises as asked")
        if mode == "post_non_dict":
            return 42, None, ""
        if mode == "post_errcode":
            return {}, 61, "postprocess refuses"
        if mode == "bad_key":
            return {7: "seven"}, None, ""
        if mode in OUTPUTS:
            return {"out": OUTPUTS[mode]()}, None, ""
        return {"text": fetch_dict["text"].upper()}, None, ""
