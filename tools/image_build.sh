#!/usr/bin/env bash
# image_build.sh - builds the skiff container image (deploy/Dockerfile) with podman on a
# machine that reaches a Debian mirror but no container registry. The two base images
# the Dockerfile names, debian:bookworm and debian:bookworm-slim, are made here: a
# debootstrap --variant=minbase root, trimmed the way Debian's slim images are trimmed,
# imported into podman under both names. Then the Dockerfile is built unchanged.
#
#   sudo tools/image_build.sh [options]
#     --tag NAME       the image to build (default skiff:latest); its build stage is
#                      tagged NAME-build too (for its size; podman keeps the layers anyway)
#     --cache DIR      where the base root is kept between runs
#                      (default /var/tmp/skiff-image-base)
#     --rebuild-base   a new debootstrap even when a base is cached (security updates)
#     --base-only      stop once the base images exist
#     --jobs N         compile jobs inside the build stage (default 2)
#
# The first run bootstraps (99 s here) and compiles skiff inside the build stage; a
# second run finds the base images in podman's store, and podman's layer cache skips
# every step whose inputs did not change. Needs root, podman, runc and debootstrap:
# scripts/install-deps.sh --image. docs/deploy.md ("Container image") has the measured
# sizes and how to run the image.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=skiff:latest
cache=/var/tmp/skiff-image-base
rebuild=0
base_only=0
jobs=2
while (($#)); do
    case $1 in
    --tag) tag=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --rebuild-base) rebuild=1; shift ;;
    --base-only) base_only=1; shift ;;
    --jobs) jobs=$2; shift 2 ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "image_build: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $(id -u) -eq 0 ]] || { echo "image_build: run as root (debootstrap, rootful podman)" >&2; exit 1; }
for t in podman runc debootstrap; do
    command -v $t >/dev/null || { echo "image_build: $t missing: scripts/install-deps.sh --image" >&2; exit 1; }
done
[[ -n $cache && $cache != / ]] || { echo "image_build: refusing --cache '$cache'" >&2; exit 1; }

# podman 4.3 on this kind of host: crun (podman's first choice when installed) refuses a
# hybrid cgroup v1/v2 hierarchy, runc runs it. Everything else (cgroupfs manager, file
# events logger, overlay storage) podman picks by itself where systemd is not PID 1.
podman=(podman --runtime runc)
# A container's default limits (nofile 1048576) exceed this VM's hard limits, which runc
# cannot raise: every RUN and every container gets limits under them.
ulimits=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

. tools/debian_mirror.sh
# Passed into the build's RUN steps by podman (it forwards the proxy variables), never
# written into an image.
[[ -n $proxy ]] && export http_proxy=$proxy https_proxy=$proxy

slim=localhost/debian:bookworm-slim
full=localhost/debian:bookworm
t0=$(date +%s)
say() { echo "image_build: $* ($(($(date +%s) - t0)) s)"; }

# ---- the base images -------------------------------------------------------------

# debian:bookworm-slim's trim (debuerreotype's slimify): these paths are deleted from the
# root and kept out of every later install by dpkg path-exclude rules; the include
# patterns survive (licences, the locale names programs read).
slim_excludes=(/usr/share/doc/'*' /usr/share/groff/'*' /usr/share/info/'*' /usr/share/linda/'*'
    /usr/share/lintian/overrides/'*' /usr/share/locale/'*' /usr/share/man/'*')
slim_includes=(/usr/share/doc/'*'/copyright /usr/share/locale/all_languages
    /usr/share/locale/currency/'*' /usr/share/locale/l10n/'*' /usr/share/locale/languages
    /usr/share/locale/locale.alias)

