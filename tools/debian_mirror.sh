# shellcheck shell=bash disable=SC2034 # sets variables for the script that sources it
# debian_mirror.sh - sourced by the tools that bootstrap a Debian root
# (fresh_machine_test.sh, image_build.sh): sets `mirror`, `security` and `proxy` to the
# Debian mirror, its security archive and the HTTP proxy this machine's apt uses
# (proxy empty when there is none), so a root made here fetches from where the
# machine itself does.
mirror=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list |
    grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ' || true)
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}
security=${mirror%/debian*}/debian-security
proxy=$(apt-config dump 2>/dev/null | sed -nE 's/^Acquire::http::Proxy "(.+)";$/\1/p' | head -n 1)
