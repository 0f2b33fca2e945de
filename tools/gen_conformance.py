#!/usr/bin/python3
"""Generates the ONNX backend conformance cases for tests/conformance.

The cases come from the onnx package's own test-case definitions
(onnx.backend.test.case: every operator's documented examples, each a one-node
model plus numpy-computed inputs and expected outputs), written in the layout
of onnx/backend/test/data:

    <out>/<case>/model.onnx
    <out>/<case>/test_data_set_N/input_K.pb, output_K.pb   (TensorProto)
    <out>/<case>/meta.txt   kind, op, expanded, tensor_io (read by the runner)
    <out>/cases.tsv         one line per case: name kind op
    <out>/.stamp            what produced the tree; a matching stamp = nothing to do

Only 'node' and 'simple' cases exist locally ('real' ones are model-zoo
downloads; 'pytorch-*' ones are data files the Debian package does not ship).
Case names are unique per directory; onnx 1.12 defines two names twice
(test_reduce_sum_negative_axes_keepdims_random, test_resize_tf_crop_and_resize)
and, as onnx's own cmd_tools does, the later definition wins.

Run with /usr/bin/python3 (Debian's python3-onnx 1.12 + numpy 1.24):
    tools/gen_conformance.py [--out DIR] [--force] [--op OPTYPE] [--quiet]
It is idempotent and returns in milliseconds when the stamp matches, so the
build and CTest may call it every time. Generation goes to a temporary
directory that replaces <out> in one rename, under a lock, so concurrent runs
(several build trees share the source tree) never see a half-written tree.
"""

import argparse
import fcntl
import hashlib
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(REPO, "tests", "conformance", "data")
STAMP_FORMAT = 1


def script_digest():
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def onnx_version_cheap():
    """onnx's version without importing it (the import costs ~0.5 s)."""
    try:
        from importlib import metadata
        return metadata.version("onnx")
    except Exception:  # noqa: BLE001 - any failure just means "import it"
        return None


def expected_stamp(version, op_filter):
    return "format=%d onnx=%s gen=%s op=%s\n" % (STAMP_FORMAT, version, script_digest(),
                                                op_filter or "*")


def read_stamp(out):
    try:
        with open(os.path.join(out, ".stamp")) as f:
            return f.read()
    except OSError:
        return None


def work_dir(out):
    """Where the lock file and the staging tree live: the repository's
    git-ignored .cache/ when <out> is inside the repository (so nothing
    untracked appears in the source tree), else next to <out>. Either way on
    the same file system as <out>, so the final rename is atomic."""
    if os.path.commonpath([REPO, out]) == REPO:
        d = os.path.join(REPO, ".cache", "gen_conformance")
    else:
        d = os.path.dirname(out)
    os.makedirs(d, exist_ok=True)
    return d


def restore_numpy_aliases():
    # onnx 1.12's reference code still spells np.float, np.int, np.bool ...,
    # which numpy 1.24 removed.
    import numpy as np
    for name, value in (("float", float), ("int", int), ("bool", bool), ("object", object),
                        ("complex", complex), ("str", str)):
        setattr(np, name, value)
    return np


def op_label(case_name, model, expanded_of):
    """The operator a case tests: the op of its single node, or for an
    '_expanded' case (the op's function body inlined) the op it expands."""
    graph = model.graph
    if expanded_of is not None:
        return expanded_of
    if len(graph.node) == 1:
        n = graph.node[0]
        return (n.domain + "." if n.domain and n.domain != "ai.onnx" else "") + n.op_type
    return "model"


def has_only_tensor_io(model):
    for v in list(model.graph.input) + list(model.graph.output):
        if not v.type.HasField("tensor_type"):
            return False
    return True


def fix_declarations(model, data_sets):
    """Makes the graph's declared input/output types describe the data.

    onnx 1.12 has cases whose declaration contradicts the data it ships
    (test_castlike_*: input 'like' declared [3,4], data shape [1]). An engine
    that checks declared shapes rightly rejects those, so the declared shape
    is replaced by the data's. Returns the names of the values changed."""
    import numpy as np
    fixed = []
    for inputs, outputs in data_sets[:1]:
        for infos, values in ((model.graph.input, inputs), (model.graph.output, outputs)):
            for info, value in zip(infos, values):
                if not info.type.HasField("tensor_type") or not isinstance(value, np.ndarray):
                    continue
                tt = info.type.tensor_type
                if not tt.HasField("shape"):
                    continue
                dims = tt.shape.dim
                same_rank = len(dims) == value.ndim
                ok = same_rank and all(not d.HasField("dim_value") or d.dim_value == n
                                       for d, n in zip(dims, value.shape))
                if not ok:
                    tt.shape.ClearField("dim")
                    for n in value.shape:
                        tt.shape.dim.add().dim_value = n
                    fixed.append(info.name)
    return fixed


def tensor_proto(value, info):
    """numpy_helper.from_array, except that bfloat16 data (which numpy holds
    as uint16) is labelled BFLOAT16 when the graph declares it so."""
    from onnx import TensorProto, numpy_helper
    proto = numpy_helper.from_array(value, info.name)
    declared = info.type.tensor_type.elem_type
    if declared == TensorProto.BFLOAT16 and proto.data_type == TensorProto.UINT16:
        proto.data_type = TensorProto.BFLOAT16
    return proto


