"""Protocol buffers by hand: the few messages Paddle Serving's RPC uses, and
brpc's baidu_std framing, in pure Python.

Writer and Reader know the wire format (varints, fixed32/64, length-delimited
fields, packed repeated scalars). The message functions below encode and
decode general_model_service.proto's Request/Response/Tensor (Paddle Serving
0.9) and brpc's RpcMeta as plain dicts and lists; unknown fields are skipped
when reading, as protobuf does.

    frame(meta_bytes, payload)              -> bytes of one baidu_std message
    parse_frame_header(first_12_bytes)      -> (body_size, meta_size)
"""
import struct

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5

# ---- writing ---------------------------------------------------------------------------------


def _varint(n):
    """Varint bytes of n; negative numbers as their 64-bit two's complement."""
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class Writer:
    """Appends fields to a message; every method returns the writer."""

    def __init__(self):
        self._buf = bytearray()

    def bytes(self):
        return bytes(self._buf)

    def _key(self, field, wt):
        self._buf += _varint((field << 3) | wt)

    def varint(self, field, value):
        """int32/int64/uint32/uint64/bool/enum."""
        self._key(field, VARINT)
        self._buf += _varint(int(value))
        return self

    def fixed32(self, field, fmt, value):
        self._key(field, FIXED32)
        self._buf += struct.pack("<" + fmt, value)
        return self

    def fixed64(self, field, fmt, value):
        self._key(field, FIXED64)
        self._buf += struct.pack("<" + fmt, value)
        return self

    def blob(self, field, data):
        """bytes, or an encoded sub-message."""
        self._key(field, LEN)
        self._buf += _varint(len(data)) + data
        return self

    message = blob

    def string(self, field, text):
        return self.blob(field, text.encode("utf-8"))

    def packed_varints(self, field, values):
        """A packed repeated int32/int64/uint32/bool (nothing when empty)."""
        if len(values):
            self.blob(field, b"".join(_varint(int(v)) for v in values))
        return self

    def packed_fixed(self, field, fmt, values):
        """A packed repeated float ('f') or double ('d') (nothing when empty)."""
        if len(values):
            self.blob(field, struct.pack("<%d%s" % (len(values), fmt), *values))
        return self


# ---- reading ---------------------------------------------------------------------------------


class DecodeError(ValueError):
    pass


class Reader:
    """Iterates over (field, wire_type, value) of one message. value is an
    int for varints, bytes for length-delimited fields, and the raw 4 or 8
    bytes for fixed32/fixed64."""

    def __init__(self, data):
        self._data = memoryview(bytes(data))
        self._pos = 0

    def _read_varint(self):
        n = shift = 0
        while True:
            if self._pos >= len(self._data):
                raise DecodeError("truncated varint")
            b = self._data[self._pos]
            self._pos += 1
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7
            if shift >= 70:
                raise DecodeError("varint too long")

    def _take(self, n):
        if self._pos + n > len(self._data):
            raise DecodeError("truncated field")
        out = bytes(self._data[self._pos:self._pos + n])
        self._pos += n
        return out

    def __iter__(self):
        while self._pos < len(self._data):
            key = self._read_varint()
            field, wt = key >> 3, key & 7
            if field == 0:
                raise DecodeError("field number 0")
            if wt == VARINT:
                yield field, wt, self._read_varint()
            elif wt == FIXED64:
                yield field, wt, self._take(8)
            elif wt == LEN:
                yield field, wt, self._take(self._read_varint())
            elif wt == FIXED32:
                yield field, wt, self._take(4)
            else:
                raise DecodeError("wire type %d not supported" % wt)


def signed64(n):
    return n - (1 << 64) if n >= 1 << 63 else n


def signed32(n):
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n >= 1 << 31 else n


def varints_of(data):
    """The values of a packed repeated varint field."""
    r = Reader(b"")
    r._data, r._pos = memoryview(data), 0
    out = []
    while r._pos < len(data):
        out.append(r._read_varint())
    return out


def _repeated_varint(dst, wt, value, conv):
    """Adds one occurrence of a repeated varint field (packed or not)."""
    if wt == LEN:
        dst.extend(conv(v) for v in varints_of(value))
    elif wt == VARINT:
        dst.append(conv(value))
    else:
        raise DecodeError("wire type %d for a varint field" % wt)


