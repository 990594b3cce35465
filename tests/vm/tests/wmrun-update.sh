#!/bin/bash
# `wmrun update` changes the limits of a running container: pids.max, memory.max and cpu.max
# read back from its cgroup, and the new pids limit is enforced.

# shellcheck disable=SC2016,SC2034,SC2317
source "$(dirname "$0")/wmrun-common.bash"

edit_config '
c["process"]["args"] = ["sleep", "1000"]
c["linux"]["resources"]["pids"] = {"limit": 50}
c["linux"]["resources"]["memory"] = {"limit": 64 * 1024 * 1024}
'
run_detached
check '[ "$(cat "$CG/pids.max")" = 50 ] && [ "$(cat "$CG/memory.max")" = $((64 << 20)) ]' \
    "the spec's limits are set at start"

check 'wm update --pids-limit 3 "$ID"' "update --pids-limit succeeds"
check '[ "$(cat "$CG/pids.max")" = 3 ]' "pids.max is now 3"
check 'wm update --memory 48m "$ID"' "update --memory succeeds"
check '[ "$(cat "$CG/memory.max")" = $((48 << 20)) ]' "memory.max is now 48 MiB"
check '[ "$(cat "$CG/pids.max")" = 3 ]' "updating memory leaves pids.max alone"
check 'wm update --cpu-quota 30000 --cpu-period 100000 "$ID"' "update --cpu-quota succeeds"
check '[ "$(cat "$CG/cpu.max")" = "30000 100000" ]' "cpu.max is now 30000 100000"
check 'wm update --pids-limit -1 "$ID"' "update --pids-limit -1 succeeds"
check '[ "$(cat "$CG/pids.max")" = max ]' "pids limit -1 is max"
check 'wm update --pids-limit 3 "$ID"' "the pids limit can be set again"

# The new limit binds: the init (sleep) counts as one, so an exec'd shell may hold at most one
# child; its forks beyond that fail.
out=$(wm exec "$ID" sh -c 'for i in 1 2 3; do sleep 100 >/dev/null 2>&1 & done; echo forked' 2>&1 || true)
echo "exec under pids.max=3: $out"
# busybox's own message: the exec itself worked, the shell's fork was refused.
check '[[ $out == *"can"?"t fork"* ]]' "a fork past the updated limit fails inside the shell"
refused=$(awk '$1 == "max" { print $2 }' "$CG/pids.events")
check '[ "$refused" -ge 1 ]' "pids.events counts the refusal"
finish
