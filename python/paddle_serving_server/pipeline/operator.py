"""Op, RequestOp and ResponseOp with Paddle Serving's constructor and hooks.

An Op subclass overrides any of init_op(), preprocess(input_dicts, data_id,
log_id), process(feed_dict, typical_logid) and postprocess(input_dicts,
fetch_dict, data_id, log_id). Paddle's releases changed these signatures
(postprocess without data_id, for one), so skiff calls each hook with the
parameters it declares, by name.

preprocess returns (feed_dict, skip_process, prod_errcode, prod_errinfo), or
just feed_dict; postprocess returns (fetch_dict, prod_errcode, prod_errinfo),
or just fetch_dict. A prod_errcode that is not None or 0 fails the request with
that err_no and prod_errinfo as err_msg.
"""
import inspect
import logging

_LOGGER = logging.getLogger(__name__)


class Op(object):
    def __init__(self, name=None, input_ops=None, server_endpoints=None, fetch_list=None,
                 client_config=None, client_type=None, concurrency=None, timeout=None,
                 retry=None, batch_size=None, auto_batching_timeout=None,
                 local_service_handler=None, **kwargs):
        self.name = name or type(self).__name__
        self._input_ops = []
        for op in input_ops or []:
            self.add_input_op(op)
        self._server_endpoints = server_endpoints
        self._fetch_names = fetch_list
        self._client_config = client_config
        self.concurrency = concurrency
        self.timeout = timeout
        self.retry = retry
        self.batch_size = batch_size
        self.auto_batching_timeout = auto_batching_timeout
        self.local_service_handler = local_service_handler
        self._extra = kwargs
        self._initialized = False

    def add_input_op(self, op):
        self._input_ops.append(op)

    def get_input_ops(self):
        return self._input_ops

    # ---- hooks a subclass overrides -------------------------------------------------------

    def init_op(self):
        pass

    def preprocess(self, input_dicts, data_id=0, log_id=0):
        (_, input_dict), = input_dicts.items()
        return input_dict, False, None, ""

    def postprocess(self, input_dicts, fetch_dict, data_id=0, log_id=0):
        return fetch_dict, None, ""

    # ---- what skiff calls ------------------------------------------------------------------

    @staticmethod
    def _call(fn, **available):
        """fn with the arguments it declares, by name (positional order as declared)."""
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return fn(*available.values())
        args, kwargs = [], {}
        for p in params.values():
            if p.kind == p.VAR_KEYWORD:
                for k, v in available.items():
                    if k not in kwargs and all(k != q for q in params):
                        kwargs[k] = v
                continue
            if p.kind == p.VAR_POSITIONAL:
                continue
            if p.name in available:
                if p.kind == p.KEYWORD_ONLY:
                    kwargs[p.name] = available[p.name]
                else:
                    args.append(available[p.name])
            elif p.name == "typical_logid":
                args.append(available.get("log_id", 0))
            elif p.default is p.empty:
                raise TypeError("%s() asks for '%s', which skiff does not know how to give "
                                "(it gives %s)" % (fn.__name__, p.name, ", ".join(available)))
        return fn(*args, **kwargs)

    def _skiff_init(self):
        if not self._initialized:
            self._initialized = True
            self.init_op()

    def _skiff_run(self, input_dicts, data_id, log_id, run_model):
        """One request: (out_dict, err_no, err_msg)."""
        pre = self._call(self.preprocess, input_dicts=input_dicts, data_id=data_id,
                         log_id=log_id)
        skip, code, info = False, None, ""
        if isinstance(pre, tuple):
            feed = pre[0]
            if len(pre) > 1:
                skip = bool(pre[1])
            if len(pre) > 2:
                code = pre[2]
            if len(pre) > 3:
                info = pre[3]
        else:
            feed = pre
        if code not in (None, 0):
            return None, int(code), str(info or "")
        if feed is None:
            feed = {}
        if not isinstance(feed, dict):
            raise TypeError("preprocess returned %s, expected a dict" % type(feed).__name__)
        if run_model is not None and not skip:
            fetch = self._call(self.process, feed_dict=feed, typical_logid=log_id,
                               log_id=log_id, run_model=run_model)
        else:
            fetch = feed
        post = self._call(self.postprocess, input_dicts=input_dicts, fetch_dict=fetch,
                          data_id=data_id, log_id=log_id)
        code, info = None, ""
        if isinstance(post, tuple):
            out = post[0]
            if len(post) > 1:
                code = post[1]
            if len(post) > 2:
                info = post[2]
        else:
            out = post
        if code not in (None, 0):
            return None, int(code), str(info or "")
        if out is None:
            out = {}
        if not isinstance(out, dict):
            raise TypeError("postprocess returned %s, expected a dict" % type(out).__name__)
        return out, 0, ""

    def process(self, feed_dict, typical_logid=0, run_model=None):
        """The op's model on feed_dict: skiff's engine (the op's local_service_conf)."""
        return run_model(feed_dict)


class RequestOp(Op):
    """The request's key/value pairs and tensors, as the first ops' input."""

    def __init__(self):
        super(RequestOp, self).__init__(name="@DAGExecutor")


class ResponseOp(Op):
    """The last op's output, as the answer's key/value pairs and tensors."""

    def __init__(self, input_ops=None):
        super(ResponseOp, self).__init__(name="@DAGExecutor", input_ops=input_ops)
