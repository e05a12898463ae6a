#!/bin/bash
# Container health checks for the testarena image, installed as
# /usr/local/bin/testarena-healthcheck. Bash only (its /dev/tcp and /proc),
# so the runtime image needs no curl or wget.
#
#   testarena-healthcheck http PATH   GET http://127.0.0.1:<port of TESTARENA_LISTEN>PATH
#                                     answers 200 (the gateway: PATH=/readyz)
#   testarena-healthcheck nats        a process in this container holds an
#                                     ESTABLISHED TCP connection to a port named
#                                     in TESTARENA_NATS_URL (worker, projector)
#
# Why the nats check is honest but not more: `testarena worker` and
# `testarena projector` serve nothing to ask, and their one dependency is the
# NATS connection, which async-nats keeps open (with pings) while it is
# healthy and drops while it reconnects. The check looks at the port only,
# not the address, since /proc shows the resolved IP, not the host name.
set -uo pipefail

http_check() {
    local path="${1:-/readyz}" port status
    port="${TESTARENA_LISTEN:-127.0.0.1:8080}"
    port="${port##*:}"
    { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || { echo "cannot connect to 127.0.0.1:$port"; return 1; }
    printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$path" >&3
    IFS= read -r -t 3 status <&3 || { echo "no answer from 127.0.0.1:$port$path"; return 1; }
    exec 3>&-
    case "$status" in
        "HTTP/1."?" 200 "*) echo "$path: 200"; return 0 ;;
        *) echo "$path: ${status%$'\r'}"; return 1 ;;
    esac
}

nats_check() {
    local urls="${TESTARENA_NATS_URL:-nats://127.0.0.1:4222}" url hostport port list want=()
    IFS=',' read -r -a list <<<"$urls"
    for url in "${list[@]}"; do
        hostport="${url#*://}"     # drop the scheme
        hostport="${hostport##*@}" # drop user:password@
        hostport="${hostport%%/*}"
        if [[ "$hostport" == *:* ]]; then port="${hostport##*:}"; else port=4222; fi
        want+=("$(printf '%04X' "$port")")
    done
    # /proc/net/tcp{,6}: field 3 is the remote address as HEXIP:HEXPORT,
    # field 4 the state (01 = ESTABLISHED).
    local file
    for file in /proc/net/tcp /proc/net/tcp6; do
        [ -r "$file" ] || continue
        while read -r _ _ remote state _; do
            [ "$state" = 01 ] || continue
            for port in "${want[@]}"; do
                if [ "${remote##*:}" = "$port" ]; then
                    echo "connected to NATS (port $((16#$port)))"
                    return 0
                fi
            done
        done < <(tail -n +2 "$file")
    done
    echo "no established connection to NATS ($urls)"
    return 1
}

case "${1:-}" in
    http) http_check "${2:-/readyz}" ;;
    nats) nats_check ;;
    *) echo "usage: testarena-healthcheck http PATH | nats" >&2; exit 2 ;;
esac
