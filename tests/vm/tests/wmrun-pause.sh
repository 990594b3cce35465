#!/bin/bash
# `wmrun pause` freezes the cgroup: a loop that appends to a file stops, state says "paused";
# `wmrun resume` thaws it and the file grows again.

# shellcheck disable=SC2016,SC2034,SC2317
source "$(dirname "$0")/wmrun-common.bash"

# Appending (not rewriting) so that the size only grows and a frozen writer cannot leave the
# file half-written.
edit_config '
c["process"]["args"] = ["sh", "-c", "while :; do echo x >>/tmp/count; sleep 0.1; done"]
'
run_detached
size() { stat -c %s "$ROOTFS/tmp/count" 2>/dev/null || echo 0; }
check 'wait_for 30 "[ \$(size) -ge 4 ]"' "the loop runs"

check 'wm pause "$ID"' "pause succeeds"
check '[ "$(container_status)" = paused ]' "state says paused"
check '[ "$(cat "$CG/cgroup.freeze")" = 1 ] && grep -qx "frozen 1" "$CG/cgroup.events"' \
    "the cgroup is frozen"
s0=$(size)
sleep 2
s1=$(size)
echo "while paused: $s0 -> $s1 bytes"
check '[ "$s0" = "$s1" ]' "the loop does not advance while paused"

check 'wm resume "$ID"' "resume succeeds"
check '[ "$(container_status)" = running ]' "state says running"
check 'grep -qx "frozen 0" "$CG/cgroup.events"' "the cgroup is thawed"
check 'wait_for 30 "[ \$(size) -ge $((s1 + 4)) ]"' "the loop advances after resume"
echo "after resume: $(size) bytes"

# A paused container can still be deleted by force (the freezer must not block the kill).
check 'wm pause "$ID"' "pause again"
finish
