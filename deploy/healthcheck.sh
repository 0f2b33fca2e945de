#!/bin/bash
# skiff-healthcheck - the image's HEALTHCHECK: asks the skiff server in this container
# for GET /v2/health/ready and succeeds on 200 (ready: models loaded, not draining).
# bash's /dev/tcp speaks the HTTP, so the slim image needs no curl.
#
# The port: SKIFF_HEALTH_PORT when set, else the --port of the running `skiff serve`
# (or `skiff pipeline`) read from its command line, else skiff's default 9393. Set
# SKIFF_HEALTH_PORT where the port comes from elsewhere (--config, a pipeline's
# http_port). The address: 127.0.0.1 unless --host names one address.
port=${SKIFF_HEALTH_PORT:-}
host=127.0.0.1
for f in /proc/[0-9]*/cmdline; do
    argv=()
    mapfile -d '' -t argv <"$f" 2>/dev/null || continue
    [[ ${argv[0]##*/} == skiff && (${argv[1]} == serve || ${argv[1]} == pipeline) ]] || continue
    for ((i = 2; i < ${#argv[@]}; i++)); do
        case ${argv[i]} in
        --port) [[ -z ${SKIFF_HEALTH_PORT:-} ]] && port=${argv[i + 1]} ;;
        --port=*) [[ -z ${SKIFF_HEALTH_PORT:-} ]] && port=${argv[i]#--port=} ;;
        --host) host=${argv[i + 1]} ;;
        --host=*) host=${argv[i]#--host=} ;;
        esac
    done
    break
done
case $host in 0.0.0.0 | '' | '*') host=127.0.0.1 ;; :: | '[::]') host=::1 ;; esac
port=${port:-9393}

exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /v2/health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
read -r -t 5 _ status _ <&3 || exit 1
[[ $status == 200 ]]
