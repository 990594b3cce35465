# Sourced by the wmrun-*.sh VM tests: a busybox bundle, a private state root and cleanup.
#
# After sourcing: $WMRUN (the binary), wm (wmrun with --root of this test), $ID (a container
# id), $BUNDLE (the bundle; its rootfs is writable and visible from the test at $ROOTFS), $CG
# (the container's cgroup directory), check (counts failed assertions in $status).
# The caller sets the config with edit_config, then runs the container.

# The checks are eval'd strings that name variables set by the caller.
# shellcheck disable=SC2016,SC2034,SC2317
set -euo pipefail

WMRUN=${WMRUN_BUILD:?}/tools/wmrun
[ -x "$WMRUN" ] || {
    echo "no wmrun binary at $WMRUN" >&2
    exit 1
}
name=$(basename "$0" .sh)
ID=$name-$$
STATE=$PWD/state
BUNDLE=$PWD/bundle
ROOTFS=$BUNDLE/rootfs
CG=/sys/fs/cgroup/vmtest-$ID
status=0

wm() { "$WMRUN" --root "$STATE" "$@"; }

check() {
    if eval "$1"; then
        echo "ok: $2"
    else
        echo "FAILED: $2 ($1)" >&2
        status=1
    fi
}

cleanup_container() {
    wm delete --force "$ID" >/dev/null 2>&1 || true
}
trap cleanup_container EXIT

# busybox-static with its applets as links in /bin, installed from inside the rootfs so the
# links point at /bin/busybox and not at the test's path.
mkdir -p "$ROOTFS/bin" "$ROOTFS/proc" "$ROOTFS/dev" "$ROOTFS/sys" "$ROOTFS/tmp"
cp /bin/busybox "$ROOTFS/bin/busybox"
chroot "$ROOTFS" /bin/busybox --install -s /bin
(cd "$BUNDLE" && "$WMRUN" spec)

# edit_config PYTHON: runs PYTHON with the parsed config.json as `c`, then writes it back.
# Every test gets: no terminal, a writable root, no masked paths, the cgroup at $CG.
edit_config() {
    /usr/bin/python3 - "$BUNDLE/config.json" "/vmtest-$ID" "$1" <<'EOF'
import json, sys
path, cgroup, code = sys.argv[1:4]
with open(path) as f:
    c = json.load(f)
c["process"]["terminal"] = False
c["root"]["readonly"] = False
c["linux"]["cgroupsPath"] = cgroup
exec(code)
with open(path, "w") as f:
    json.dump(c, f, indent=4)
EOF
}

# Starts the container detached, its stdio in files of the test's directory.
run_detached() {
    if ! wm run -d -b "$BUNDLE" "$ID" </dev/null >"$PWD/ctr.out" 2>"$PWD/ctr.err"; then
        echo "wmrun run failed: $(cat "$PWD/ctr.err")" >&2
        return 1
    fi
}

# wait_for SECONDS CONDITION: polls every 0.1 s; false if CONDITION never held.
wait_for() {
    local tries=$(($1 * 10))
    for _ in $(seq "$tries"); do
        eval "$2" && return 0
        sleep 0.1
    done
    return 1
}

container_status() {
    wm state "$ID" | /bin/busybox sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'
}

# The end of every test: delete removes the cgroup and the state.
finish() {
    if wm state "$ID" >/dev/null 2>&1; then
        wm delete --force "$ID" || status=1
    fi
    check '[ ! -d "$CG" ]' "delete removes the cgroup $CG"
    check '[ ! -e "$STATE/$ID" ]' "delete removes the state"
    exit "$status"
}
