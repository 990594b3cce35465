#!/bin/bash
# Device rules on cgroup v2 are an eBPF program attached to the container's cgroup. The
# container's own process probes three devices in a loop (opening each for reading): /dev/null
# (c 1:3), /dev/zero (c 1:5), and a node c 61:7 made in its rootfs by the test: a number of the
# "local/experimental" range with no driver, which no default rule allows. Each probe says ok
# (opened), denied (EPERM: the device filter) or nodev (refused by the kernel after the filter
# let it through: no driver). The probe runs in the container's init, not in `wmrun exec`, so
# nothing the runtime opens itself can be refused.
#
# - created with the default rules: null and zero open, c 61:7 is denied;
# - `update` to allow all but deny c 1:3: null is denied, zero opens, c 61:7 passes the filter;
# - `update` back to the default rules: null opens again, c 61:7 is denied again.
# (A deny of c 1:3 in config.json itself cannot bind: as in runc, the default allow list is
# appended after the spec's rules, and a later rule wins.)

# shellcheck disable=SC2016,SC2034,SC2317
source "$(dirname "$0")/wmrun-common.bash"

mknod "$ROOTFS/unused" c 61 7
edit_config '
c["process"]["args"] = ["sh", "-c", """
probe() {
    if ( : <"$1" ) 2>/tmp/probe.err; then echo ok
    elif grep -q "not permitted" /tmp/probe.err; then echo denied
    else echo nodev; fi
}
n=0
while :; do
    n=$((n + 1))
    echo "$n $(probe /dev/null) $(probe /dev/zero) $(probe /unused)" >/tmp/probe.new
    mv /tmp/probe.new /tmp/probe
    sleep 0.1
done
"""]
'

probe_seq() { cut -d' ' -f1 "$ROOTFS/tmp/probe" 2>/dev/null || echo 0; }
# The verdicts (null zero unused) of a probe round that started after this call.
fresh_probe() {
    local before
    before=$(probe_seq)
    wait_for 30 '[ "$(probe_seq)" -gt $((before + 1)) ]' || {
        echo "the probe loop stopped at round $(probe_seq)" >&2
        return 1
    }
    cut -d' ' -f2- "$ROOTFS/tmp/probe"
}

# Each rule as a JSON list; default: deny all, then runc's allow list.
defaults='[{"allow": false, "access": "rwm"},
    {"allow": true, "type": "c", "access": "m"}, {"allow": true, "type": "b", "access": "m"},
    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
    {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
    {"allow": true, "type": "c", "major": 136, "access": "rwm"}]'
deny_null='[{"allow": true, "access": "rwm"},
    {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]'

outside=$( (: <"$ROOTFS/unused") 2>&1 || true)
echo "c 61:7 opened outside the container: ${outside:-opened}"
check '[[ $outside != *"not permitted"* ]]' "c 61:7 is not refused outside the container"
check 'run_detached' "a container with the default device rules starts"
check 'wait_for 30 "[ -s $ROOTFS/tmp/probe ]"' "its probe loop runs"
check '[ -d "$CG" ]' "it has its cgroup"
verdicts=$(fresh_probe || true)
echo "default rules: null zero c61:7 = $verdicts"
check '[ "$verdicts" = "ok ok denied" ]' "default rules: /dev/null and /dev/zero open, c 61:7 is denied"

echo "{\"devices\": $deny_null}" >"$PWD/deny-null.json"
check 'wm update --resources "$PWD/deny-null.json" "$ID"' "update to deny c 1:3 succeeds"
verdicts=$(fresh_probe || true)
echo "deny c 1:3: null zero c61:7 = $verdicts"
check '[ "$verdicts" = "denied ok nodev" ]' \
    "after the update /dev/null is denied, /dev/zero opens, c 61:7 passes the filter"

echo "{\"devices\": $defaults}" >"$PWD/defaults.json"
check 'wm update --resources "$PWD/defaults.json" "$ID"' "update back to the default rules succeeds"
verdicts=$(fresh_probe || true)
echo "default rules again: null zero c61:7 = $verdicts"
check '[ "$verdicts" = "ok ok denied" ]' "after the second update /dev/null opens, c 61:7 is denied"

echo '{"devices": [{"allow": true, "type": "u", "access": "rwm"}]}' >"$PWD/bad.json"
check '! wm update --resources "$PWD/bad.json" "$ID" 2>"$PWD/bad.err"' "a bad rule is refused"
cat "$PWD/bad.err"
verdicts=$(fresh_probe || true)
check '[ "$verdicts" = "ok ok denied" ]' "and the filter in place stays"
finish
