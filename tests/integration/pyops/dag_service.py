"""A WebService with four Python ops for tests/integration/pipeline_tests.py:
parse -> (model, total) -> join. Special values: "boom" makes parse raise,
"reject" makes it report its own error code 57."""
import numpy as np
from paddle_serving_server.web_service import Op, WebService


class Parse(Op):
    def preprocess(self, input_dicts, data_id, log_id):
        (_, d), = input_dicts.items()
        if d["x"] == "boom":
            raise ValueError("boom asked for")
        if d["x"] == "reject":
            return None, False, 57, "rejected by parse"
        x = np.array([float(v) for v in d["x"].split(",")], dtype=np.float64).reshape(1, 13)
        return {"x": x, "tag": d.get("tag", "none")}, False, None, ""


class Model(Op):
    def preprocess(self, input_dicts, data_id, log_id):
        d = input_dicts["parse"]
        return {"x": d["x"]}, False, None, ""

    def postprocess(self, input_dicts, fetch_dict, log_id):
        # the fetch is a numpy array over skiff's tensor
        return {"price": fetch_dict["price"]}, None, ""


class Total(Op):
    def preprocess(self, input_dicts, data_id, log_id):
        d = input_dicts["parse"]
        return {"total": float(d["x"].sum()), "tag": d["tag"]}, True, None, ""


class Join(Op):
    def preprocess(self, input_dicts, data_id, log_id):
        return {}, True, None, ""

    def postprocess(self, input_dicts, fetch_dict, data_id, log_id):
        m, t = input_dicts["model"], input_dicts["total"]
        return {"price": "%.4f" % float(m["price"][0][0]), "total": "%.4f" % t["total"],
                "tag": t["tag"], "inputs": ",".join(sorted(input_dicts))}, None, ""


class DagService(WebService):
    def get_pipeline_response(self, read_op):
        parse = Parse(name="parse", input_ops=[read_op])
        model = Model(name="model", input_ops=[parse])
        total = Total(name="total", input_ops=[parse])
        return Join(name="join", input_ops=[model, total])


service = DagService(name="dag")
service.prepare_pipeline_config("config.yml")
service.run_service()
