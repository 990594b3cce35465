#!/bin/bash
# `wmrun kill --all` signals every process of the container, not only the init, and nothing
# else.
# 1. With its own pid namespace (the default spec), SIGTERM without a handler is ignored by the
#    namespace's init, so a plain kill leaves everything running; kill --all TERM reaches the
#    children and the cgroup empties. Then the same with SIGKILL.
# 2. Without a pid namespace, the container's processes live among others: kill --all must
#    signal the cgroup's processes only. This part runs in a pid namespace of its own, so a
#    kill --all that signals a whole namespace cannot take the VM down with it.

# shellcheck disable=SC2016,SC2034,SC2317
source "$(dirname "$0")/wmrun-common.bash"

# Sleepers in the background, two of them in a nested subshell, the init waiting for them.
edit_config '
c["process"]["args"] = ["sh", "-c",
    "sleep 1000 & sleep 1000 & (sleep 1000 & sleep 1000 & wait) & wait"]
'
nprocs() { wc -l <"$CG/cgroup.procs"; }
for signal in TERM KILL; do
    echo "--- kill --all $signal, own pid namespace"
    run_detached
    check 'wait_for 30 "[ \$(nprocs) -ge 6 ]"' "the container has its 6 processes"
    if [ "$signal" = TERM ]; then
        wm kill "$ID" TERM || true
        sleep 1
        check '[ "$(nprocs)" -ge 6 ]' "a plain kill TERM leaves the namespace's init running"
    fi
    check 'wm kill --all "$ID" $signal' "kill --all $signal succeeds"
    check 'wait_for 10 "[ \$(nprocs) -eq 0 ]"' "no process is left in the cgroup"
    check 'grep -qx "populated 0" "$CG/cgroup.events"' "the cgroup is not populated"
    check 'wait_for 10 "[ \"\$(container_status)\" = stopped ]"' "state says stopped"
    wm delete "$ID" || status=1
    check '[ ! -d "$CG" ]' "delete of the stopped container removes the cgroup"
done

echo "--- kill --all TERM, host pid namespace"
edit_config '
c["process"]["args"] = ["sh", "-c",
    "sleep 1000 & sleep 1000 & (sleep 1000 & sleep 1000 & wait) & wait"]
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]
'
export WMRUN STATE BUNDLE ID CG
rc=0
unshare --pid --fork --mount-proc bash -c '
    set -u
    wm() { "$WMRUN" --root "$STATE" "$@"; }
    sleep 1000 &
    bystander=$!
    wm run -d -b "$BUNDLE" "$ID" </dev/null >/dev/null 2>&1 || { echo "run failed"; exit 3; }
    for _ in $(seq 300); do [ "$(wc -l <"$CG/cgroup.procs")" -ge 6 ] && break; sleep 0.1; done
    wm kill --all "$ID" TERM
    for _ in $(seq 100); do [ -s "$CG/cgroup.procs" ] || break; sleep 0.1; done
    left=$(wc -l <"$CG/cgroup.procs")
    alive=yes
    kill -0 "$bystander" 2>/dev/null || alive=no
    echo "left in the cgroup: $left; the bystander outside it alive: $alive"
    wm delete --force "$ID"
    kill "$bystander" 2>/dev/null
    [ "$left" -eq 0 ] && [ "$alive" = yes ]
' || rc=$?
check '[ "$rc" -eq 0 ]' "kill --all empties the cgroup and spares processes outside it (rc $rc)"
finish
