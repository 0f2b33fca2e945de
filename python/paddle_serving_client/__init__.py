"""Paddle Serving's Python client API, for skiff (and Paddle Serving) servers.

    from paddle_serving_client import Client
    client = Client()
    client.load_client_config("imdb_lstm_client_conf/serving_client_conf.prototxt")
    client.connect(["127.0.0.1:9292"])
    fetch_map = client.predict(feed={"words": [12, 7, 301]}, fetch=["prediction"], batch=False)
    fetch_map["prediction"]          # numpy array [1, 2]

Client speaks brpc's baidu_std protocol (Paddle Serving's RPC); HttpClient
sends the same Request as JSON (or protobuf) to /GeneralModelService/inference.
Both take the same predict() arguments and return the same fetch map. Only
numpy is needed.
"""
import base64
import gzip
import http.client
import json
import socket
import zlib

import numpy as np

from . import wire
from .conf import TYPE_NAMES, load_conf

__all__ = ["Client", "HttpClient", "ServingError", "SERVICE_NAME", "METHOD_NAME"]

SERVICE_NAME = "baidu.paddle_serving.predictor.general_model.GeneralModelService"
METHOD_NAME = "inference"

# Tensor field holding the values of each type code (others: tensor_content)
_VALUE_FIELD = {0: "int64_data", 1: "float_data", 2: "int_data", 3: "float64_data",
                4: "int_data", 9: "bool_data", 20: "data"}
_NP_DTYPE = {0: np.int64, 1: np.float32, 2: np.int32, 3: np.float64, 4: np.int16,
             5: np.float16, 6: np.uint16, 7: np.uint8, 8: np.int8, 9: np.bool_,
             10: np.complex64, 11: np.complex128}


class ServingError(RuntimeError):
    """The server answered with an error (its code and text are in the message)."""

    def __init__(self, code, text):
        super().__init__("%s (error %d)" % (text, code))
        self.code = code
        self.text = text