trim_root() {
    local root=$1 pat dir
    {
        echo "# This root is trimmed like Debian's slim images: documentation, manual pages"
        echo "# and translations are left out of every package installed later too."
        for pat in "${slim_excludes[@]}"; do echo "path-exclude $pat"; done
        for pat in "${slim_includes[@]}"; do echo "path-include $pat"; done
    } >"$root/etc/dpkg/dpkg.cfg.d/slim-image"
    local keep=()
    for pat in "${slim_includes[@]}"; do keep+=(-o -path "$root$pat"); done
    for pat in "${slim_excludes[@]}"; do
        dir=$root${pat%/\*}
        [[ -d $dir ]] || continue
        # Files first (not the kept ones), then empty directories and dangling links,
        # repeated until none is left (a link may point into a directory just emptied).
        find "$dir" -mindepth 1 ! \( -type d -o -type l \) ! \( -false "${keep[@]}" \) -delete
        while [[ -n $(find "$dir" -mindepth 1 \( -empty -o -xtype l \) -print -delete) ]]; do :; done
    done

    # Container habits of Debian's images: no service starts during installs, dpkg skips
    # fsync, apt keeps no .deb files, caches or translations and compresses its lists.
    printf '#!/bin/sh\n# Services are not started while packages install in a container.\nexit 101\n' \
        >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/unsafe-io"
    cat >"$root/etc/apt/apt.conf.d/90container" <<'EOF'
// Each install is an image layer: downloaded packages and apt's binary caches would
// only make the layer bigger.
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
Acquire::GzipIndexes "true";
Apt::AutoRemove::SuggestsImportant "false";
EOF

    # The mirror this machine uses, in the deb822 form of Debian's images.
    rm -f "$root/etc/apt/sources.list"
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

    # What belongs to the machine that bootstrapped, not to an image: its host name and
    # resolver (a container gets its own), logs, apt's lists and caches.
    rm -f "$root/etc/hostname" "$root/etc/resolv.conf" "$root/var/cache/ldconfig/aux-cache" \
        "$root"/var/log/{dpkg.log,bootstrap.log,alternatives.log} "$root"/var/log/apt/*.log
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
        "$root"/var/cache/apt/archives/*.deb "$root"/run/* "$root"/tmp/*
}

base_ready() { "${podman[@]}" image exists "$slim" && "${podman[@]}" image exists "$full"; }

if ((rebuild)) || ! base_ready; then
    root=$cache/root
    if ((rebuild)) || [[ ! -f $cache/root.done ]]; then
        say "debootstrap --variant=minbase bookworm from $mirror into $root"
        rm -rf --one-file-system "$root" "$cache/root.done"
        mkdir -p "$cache"
        debootstrap --variant=minbase bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
            tail -n 30 "$cache/debootstrap.log"
            echo "image_build: debootstrap failed (log: $cache/debootstrap.log)" >&2
            exit 1
        }
        trim_root "$root"
        date -u +%FT%TZ >"$cache/root.done"
        say "base root ready: $(du -sm --exclude=proc --exclude=sys "$root" | cut -f1) MB"
    fi
    # /dev, /proc and /sys are the runtime's to mount; the image carries them empty.
    tar --numeric-owner --xattrs -C "$root" --exclude=./dev/'*' --exclude=./proc/'*' \
        --exclude=./sys/'*' -cf - . |
        "${podman[@]}" import --quiet --change 'CMD ["bash"]' \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --message "debootstrap --variant=minbase bookworm, slim trim ($(cat "$cache/root.done"))" \
            - "$slim" >/dev/null
    "${podman[@]}" tag "$slim" "$full"
    say "imported $slim and $full ($(cat "$cache/root.done"))"
else
    say "base images $slim and $full already in podman's store (--rebuild-base makes new ones)"
fi
((base_only)) && exit 0

# ---- the image ------------------------------------------------------------------------

# --format docker: the OCI image format has no HEALTHCHECK. --network host: the RUN steps
# reach the Debian mirror without a container network. --pull=never: the bases are the
# local ones above and no registry is reachable.
build=("${podman[@]}" build --format docker --network host --pull=never "${ulimits[@]}"
    --build-arg JOBS="$jobs" -f deploy/Dockerfile)
say "podman build -t $tag"
"${build[@]}" -t "$tag" .
# The build stage's layers are all cached by now: this only names them, for their size.
"${build[@]}" --target build -t "$tag-build" . >/dev/null
size() { "${podman[@]}" image inspect --format '{{.Size}}' "$1"; }
say "built $tag: $(($(size "$tag") / 1000000)) MB (build stage $tag-build: $(($(size "$tag-build") / 1000000)) MB)"
