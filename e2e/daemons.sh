#!/bin/bash
# Start, stop and restart the private containerd and dockerd instances used by
# the end-to-end tests. Everything they own lives under one directory,
# $E2E_TMP, laid out by `e2e/run.sh`:
#
#   containerd.toml containerd.sock containerd.log containerd.pid
#   containerd/{root,state,opt}
#   docker.json docker.sock docker.log docker.pid docker/{data,exec}
#   docker-bridge.json docker-bridge.sock ...   (a second dockerd, default
#                                                bridge network left on)
#   docker-manager.json docker-manager.sock ... (a third one, for the
#                                                manager's scenarios only)
#   docker-boot.json docker-boot.sock ...       (a fourth one, writing the
#                                                boot scenarios' disk)
#   ns/net          a private network namespace for containerd and dockerd
#   ns/net-bridge   another one for the second dockerd (the first one, with
#                   "bridge": "none", deletes any docker0 it sees at startup)
#   ns/net-manager  and one for the third
#   ns/net-boot     and one for the fourth
#
# Usage: E2E_TMP=DIR daemons.sh start|stop|restart|crash-restart|cleanup
#        E2E_TMP=DIR daemons.sh stop-dockerd|start-dockerd NAME
#   (one engine only, the others and containerd left as they are)
#
# Only processes recorded in our pid files (and verified to carry our
# configuration path on their command line) are ever signalled; `cleanup`
# additionally kills processes whose command line or working directory lies
# under $E2E_TMP (containerd shims, proxies, hooks) -- by PID, found in /proc.
set -euo pipefail
# Job control: each daemon gets its own process group, and (unlike background
# jobs of a plain script) starts with default SIGINT/SIGQUIT dispositions, as
# under systemd.
set -m

T=${E2E_TMP:?E2E_TMP must name the harness directory}
DOCKERDS=(docker docker-bridge docker-manager docker-boot)

log() { echo "e2e-daemons: $*" >&2; }

# pid_of NAME: the recorded PID of daemon NAME if it is alive and is ours.
pid_of() {
    local pidfile="$T/$1.pid" pid
    [ -s "$pidfile" ] || return 1
    pid=$(cat "$pidfile")
    [ -r "/proc/$pid/cmdline" ] || return 1
    # Ours only if its command line names our config file.
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$T/$1." || return 1
    echo "$pid"
}

# stat_of PID N: field N after the command name of /proc/PID/stat
# (1 = state, 2 = parent PID); the name itself may contain spaces.
stat_of() {
    local s
    s=$(cat 2>/dev/null "/proc/$1/stat") || return 1
    s=${s##*) }
    set -- $s "$2"
    local n=${!#}
    echo "${!n}"
}

# wait_gone PID SECONDS
wait_gone() {
    local pid=$1 deadline=$((SECONDS + $2))
    while [ -d "/proc/$pid" ] && [ "$(stat_of "$pid" 1)" != Z ]; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}

# stop_one NAME [SIGNAL]
stop_one() {
    local name=$1 sig=${2:-TERM} pid
    pid=$(pid_of "$name") || { rm -f "$T/$name.pid"; return 0; }
    kill -"$sig" "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 30; then
        log "$name ($pid) did not stop in 30s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 10 || log "$name ($pid) still alive"
    fi
    rm -f "$T/$name.pid"
}

# wait_ready NAME SECONDS CHECK-COMMAND...
wait_ready() {
    local name=$1 deadline=$((SECONDS + $2))
    shift 2
    until "$@" >/dev/null 2>&1; do
        if ! pid_of "$name" >/dev/null; then
            log "$name exited during startup; last log lines:"
            tail -n 30 "$T/$name.log" >&2 || true
            return 1
        fi
        if [ $SECONDS -ge $deadline ]; then
            log "$name not ready after $2s; last log lines:"
            tail -n 30 "$T/$name.log" >&2 || true
            return 1
        fi
        sleep 0.2
    done
}

# The variable E2E_DAEMON_ENV_MARKER is set in the daemons' environment so that
# tests can prove hooks do not inherit it.
spawn() {
    local name=$1 netns=$T/ns/net
    shift
    case "$name" in
    docker-bridge) netns=$T/ns/net-bridge ;;
    docker-manager) netns=$T/ns/net-manager ;;
    docker-boot) netns=$T/ns/net-boot ;;
    esac
    echo "=== $(date -Is) starting $name" >>"$T/$name.log"
    env E2E_DAEMON_ENV_MARKER=leaked-from-daemon \
        nsenter --net="$netns" -- "$@" </dev/null >>"$T/$name.log" 2>&1 &
    echo $! >"$T/$name.pid"
}

start_containerd() {
    pid_of containerd >/dev/null && return 0
    spawn containerd containerd --config "$T/containerd.toml"
    wait_ready containerd 60 timeout 10 ctr -a "$T/containerd.sock" version
}

start_dockerd() {
    local name=$1
    pid_of "$name" >/dev/null && return 0
    # A dockerd that was SIGKILLed (crash-restart) leaves its own pid file,
    # and a new one refuses to start while it exists. Ours is not running.
    rm -f "$T/$name/dockerd.pid"
    spawn "$name" dockerd --config-file "$T/$name.json"
    wait_ready "$name" 90 timeout 10 docker -H "unix://$T/$name.sock" version
}

start() {
    start_containerd
    local name pids=() pid rc=0
    for name in "${DOCKERDS[@]}"; do
        start_dockerd "$name" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
    return $rc
}

stop_dockerds() {
    local name pids=() pid
    for name in "${DOCKERDS[@]}"; do
        stop_one "$name" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || true; done
}

stop() {
    stop_dockerds
    stop_one containerd
}

