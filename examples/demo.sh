#!/bin/sh
# A whole lifecycle of examples/hello-extension, as containerd would drive
# it, with the state in a temporary directory. Usage: demo.sh RUNTIME
set -eu
runtime=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -a "$here/hello-extension" "$tmp/bundle"
rt() { "$runtime" --root "$tmp/state" --log "$tmp/log.json" --log-format json "$@"; }
step() { printf '\n$ balena-extension-runtime %s\n' "$*"; }

step extension-inspect bundle
# Exit 1 here only means the example's kernel-version label is not this
# host's kernel: the report says which check failed.
"$(dirname "$runtime")/balena-extension-runtime" extension-inspect --root "$tmp/state" "$tmp/bundle" || true

step create --bundle bundle --pid-file init.pid demo
# The container's stdout/stderr go to a file here (the engine gives pipes).
rt create --bundle "$tmp/bundle" --pid-file "$tmp/init.pid" demo >"$tmp/container.out" 2>&1
echo "proxy pid: $(cat "$tmp/init.pid")"
step state demo
rt state demo
step state-dump
"$runtime" state-dump --root "$tmp/state"
step start demo
rt start demo
# start returns once the start hook runs; the container stops when it ends
# (containerd learns it by reaping the proxy).
i=0
until rt state demo | grep -q '"status": "stopped"' || [ $i -ge 200 ]; do
    sleep 0.05
    i=$((i + 1))
done
step state demo
rt state demo
step list
rt list
step delete demo
rt delete demo
printf '\n--- what the container printed (docker logs) ---\n'
cat "$tmp/container.out"
printf '\n--- %s (what containerd reads) ---\n' log.json
cat "$tmp/log.json"
