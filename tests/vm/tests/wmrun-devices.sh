#!/bin/bash
# Device rules on cgroup v2: the default rules (deny all, then runc's allow list) are accepted
# and the container runs; a rule beyond them (the eBPF filter is not there yet) is refused at
# create with a one-line error and leaves neither cgroup nor state behind.

# shellcheck disable=SC2016,SC2034,SC2317
source "$(dirname "$0")/wmrun-common.bash"

# runc's default list, spelled out in the spec as docker does.
edit_config '
c["process"]["args"] = ["sh", "-c", "echo hello >/dev/null && echo ok >/tmp/started; sleep 1000"]
c["linux"]["resources"]["devices"] = [{"allow": False, "access": "rwm"}] + [
    {"allow": True, "type": "c", "major": ma, "minor": mi, "access": "rwm"}
    for ma, mi in [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2)]]
'
check 'run_detached' "a container with the default device rules starts"
cat "$PWD/ctr.err"
check 'wait_for 30 "[ -s $ROOTFS/tmp/started ]"' "its process runs"
check '[ -d "$CG" ]' "it has its cgroup"
wm delete --force "$ID" || status=1
check '[ ! -d "$CG" ] && [ ! -e "$STATE/$ID" ]' "delete removes it"

edit_config '
c["process"]["args"] = ["sleep", "1000"]
c["linux"]["resources"]["devices"] = [
    {"allow": True, "access": "rwm"},
    {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "rw"}]
'
rc=0
wm run -d -b "$BUNDLE" "$ID" </dev/null >"$PWD/deny.out" 2>"$PWD/deny.err" || rc=$?
echo "run with a deny rule: exit $rc, stderr:"
cat "$PWD/deny.err"
check '[ "$rc" -ne 0 ]' "a non-default device rule is refused"
check '[ "$(wc -l <"$PWD/deny.err")" -eq 1 ]' "with a one-line error"
check 'grep -qi "devices" "$PWD/deny.err"' "the error names the devices"
check '[ ! -d "$CG" ]' "no cgroup is left behind"
check '[ ! -e "$STATE/$ID" ]' "no state is left behind"
check '! wm state "$ID" >/dev/null 2>&1' "the container does not exist"
finish
