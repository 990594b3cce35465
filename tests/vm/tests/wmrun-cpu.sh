#!/bin/bash
# A CFS quota of 20000/100000 (0.2 CPU) becomes cpu.max and throttles two busy loops: the
# cgroup's usage over ~3 s of guest time is within 20% of the quota, and cpu.stat counts the
# throttled periods.

# shellcheck disable=SC2016,SC2034,SC2317
source "$(dirname "$0")/wmrun-common.bash"

quota=20000
period=100000
edit_config '
c["process"]["args"] = ["sh", "-c", "while :; do :; done & while :; do :; done"]
c["linux"]["resources"]["cpu"] = {"quota": '$quota', "period": '$period'}
'
run_detached
check '[ "$(cat "$CG/cpu.max")" = "$quota $period" ]' "cpu.max is the spec's quota and period"

usage() { awk '$1 == "usage_usec" { print $2 }' "$CG/cpu.stat"; }
# Let the loops start and the first period settle, then measure against the guest's clock
# ($EPOCHREALTIME is a bash builtin: no exec between the two reads).
sleep 1
u0=$(usage) t0=$EPOCHREALTIME
sleep 3
u1=$(usage) t1=$EPOCHREALTIME
read -r used wall allowed < <(awk -v u0="$u0" -v u1="$u1" -v t0="$t0" -v t1="$t1" \
    -v q="$quota" -v p="$period" 'BEGIN {
        wall = (t1 - t0) * 1e6; printf "%d %d %d\n", u1 - u0, wall, wall * q / p }')
echo "used ${used} us of CPU in ${wall} us; the quota allows ${allowed} us"
check '[ "$used" -ge $((allowed * 8 / 10)) ] && [ "$used" -le $((allowed * 12 / 10)) ]' \
    "usage is within 20% of the quota"
echo "cpu.stat: $(tr '\n' ' ' <"$CG/cpu.stat")"
throttled=$(awk '$1 == "nr_throttled" { print $2 }' "$CG/cpu.stat")
check '[ "$throttled" -ge 10 ]' "cpu.stat counts throttled periods"
finish
