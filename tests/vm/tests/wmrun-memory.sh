#!/bin/bash
# linux.resources.memory.limit becomes memory.max; a process that reads /dev/zero into memory
# (tail buffers the whole "line") is OOM-killed inside the limit, and `wmrun events` reports
# it as an "oom" event.

# shellcheck disable=SC2016,SC2034,SC2317
source "$(dirname "$0")/wmrun-common.bash"

limit=$((32 * 1024 * 1024))
# The init waits for the go file so that the events stream is watching before the hog runs;
# then it runs the hog as a child and survives it (the OOM killer picks the big process).
edit_config '
c["process"]["args"] = ["sh", "-c", """
while [ ! -e /tmp/go ]; do sleep 0.1; done
tail /dev/zero
echo $? >/tmp/hog.rc
exec sleep 1000
"""]
c["linux"]["resources"]["memory"] = {"limit": '$limit'}
'
run_detached
check '[ "$(cat "$CG/memory.max")" = "$limit" ]' "memory.max is the spec's limit"

wm events "$ID" >"$PWD/events.out" 2>"$PWD/events.err" &
events_pid=$!
stop_events() { kill "$events_pid" 2>/dev/null || true; wait "$events_pid" 2>/dev/null || true; }
trap 'stop_events; cleanup_container' EXIT
# events takes its baseline of the OOM counters when it starts; give it that moment.
sleep 2
touch "$ROOTFS/tmp/go"
check 'wait_for 120 "[ -s $ROOTFS/tmp/hog.rc ]"' "the memory hog ends"
echo "hog exit status: $(cat "$ROOTFS/tmp/hog.rc" 2>/dev/null)"
check '[ "$(cat "$ROOTFS/tmp/hog.rc" 2>/dev/null)" = 137 ]' "the hog was killed by SIGKILL"
echo "memory.events: $(tr '\n' ' ' <"$CG/memory.events")"
oom_kills=$(awk '$1 == "oom_kill" { print $2 }' "$CG/memory.events")
check '[ "$oom_kills" -ge 1 ]' "memory.events counts an OOM kill"
peak=$(cat "$CG/memory.peak" 2>/dev/null || echo 0)
check '[ "$peak" -le "$limit" ]' "memory.peak ($peak) stays within memory.max"
has_oom() { grep -q '"type": *"oom"' "$PWD/events.out"; }
check 'wait_for 10 has_oom' "wmrun events prints an oom event"
check 'kill -0 "$events_pid"' "wmrun events keeps streaming while the container runs"
stop_events
echo "events output:"; cat "$PWD/events.out" "$PWD/events.err"
check '[ "$(container_status)" = running ]' "the init survives the OOM kill of its child"
trap cleanup_container EXIT
finish
