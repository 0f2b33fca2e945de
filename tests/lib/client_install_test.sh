#!/usr/bin/env bash
# client_install_test.sh BUILD_DIR SOURCE_DIR CC [CFLAGS...] - installs the build
# into a temporary prefix, checks libskiff_client.so, skiff/client.h and
# skiff_client.pc are there, builds examples/c/client.c the way a user would
# (`pkg-config --cflags --libs skiff_client`, against that prefix only), and
# runs it with an endpoint nobody listens on: it must start, load the conf and
# fail with the client's "no endpoint answered" error (a call that succeeds is
# tests/integration/client_tests.py's job).
set -euo pipefail
build=$1 src=$2 cc=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name skiff_client.pc)
[[ -n $pc ]] || { echo "client_install_test: no skiff_client.pc under the prefix"; exit 1; }
[[ -e $tmp/prefix/include/skiff/client.h ]] || { echo "client_install_test: skiff/client.h not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir skiff_client)
ls "$libdir"/libskiff_client.so* >/dev/null || { echo "client_install_test: libskiff_client.so not installed"; exit 1; }
echo "client_install_test: skiff_client $(pkg-config --modversion skiff_client): $(pkg-config --cflags --libs skiff_client)"
cd "$src"
# shellcheck disable=SC2046 # pkg-config's output is a list of flags
"$cc" -std=c17 -Wall -Wextra -Werror "$@" examples/c/client.c $(pkg-config --cflags --libs skiff_client) \
    -lpthread -o "$tmp/client"
# a port nobody listens on: bind one, read its number, close it
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
set +e
LD_LIBRARY_PATH=$libdir "$tmp/client" examples/uci_housing/uci_housing_client "127.0.0.1:$port" \
    >"$tmp/out" 2>&1
rc=$?
set -e
if ((rc == 0)) || ! grep -q "no endpoint answered" "$tmp/out"; then
    echo "client_install_test: expected 'no endpoint answered' and a failure, got rc=$rc:"
    cat "$tmp/out"
    exit 1
fi
echo "client_install_test: client built from the install, loads its conf, reports: $(cat "$tmp/out")"