def write_case(root, case, label, expanded):
    from onnx import numpy_helper

    d = os.path.join(root, case.name)
    if os.path.exists(d):  # a duplicate name: the later definition wins
        shutil.rmtree(d)
    os.makedirs(d)
    model = case.model
    fixed = fix_declarations(model, case.data_sets)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    tensor_io = has_only_tensor_io(model)
    for i, (inputs, outputs) in enumerate(case.data_sets):
        ds = os.path.join(d, "test_data_set_%d" % i)
        os.makedirs(ds)
        for kind, values, infos in (("input", inputs, model.graph.input),
                                    ("output", outputs, model.graph.output)):
            for j, value in enumerate(values):
                info = infos[j]
                if info.type.HasField("map_type"):
                    proto = numpy_helper.from_dict(value, info.name)
                elif info.type.HasField("sequence_type"):
                    proto = numpy_helper.from_list(value, info.name)
                elif info.type.HasField("optional_type"):
                    proto = numpy_helper.from_optional(value, info.name)
                else:
                    proto = tensor_proto(value, info)
                with open(os.path.join(ds, "%s_%d.pb" % (kind, j)), "wb") as f:
                    f.write(proto.SerializeToString())
    with open(os.path.join(d, "meta.txt"), "w") as f:
        f.write("kind=%s\nop=%s\nexpanded=%d\ntensor_io=%d\ndata_sets=%d\n"
                % (case.kind, label, 1 if expanded else 0, 1 if tensor_io else 0,
                   len(case.data_sets)))
        if fixed:
            f.write("declared_shape_fixed=%s\n" % ",".join(fixed))
    return tensor_io


def generate(out, op_filter, quiet):
    np = restore_numpy_aliases()
    # Many case definitions draw random inputs; seed so a regeneration gives
    # the same files (and the same expected_failures) on every machine.
    np.random.seed(0)
    import onnx
    import onnx.backend.test.case.model as model_cases
    import onnx.backend.test.case.node as node_cases

    cases = list(node_cases.collect_testcases(op_filter))
    if not op_filter:
        cases += [c for c in model_cases.collect_testcases() if c.kind == "simple"]

    parent = work_dir(out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    # Staging trees of runs that died half-way are removed here (we hold the lock).
    for stale in os.listdir(parent):
        if stale.startswith(".%s.tmp-" % os.path.basename(out)) or \
                stale.startswith(".%s.old-" % os.path.basename(out)):
            shutil.rmtree(os.path.join(parent, stale), ignore_errors=True)
    tmp = os.path.join(parent, ".%s.tmp-%d" % (os.path.basename(out), os.getpid()))
    os.makedirs(tmp)
    # Ops of the non-expanded cases, so '<name>_expanded' can be labelled.
    base_ops = {}
    for c in cases:
        if c.model is not None and len(c.model.graph.node) == 1:
            base_ops[c.name] = op_label(c.name, c.model, None)
    index = {}
    for c in cases:
        if c.model is None or not c.data_sets:
            continue
        expanded_of = None
        if c.name.endswith("_expanded"):
            expanded_of = base_ops.get(c.name[: -len("_expanded")], "model")
        label = op_label(c.name, c.model, expanded_of)
        write_case(tmp, c, label, expanded_of is not None)
        index[c.name] = (c.kind, label + (" (expanded)" if expanded_of else ""))
    with open(os.path.join(tmp, "cases.tsv"), "w") as f:
        for name in sorted(index):
            f.write("%s\t%s\t%s\n" % (name, index[name][0], index[name][1]))
    with open(os.path.join(tmp, ".stamp"), "w") as f:
        f.write(expected_stamp(onnx.__version__, op_filter))

    # Swap in the new tree: readers see either the old or the new one.
    old = None
    if os.path.exists(out):
        old = os.path.join(parent, ".%s.old-%d" % (os.path.basename(out), os.getpid()))
        os.rename(out, old)
    os.rename(tmp, out)
    if old:
        shutil.rmtree(old, ignore_errors=True)
    counts = {}
    for kind, _ in index.values():
        counts[kind] = counts.get(kind, 0) + 1
    return len(index), counts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    ap.add_argument("--force", action="store_true", help="regenerate even when up to date")
    ap.add_argument("--op", default=None, help="only cases of this op_type (for debugging)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    out = os.path.abspath(args.out)

    version = onnx_version_cheap()
    if not args.force and version and read_stamp(out) == expected_stamp(version, args.op):
        if not args.quiet:
            print("gen_conformance: %s is up to date" % out)
        return 0

    lock_path = os.path.join(work_dir(out), ".%s.lock" % os.path.basename(out))
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # Someone may have generated it while we waited for the lock.
        version = onnx_version_cheap()
        if not args.force and version and read_stamp(out) == expected_stamp(version, args.op):
            if not args.quiet:
                print("gen_conformance: %s is up to date" % out)
            return 0
        t0 = time.time()
        n, counts = generate(out, args.op, args.quiet)
    if not args.quiet:
        kinds = ", ".join("%d %s" % (v, k) for k, v in sorted(counts.items()))
        print("gen_conformance: wrote %d cases (%s) to %s in %.1f s"
              % (n, kinds, out, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
