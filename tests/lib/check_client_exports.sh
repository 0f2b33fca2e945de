#!/usr/bin/env bash
# check_client_exports.sh LIBSKIFF_CLIENT_SO CLIENT_H - libskiff_client.so
# exports exactly skiff/client.h's API: every dynamic symbol it defines starts
# with skiff_client_ and is declared there with SKIFF_API, and every such
# function is exported. Prints the count on success.
set -euo pipefail
lib=$1 header=$2
exported=$(nm -D --defined-only "$lib" | awk '{ print $NF }' | sort -u)
declared=$(tr '\n' ' ' <"$header" |
    grep -oE 'SKIFF_API[^;{]*\<skiff_[a-z0-9_]+ *\(' | grep -oE 'skiff_[a-z0-9_]+ *\($' |
    tr -d ' (' | sort -u)
bad=0
stray=$(grep -v '^skiff_client_' <<<"$exported" || true)
if [[ -n $stray ]]; then
    echo "check_client_exports: $lib exports symbols outside the skiff_client_ prefix:"
    sed 's/^/  /' <<<"$stray"
    bad=1
fi
notclient=$(grep -v '^skiff_client_' <<<"$declared" || true)
if [[ -n $notclient ]]; then
    echo "check_client_exports: $header declares functions outside skiff_client_:"
    sed 's/^/  /' <<<"$notclient"
    bad=1
fi
extra=$(comm -23 <(echo "$exported") <(echo "$declared"))
if [[ -n $extra ]]; then
    echo "check_client_exports: $lib exports symbols $header does not declare with SKIFF_API:"
    sed 's/^/  /' <<<"$extra"
    bad=1
fi
missing=$(comm -13 <(echo "$exported") <(echo "$declared"))
if [[ -n $missing ]]; then
    echo "check_client_exports: declared with SKIFF_API but not exported by $lib:"
    sed 's/^/  /' <<<"$missing"
    bad=1
fi
((bad == 0)) || exit 1
echo "check_client_exports: $lib exports $(wc -l <<<"$exported") symbols, all skiff_client_ and all declared in $header"
