#!/usr/bin/python3
"""integration_nginx: two `skiff serve` replicas behind nginx configured from
deploy/nginx/skiff.conf.template; 16 connections send requests over HTTP
(KServe REST, Paddle web), gRPC and baidu_std through nginx while one replica
is drained with SIGTERM and left down. Passes when no request failed, the
replica exited 0, and the surviving replica answered every request after the
exit. It is bench/fault/fault.py's `term` phase, short (about 10 s).

    nginx_tests.py --skiff BIN

Exit 77 (CTest SKIP) only when nginx or its stream module is not installed
(scripts/install-deps.sh installs both).
"""
import argparse
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skiff", required=True)
    args = ap.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(nginx, os.X_OK):
        print("integration_nginx: SKIP: nginx is not installed (scripts/install-deps.sh)")
        return 77
    v = subprocess.run([nginx, "-V"], capture_output=True, text=True)
    if "--with-stream=dynamic" in v.stderr and not any(
            os.path.exists(p) for p in ("/usr/lib/nginx/modules/ngx_stream_module.so",
                                        "/usr/share/nginx/modules/ngx_stream_module.so")):
        print("integration_nginx: SKIP: nginx's stream module is not installed "
              "(libnginx-mod-stream; scripts/install-deps.sh)")
        return 77
    env = dict(os.environ, SKIFF=os.path.abspath(args.skiff), NGINX=nginx, REPLICAS="2",
               CONNECTIONS="16", PHASES="term", SETTLE="4", KILL_INDEX="0", GRACE_S="20")
    return subprocess.run([sys.executable, os.path.join(ROOT, "bench", "fault", "fault.py")],
                          env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
