#!/usr/bin/env bash
# fresh_machine_test.sh - proves the README's commands work on a machine that has
# nothing installed: bootstraps a bare Debian 12 (bookworm) root with debootstrap,
# copies a clean checkout of this repository into it and runs the commands there.
#
#   sudo tools/fresh_machine_test.sh [options] [-- COMMAND]
#     --root DIR    where the chroot goes (default /var/tmp/skiff-fresh-root; wiped first)
#     --worktree    copy the work tree (tracked + untracked, not ignored) instead of a
#                   clone of HEAD: tests what is not committed yet
#     --keep        leave the chroot (and its mounts unmounted) for inspection
#     --log FILE    also write the output here (default /var/tmp/skiff-fresh-machine.log)
#     --no-demo     skip the `make demo` check
#     COMMAND       what to run in the checkout (default: make test KEEP_GOING=1, which
#                   runs every stage even after one fails, so one slow run shows all of
#                   them).
#
# Before COMMAND, the README's first command runs as a newcomer would type it:
# `make demo` (which installs, builds and then serves forever) in the background,
# while the seed's curl request is retried until it answers with a price (or 60
# minutes pass); then the demo server is stopped and COMMAND runs in the same root.
#
# The only things installed before COMMAND are git and make: what a newcomer needs to
# clone the repository and type the README's command (scripts/install-deps.sh, which
# `make test` runs first, installs all the rest). Packages come from the mirror this
# machine's apt uses, through its apt proxy if it has one. Not part of `make test`: it
# downloads ~1.5 GB and takes 30-60 minutes. Needs root (debootstrap, chroot, mounts).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

root=/var/tmp/skiff-fresh-root
mode=clone
keep=0
log=/var/tmp/skiff-fresh-machine.log
cmd=(make test KEEP_GOING=1)
demo=1
while (($#)); do
    case $1 in
    --no-demo) demo=0; shift ;;
    --root) root=$2; shift 2 ;;
    --worktree) mode=worktree; shift ;;
    --keep) keep=1; shift ;;
    --log) log=$2; shift 2 ;;
    --) shift; cmd=("$@"); break ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "fresh_machine_test: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ $(id -u) -eq 0 ]] || { echo "fresh_machine_test: run as root" >&2; exit 1; }
[[ $root == / || -z $root ]] && { echo "fresh_machine_test: refusing --root '$root'" >&2; exit 1; }

# The Debian mirror and proxy this machine's apt uses.
. tools/debian_mirror.sh
[[ -n $proxy ]] && export http_proxy=$proxy https_proxy=$proxy

if ! command -v debootstrap >/dev/null; then
    echo "fresh_machine_test: installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

mounted=()
cleanup() {
    local m
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        m=${mounted[i]}
        umount -R -l "$m" 2>/dev/null || true
    done
    if ((keep == 0)) && [[ -d $root ]]; then
        rm -rf --one-file-system "$root"
    fi
}
trap cleanup EXIT

exec > >(tee "$log") 2>&1
t0=$(date +%s)
echo "fresh_machine_test: $(date -u +%FT%TZ) root=$root mirror=$mirror mode=$mode"
rm -rf --one-file-system "$root"
mkdir -p "$root"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 || {
    tail -n 30 "$root.debootstrap.log"
    echo "fresh_machine_test: debootstrap failed"
    exit 1
}
rm -f "$root.debootstrap.log"
echo "fresh_machine_test: debootstrap done ($(($(date +%s) - t0))s)"

cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
[[ -n $proxy ]] && echo "Acquire::http::Proxy \"$proxy\";" >"$root/etc/apt/apt.conf.d/01proxy"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The machine's own certificate authorities (a TLS-inspecting egress proxy, say) are part
# of its network, like the apt proxy: without them npm cannot reach its registry. The
# ca-certificates package that scripts/install-deps.sh installs adds them to the store.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
# /dev and /sys are recursive binds made slaves, so nothing mounted inside the root can
# propagate back onto the host's own /dev (the classic chroot pitfall).
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
for m in sys dev; do
    mount --rbind "/$m" "$root/$m" && mount --make-rslave "$root/$m" && mounted+=("$root/$m")
done

# The checkout: a clone of HEAD (what others would get), or the work tree.
dest=$root/root/skiff
if [[ $mode == clone ]] && git rev-parse --verify -q HEAD >/dev/null; then
    git clone -q --no-local "$repo" "$dest"
    echo "fresh_machine_test: cloned $(git -C "$dest" rev-parse --short HEAD)"
else
    [[ $mode == clone ]] && echo "fresh_machine_test: no commit yet; copying the work tree"
    mkdir -p "$dest"
    git ls-files -co --exclude-standard -z | tar -C "$repo" --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -C "$dest" -xf -
    echo "fresh_machine_test: copied the work tree ($(find "$dest" -type f | wc -l) files)"
fi

in_root() {
    chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb CI=true \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        ${http_proxy:+http_proxy=$http_proxy https_proxy=$http_proxy} \
        ${NODE_EXTRA_CA_CERTS:+NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS} \
        ${SSL_CERT_FILE:+SSL_CERT_FILE=$SSL_CERT_FILE} "$@"
}
echo "fresh_machine_test: apt-get install git make (the newcomer's prerequisites)"
in_root bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git make >/dev/null'

if ((demo)); then
    echo "fresh_machine_test: running 'make demo' in the fresh root, polling the seed's request"
    td=$(date +%s)
    set +e
    in_root bash -c '
        cd /root/skiff
        setsid make demo >/root/demo.log 2>&1 &
        demo=$! # its own process group: make and the server it starts
        body='"'"'{"feed":[{"x": [0.0137, -0.1136, 0.2553, -0.0692, 0.0582, -0.0727, -0.1583, -0.0584, 0.6283, 0.4919, 0.1856, 0.0795, -0.0332]}], "fetch":["price"]}'"'"'
        for _ in $(seq 1 1800); do
            if ! kill -0 $demo 2>/dev/null; then echo "make demo exited:"; tail -n 20 /root/demo.log; exit 1; fi
            if command -v curl >/dev/null &&
               out=$(curl -s -H "Content-Type:application/json" -X POST -d "$body" http://127.0.0.1:9393/uci/prediction) &&
               [[ $out == *price* ]]; then
                echo "demo answered: $out"
                kill -TERM -- -$demo; wait $demo 2>/dev/null
                exit 0
            fi
            sleep 2
        done
        echo "no answer from make demo within 60 minutes"; tail -n 20 /root/demo.log; kill -TERM -- -$demo; exit 1'
    rc=$?
    set -e
    echo "fresh_machine_test: 'make demo' check exited $rc after $(($(date +%s) - td))s"
    ((rc == 0)) || exit $rc
fi

echo "fresh_machine_test: running '${cmd[*]}' in the fresh root"
t1=$(date +%s)
set +e
in_root bash -c 'cd /root/skiff && "$@"' bash "${cmd[@]}"
rc=$?
set -e
echo "fresh_machine_test: '${cmd[*]}' exited $rc after $(($(date +%s) - t1))s" \
    "(total $(($(date +%s) - t0))s)"
exit $rc
