"""Paddle Serving's pipeline names, served by skiff (docs/pipeline.md, "Python ops").

A pipeline written for Paddle Serving (a WebService whose get_pipeline_response
returns Op subclasses) runs in `skiff serve`: WebService.run_service() hands the
process to skiff, which runs the same script again inside its own embedded
Python, where run_service() registers the op graph instead of serving. Each
request then calls the ops' preprocess/postprocess on skiff's op threads (one
at a time per process: the GIL), and each op's model runs in skiff's engine.
"""
from .operator import Op, RequestOp, ResponseOp  # noqa: F401

__all__ = ["Op", "RequestOp", "ResponseOp"]
