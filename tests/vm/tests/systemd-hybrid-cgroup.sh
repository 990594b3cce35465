#!/bin/bash
# --systemd-cgroup on a hybrid host (systemd with v1 controllers and an empty unified tree, as
# the build hosts; run-all boots systemd-hybrid-*.sh with `run-in-vm --systemd --hybrid`): the
# scope holds the init in systemd's v1 hierarchies and the unified tree, its limits are in the
# v1 files and systemd's properties alike, at create and after update; pause freezes through the
# v1 freezer (which systemd does not manage: wmrun makes that cgroup itself); delete leaves
# nothing in any hierarchy.
#
# The attack this guards against: on v1, systemd rewrites a unit's devices cgroup from its
# DevicePolicy/DeviceAllow at every daemon-reload. A scope made without them is reset to
# "a *:* rwm" by the next reload, and the container may then open any device of the host.

# shellcheck disable=SC2016,SC2034,SC2317
source "$(dirname "$0")/wmrun-common.bash"

[ -d /run/systemd/system ] || {
    echo "systemd is not the init here (run through tests/vm/run-all)"
    exit 77
}
[ -d /sys/fs/cgroup/memory ] && [ -d /sys/fs/cgroup/unified ] || {
    echo "not a hybrid cgroup layout (run through tests/vm/run-all, which boots with --hybrid)"
    exit 77
}
UNIT=wmtest-$ID.scope
V1=/sys/fs/cgroup
CG=$V1/unified/system.slice/$UNIT
wm() { "$WMRUN" --root "$STATE" --systemd-cgroup "$@"; }
prop() { systemctl show -P "$1" "$UNIT"; }
v1() { cat "$V1/$1/system.slice/$UNIT/$2"; }

edit_config "
c['process']['args'] = ['sleep', '1000']
c['linux']['cgroupsPath'] = 'system.slice:wmtest:$ID'
c['linux']['resources']['memory'] = {'limit': 64 * 1024 * 1024}
c['linux']['resources']['pids'] = {'limit': 20}
"
run_detached
pid=$(wm state "$ID" | /bin/busybox sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
check '[ "$(prop ActiveState)" = active ] && [ "$(prop Delegate)" = yes ]' \
    "the scope $UNIT is active and delegated"
for h in unified systemd memory pids devices freezer; do
    check 'grep -qx "$pid" "$V1/$h/system.slice/$UNIT/cgroup.procs"' \
        "the init ($pid) is in the scope's cgroup of $h"
done
check '[ "$(prop MemoryMax)" = $((64 << 20)) ] && [ "$(v1 memory memory.limit_in_bytes)" = $((64 << 20)) ]' \
    "MemoryMax and memory.limit_in_bytes are 64 MiB"
check '[ "$(prop TasksMax)" = 20 ] && [ "$(v1 pids pids.max)" = 20 ]' "TasksMax and pids.max are 20"

mknod "$ROOTFS/unused" c 61 7
probe() { wm exec "$ID" sh -c ": <$1" 2>&1; }
check '[ "$(prop DevicePolicy)" = strict ]' "DevicePolicy is strict"
for when in "after create" "after daemon-reload"; do
    [ "$when" = "after daemon-reload" ] && systemctl daemon-reload
    list=$(v1 devices devices.list | tr '\n' ' ')
    echo "devices.list $when: $list"
    check '[[ $list != *"a *:* rwm"* && $list == *"c 1:3 rwm"* ]]' \
        "devices.list allows null and not every device $when"
    check 'probe /dev/null' "/dev/null opens $when"
    out=$(probe /unused || true)
    check '[[ $out == *"not permitted"* ]]' "an unlisted device is denied $when ($out)"
done

check 'wm update --memory 48m --pids-limit 10 "$ID"' "update succeeds"
check '[ "$(prop MemoryMax)" = $((48 << 20)) ] && [ "$(v1 memory memory.limit_in_bytes)" = $((48 << 20)) ]' \
    "after update MemoryMax and memory.limit_in_bytes are 48 MiB"
check '[ "$(prop TasksMax)" = 10 ] && [ "$(v1 pids pids.max)" = 10 ]' \
    "after update TasksMax and pids.max are 10"
out=$(wm update --memory 40m --pids-limit 100000000 "$ID" 2>&1) && rc=0 || rc=$?
echo "refused update: $out"
check '[ "$rc" != 0 ] && [ "$(prop MemoryMax)" = $((48 << 20)) ] && [ "$(v1 memory memory.limit_in_bytes)" = $((48 << 20)) ] && [ "$(prop TasksMax)" = 10 ]' \
    "an update the kernel refuses leaves the unit and the files as they were"

check 'wm pause "$ID"' "pause succeeds"
check '[ "$(container_status)" = paused ] && [ "$(v1 freezer freezer.state)" = FROZEN ]' \
    "paused: the v1 freezer says FROZEN"
check 'wm resume "$ID"' "resume succeeds"
check '[ "$(container_status)" = running ] && [ "$(v1 freezer freezer.state)" = THAWED ]' \
    "resumed: the v1 freezer says THAWED"

check 'wm delete --force "$ID"' "delete --force succeeds"
check '[ "$(prop LoadState)" = not-found ]' "the unit is gone after delete"
for h in unified systemd memory pids devices freezer; do
    check '[ ! -d "$V1/$h/system.slice/$UNIT" ]' "nothing is left of the scope in $h"
done
# As runc, wmrun leaves the parents it made in the hierarchies systemd does not manage
# (system.slice in freezer, cpuset, ...) for the next container: the test removes them (rmdir
# keeps systemd's own, which are not empty).
rmdir "$V1"/*/system.slice 2>/dev/null || true
finish
