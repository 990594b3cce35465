#!/bin/bash
# On pure cgroup v2 the container's /sys/fs/cgroup is its own cgroup: with a cgroup namespace
# a fresh cgroup2 mount rooted there, without one a bind of its own directory. Either way it
# reads its own memory.max and pids.max, sees no sibling, and cannot write unless asked (rw).

# shellcheck disable=SC2016,SC2034,SC2317
source "$(dirname "$0")/wmrun-common.bash"

SIBLING=/sys/fs/cgroup/vmtest-$ID-sibling
mkdir "$SIBLING"
trap 'cleanup_container; rmdir "$SIBLING" 2>/dev/null || true' EXIT

for cgroupns in true false; do
    edit_config "
c['process']['args'] = ['sh', '-c', 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; '
                        'cat /proc/self/cgroup; ls /sys/fs/cgroup | grep -c vmtest; '
                        'mkdir /sys/fs/cgroup/x 2>&1 | grep -c Read-only']
c['linux']['resources'] = {'memory': {'limit': 67108864}, 'pids': {'limit': 42}}
c['linux']['namespaces'] = [n for n in c['linux']['namespaces'] if n['type'] != 'cgroup']
if $([ $cgroupns = true ] && echo True || echo False):
    c['linux']['namespaces'].append({'type': 'cgroup'})
"
    out=$(wm run -b "$BUNDLE" "$ID" </dev/null 2>"$PWD/err") || {
        echo "run failed: $(cat "$PWD/err")" >&2
        status=1
        continue
    }
    echo "cgroupns=$cgroupns: $(echo "$out" | tr '\n' ' ')"
    check '[ "$(echo "$out" | sed -n 1p)" = 67108864 ]' "memory.max is the container's"
    check '[ "$(echo "$out" | sed -n 2p)" = 42 ]' "pids.max is the container's"
    if [ $cgroupns = true ]; then
        check '[ "$(echo "$out" | sed -n 3p)" = "0::/" ]' "the cgroup namespace is rooted at it"
    fi
    check '[ "$(echo "$out" | sed -n 4p)" = 0 ]' "no other cgroup is visible"
    check '[ "$(echo "$out" | sed -n 5p)" = 1 ]' "the mount is read-only"
done
finish
