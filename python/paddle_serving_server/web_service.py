"""WebService: Paddle Serving's pipeline service class, served by skiff.

    class UciService(WebService):
        def get_pipeline_response(self, read_op):
            return UciOp(name="uci", input_ops=[read_op])

    service = UciService(name="uci")
    service.prepare_pipeline_config("config.yml")
    service.run_service()

`python3 web_service.py` replaces itself with `skiff serve --pipeline
config.yml --py_main web_service.py` (docs/pipeline.md); skiff then runs the
script again in its embedded Python, where run_service() registers the ops of
get_pipeline_response with skiff and returns. The skiff program is $SKIFF, or
`skiff` on PATH, or build/skiff of the checkout this package lies in. Extra
`skiff serve` flags may come from $SKIFF_SERVE_ARGS (e.g. "--port 0
--port_file /tmp/p").
"""
import os
import shlex
import sys

from .pipeline import Op, RequestOp, ResponseOp  # noqa: F401
from .serve import find_skiff


class WebService(object):
    def __init__(self, name="default"):
        self.name = name
        self._config = None

    def get_pipeline_response(self, read_op):
        raise NotImplementedError("a WebService subclass returns its last op here")

    def prepare_pipeline_config(self, yml_file=None, yml_dict=None):
        if yml_dict is not None:
            raise NotImplementedError("skiff reads config.yml files: give yml_file")
        self._config = os.path.abspath(yml_file or "config.yml")

    def _graph(self):
        """[(op name, [input op names], op)] from get_pipeline_response."""
        read_op = RequestOp()
        last = self.get_pipeline_response(read_op)
        if isinstance(last, ResponseOp):
            last = last.get_input_ops()[0]
        ops, seen, order = {}, set(), []

        def visit(op):
            if op is read_op or isinstance(op, RequestOp) or id(op) in seen:
                return
            seen.add(id(op))
            for i in op.get_input_ops():
                visit(i)
            if op.name in ops:
                raise ValueError("two ops are named '%s'" % op.name)
            ops[op.name] = op
            order.append(op)

        visit(last)
        return [(op.name, [i.name for i in op.get_input_ops()
                           if not isinstance(i, RequestOp)], op) for op in order]

    def run_service(self):
        if self._config is None:
            self.prepare_pipeline_config("config.yml")
        try:
            import _skiff  # present only inside skiff's embedded Python
        except ImportError:
            _skiff = None
        if _skiff is not None:
            graph = self._graph()
            for _, _, op in graph:
                op._skiff_init()
            _skiff.register(self.name, graph)
            return
        skiff = find_skiff()
        if skiff is None:
            sys.stderr.write("web_service: skiff not found (set SKIFF, put skiff on PATH, or "
                             "build it: cmake -S . -B build && cmake --build build)\n")
            sys.exit(127)
        main = os.path.abspath(sys.argv[0])
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        path = os.environ.get("PYTHONPATH", "")
        if here not in path.split(os.pathsep):
            os.environ["PYTHONPATH"] = here + (os.pathsep + path if path else "")
        argv = [skiff, "serve", "--pipeline", self._config, "--py_main", main]
        argv += shlex.split(os.environ.get("SKIFF_SERVE_ARGS", ""))
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(skiff, argv)
