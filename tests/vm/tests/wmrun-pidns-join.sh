#!/bin/bash
# A container joining another's pid namespace by path, on a kernel without proc's pidns=
# parameter (6.1): its /proc is made by a process forked into that namespace from one that has
# dropped every fd and moved onto an empty tmpfs (runtime/src/rootfs/proc_mount.cpp). The other
# container, holding CAP_SYS_PTRACE, scans /proc/*/{root,cwd,fd} all the while for a way to the
# host (tests/support/proc_scanner.cpp) and must find none; the joiner's /proc shows the
# namespace it joined. (The joiners must be done before the scanner, pid 1 of the namespace,
# ends: its end kills everything in it.)

# shellcheck disable=SC2016,SC2034,SC2317
source "$(dirname "$0")/wmrun-common.bash"

SCANNER=$WMRUN_BUILD/tests/support/proc-scanner
[ -x "$SCANNER" ] || {
    echo "no proc-scanner at $SCANNER" >&2
    exit 1
}
cp "$SCANNER" "$ROOTFS/bin/proc-scanner"
HOST_DIR=$PWD/host-dir
mkdir "$HOST_DIR"
echo host >"$HOST_DIR/secret"
edit_config "
c['process']['args'] = ['proc-scanner', '$HOST_DIR', '25']
for s in ('bounding', 'effective', 'permitted'):
    c['process']['capabilities'][s].append('CAP_SYS_PTRACE')
"
run_detached
SCAN_PID=$(wm state "$ID" | /bin/busybox sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')

JOINER=$PWD/joiner
mkdir -p "$JOINER"
cp -a "$ROOTFS" "$JOINER/rootfs"
/usr/bin/python3 - "$BUNDLE/config.json" "$JOINER/config.json" "$SCAN_PID" <<'PY'
import json, sys
src, dst, pid = sys.argv[1:4]
c = json.load(open(src))
c["process"]["args"] = ["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"]
c["linux"]["cgroupsPath"] = c["linux"]["cgroupsPath"] + "-joiner"
for ns in c["linux"]["namespaces"]:
    if ns["type"] == "pid":
        ns["path"] = f"/proc/{pid}/ns/pid"
json.dump(c, open(dst, "w"))
PY

# Each joiner is made from the host directory: a process that showed up in the namespace
# before pivot_root would have it as its cwd.
joins=0
ERR=$PWD/join.err
for i in $(seq 3); do
    out=$(cd "$HOST_DIR" && wm run -b "$JOINER" "$ID-j$i" </dev/null 2>"$ERR") || {
        echo "joiner $i failed: $(cat "$ERR")" >&2
        status=1
        break
    }
    joins=$((joins + 1))
done
check '[ "$joins" = 3 ]' "three containers joined the scanner's pid namespace"
check 'echo "$out" | grep -q "^proc-scanner "' "the joiner's /proc shows the namespace it joined ($out)"
check 'wait_for 60 "[ \"\$(container_status)\" = stopped ]"' "the scanner finished"
check 'grep -q "^scans " "$PWD/ctr.out"' "the scanner ran ($(tail -n1 "$PWD/ctr.out"))"
check '! grep -q "^hit " "$PWD/ctr.out"' "the scanner found no way to the host"
check '[ "$(ls "$HOST_DIR")" = secret ]' "nothing was created in the host directory"
finish
