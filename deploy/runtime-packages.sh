#!/bin/bash
# runtime-packages.sh BINARY - prints, one a line, the Debian packages that ship the
# shared libraries BINARY names (its ELF NEEDED entries), each found where the dynamic
# loader finds it. deploy/Dockerfile's build stage runs it on skiff, and the runtime
# stage installs what it prints: the image carries the libraries the binary links and
# nothing else, whatever Debian calls their packages. Fails naming a library that no
# package ships.
set -euo pipefail
bin=$1
deps=$(ldd "$bin")

# dpkg knows a file by the path its package installed, which on a merged-/usr system
# may differ from the loader's by a /usr prefix or a symbolic link.
owner() {
    local path=$1 real cand out
    real=$(readlink -f "$path")
    for cand in "$path" "/usr${path#/usr}" "${path#/usr}" "$real" "/usr${real#/usr}" "${real#/usr}"; do
        if out=$(dpkg -S "$cand" 2>/dev/null); then
            # "pkg:arch, other:arch: /path" -> one package a line
            sed 's/: \/.*//; s/, /\n/g; s/:[^:]*$//' <<<"$out"
            return 0
        fi
    done
    echo "runtime-packages: no package ships $path ($real)" >&2
    return 1
}

for lib in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    # "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)", or for the loader itself
    # "/lib64/ld-linux-x86-64.so.2 (0x...)"
    path=$(awk -v l="$lib" '$1 == l && $3 ~ /^\// { print $3; exit }
                            $1 ~ ("/" l "$") { print $1; exit }' <<<"$deps")
    [[ -n $path ]] || { echo "runtime-packages: the loader finds no $lib" >&2; exit 1; }
    owner "$path"
done | sort -u
