#!/usr/bin/env bash
# check_sources.sh - the static gates of `make test`; each is a hard failure.
#
#   tools/check_sources.sh            all checks
#   tools/check_sources.sh banned     banned calls (see below)
#   tools/check_sources.sh format     clang-format --dry-run --Werror (.clang-format)
#   tools/check_sources.sh cppcheck   cppcheck on src/ with tools/cppcheck.cfg
#   tools/check_sources.sh fix-format reformat the failing files in place
#
# Files checked: the C sources and headers (*.c, *.h) under src/, include/, tests/ and examples/
# that git tracks or would track (untracked but not ignored), minus $EXCLUDE_RE
# (third-party and generated code). Every check runs even after one fails, so a
# single run lists every problem; the exit status is 1 when any failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

# Generated or vendored paths. Generated files also say "do not edit" in their
# first lines and are skipped for that alone.
EXCLUDE_RE='(^|/)(third_party|generated|gen)/|^tests/conformance/data/'

# Banned everywhere checked: unbounded or unchecked string and number handling.
# snprintf/vsnprintf, memcpy with a checked length, skiff__parse_i64/strtol instead.
BANNED_UNSAFE='sprintf vsprintf strcpy strcat atoi atol atoll gets'
# Banned in src/ and include/ outside src/core/alloc.c: allocation that bypasses
# skiff__malloc & co, which is what lets tests fail the Nth allocation (STYLE.md).
BANNED_ALLOC='malloc calloc realloc reallocarray free aligned_alloc posix_memalign strdup strndup asprintf vasprintf'
ALLOC_OWNER='src/core/alloc.c'
# A line may opt out of one name with a comment naming it and the reason:
#     free(s); /* skiff-allow: free - json_dumps() allocates with plain malloc */

list_files() {
    local files
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        files=$(git ls-files -co --exclude-standard -- 'src/*.[ch]' 'include/*.[ch]' 'tests/*.[ch]' 'examples/*.[ch]')
    else
        files=$(find src include tests examples -name '*.[ch]' 2>/dev/null | sort)
    fi
    local f
    for f in $files; do
        [[ -f $f ]] || continue # deleted in the work tree, still in the index
        [[ $f =~ $EXCLUDE_RE ]] && continue
        head -n 5 "$f" | grep -qi 'do not edit' && continue
        echo "$f"
    done
}

check_banned() {
    local files=("$@")
    # Comments and string literals are blanked first (keeping line numbers), so a
    # comment that talks about free() is not a call. A call is the name not
    # preceded by an identifier character, '.', '>' (a member) or '__' forms.
    perl -e '
        my ($unsafe, $alloc, $owner, @files) = @ARGV;
        my %unsafe = map { $_ => 1 } split / /, $unsafe;
        my %alloc  = map { $_ => 1 } split / /, $alloc;
        my $names = join "|", sort(keys %unsafe), sort(keys %alloc);
        my $bad = 0;
        for my $f (@files) {
            open my $fh, "<", $f or die "$f: $!";
            local $/; my $src = <$fh>; close $fh;
            my @raw = split /\n/, $src, -1;
            (my $code = $src) =~ s{/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\x27(?:\\.|[^\x27\\\n])*\x27}{
                my $m = $&; $m =~ m{^/} ? "\n" x ($m =~ tr/\n//) : q{""}
            }gse;
            my @lines = split /\n/, $code, -1;
            my $in_src = $f =~ m{^(src|include)/};
            for my $i (0 .. $#lines) {
                while ($lines[$i] =~ /(?<![\w.>])($names)\s*\(/g) {
                    my $n = $1;
                    next if $alloc{$n} && !$unsafe{$n} && (!$in_src || $f eq $owner);
                    next if $raw[$i] =~ /skiff-allow:\s*\Q$n\E\b/;
                    my $why = $unsafe{$n} ? "unsafe call" : "raw allocation (use the skiff__ allocators of src/core/core.h)";
                    printf "%s:%d: banned %s: %s()\n    %s\n", $f, $i + 1, $why, $n, $raw[$i] =~ s/^\s+//r;
                    $bad++;
                }
            }
        }
        exit($bad ? 1 : 0);
    ' "$BANNED_UNSAFE" "$BANNED_ALLOC" "$ALLOC_OWNER" "${files[@]}"
}

check_format() {
    # One clang-format process for all files (a process per file costs minutes on a
    # busy machine); each violation is reported as FILE:LINE:COL: warning.
    local counts
    counts=$(clang-format --dry-run "$@" 2>&1 | grep -oE '^[^: ]+:[0-9]+:[0-9]+: (warning|error):' |
        cut -d: -f1 | sort | uniq -c)
    if [[ -n $counts ]]; then
        echo "clang-format: $(wc -l <<<"$counts") file(s) differ from .clang-format:"
        awk '{ printf "  %s (%d places)\n", $2, $1 }' <<<"$counts"
        echo "  fix with: clang-format -i FILE...   (or: make format)"
        return 1
    fi
}

check_cppcheck() {
    local gen
    gen=$(mktemp -d)
    # The loader includes the protobuf-c code CMake generates; make it here too so
    # cppcheck sees the real types instead of guessing at unknown macros.
    local proto=/usr/include/onnx/onnx.proto
    if command -v protoc-c >/dev/null && [[ -f $proto ]]; then
        protoc-c --c_out="$gen" -I"$(dirname "$proto")" "$proto" 2>/dev/null
    fi
    local jobs
    jobs=$(nproc 2>/dev/null || echo 2)
    # warning: real bugs (null derefs, leaks, bad format strings, zero divisions);
    # style is left out on purpose: its findings are taste, not defects.
    # invalidPointerCast is off: it flags every (float *)(arena + offset), and
    # carving typed buffers out of one byte arena is how the executor and kernels
    # plan memory (STYLE.md); type punning between two non-char types would be
    # caught by -fsanitize=undefined's alignment checks and review, not this.
    cppcheck --std=c11 --enable=warning,performance,portability --inline-suppr \
        --library=tools/cppcheck.cfg --error-exitcode=1 --quiet -j "$jobs" \
        -D_GNU_SOURCE -D__GNUC__ -Iinclude -Isrc -I"$gen" \
        --suppress=missingIncludeSystem --suppress=missingInclude --suppress=invalidPointerCast \
        --suppress="*:$gen/*" src/
    local rc=$?
    rm -rf "$gen"
    return $rc
}

main() {
    local what=${1:-all}
    mapfile -t files < <(list_files)
    if ((${#files[@]} == 0)); then
        echo "check_sources: no C files found" >&2
        return 1
    fi
    local rc=0
    case $what in
    banned) check_banned "${files[@]}" || rc=1 ;;
    format) check_format "${files[@]}" || rc=1 ;;
    cppcheck) check_cppcheck "${files[@]}" || rc=1 ;;
    fix-format) clang-format -i "${files[@]}" ;;
    all)
        local t0 name
        for name in banned format cppcheck; do
            t0=$(date +%s)
            echo "-- $name (${#files[@]} files)"
            if "check_$name" "${files[@]}"; then
                echo "   $name ok ($(($(date +%s) - t0))s)"
            else
                echo "   $name FAILED ($(($(date +%s) - t0))s)"
                rc=1
            fi
        done
        ;;
    *)
        echo "usage: $0 [all|banned|format|cppcheck|fix-format]" >&2
        return 2
        ;;
    esac
    ((rc == 0)) && echo "check_sources: $what ok"
    return $rc
}

main "$@"
