#!/usr/bin/python3
"""`pip install ./python` with Debian's pip, no download: into a fresh venv
(with the system's numpy), then the modules import from the venv.

    tests/python/test_packaging.py [--skiff build/skiff]
"""
import os
import shutil
import subprocess
import sys
import tempfile

import helpers

SKIFF = helpers.skiff_arg()


def main():
    tmp = tempfile.mkdtemp(prefix="skiff-py-pip-")
    venv = os.path.join(tmp, "venv")
    src = os.path.join(tmp, "python")  # pip builds in the tree it is given: a copy
    shutil.copytree(helpers.PYTHON_DIR, src, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
    py = os.path.join(venv, "bin", "python")
    r = subprocess.run([py, "-m", "pip", "install", "--no-index", src], capture_output=True,
                       text=True)
    if r.returncode != 0:
        print("FAIL: pip install ./python:\n" + r.stdout + r.stderr)
        return 1
    probe = ("import paddle_serving_client as c, paddle_serving_app.reader as r, "
             "paddle_serving_server.serve as s; print(c.__file__); print(r.IMDBDataset); "
             "print(s.find_skiff()); print(len(r.step_names()), 'steps')")
    # the image readers find libskiff.so through SKIFF_LIB once installed
    lib = os.path.join(os.path.dirname(SKIFF), "libskiff.so")
    r = subprocess.run([py, "-c", probe], cwd=tmp, capture_output=True, text=True,
                       env=dict(os.environ, SKIFF=SKIFF, SKIFF_LIB=lib, PYTHONPATH=""))
    if r.returncode != 0 or not r.stdout.startswith(os.path.join(venv, "lib")) \
            or SKIFF not in r.stdout or " steps" not in r.stdout:
        print("FAIL: the installed modules:\n" + r.stdout + r.stderr)
        return 1
    print(r.stdout, end="")
    shutil.rmtree(tmp)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
