#!/bin/bash
# --systemd-cgroup under systemd as the init (run-all boots systemd for systemd-*.sh): the
# container's cgroup is the transient scope system.slice/wmtest-<id>.scope with Delegate=yes;
# systemd's properties and the cgroup's files agree on the limits at create, after update and
# after an update the kernel refuses; systemd's device list lets through what the container
# was given, before and after a daemon-reload, and nothing else;
# pause, resume and events work on the scope; delete stops the unit and leaves no cgroup. A
# container whose init exits (its scope already gone) is deleted cleanly too.

# shellcheck disable=SC2016,SC2034,SC2317
source "$(dirname "$0")/wmrun-common.bash"

[ -d /run/systemd/system ] || {
    echo "systemd is not the init here (run through tests/vm/run-all)"
    exit 77
}
UNIT=wmtest-$ID.scope
CG=/sys/fs/cgroup/system.slice/$UNIT
wm() { "$WMRUN" --root "$STATE" --systemd-cgroup "$@"; }
prop() { systemctl show -P "$1" "$UNIT"; }

edit_config "
c['process']['args'] = ['sleep', '1000']
c['linux']['cgroupsPath'] = 'system.slice:wmtest:$ID'
c['linux']['resources']['memory'] = {'limit': 64 * 1024 * 1024}
c['linux']['resources']['pids'] = {'limit': 20}
c['linux']['resources']['cpu'] = {'quota': 50000, 'period': 100000, 'shares': 1024}
"
run_detached
pid=$(wm state "$ID" | /bin/busybox sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
check '[ "$(prop ActiveState)" = active ]' "the scope $UNIT is active"
check '[ "$(prop Delegate)" = yes ] && [ "$(prop Slice)" = system.slice ]' \
    "the scope is delegated, in system.slice"
check 'grep -qx "$pid" "$CG/cgroup.procs"' "the init ($pid) is in the scope's cgroup"
check '[ "$(prop MemoryMax)" = $((64 << 20)) ] && [ "$(cat "$CG/memory.max")" = $((64 << 20)) ]' \
    "MemoryMax and memory.max are 64 MiB"
check '[ "$(prop TasksMax)" = 20 ] && [ "$(cat "$CG/pids.max")" = 20 ]' "TasksMax and pids.max are 20"
check '[ "$(prop CPUQuotaPerSecUSec)" = 500ms ] && [ "$(cat "$CG/cpu.max")" = "50000 100000" ]' \
    "CPUQuotaPerSecUSec is 500ms and cpu.max 50000 100000"
check '[ "$(prop CPUWeight)" = 39 ] && [ "$(cat "$CG/cpu.weight")" = 39 ]' \
    "CPUWeight and cpu.weight are 39 (1024 shares)"

# systemd holds the device list too (it writes its own eBPF program at every daemon-reload, and
# on v1 the devices controller): strict, with the container's devices and nothing else. Both
# programs must let a device through: null still opens after a reload, c 61:7 (no rule allows
# it) stays denied.
check '[ "$(prop DevicePolicy)" = strict ]' "DevicePolicy is strict"
allow=$(prop DeviceAllow)
echo "DeviceAllow: $allow"
check '[[ $allow == *"/dev/char/1:3 rwm"* && $allow == *"char-pts rwm"* && $allow == *"char-* m"* ]]' \
    "DeviceAllow lists null, the pts group and mknod of any character device"
check '[[ $allow != *"block-* rwm"* && $allow != *"/dev/block/"* ]]' "DeviceAllow grants no block device"
mknod "$ROOTFS/unused" c 61 7
probe() { wm exec "$ID" sh -c ": <$1" 2>&1; }
for when in "after create" "after daemon-reload"; do
    [ "$when" = "after daemon-reload" ] && systemctl daemon-reload
    check 'probe /dev/null' "/dev/null opens $when"
    out=$(probe /unused || true)
    check '[[ $out == *"not permitted"* ]]' "an unlisted device is denied $when ($out)"
done

check 'wm update --memory 48m --pids-limit 10 --cpu-quota 30000 --cpu-period 100000 "$ID"' \
    "update succeeds"
check '[ "$(prop MemoryMax)" = $((48 << 20)) ] && [ "$(cat "$CG/memory.max")" = $((48 << 20)) ]' \
    "after update MemoryMax and memory.max are 48 MiB"
check '[ "$(prop TasksMax)" = 10 ] && [ "$(cat "$CG/pids.max")" = 10 ]' \
    "after update TasksMax and pids.max are 10"
check '[ "$(prop CPUQuotaPerSecUSec)" = 300ms ] && [ "$(cat "$CG/cpu.max")" = "30000 100000" ]' \
    "after update CPUQuotaPerSecUSec is 300ms and cpu.max 30000 100000"

# A write the kernel refuses (pids.max above PID_MAX_LIMIT) after systemd took the new values:
# the files are put back, and so are the unit's properties.
out=$(wm update --memory 40m --pids-limit 100000000 "$ID" 2>&1) && rc=0 || rc=$?
echo "refused update: $out"
check '[ "$rc" != 0 ] && [[ $out == *pids.max* ]]' "an update the kernel refuses fails"
check '[ "$(prop MemoryMax)" = $((48 << 20)) ] && [ "$(cat "$CG/memory.max")" = $((48 << 20)) ]' \
    "MemoryMax and memory.max are back at 48 MiB"
check '[ "$(prop TasksMax)" = 10 ] && [ "$(cat "$CG/pids.max")" = 10 ]' \
    "TasksMax and pids.max are back at 10"

check 'wm pause "$ID"' "pause succeeds"
check '[ "$(container_status)" = paused ] && grep -qx "frozen 1" "$CG/cgroup.events"' \
    "paused: the scope's cgroup is frozen"
check 'wm resume "$ID"' "resume succeeds"
check '[ "$(container_status)" = running ] && grep -qx "frozen 0" "$CG/cgroup.events"' \
    "resumed: the scope's cgroup is thawed"

stats=$(wm events --stats "$ID")
echo "events --stats: ${stats:0:200}"
check '/usr/bin/python3 -c "import json,sys; d=json.loads(sys.argv[1])[\"data\"]; assert d[\"pids\"][\"current\"] >= 1 and d[\"memory\"][\"usage\"][\"limit\"] == 48 << 20" "$stats"' \
    "events --stats reads the scope's pids and memory limit"

check 'wm delete --force "$ID"' "delete --force succeeds"
check '[ "$(prop LoadState)" = not-found ] && ! systemctl is-active --quiet "$UNIT"' \
    "the unit is gone after delete"
check '[ ! -d "$CG" ]' "the scope's cgroup is gone"

# An init that exits: systemd collects the empty scope by itself; run's delete must not fail.
edit_config "
c['process']['args'] = ['true']
c['linux']['cgroupsPath'] = 'system.slice:wmtest:$ID'
"
check 'wm run -b "$BUNDLE" "$ID" </dev/null' "run of a container whose init exits"
check '[ "$(prop LoadState)" = not-found ] && [ ! -d "$CG" ]' "nothing is left of its scope"
finish
