#!/bin/bash
# `wmrun hibernate` on pure cgroup v2: the cgroup is frozen, memory.reclaim is asked for all of
# it, state says hibernated; `wmrun wake` thaws it. The guest has no disk and no swap: what the
# container holds (tmpfs pages, anonymous memory) cannot be reclaimed here, so the figures may
# stay; the drop itself is tested on the host (test_activate.py, v1 memory.force_empty).

# shellcheck disable=SC2016,SC2034,SC2317
source "$(dirname "$0")/wmrun-common.bash"

edit_config '
c["process"]["args"] = ["sh", "-c", "while :; do echo x >>/tmp/count; sleep 0.1; done"]
'
run_detached
size() { stat -c %s "$ROOTFS/tmp/count" 2>/dev/null || echo 0; }
check 'wait_for 30 "[ \$(size) -ge 4 ]"' "the loop runs"

out=$(wm hibernate --json "$ID")
echo "hibernate: $out"
field() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$out" "$1"; }
check '[ "$(field reclaimed)" = True ]' "memory.reclaim was used"
check '[ "$(field memoryBefore)" -gt 0 ] && [ "$(field memoryAfter)" -le "$(field memoryBefore)" ]' \
    "hibernate reports the memory before and after"
check 'grep -qx "frozen 1" "$CG/cgroup.events"' "the cgroup is frozen"
check 'wm state "$ID" | grep -q "\"hibernated\": *true"' "state says hibernated"
check 'wm list | grep -q " hibernated "' "list says hibernated"

check 'wm wake "$ID"' "wake succeeds"
check 'grep -qx "frozen 0" "$CG/cgroup.events"' "the cgroup is thawed"
check '[ "$(container_status)" = running ]' "state says running"
s0=$(size)
check 'wait_for 30 "[ \$(size) -ge $((s0 + 4)) ]"' "the loop advances after wake"
finish