class _Base:
    """Conf, feed and fetch handling shared by Client and HttpClient."""

    def __init__(self):
        self.feed_vars = []
        self.fetch_vars = []
        self.feed_names_ = []
        self.fetch_names_ = []
        self._feed_by_alias = {}
        self._fetch_by_alias = {}
        self._endpoints = []
        self._next = 0
        self.timeout_ms = 20000

    # ---- conf -------------------------------------------------------------------------------

    def load_client_config(self, path):
        """Reads serving_client_conf.prototxt (a file, or a directory holding it).
        With a list of paths (a chain of models), the feed vars are the first
        model's and the fetch vars the last one's."""
        paths = path if isinstance(path, (list, tuple)) else [path]
        first, last = load_conf(paths[0]), load_conf(paths[-1])
        self.feed_vars, self.fetch_vars = first.feed_vars, last.fetch_vars
        self.feed_names_ = [v.alias_name for v in self.feed_vars]
        self.fetch_names_ = [v.alias_name for v in self.fetch_vars]
        self._feed_by_alias = {v.alias_name: v for v in self.feed_vars}
        self._fetch_by_alias = {v.alias_name: v for v in self.fetch_vars}

    def get_feed_names(self):
        return list(self.feed_names_)

    def get_fetch_names(self):
        return list(self.fetch_names_)

    def set_rpc_timeout_ms(self, ms):
        """Time allowed for connecting and for each answer (default 20000)."""
        if not isinstance(ms, int) or ms <= 0:
            raise ValueError("rpc timeout must be a positive number of milliseconds")
        self.timeout_ms = ms

    # ---- endpoints --------------------------------------------------------------------------

    def _set_endpoints(self, endpoints):
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        if not endpoints:
            raise ValueError("connect: no endpoint given (expected [\"host:port\", ...])")
        parsed = []
        for ep in endpoints:
            host, sep, port = str(ep).rpartition(":")
            if not sep or not port.isdigit():
                raise ValueError("endpoint %r: expected host:port" % (ep,))
            parsed.append((host.strip("[]") or "127.0.0.1", int(port)))
        self._endpoints = parsed
        self._next = 0

    def _rotation(self):
        """Endpoint indexes to try for one call: the next in turn, then the others."""
        if not self._endpoints:
            raise RuntimeError("not connected: call connect() first")
        n = len(self._endpoints)
        start = self._next % n
        self._next = (start + 1) % n
        return [(start + k) % n for k in range(n)]

    # ---- feed -------------------------------------------------------------------------------

    def _fetch_names(self, fetch):
        if self.fetch_vars == [] and self.feed_vars == []:
            raise RuntimeError("no client conf loaded: call load_client_config() first")
        if fetch is None:
            return list(self.fetch_names_)
        wanted = [fetch] if isinstance(fetch, str) else list(fetch)
        names = [f for f in wanted if f in self._fetch_by_alias]
        if not names:
            raise ValueError("Fetch names should not be empty or out of saved fetch list: "
                             "asked %s, the conf has %s" % (wanted, self.fetch_names_))
        return names

    def _one_var(self, var, value, lod, batch):
        """(rows array or list of str, lod offsets list) of one feed var's value."""
        if var.type == 20:
            vals = [value] if isinstance(value, (str, bytes)) else list(np.ravel(value))
            if var.is_lod_tensor:
                return vals, [len(vals), 1], list(np.ravel(lod)) if lod is not None \
                    else [0, len(vals)]
            shape = list(np.shape(value)) if not isinstance(value, (str, bytes)) else []
            return vals, ([1] + shape if not batch else shape), []
        arr = np.asarray(value, dtype=_NP_DTYPE[var.type])
        if lod is not None:
            lod = [int(x) for x in np.ravel(lod)]
            if arr.ndim == 1:
                arr = arr.reshape(-1, 1)
            return arr, list(arr.shape), lod
        if var.is_lod_tensor:
            # no offsets given: one sequence (batch=False, or a 1-d batch), or one
            # sequence per row of a batch
            if not batch or arr.ndim <= 1:
                seq = arr.reshape(-1, 1) if arr.ndim <= 1 else arr
                return seq, list(seq.shape), [0, seq.shape[0]]
            n_seq, length = arr.shape[0], arr.shape[1]
            rows = arr.reshape((n_seq * length,) + (arr.shape[2:] or (1,)))
            return rows, list(rows.shape), [length * i for i in range(n_seq + 1)]
        if not batch:
            arr = arr[np.newaxis]
        return arr, list(arr.shape), []

    def _feed_dict(self, feed, batch):
        """One {alias: (var, rows, shape, lod)} from predict()'s feed argument."""
        if feed is None:
            raise ValueError("predict: feed is required")
        if isinstance(feed, dict):
            parts = [feed]
        elif isinstance(feed, (list, tuple)) and feed and all(isinstance(f, dict) for f in feed):
            parts = list(feed)
        else:
            # a bare value (list or array) for a model with one feed var
            if len(self.feed_vars) != 1:
                raise ValueError("predict: a feed that is not a dict needs a conf with one "
                                 "feed var (this one has %d)" % len(self.feed_vars))
            parts = [{self.feed_vars[0].alias_name: feed}]
        merged = {}
        for part in parts:
            for key in part:
                base = key[:-4] if key.endswith(".lod") else key
                if base not in self._feed_by_alias:
                    raise ValueError("Wrong feed name: %s (the conf has %s)"
                                     % (key, self.feed_names_))
            for alias in self.feed_names_:
                if alias not in part:
                    raise ValueError("predict: feed %r is missing" % alias)
                var = self._feed_by_alias[alias]
                rows, shape, lod = self._one_var(var, part[alias], part.get(alias + ".lod"),
                                                 batch)
                merged.setdefault(alias, []).append((rows, shape, lod))
        out = {}
        for alias, pieces in merged.items():
            var = self._feed_by_alias[alias]
            if len(pieces) == 1:
                out[alias] = (var,) + pieces[0]
                continue
            lod = []
            if any(p[2] for p in pieces):
                lod, base = [0], 0
                for rows, shape, plod in pieces:
                    plod = plod or [0, shape[0]]
                    lod += [base + x for x in plod[1:]]
                    base += shape[0]
            if var.type == 20:
                rows = [v for p in pieces for v in p[0]]
                shape = [len(rows)] + pieces[0][1][1:]
            else:
                rows = np.concatenate([p[0] for p in pieces], axis=0)
                shape = list(rows.shape)
            out[alias] = (var, rows, shape, lod)
        return out

    def _request_tensors(self, feed, batch):
        tensors = []
        for alias, (var, rows, shape, lod) in self._feed_dict(feed, batch).items():
            t = {"name": var.name, "alias_name": alias, "elem_type": var.type,
                 "shape": [int(s) for s in shape], "lod": lod}
            if var.type == 20:
                t["data"] = [v if isinstance(v, (str, bytes)) else str(v) for v in rows]
            elif var.type in _VALUE_FIELD:
                field = _VALUE_FIELD[var.type]
                t[field] = np.ravel(rows).tolist()
            else:
                t["tensor_content"] = np.ascontiguousarray(rows).astype(
                    np.dtype(_NP_DTYPE[var.type]).newbyteorder("<")).tobytes()
            tensors.append(t)
        return tensors

    # ---- fetch ------------------------------------------------------------------------------

    def _tensor_value(self, t):
        code = t.get("elem_type", 0)
        shape = [int(s) for s in t.get("shape", [])]
        if code == 20:
            vals = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                    for v in t.get("data", [])]
            arr = np.array(vals, dtype=object)
        elif t.get("tensor_content"):
            arr = np.frombuffer(t["tensor_content"],
                                dtype=np.dtype(_NP_DTYPE[code]).newbyteorder("<"))
            arr = arr.astype(_NP_DTYPE[code])
        else:
            field = _VALUE_FIELD.get(code)
            if field is None:
                raise ServingError(-1, "answer tensor %r: type %s without tensor_content"
                                   % (t.get("alias_name"), TYPE_NAMES.get(code, code)))
            arr = np.array(t.get(field, []), dtype=_NP_DTYPE[code])
        if shape and int(np.prod(shape)) == arr.size:
            arr = arr.reshape(shape)
        return arr

    def _fetch_map(self, outputs, fetch_names):
        """{alias: array, alias.lod: offsets} per model output; one output gives
        the map itself, several a map per engine name."""
        maps = {}
        for i, out in enumerate(outputs):
            m = {}
            for t in out.get("tensor", []):
                alias = t.get("alias_name") or t.get("name")
                if alias not in self._fetch_by_alias:
                    for v in self.fetch_vars:
                        if v.name == alias:
                            alias = v.alias_name
                if fetch_names and alias not in fetch_names:
                    continue
                m[alias] = self._tensor_value(t)
                if t.get("lod"):
                    m[alias + ".lod"] = np.array(t["lod"], dtype=np.int32)
            maps[out.get("engine_name") or "model_%d" % i] = m
        if len(maps) == 1:
            return next(iter(maps.values()))
        return maps


