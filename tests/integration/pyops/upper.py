"""A Python op named by config.yml's `class: upper.Upper`."""
from paddle_serving_server.pipeline import Op


class Upper(Op):
    def init_op(self):
        self.calls = 0

    def preprocess(self, input_dicts, data_id, log_id):
        (_, d), = input_dicts.items()
        self.calls += 1
        return {"text": d["text"].upper(), "calls": str(self.calls)}, True, None, ""
