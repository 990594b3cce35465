#!/bin/bash
# An image of 40 layers (made with umoci in the guest) through `wmrun run --image`. Before
# Linux 6.8 overlayfs has no "lowerdir+", and 40 store paths do not fit one 255-byte lowerdir
# value, so the mount must take the fd-relative fallback ("lowerdir=41:40:..." resolved from
# /proc/self/fd): the lowest and the topmost layer's files are visible, a whiteout halfway up
# hides the file below it, and the root mount's options show the short form.

# shellcheck disable=SC2016,SC2034,SC2317
source "$(dirname "$0")/wmrun-common.bash"

command -v umoci >/dev/null || {
    echo "umoci is not installed" >&2
    exit 77
}
STORE=$PWD/store
# A container without a cgroupsPath gets one under /wmrun, which delete leaves for others.
parent_cg=/sys/fs/cgroup/wmrun
had_parent_cg=false
[ -d "$parent_cg" ] && had_parent_cg=true
cleanup() {
    wm delete --force --volumes --store "$STORE" "$ID" >/dev/null 2>&1 || true
    "$had_parent_cg" || rmdir "$parent_cg" 2>/dev/null || true
}
trap cleanup EXIT

# Layer 0 is the busybox tree the common part made; 1 has /etc/motd; 2..38 each add
# /layers/NN and replace /layers/top; 20 also whites out /etc/motd; 39 adds /top-layer.
/usr/bin/python3 - "$ROOTFS" "$PWD/tars" <<'PY'
import io, os, sys, tarfile
rootfs, out = sys.argv[1:3]
os.makedirs(out)

def layer(n, files):
    with tarfile.open(f"{out}/{n:02d}.tar", "w") as t:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            data = text.encode()
            info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
            t.addfile(info, io.BytesIO(data))

with tarfile.open(f"{out}/00.tar", "w") as t:
    for name in sorted(os.listdir(rootfs)):
        t.add(os.path.join(rootfs, name), arcname=name)
    info = tarfile.TarInfo("base-layer")
    info.size = 5
    t.addfile(info, io.BytesIO(b"base\n"))
layer(1, {"etc/motd": "from layer 1\n"})
for n in range(2, 39):
    files = {f"layers/{n:02d}": f"{n}\n", "layers/top": f"{n}\n"}
    if n == 20:
        files["etc/.wh.motd"] = ""
    layer(n, files)
layer(39, {"top-layer": "top\n"})
PY
umoci init --layout "$PWD/layout"
umoci new --image "$PWD/layout:deep"
for t in "$PWD"/tars/*.tar; do
    umoci raw add-layer --image "$PWD/layout:deep" "$t"
done
umoci config --image "$PWD/layout:deep" --config.cmd sh

"$WMRUN" image import --store "$STORE" --name deep "$PWD/layout:deep"
layers=$("$WMRUN" image ls --store "$STORE" --format json | /usr/bin/python3 -c \
    'import json, sys; print(json.load(sys.stdin)[0]["layers"])')
check '[ "$layers" = 40 ]' "the image has 40 layers"

out=$(wm run --image deep --store "$STORE" "$ID" -- sh -c '
cat /base-layer /top-layer /layers/top /layers/02 /layers/38
test -e /etc/motd && echo motd-visible || echo motd-hidden
ls /layers | wc -l
sed -n "s@^[^ ]* [^ ]* [^ ]* [^ ]* / .* overlay [^ ]* .*lowerdir=\([^,]*\).*@\1@p" \
    /proc/self/mountinfo' </dev/null 2>"$PWD/run.err") || {
    echo "wmrun run failed: $(cat "$PWD/run.err")" >&2
    status=1
}
echo "container printed:"
echo "$out"
mapfile -t lines <<<"$out"
check '[ "${lines[0]}" = base ]' "a file of the lowest layer is visible"
check '[ "${lines[1]}" = top ]' "a file of the topmost layer is visible"
check '[ "${lines[2]}" = 38 ] && [ "${lines[3]}" = 2 ] && [ "${lines[4]}" = 38 ]' \
    "middle layers are stacked in order (the highest /layers/top wins)"
check '[ "${lines[5]}" = motd-hidden ]' "the whiteout in layer 20 hides /etc/motd of layer 1"
check '[ "${lines[6]}" = 38 ]' "37 files from 37 layers plus top in /layers"

kver=$(uname -r)
lower=${lines[7]:-}
echo "kernel $kver, root mount lowerdir=$lower"
major=${kver%%.*}
minor=${kver#*.}
minor=${minor%%.*}
if [ "$major" -lt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -lt 8 ]; }; then
    # Forty fd numbers relative to /proc/self/fd, topmost first: the fallback's form.
    check '[[ "$lower" =~ ^[0-9]+(:[0-9]+){39}$ ]]' \
        "before 6.8 the lowerdir is 40 fd-relative names"
fi

wm delete --volumes --store "$STORE" "$ID" 2>/dev/null || wm delete --force --volumes \
    --store "$STORE" "$ID"
check '[ ! -e "$STORE/containers/$ID" ]' "delete --volumes removes the container's dir"
check '! grep -q " $STORE/" /proc/self/mountinfo' "no mount is left under the store"
cleanup
trap - EXIT
exit "$status"