# ---- brpc baidu_std --------------------------------------------------------------------------


class Client(_Base):
    """Paddle Serving's RPC client: baidu_std over TCP, one kept connection per
    endpoint, the endpoints taken in turn; a call that cannot connect (or times
    out) goes to the next one; one whose connection closes or breaks before the
    answer is sent once more on a fresh connection first."""

    def __init__(self):
        super().__init__()
        self._socks = {}
        self._correlation = 0

    def connect(self, endpoints=None, encryption=False):
        """endpoints: ["host:port", ...]."""
        if encryption:
            raise NotImplementedError("encrypted models are not supported")
        self.release()
        self._set_endpoints(endpoints)

    def release(self):
        """Closes the connections."""
        for s in self._socks.values():
            s.close()
        self._socks = {}

    def __del__(self):
        try:
            self.release()
        except Exception:
            pass

    def predict(self, feed=None, fetch=None, batch=False, need_variant_tag=False, log_id=0):
        """Runs one request; returns {fetch alias: numpy array} (LoD outputs
        also give "<alias>.lod")."""
        fetch_names = self._fetch_names(fetch)
        payload = wire.encode_request(self._request_tensors(feed, batch), fetch_names,
                                      log_id=log_id)
        resp = wire.decode_response(self._call(payload, log_id))
        if resp["err_no"]:
            raise ServingError(resp["err_no"], resp["err_msg"])
        result = self._fetch_map(resp["outputs"], fetch_names)
        return (result, "default_tag") if need_variant_tag else result

    def _call(self, payload, log_id):
        errors = []
        for idx in self._rotation():
            host, port = self._endpoints[idx]
            for attempt in (0, 1):
                connected = False
                try:
                    sock = self._sock(idx)
                    connected = True
                    return self._exchange(sock, payload, log_id)
                except ServingError:
                    raise
                except (OSError, EOFError, wire.DecodeError) as e:
                    self._drop(idx)
                    # The connection closed or broke before the answer: a kept one
                    # the server has since closed, a server draining after SIGTERM
                    # (it closes instead of running the call), or, behind a load
                    # balancer, a replica gone mid-call. Inference has no side
                    # effects: one more try on a fresh connection (through a
                    # balancer, to another replica), as brpc's own client does.
                    if connected and attempt == 0 and isinstance(e, _BROKEN):
                        continue
                    errors.append("%s:%d: %s" % (host, port, e))
                    break
        raise ConnectionError("no endpoint answered: " + "; ".join(errors))

    def _sock(self, idx):
        s = self._socks.get(idx)
        if s is None:
            s = socket.create_connection(self._endpoints[idx], timeout=self.timeout_ms / 1000)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._socks[idx] = s
        return s

    def _drop(self, idx):
        s = self._socks.pop(idx, None)
        if s is not None:
            s.close()

    def _exchange(self, sock, payload, log_id):
        self._correlation += 1
        cid = self._correlation
        meta = wire.encode_rpc_meta(cid, SERVICE_NAME, METHOD_NAME, log_id=log_id)
        sock.sendall(wire.frame(meta, payload))
        body_size, meta_size = wire.parse_frame_header(_recv_exact(sock, wire.HEADER_SIZE))
        body = _recv_exact(sock, body_size)
        meta = wire.decode_rpc_meta(body[:meta_size])
        if meta["correlation_id"] != cid:
            raise wire.DecodeError("answer for call %d, expected %d" % (meta["correlation_id"], cid))
        resp = meta["response"] or {}
        if resp.get("error_code"):
            raise ServingError(resp["error_code"], resp.get("error_text", ""))
        att = meta["attachment_size"]
        data = body[meta_size:len(body) - att if att else len(body)]
        if meta["compress_type"] == 2:
            data = gzip.decompress(data)
        elif meta["compress_type"] == 3:
            data = zlib.decompress(data)
        elif meta["compress_type"]:
            raise wire.DecodeError("compress_type %d not supported" % meta["compress_type"])
        return data


