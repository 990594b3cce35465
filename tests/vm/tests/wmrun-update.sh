#!/bin/bash
# `wmrun update` changes the limits of a running container: pids.max, memory.max and cpu.max
# read back from its cgroup, and the new pids limit is enforced. Zero means "leave alone" (what
# docker sends for each field it does not change), and a refused update is undone whole.

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

limits() { cat "$CG/memory.max" "$CG/memory.low" "$CG/cpu.max" "$CG/cpu.weight" "$CG/pids.max"; }
before=$(limits)
# What docker's daemon sends for `docker update --memory 40m`, through containerd's shim.
docker_update='{"memory": {"limit": 41943040, "reservation": 0, "swap": 0, "kernel": 0,
  "kernelTCP": 0}, "cpu": {"shares": 0, "quota": 0, "period": 0, "realtimeRuntime": 0,
  "realtimePeriod": 0, "cpus": "", "mems": ""}, "blockIO": {"weight": 0}, "pids": {"limit": 0}}'
check 'echo "$docker_update" | wm update --resources - "$ID"' "docker's update JSON succeeds"
check '[ "$(cat "$CG/memory.max")" = $((40 << 20)) ]' "memory.max is now 40 MiB"
check '[ "$(limits | sed 1d)" = "$(echo "$before" | sed 1d)" ]' "the zeros left the rest alone"
check 'wm update --memory 0 --cpu-quota 0 --cpu-period 0 --cpu-shares 0 --pids-limit 0 \
    --blkio-weight 0 "$ID"' "update with flags of 0 succeeds"
check '[ "$(limits | sed 1d)" = "$(echo "$before" | sed 1d)" ] &&
    [ "$(cat "$CG/memory.max")" = $((40 << 20)) ]' "flags of 0 change nothing"
check 'wm update --cpu-period 50000 "$ID" && [ "$(cat "$CG/cpu.max")" = "30000 50000" ]' \
    "a period alone keeps the quota"

# runc takes the memory limit from the container when an update gives swap alone; cgroup v2
# wants swap apart from memory (memory.swap.max = memory+swap - memory.max).
check 'wm update --memory 32m "$ID" && wm update --memory-swap 48m "$ID"' \
    "update --memory-swap alone succeeds"
check '[ "$(cat "$CG/memory.swap.max")" = $((16 << 20)) ] && [ "$(cat "$CG/memory.max")" = $((32 << 20)) ]' \
    "memory.swap.max is memory+swap minus the limit the container has"
out=$(wm update --memory-swap 16m "$ID" 2>&1) && rc=0 || rc=$?
check '[ "$rc" != 0 ] && [[ $out == *"memory+swap"* ]]' "swap below the current limit is refused ($out)"

before=$(limits)
# memory and cpu go in before pids; the kernel refuses pids.max above PID_MAX_LIMIT (EINVAL).
bad='{"memory": {"limit": 33554432, "reservation": 1048576}, "cpu": {"shares": 4096,
  "quota": 20000, "period": 100000}, "pids": {"limit": 100000000}}'
out=$(echo "$bad" | wm update --resources - "$ID" 2>&1) && refused_rc=0 || refused_rc=$?
echo "refused update: $out"
check '[ "$refused_rc" != 0 ] && [[ $out == *pids.max* ]]' "an update the kernel refuses fails"
after=$(limits)
echo "before: $before" | tr '\n' ' '; echo; echo "after:  $after" | tr '\n' ' '; echo
check '[ "$after" = "$before" ]' "every value written before the refused one is back"
finish
