"""The uci_housing pipeline with a Python op, in Paddle Serving's WebService API.

    cd examples/pipeline_uci
    PYTHONPATH=../../python python3 web_service.py     # serves on web_service.yml's http_port
    curl -X POST http://localhost:18082/uci/prediction \
      -d '{"key": ["x"], "value": ["0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, 0.4919, 0.1856, 0.0795, -0.0332"]}'

answers {"err_no":0,"err_msg":"","key":["price"],"value":["22.989538"],"tensors":[]}.
"""
import logging

import numpy as np
from paddle_serving_server.web_service import Op, WebService

_LOGGER = logging.getLogger("pipeline_uci")


class UciOp(Op):
    def init_op(self):
        self.separator = ","

    def preprocess(self, input_dicts, data_id, log_id):
        (_, input_dict), = input_dicts.items()
        x = input_dict["x"]
        if isinstance(x, str):
            x = np.array([float(v) for v in x.split(self.separator)], dtype=np.float32)
        input_dict["x"] = np.asarray(x, dtype=np.float32).reshape(1, 13)
        _LOGGER.info("log_id %s: x of shape %s", log_id, input_dict["x"].shape)
        return input_dict, False, None, ""

    def postprocess(self, input_dicts, fetch_dict, data_id, log_id):
        return {"price": str(fetch_dict["price"][0][0])}, None, ""


class UciService(WebService):
    def get_pipeline_response(self, read_op):
        return UciOp(name="uci", input_ops=[read_op])


if __name__ == "__main__":
    service = UciService(name="uci")
    service.prepare_pipeline_config("web_service.yml")
    service.run_service()