def _repeated_fixed(dst, wt, value, fmt, size, single_wt):
    if wt == LEN:
        if len(value) % size:
            raise DecodeError("packed field of %d bytes" % len(value))
        dst.extend(struct.unpack("<%d%s" % (len(value) // size, fmt), value))
    elif wt == single_wt:
        dst.append(struct.unpack("<" + fmt, value)[0])
    else:
        raise DecodeError("wire type %d for a fixed field" % wt)


# ---- general_model_service.proto (Paddle Serving 0.9) ---------------------------------------

# Tensor's repeated value fields: name -> (field number, kind)
TENSOR_VALUES = {
    "int64_data": (1, "int64"), "float_data": (2, "float"), "int_data": (3, "int32"),
    "float64_data": (4, "double"), "uint32_data": (5, "uint32"), "bool_data": (6, "bool"),
    "complex64_data": (7, "float"), "complex128_data": (8, "double"),
}


def encode_tensor(t):
    """t: dict with any of Tensor's fields (lists for repeated ones)."""
    w = Writer()
    for name, (num, kind) in TENSOR_VALUES.items():
        vals = t.get(name)
        if vals is None or not len(vals):
            continue
        if kind == "float":
            w.packed_fixed(num, "f", vals)
        elif kind == "double":
            w.packed_fixed(num, "d", vals)
        else:
            w.packed_varints(num, vals)
    for s in t.get("data", ()):
        w.blob(9, s.encode("utf-8") if isinstance(s, str) else bytes(s))
    if t.get("elem_type"):
        w.varint(10, t["elem_type"])
    w.packed_varints(11, t.get("shape", ()))
    w.packed_varints(12, t.get("lod", ()))
    if t.get("name"):
        w.string(13, t["name"])
    if t.get("alias_name"):
        w.string(14, t["alias_name"])
    if t.get("tensor_content"):
        w.blob(15, t["tensor_content"])
    return w.bytes()


def decode_tensor(data):
    t = {"elem_type": 0, "shape": [], "lod": [], "name": "", "alias_name": "", "data": [],
         "tensor_content": b""}
    for name in TENSOR_VALUES:
        t[name] = []
    by_num = {num: (name, kind) for name, (num, kind) in TENSOR_VALUES.items()}
    for field, wt, v in Reader(data):
        if field in by_num:
            name, kind = by_num[field]
            if kind == "float":
                _repeated_fixed(t[name], wt, v, "f", 4, FIXED32)
            elif kind == "double":
                _repeated_fixed(t[name], wt, v, "d", 8, FIXED64)
            elif kind == "int64":
                _repeated_varint(t[name], wt, v, signed64)
            elif kind == "int32":
                _repeated_varint(t[name], wt, v, signed32)
            elif kind == "uint32":
                _repeated_varint(t[name], wt, v, lambda n: n & 0xFFFFFFFF)
            else:
                _repeated_varint(t[name], wt, v, bool)
        elif field == 9 and wt == LEN:
            t["data"].append(v)
        elif field == 10 and wt == VARINT:
            t["elem_type"] = signed32(v)
        elif field == 11:
            _repeated_varint(t["shape"], wt, v, signed32)
        elif field == 12:
            _repeated_varint(t["lod"], wt, v, signed32)
        elif field == 13 and wt == LEN:
            t["name"] = v.decode("utf-8")
        elif field == 14 and wt == LEN:
            t["alias_name"] = v.decode("utf-8")
        elif field == 15 and wt == LEN:
            t["tensor_content"] = v
    return t


def encode_request(tensors, fetch_var_names, log_id=0, profile_server=False):
    w = Writer()
    for t in tensors:
        w.message(1, encode_tensor(t))
    for name in fetch_var_names:
        w.string(2, name)
    if profile_server:
        w.varint(3, 1)
    if log_id:
        w.varint(4, log_id)
    return w.bytes()


def decode_request(data):
    req = {"tensor": [], "fetch_var_names": [], "profile_server": False, "log_id": 0}
    for field, wt, v in Reader(data):
        if field == 1 and wt == LEN:
            req["tensor"].append(decode_tensor(v))
        elif field == 2 and wt == LEN:
            req["fetch_var_names"].append(v.decode("utf-8"))
        elif field == 3 and wt == VARINT:
            req["profile_server"] = bool(v)
        elif field == 4 and wt == VARINT:
            req["log_id"] = v
    return req


def encode_response(outputs, log_id=0, err_no=0, err_msg="", profile_time=()):
    """outputs: list of {"tensor": [tensor dicts], "engine_name": str}."""
    w = Writer()
    for out in outputs:
        m = Writer()
        for t in out.get("tensor", ()):
            m.message(1, encode_tensor(t))
        if out.get("engine_name"):
            m.string(2, out["engine_name"])
        w.message(1, m.bytes())
    w.packed_varints(2, profile_time)
    if log_id:
        w.varint(4, log_id)
    if err_no:
        w.varint(5, err_no)
    if err_msg:
        w.string(6, err_msg)
    return w.bytes()


def decode_response(data):
    resp = {"outputs": [], "profile_time": [], "profile_server": False, "log_id": 0,
            "err_no": 0, "err_msg": ""}
    for field, wt, v in Reader(data):
        if field == 1 and wt == LEN:
            out = {"tensor": [], "engine_name": ""}
            for f2, wt2, v2 in Reader(v):
                if f2 == 1 and wt2 == LEN:
                    out["tensor"].append(decode_tensor(v2))
                elif f2 == 2 and wt2 == LEN:
                    out["engine_name"] = v2.decode("utf-8")
            resp["outputs"].append(out)
        elif field == 2:
            _repeated_varint(resp["profile_time"], wt, v, signed64)
        elif field == 3 and wt == VARINT:
            resp["profile_server"] = bool(v)
        elif field == 4 and wt == VARINT:
            resp["log_id"] = v
        elif field == 5 and wt == VARINT:
            resp["err_no"] = signed32(v)
        elif field == 6 and wt == LEN:
            resp["err_msg"] = v.decode("utf-8", "replace")
    return resp


# ---- brpc baidu_std -------------------------------------------------------------------------

MAGIC = b"PRPC"
HEADER_SIZE = 12


def encode_rpc_meta(correlation_id, service_name=None, method_name=None, log_id=0,
                    error_code=0, error_text="", attachment_size=0, compress_type=0):
    """RpcMeta: a request meta when service_name is given, else a response meta."""
    w = Writer()
    if service_name is not None:
        req = Writer().string(1, service_name).string(2, method_name or "")
        if log_id:
            req.varint(3, log_id)
        w.message(1, req.bytes())
    else:
        resp = Writer()
        if error_code:
            resp.varint(1, error_code)
        if error_text:
            resp.string(2, error_text)
        w.message(2, resp.bytes())
    if compress_type:
        w.varint(3, compress_type)
    w.varint(4, correlation_id)
    if attachment_size:
        w.varint(5, attachment_size)
    return w.bytes()


def decode_rpc_meta(data):
    meta = {"request": None, "response": None, "compress_type": 0, "correlation_id": 0,
            "attachment_size": 0}
    for field, wt, v in Reader(data):
        if field == 1 and wt == LEN:
            req = {"service_name": "", "method_name": "", "log_id": 0}
            for f2, wt2, v2 in Reader(v):
                if f2 == 1 and wt2 == LEN:
                    req["service_name"] = v2.decode("utf-8")
                elif f2 == 2 and wt2 == LEN:
                    req["method_name"] = v2.decode("utf-8")
                elif f2 == 3 and wt2 == VARINT:
                    req["log_id"] = signed64(v2)
            meta["request"] = req
        elif field == 2 and wt == LEN:
            resp = {"error_code": 0, "error_text": ""}
            for f2, wt2, v2 in Reader(v):
                if f2 == 1 and wt2 == VARINT:
                    resp["error_code"] = signed32(v2)
                elif f2 == 2 and wt2 == LEN:
                    resp["error_text"] = v2.decode("utf-8", "replace")
            meta["response"] = resp
        elif field == 3 and wt == VARINT:
            meta["compress_type"] = signed32(v)
        elif field == 4 and wt == VARINT:
            meta["correlation_id"] = signed64(v)
        elif field == 5 and wt == VARINT:
            meta["attachment_size"] = signed32(v)
    return meta


def frame(meta, payload):
    """One baidu_std message: "PRPC", body size, meta size (big-endian), meta, payload."""
    return MAGIC + struct.pack(">II", len(meta) + len(payload), len(meta)) + meta + payload


def parse_frame_header(head):
    """(body_size, meta_size) of a 12-byte baidu_std header."""
    if len(head) != HEADER_SIZE or head[:4] != MAGIC:
        raise DecodeError("not a baidu_std frame: %r" % bytes(head[:4]))
    body, meta = struct.unpack(">II", head[4:])
    if meta > body:
        raise DecodeError("meta size %d > body size %d" % (meta, body))
    return body, meta
