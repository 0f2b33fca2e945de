#!/usr/bin/env bash
# check_exports.sh LIBSKIFF_SO INCLUDE_DIR... - libskiff.so exports exactly the
# public API: every dynamic symbol it defines starts with skiff_ and is a
# function declared with SKIFF_API in the headers, and every such function is
# exported. Prints the count on success.
set -euo pipefail
lib=$1
shift
exported=$(nm -D --defined-only "$lib" | awk '{ print $NF }' | sort -u)
headers=()
for dir in "$@"; do
    for h in "$dir"/skiff/*.h; do
        # client.h is libskiff_client.so's (check_client_exports.sh)
        [[ $(basename "$h") == client.h ]] || headers+=("$h")
    done
done
declared=$(cat "${headers[@]}" | tr '\n' ' ' |
    grep -oE 'SKIFF_API[^;{]*\<skiff_[a-z0-9_]+ *\(' | grep -oE 'skiff_[a-z0-9_]+ *\($' |
    tr -d ' (' | sort -u)
bad=0
stray=$(grep -v '^skiff_' <<<"$exported" || true)
if [[ -n $stray ]]; then
    echo "check_exports: $lib exports symbols outside the skiff_ prefix:"
    sed 's/^/  /' <<<"$stray"
    bad=1
fi
extra=$(comm -23 <(echo "$exported") <(echo "$declared"))
if [[ -n $extra ]]; then
    echo "check_exports: $lib exports symbols no public header declares with SKIFF_API:"
    sed 's/^/  /' <<<"$extra"
    bad=1
fi
missing=$(comm -13 <(echo "$exported") <(echo "$declared"))
if [[ -n $missing ]]; then
    echo "check_exports: declared with SKIFF_API but not exported by $lib:"
    sed 's/^/  /' <<<"$missing"
    bad=1
fi
((bad == 0)) || exit 1
echo "check_exports: $lib exports $(wc -l <<<"$exported") symbols, all skiff_ and all declared in include/skiff/"
