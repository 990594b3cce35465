#!/bin/bash
# linux.resources.pids.limit becomes pids.max and stops a fork loop inside the container: an
# inner shell forks sleepers until fork fails, the container's init survives and reports it.

# shellcheck disable=SC2016,SC2034,SC2317
source "$(dirname "$0")/wmrun-common.bash"

limit=10
# The init forks the inner shell (2 pids); that one forks sleepers until the limit refuses one
# (ash gives up the script on a failed fork) and records how many it got.
edit_config '
c["process"]["args"] = ["sh", "-c", """
sh -c "n=0; while [ \\$n -lt 50 ]; do sleep 1000 & n=\\$((n + 1)); echo \\$n >/tmp/forked; done"
echo $? >/tmp/loop.rc
exec sleep 1000
"""]
c["linux"]["resources"]["pids"] = {"limit": '$limit'}
'
run_detached
check 'wait_for 60 "[ -s $ROOTFS/tmp/loop.rc ]"' "the fork loop ends"
cat "$PWD/ctr.err" || true
check '[ "$(cat "$CG/pids.max")" = "$limit" ]' "pids.max is the spec's limit"
rc=$(cat "$ROOTFS/tmp/loop.rc" 2>/dev/null || echo none)
forked=$(cat "$ROOTFS/tmp/forked" 2>/dev/null || echo 0)
current=$(cat "$CG/pids.current")
refused=$(awk '$1 == "max" { print $2 }' "$CG/pids.events")
echo "loop rc=$rc forked=$forked pids.current=$current pids.events max=$refused"
check '[ "$rc" != 0 ] && [ "$rc" != none ]' "the fork loop failed instead of finishing 50 forks"
# init + inner shell + sleepers = limit when the refused fork happened.
check '[ "$forked" -eq $((limit - 2)) ]' "the inner shell got exactly limit - 2 sleepers"
check '[ "$current" -le "$limit" ] && [ "$current" -eq $((limit - 1)) ]' \
    "pids.current is the init plus the sleepers"
check '[ -n "$refused" ] && [ "$refused" -ge 1 ]' "pids.events counts the refused fork"
check '[ "$(container_status)" = running ]' "the container still runs"
finish
