"""Reads Paddle Serving's model confs (serving_client_conf.prototxt /
serving_server_conf.prototxt): protobuf text format of GeneralModelConfig.

    conf = load_conf("imdb_lstm_client_conf")   # a directory or the file itself
    conf.feed_vars[0].alias_name, conf.fetch_vars[0].fetch_type
"""
import os
import re

# Paddle Serving's type codes -> numpy dtype names; 20 is string
TYPE_NAMES = {0: "int64", 1: "float32", 2: "int32", 3: "float64", 4: "int16", 5: "float16",
              6: "bfloat16", 7: "uint8", 8: "int8", 9: "bool", 10: "complex64",
              11: "complex128", 20: "string"}

_TOKEN = re.compile(r"""\s*(?:
    (?P<comment>\#[^\n]*)
  | (?P<punct>[{}:<>\[\],;])
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<word>[A-Za-z0-9_.+-]+)
)""", re.X)


class ConfError(ValueError):
    pass


class Var:
    """One feed_var or fetch_var."""

    def __init__(self, fields, type_key):
        self.name = _single(fields, "name", "")
        self.alias_name = _single(fields, "alias_name", "") or self.name
        self.is_lod_tensor = _single(fields, "is_lod_tensor", False)
        self.type = int(_single(fields, type_key, 0))
        self.shape = [int(s) for s in fields.get("shape", [])]
        if self.type not in TYPE_NAMES:
            raise ConfError("%s %r: unknown type %d" % (type_key, self.name, self.type))

    def __repr__(self):
        return "Var(name=%r, alias_name=%r, is_lod_tensor=%r, type=%d, shape=%r)" % (
            self.name, self.alias_name, self.is_lod_tensor, self.type, self.shape)


class Conf:
    def __init__(self, path, feed_vars, fetch_vars):
        self.path = path
        self.feed_vars = feed_vars
        self.fetch_vars = fetch_vars


def _single(fields, key, default):
    vals = fields.get(key)
    return vals[-1] if vals else default


def _unquote(tok):
    body = tok[1:-1]
    return body.encode("latin-1", "backslashreplace").decode("unicode_escape") \
        if "\\" in body else body


def _scalar(tok):
    if tok[0] in "\"'":
        return _unquote(tok)
    if tok in ("true", "True", "t"):
        return True
    if tok in ("false", "False", "f"):
        return False
    try:
        return int(tok, 0)
    except ValueError:
        try:
            return float(tok)
        except ValueError:
            return tok  # an enum name


def parse_text(text, path="<conf>"):
    """Protobuf text format -> {field: [values]}, sub-messages as such dicts."""
    toks = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            line = text.count("\n", 0, pos) + 1
            raise ConfError("%s:%d: cannot read %r" % (path, line, text[pos:pos + 20]))
        pos = m.end()
        if m.group("comment") is None:
            toks.append(m.group("punct") or m.group("string") or m.group("word"))
    i = 0

    def message(closing):
        nonlocal i
        out = {}
        while i < len(toks):
            t = toks[i]
            if t == closing:
                i += 1
                return out
            if t in (",", ";"):
                i += 1
                continue
            name = t
            i += 1
            if i < len(toks) and toks[i] == ":":
                i += 1
            if i >= len(toks):
                raise ConfError("%s: field %s has no value" % (path, name))
            if toks[i] in ("{", "<"):
                close = "}" if toks[i] == "{" else ">"
                i += 1
                out.setdefault(name, []).append(message(close))
            elif toks[i] == "[":
                i += 1
                while toks[i] != "]":
                    if toks[i] != ",":
                        out.setdefault(name, []).append(_scalar(toks[i]))
                    i += 1
                i += 1
            else:
                out.setdefault(name, []).append(_scalar(toks[i]))
                i += 1
        if closing is not None:
            raise ConfError("%s: missing %r" % (path, closing))
        return out

    return message(None)


def load_conf(path):
    """A GeneralModelConfig from a conf file or a directory holding
    serving_client_conf.prototxt (or serving_server_conf.prototxt)."""
    if os.path.isdir(path):
        for base in ("serving_client_conf.prototxt", "serving_server_conf.prototxt"):
            if os.path.exists(os.path.join(path, base)):
                path = os.path.join(path, base)
                break
        else:
            raise ConfError("%s: no serving_client_conf.prototxt in it" % path)
    with open(path, encoding="utf-8") as f:
        fields = parse_text(f.read(), path)
    feeds = [Var(v, "feed_type") for v in fields.get("feed_var", [])]
    fetches = [Var(v, "fetch_type") for v in fields.get("fetch_var", [])]
    if not feeds and not fetches:
        raise ConfError("%s: no feed_var or fetch_var" % path)
    return Conf(path, feeds, fetches)