# A connection that closed or broke under a call (not a timeout, not a refusal).
_BROKEN = (EOFError, ConnectionResetError, ConnectionAbortedError, BrokenPipeError)


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed by the server%s" %
                           (" before answering" if not buf else " mid-answer"))
        buf += chunk
    return bytes(buf)


# ---- HTTP ----------------------------------------------------------------------------------


class HttpClient(_Base):
    """Paddle Serving 0.9's HTTP client: the Request as JSON (or protobuf with
    set_http_proto(True)) POSTed to /GeneralModelService/inference."""

    def __init__(self, ip="127.0.0.1", port="9393",
                 service_name="/GeneralModelService/inference"):
        super().__init__()
        self.service_name = service_name
        self.http_proto = False
        self.request_compress = False
        self.response_compress = False
        self._conns = {}
        self._set_endpoints(["%s:%s" % (ip, port)])

    def set_ip(self, ip):
        self._set_endpoints(["%s:%d" % (ip, self._endpoints[0][1])])

    def set_port(self, port):
        self._set_endpoints(["%s:%s" % (self._endpoints[0][0], port)])

    def set_service_name(self, service_name):
        self.service_name = service_name

    def set_http_proto(self, flag):
        """True: send and receive protobuf (Content-Type application/proto)."""
        self.http_proto = bool(flag)

    def set_request_compress(self, flag):
        """True: gzip request bodies."""
        self.request_compress = bool(flag)

    def set_response_compress(self, flag):
        """True: accept gzip answers."""
        self.response_compress = bool(flag)

    def set_use_grpc_client(self, flag):
        if flag:
            raise NotImplementedError("the gRPC transport is not supported; use HTTP or Client")

    def connect(self, url=None, encryption=False):
        """url: "host:port", "http://host:port", or a list of them (taken in turn)."""
        if encryption:
            raise NotImplementedError("encrypted models are not supported")
        if url is None:
            return
        urls = [url] if isinstance(url, str) else list(url)
        self._set_endpoints([u.split("://", 1)[-1].rstrip("/") for u in urls])
        self.release()

    def release(self):
        """Closes the connections."""
        for c in self._conns.values():
            c.close()
        self._conns = {}

    def __del__(self):
        try:
            self.release()
        except Exception:
            pass

    def predict(self, feed=None, fetch=None, batch=False, need_variant_tag=False, log_id=0):
        """Same arguments and answer as Client.predict."""
        fetch_names = self._fetch_names(fetch)
        tensors = self._request_tensors(feed, batch)
        headers = {}
        if self.http_proto:
            body = wire.encode_request(tensors, fetch_names, log_id=log_id)
            headers["Content-Type"] = "application/proto"
        else:
            body = json.dumps({"tensor": [_tensor_json(t) for t in tensors],
                               "fetch_var_names": fetch_names, "log_id": log_id}).encode()
            headers["Content-Type"] = "application/json"
        if self.request_compress:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        if self.response_compress:
            headers["Accept-encoding"] = "gzip"
        status, ctype, data = self._post(body, headers)
        if "proto" in ctype:
            resp = wire.decode_response(data)
        else:
            try:
                resp = json.loads(data.decode("utf-8"))
            except ValueError:
                raise ServingError(status, "HTTP %d: %s" % (status, data[:200].decode(
                    "utf-8", "replace")))
            for out in resp.get("outputs", []):
                for t in out.get("tensor", []):
                    if t.get("tensor_content"):
                        t["tensor_content"] = base64.b64decode(t["tensor_content"])
        if resp.get("err_no"):
            raise ServingError(resp["err_no"], resp.get("err_msg", ""))
        if status != 200:
            raise ServingError(status, "HTTP %d: %s" % (status, data[:200].decode(
                "utf-8", "replace")))
        result = self._fetch_map(resp.get("outputs", []), fetch_names)
        return (result, "default_tag") if need_variant_tag else result

    def _post(self, body, headers):
        errors = []
        for idx in self._rotation():
            host, port = self._endpoints[idx]
            for attempt in (0, 1):
                reused = idx in self._conns
                conn = self._conns.get(idx)
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=self.timeout_ms / 1000)
                    self._conns[idx] = conn
                try:
                    conn.request("POST", self.service_name, body, headers)
                    r = conn.getresponse()
                    data = r.read()
                    if r.getheader("Content-Encoding", "") == "gzip":
                        data = gzip.decompress(data)
                    if r.getheader("Connection", "").lower() == "close":
                        conn.close()
                        self._conns.pop(idx, None)
                    return r.status, r.getheader("Content-Type", ""), data
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    self._conns.pop(idx, None)
                    if reused and attempt == 0 and isinstance(
                            e, (http.client.RemoteDisconnected, ConnectionResetError,
                                BrokenPipeError)):
                        continue
                    errors.append("%s:%d: %s" % (host, port, e))
                    break
        raise ConnectionError("no endpoint answered: " + "; ".join(errors))


def _tensor_json(t):
    out = {}
    for k, v in t.items():
        if k == "tensor_content":
            out[k] = base64.b64encode(v).decode("ascii")
        elif k == "data":
            out[k] = [x.decode("utf-8") if isinstance(x, bytes) else x for x in v]
        elif k == "lod" and not v:
            continue
        else:
            out[k] = v
    return out

