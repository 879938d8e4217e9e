#!/bin/bash
# End-to-end tests: a private containerd and dockerd (Debian's packages) drive
# dist/balena-extension-runtime; `cargo test --test e2e` holds the scenarios.
#
#   bash e2e/run.sh [TEST-FILTER...]     run the e2e tests (what `make e2e` does)
#   bash e2e/run.sh --exec CMD [ARG...]  start the daemons, run CMD with the
#                                        E2E_* variables set, tear down
#
# Must run as root. Everything the daemons own -- data, state, sockets, logs,
# and a private network namespace -- lives under one `mktemp -d` directory,
# removed on exit (pass, fail or interrupt) after stopping only the processes
# this script started and unmounting what they left. E2E_KEEP=1 keeps the
# directory (daemons are still stopped). E2E_DIST overrides the directory
# holding balena-extension-runtime (default: dist/ of this repository).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dist=$(cd "${E2E_DIST:-$repo/dist}" 2>/dev/null && pwd) || {
    echo "e2e: ${E2E_DIST:-$repo/dist} does not exist; run \`make build\` first" >&2
    exit 1
}
runtime="$dist/balena-extension-runtime"

if [ "$(id -u)" != 0 ]; then
    echo "e2e: must run as root (it starts containerd and dockerd)" >&2
    exit 1
fi
for tool in containerd containerd-shim-runc-v2 ctr dockerd docker nsenter unshare ip sha256sum tar chattr; do
    command -v "$tool" >/dev/null || {
        echo "e2e: $tool not found; install containerd, docker.io and runc (see .ci/run)" >&2
        exit 1
    }
done
[ -x "$runtime" ] || {
    echo "e2e: $runtime is missing; run \`make build\` first" >&2
    exit 1
}

started=$(date +%s)
# dockerd and the shims create these fixed host directories; remove them at the
# end if they did not exist before and are empty again.
host_dirs=()
for d in /run/docker/plugins /run/docker /run/containerd/s /run/containerd; do
    [ -e "$d" ] || host_dirs+=("$d")
done
T=$(mktemp -d /tmp/bext-e2e.XXXXXX)
chmod 0711 "$T"
export E2E_TMP=$T

finish() {
    local rc=$?
    trap - EXIT INT TERM HUP
    set +e
    if [ $rc != 0 ]; then
        for log in "$T"/*.log; do
            [ -f "$log" ] || continue
            echo "----- last lines of $(basename "$log") (routine info left out) -----" >&2
            grep -vE 'level=info msg="(\[core\]|loading plugin|skip loading)' "$log" | tail -n 40 >&2
        done
    fi
    bash "$repo/e2e/daemons.sh" cleanup || rc=1
    for d in "${host_dirs[@]}"; do rmdir "$d" 2>/dev/null; done
    if awk -v t="$T/" 'index($5, t) == 1 {found = 1} END {exit !found}' /proc/self/mountinfo; then
        echo "e2e: mounts remain under $T; not removing it" >&2
        rc=1
    elif [ "${E2E_KEEP:-0}" = 1 ]; then
        echo "e2e: kept $T" >&2
    else
        rm -rf --one-file-system "$T"
    fi
    echo "e2e: finished in $(($(date +%s) - started))s (exit $rc)" >&2
    exit $rc
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mkdir -p "$T"/containerd/{root,state,opt} "$T"/docker/{data,exec} \
    "$T"/docker-bridge/{data,exec} "$T"/docker-manager/{data,exec} \
    "$T"/docker-boot/{data,exec} "$T"/cli "$T"/work "$T"/ns

cat >"$T/containerd.toml" <<EOF
version = 2
root = "$T/containerd/root"
state = "$T/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$T/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$T/containerd/opt"
EOF

# dockerd_config NAME NAMESPACE EXTRA-JSON
dockerd_config() {
    cat >"$T/$1.json" <<EOF
{
  "containerd": "$T/containerd.sock",
  "containerd-namespace": "$2",
  "containerd-plugins-namespace": "plugins.$2",
  "data-root": "$T/$1/data",
  "exec-root": "$T/$1/exec",
  "pidfile": "$T/$1/dockerd.pid",
  "deprecated-key-path": "$T/$1/key.json",
  "hosts": ["unix://$T/$1.sock"],
  "iptables": false,
  "storage-driver": "overlay2",
  $3
  "runtimes": {
    "extension": {
      "path": "$runtime",
      "runtimeArgs": ["--docker-root", "$T/$1/data"]
    }
  }
}
EOF
}
# The main engine: no default bridge network.
dockerd_config docker moby '"bridge": "none",'
# A second engine with Docker's default bridge left on (scenario 11).
dockerd_config docker-bridge moby-bridge ''
# A third engine for the manager's scenarios: `cleanup` sweeps every
# extension container and image of its engine, so these get one of their own.
dockerd_config docker-manager moby-manager '"bridge": "none",'
# A fourth one writes the disk of the boot scenarios (e2e/boot.rs): only
# their containers, so the disk holds exactly what they assert.
dockerd_config docker-boot moby-boot '"bridge": "none",'

# Private network namespaces for the daemons, so the second engine's docker0
# bridge never appears on the host. The bind mount holding them is private.
mount --bind "$T/ns" "$T/ns"
mount --make-private "$T/ns"
for ns in net net-bridge net-manager net-boot; do
    touch "$T/ns/$ns"
    unshare --net="$T/ns/$ns" ip link set lo up
done

bash "$repo/e2e/daemons.sh" start

export E2E_REQUIRED=1
export E2E_REPO=$repo
export E2E_DIST=$dist
export E2E_RUNTIME=$runtime
export E2E_CONTAINERD_ADDRESS=$T/containerd.sock
export E2E_DOCKER_HOST=unix://$T/docker.sock
export E2E_DOCKER_ROOT=$T/docker/data
export E2E_DOCKER_EXEC_ROOT=$T/docker/exec
export E2E_DOCKER_BRIDGE_HOST=unix://$T/docker-bridge.sock
export E2E_DOCKER_BRIDGE_ROOT=$T/docker-bridge/data
export E2E_DOCKER_MANAGER_HOST=unix://$T/docker-manager.sock
export E2E_DOCKER_MANAGER_ROOT=$T/docker-manager/data
export E2E_DOCKER_BOOT_HOST=unix://$T/docker-boot.sock
export E2E_DOCKER_BOOT_ROOT=$T/docker-boot/data
export E2E_DAEMONS="$repo/e2e/daemons.sh"
# The docker CLI keeps its own config here rather than in ~/.docker.
export DOCKER_CONFIG=$T/cli
echo "e2e: daemons ready under $T after $(($(date +%s) - started))s" >&2

if [ "${1:-}" = --exec ]; then
    shift
    "$@"
else
    cd "$repo"
    cargo test --locked --test e2e -- --test-threads=1 "$@"
fi