# Processes that belong to the harness: command line or cwd under $T, or
# descendants of those; never ourselves or our ancestors.
harness_pids() {
    local protect=" $BASHPID " p=$$ pid cmd cwd
    while [ "$p" -gt 1 ] 2>/dev/null; do
        protect+="$p "
        p=$(stat_of "$p" 2 || echo 0)
    done
    local -A ppid_of=()
    local roots=()
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        ppid_of[$pid]=$(stat_of "$pid" 2 || echo 0)
        case "$protect" in *" $pid "*) continue ;; esac
        cmd=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline" || true)
        cwd=$(readlink "$d/cwd" 2>/dev/null || true)
        case "$cmd" in *"$T/"*) roots+=("$pid"); continue ;; esac
        case "$cwd/" in "$T/"*) roots+=("$pid") ;; esac
    done
    # Add descendants (a few passes suffice for shim -> proxy -> hook -> child).
    local -A mark=()
    for pid in "${roots[@]}"; do mark[$pid]=1; done
    local changed=1
    while [ $changed = 1 ]; do
        changed=0
        for pid in "${!ppid_of[@]}"; do
            [ -z "${mark[$pid]:-}" ] || continue
            case "$protect" in *" $pid "*) continue ;; esac
            if [ -n "${mark[${ppid_of[$pid]}]:-}" ]; then
                mark[$pid]=1
                changed=1
            fi
        done
    done
    [ ${#mark[@]} -eq 0 ] || printf '%s\n' "${!mark[@]}"
}

# Best effort: tear down every container/task the daemons left in containerd,
# so shims exit and unmount cleanly.
drain_containerd() {
    local a="$T/containerd.sock" ns id
    pid_of containerd >/dev/null || return 0
    for ns in $(timeout 10 ctr -a "$a" namespaces ls -q 2>/dev/null); do
        for id in $(timeout 10 ctr -a "$a" -n "$ns" tasks ls -q 2>/dev/null); do
            timeout 20 ctr -a "$a" -n "$ns" tasks delete --force "$id" >/dev/null 2>&1 || true
        done
        for id in $(timeout 10 ctr -a "$a" -n "$ns" containers ls -q 2>/dev/null); do
            timeout 20 ctr -a "$a" -n "$ns" containers delete "$id" >/dev/null 2>&1 || true
        done
    done
}

kill_leftovers() {
    local pids pid cmd ns id addr
    pids=$(harness_pids)
    [ -n "$pids" ] || return 0
    for pid in $pids; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" || true)
        log "killing leftover process $pid: $cmd"
        # containerd 1.6 shims keep their socket outside the state dir, in
        # /run/containerd/s/sha256(<address>/<namespace>/<id>); a killed shim
        # leaves it behind, so remove exactly that one.
        case "$cmd" in *containerd-shim*)
            ns=$(sed -n 's/.*-namespace \([^ ]*\).*/\1/p' <<<"$cmd")
            id=$(sed -n 's/.*-id \([^ ]*\).*/\1/p' <<<"$cmd")
            addr=$(sed -n 's/.*-address \([^ ]*\).*/\1/p' <<<"$cmd")
            if [ -n "$ns" ] && [ -n "$id" ] && [ -n "$addr" ]; then
                echo "/run/containerd/s/$(printf '%s' "$addr/$ns/$id" | sha256sum | cut -c1-64)" >>"$T/shim-sockets"
            fi
            ;;
        esac
        kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in $pids; do wait_gone "$pid" 10 || log "process $pid survived SIGKILL"; done
    if [ -f "$T/shim-sockets" ]; then
        xargs -r rm -f <"$T/shim-sockets"
        rm -f "$T/shim-sockets"
    fi
}

unmount_all() {
    local mnt pass
    for pass in 1 2 3; do
        # Deepest first. Mount points are octal-escaped in mountinfo.
        mapfile -t mnts < <(awk -v t="$T/" 'index($5, t) == 1 || $5 == substr(t, 1, length(t) - 1) {print $5}' /proc/self/mountinfo |
            while read -r m; do printf '%b\n' "$m"; done | awk '{print length($0) " " $0}' | sort -rn | cut -d' ' -f2-)
        [ ${#mnts[@]} -gt 0 ] || return 0
        for mnt in "${mnts[@]}"; do
            umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
        done
    done
    awk -v t="$T/" 'index($5, t) == 1 {print "e2e-daemons: still mounted: " $5}' /proc/self/mountinfo >&2
    return 1
}

cleanup() {
    stop_dockerds
    drain_containerd
    stop_one containerd
    kill_leftovers
    unmount_all
}

case "${1:-}" in
start) start ;;
stop) stop ;;
restart)
    stop
    start
    ;;
crash-restart)
    # The engines die without stopping their containers (as in a crash);
    # containerd stops normally (its shims live on either way).
    for name in "${DOCKERDS[@]}"; do stop_one "$name" KILL; done
    stop_one containerd
    start
    ;;
cleanup) cleanup ;;
stop-dockerd | start-dockerd)
    name=${2:-}
    case " ${DOCKERDS[*]} " in
    *" $name "*) ;;
    *)
        echo "$0 $1: no engine named \"$name\" (one of: ${DOCKERDS[*]})" >&2
        exit 2
        ;;
    esac
    if [ "$1" = stop-dockerd ]; then
        stop_one "$name"
    else
        pid_of containerd >/dev/null || { log "containerd is not running"; exit 1; }
        start_dockerd "$name"
    fi
    ;;
*)
    echo "usage: E2E_TMP=DIR $0 start|stop|restart|crash-restart|cleanup" >&2
    echo "       E2E_TMP=DIR $0 stop-dockerd|start-dockerd NAME" >&2
    exit 2
    ;;
esac
