#!/bin/bash
# podman with cgroup_manager = "systemd" and wmrun as its runtime, under systemd as the init:
# podman asks for the cgroup machine.slice:libpod:<id> with --systemd-cgroup, the container
# runs in that scope with its memory limit, and nothing of it is left after rm.
set -euo pipefail

PODMAN=$(command -v podman) || {
    echo "podman is not installed"
    exit 77
}
[ -d /run/systemd/system ] || {
    echo "systemd is not the init here (run through tests/vm/run-all)"
    exit 77
}
WMRUN=${WMRUN_BUILD:?}/tools/wmrun
work=$PWD
mkdir -p "$work/rootfs/bin" "$work/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
chroot "$work/rootfs" /bin/busybox --install -s /bin
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .

cat >"$work/containers.conf" <<CONF
[containers]
log_driver = "k8s-file"

[engine]
cgroup_manager = "systemd"
events_logger = "file"
events_logfile_path = "$work/events.log"
lock_type = "file"
tmp_dir = "/run/wmt-podman/libpod-tmp"
CONF
cat >"$work/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$work/storage"
runroot = "/run/wmt-podman"
CONF
export CONTAINERS_CONF=$work/containers.conf CONTAINERS_STORAGE_CONF=$work/storage.conf
export TMPDIR=$work/tmp
pm() { "$PODMAN" --runtime "$WMRUN" "$@"; }
slice_was_there=0
[ ! -d /sys/fs/cgroup/machine.slice ] || slice_was_there=1
cleanup() {
    # systemd makes machine.slice for the scope and keeps it; the test leaves none behind.
    [ "$slice_was_there" = 1 ] || systemctl stop machine.slice 2>/dev/null || true
    pm rm -af >/dev/null 2>&1 || true
    pm rmi -af >/dev/null 2>&1 || true
    # The overlay driver's mounts and podman's run root.
    grep -o " $work/storage[^ ]*" /proc/self/mountinfo | sort -r | xargs -r umount -l 2>/dev/null || true
    rm -rf /run/wmt-podman /run/containers /run/libpod 2>/dev/null || true
}
trap cleanup EXIT

status=0
check() {
    if eval "$1"; then echo "ok: $2"; else echo "FAILED: $2 ($1)" >&2; status=1; fi
}

pm import "$work/rootfs.tar" localhost/wmt-busybox:latest >/dev/null
cid=$(pm run -d --pull never --network none --memory 32m localhost/wmt-busybox:latest \
    sleep 1000) || { echo "podman run failed" >&2; exit 1; }
unit=libpod-$cid.scope
check '[ "$(systemctl show -P ActiveState "$unit")" = active ]' "podman's container is the scope $unit"
check '[ "$(systemctl show -P MemoryMax "$unit")" = 33554432 ]' "the scope's MemoryMax is 32 MiB"
check '[ "$(cat "/sys/fs/cgroup/machine.slice/$unit/memory.max")" = 33554432 ]' \
    "machine.slice/$unit/memory.max is 32 MiB"
inside=$(pm exec "$cid" cat /sys/fs/cgroup/memory.max 2>&1 || true)
check '[ "$inside" = 33554432 ]' "podman exec reads the limit inside ($inside)"
check 'pm rm -f -t 0 "$cid" >/dev/null' "podman rm -f"
check '[ "$(systemctl show -P LoadState "$unit")" = not-found ]' "the scope is gone after rm"
check '[ ! -d "/sys/fs/cgroup/machine.slice/$unit" ]' "its cgroup is gone after rm"
exit "$status"
