#!/usr/bin/python3
"""Compares what a new input shape costs in two builds (or more) of skiff.

Runs BUILD/new_shapes (bench/engine/new_shapes.c) from each build in turn,
ROUNDS times, alternating the builds, on one model and shape list. The first
shape is the warm-up (the model's first run in the process, as `skiff serve`
does at start); the others are the new shapes. For each shape the extra time
of its first run is first - steady (the median of --repeat later runs).

    bench/engine/new_shapes_ab.py --builds /tmp/base/build build --rounds 3 \\
        --threads 2 MODEL 1x3x640x640 1x3x128x416 1x3x224x640 ...

Prints, per build: the warm-up's extra time, the new shapes' extra time
(median and min over shapes and rounds, wall and CPU), and per shape the
first-run and steady times (median and min over rounds, wall and CPU),
and the fastest first run less the fastest steady run, the figure least
disturbed by other load; the load average before and after.
"""

import argparse
import statistics
import subprocess


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run(build, args, shapes):
    cmd = [build + "/new_shapes", args.model, *shapes, "--repeat", str(args.repeat),
           "--threads", str(args.threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        p = line.split()
        rows.append({"shape": p[0], "first": float(p[1]), "first_cpu": float(p[2]),
                     "steady": float(p[3]), "steady_min": float(p[4]),
                     "steady_cpu": float(p[5])})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builds", nargs="+", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("model")
    ap.add_argument("shapes", nargs="+")
    args = ap.parse_args()
    print("load before: %s" % load())
    res = {b: [] for b in args.builds}
    for r in range(args.rounds):
        for b in args.builds:
            res[b].append(run(b, args, args.shapes))
    print("load after: %s" % load())
    for b in args.builds:
        rounds = res[b]
        warm = [x[0]["first"] - x[0]["steady"] for x in rounds]
        warm_cpu = [x[0]["first_cpu"] - x[0]["steady_cpu"] for x in rounds]
        extra = [row["first"] - row["steady"] for x in rounds for row in x[1:]]
        extra_cpu = [row["first_cpu"] - row["steady_cpu"] for x in rounds for row in x[1:]]
        ratio = [row["first"] / row["steady"] for x in rounds for row in x[1:]]
        print("\n== %s" % b)
        print("warm-up extra ms: median %.0f min %.0f (cpu median %.0f)"
              % (statistics.median(warm), min(warm), statistics.median(warm_cpu)))
        if extra:
            print("new shape extra ms: median %.1f min %.1f; cpu median %.1f min %.1f; "
                  "first/steady median %.2f"
                  % (statistics.median(extra), min(extra), statistics.median(extra_cpu),
                     min(extra_cpu), statistics.median(ratio)))
        print("%-18s %9s %9s %9s %9s %9s %9s" % ("shape", "first", "first_min", "steady",
                                                  "st_min", "first_cpu", "st_cpu"))
        for i, shape in enumerate(args.shapes):
            rows = [x[i] for x in rounds]
            print("%-18s %9.1f %9.1f %9.2f %9.2f %9.1f %9.2f"
                  % (shape, statistics.median(r["first"] for r in rows),
                     min(r["first"] for r in rows),
                     statistics.median(r["steady"] for r in rows),
                     min(r["steady_min"] for r in rows),
                     statistics.median(r["first_cpu"] for r in rows),
                     statistics.median(r["steady_cpu"] for r in rows)))
        # the fastest first run against the fastest steady run, per shape: the
        # least disturbed by other load on the machine
        fast = [min(x[i]["first"] for x in rounds) - min(x[i]["steady_min"] for x in rounds)
                for i in range(1, len(args.shapes))]
        if fast:
            print("new shape extra, fastest first - fastest steady, ms: median %.1f min %.1f"
                  % (statistics.median(fast), min(fast)))

if __name__ == "__main__":
    main()
