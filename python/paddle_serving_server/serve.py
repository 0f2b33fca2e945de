"""python3 -m paddle_serving_server.serve --model DIR [--port 9292] [--thread N] [...]

Runs `skiff serve` with the same arguments (it replaces this process): every
flag of Paddle Serving's serve command that skiff knows is passed on as is
(--model, --port, --thread, --name, --gpu_ids, --workdir, ...), and so are
skiff's own (see `skiff serve --help`, printed below --help).

The skiff program is, in this order: $SKIFF if set; `skiff` on PATH; build/skiff
of the source checkout this package lies in.
"""
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def find_skiff():
    """Path of the skiff executable, or None."""
    env = os.environ.get("SKIFF")
    if env:
        return env
    on_path = shutil.which("skiff")
    if on_path:
        return on_path
    checkout = os.path.join(os.path.dirname(os.path.dirname(HERE)), "build", "skiff")
    if os.access(checkout, os.X_OK):
        return checkout
    return None


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    skiff = find_skiff()
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip() + "\n\nskiff: %s\n" % (skiff or "not found"))
        sys.stdout.flush()
    if skiff is None:
        sys.stderr.write("paddle_serving_server.serve: skiff not found (set SKIFF, put skiff on "
                         "PATH, or build it: cmake -S . -B build && cmake --build build)\n")
        return 127
    os.execv(skiff, [skiff, "serve"] + argv)


if __name__ == "__main__":
    sys.exit(main())
