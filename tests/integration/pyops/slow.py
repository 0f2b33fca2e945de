"""A Python op that sleeps for the request's "seconds": op timeouts."""
import time

from paddle_serving_server.pipeline import Op


class Sleep(Op):
    def preprocess(self, input_dicts, data_id, log_id):
        (_, d), = input_dicts.items()
        time.sleep(float(d["seconds"]))
        return {"slept": d["seconds"]}, True, None, ""
