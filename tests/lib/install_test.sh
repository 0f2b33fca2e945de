#!/usr/bin/env bash
# install_test.sh BUILD_DIR SOURCE_DIR CC [CFLAGS...] - installs the build into a
# temporary prefix (cmake --install --prefix), then builds each examples/c/*.c
# the way a user of the library would, with `pkg-config --cflags --libs skiff`
# against that prefix only, and runs it from the source tree.
set -euo pipefail
build=$1 src=$2 cc=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name skiff.pc)
[[ -n $pc ]] || { echo "install_test: no skiff.pc under the prefix"; exit 1; }
for f in bin/skiff include/skiff/skiff.h include/skiff/version.h; do
    [[ -e $tmp/prefix/$f ]] || { echo "install_test: $f not installed"; exit 1; }
done
export PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir skiff)
echo "install_test: skiff $(pkg-config --modversion skiff): $(pkg-config --cflags --libs skiff)"
cd "$src"
for ex in examples/c/*.c; do
    [[ $ex == examples/c/client.c ]] && continue # needs a server: client_install_test.sh
    name=$(basename "$ex" .c)
    # shellcheck disable=SC2046 # pkg-config's output is a list of flags
    "$cc" -std=c17 -Wall -Wextra -Werror "$@" "$ex" $(pkg-config --cflags --libs skiff) \
        -o "$tmp/$name"
    LD_LIBRARY_PATH=$libdir "$tmp/$name" examples/uci_housing/uci_housing_model/model.onnx \
        >"$tmp/$name.out" 2>&1 || { echo "install_test: $name failed:"; cat "$tmp/$name.out"; exit 1; }
    echo "install_test: $name ok"
done
