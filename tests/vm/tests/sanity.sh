#!/bin/bash
# The VM is what the other VM tests assume: a pure cgroup v2 system with the usual controllers
# enabled, the host's tree read-only, tmpfs where tests write, working user+pid+mount
# namespaces (switch_root, not chroot), and overlayfs with its lower layer on the 9p share.

# The checks are eval'd strings that name variables set further up.
# shellcheck disable=SC2016,SC2034,SC2317
set -euo pipefail

status=0
check() {
    if eval "$1"; then
        echo "ok: $2"
    else
        echo "FAILED: $2 ($1)" >&2
        status=1
    fi
}

# --- cgroups ---
v1_mounts=$(awk '$3 == "cgroup"' /proc/mounts)
check '[ -z "$v1_mounts" ]' "no cgroup v1 hierarchy is mounted"
check '[ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]' "/sys/fs/cgroup is cgroup2"
controllers=" $(cat /sys/fs/cgroup/cgroup.controllers) "
enabled=" $(cat /sys/fs/cgroup/cgroup.subtree_control) "
for c in memory pids cpu io; do
    check '[[ $controllers == *" $c "* ]]' "controller $c is available"
    check '[[ $enabled == *" $c "* ]]' "controller $c is enabled in the root's subtree_control"
done
# With cgroup_no_v1=all, mounting a v1 hierarchy must fail: nothing can fall back to v1.
probe=$(mktemp -d)
if mount -t cgroup -o pids none "$probe" 2>/dev/null; then
    umount "$probe"
    check false "a cgroup v1 hierarchy cannot be mounted"
else
    check true "a cgroup v1 hierarchy cannot be mounted"
fi
rmdir "$probe"

# --- filesystems ---
root_fs=$(awk '$2 == "/" { fs = $3 } END { print fs }' /proc/mounts)
check '[ "$root_fs" = 9p ]' "the root is the host's, over 9p"
check '! touch "$WMRUN_SRC/.vm-write-probe" 2>/dev/null' "the host's tree is read-only"
for d in /tmp /run /var/tmp /var/lib/wmrun; do
    check '[ "$(stat -f -c %T "$d")" = tmpfs ] && touch "$d/.probe" && rm "$d/.probe"' \
        "$d is a writable tmpfs"
done

# --- namespaces ---
# Root in a new user namespace, PID 1 in a new pid namespace, and a private mount table.
outer_userns=$(readlink /proc/self/ns/user)
inner=$(unshare --user --map-root-user --pid --fork --mount --mount-proc \
    sh -c 'echo "$$ $(id -u) $(readlink /proc/self/ns/user)"; mount -t tmpfs none /mnt && echo mounted')
echo "in namespaces: $(echo "$inner" | tr '\n' ' ')"
read -r inner_pid inner_uid inner_userns <<<"$(echo "$inner" | head -n 1)"
check '[ "$inner_pid" = 1 ]' "unshare --pid gives the child pid 1"
check '[ "$inner_uid" = 0 ]' "unshare --user --map-root-user maps to root"
check '[ "$inner_userns" != "$outer_userns" ]' "the user namespace is a new one"
check '[[ $inner == *mounted* ]]' "a mount in the new mount namespace works"
check '! grep -q " /mnt tmpfs " /proc/mounts' "that mount stays out of the host namespace"

# --- overlayfs: lower on 9p, upper and work on tmpfs ---
lower=$WMRUN_SRC/tests/vm
ovl=$(mktemp -d)
mkdir "$ovl/upper" "$ovl/work" "$ovl/merged"
cleanup() {
    mountpoint -q "$ovl/merged" && umount "$ovl/merged"
    rm -rf "$ovl"
}
trap cleanup EXIT
if mount -t overlay overlay -o "lowerdir=$lower,upperdir=$ovl/upper,workdir=$ovl/work" \
    "$ovl/merged"; then
    check 'cmp -s "$lower/run-in-vm" "$ovl/merged/run-in-vm"' "overlay reads a file of the 9p lower"
    echo new >"$ovl/merged/added"
    check '[ "$(cat "$ovl/upper/added")" = new ] && [ ! -e "$lower/added" ]' \
        "a new file goes to the upper layer"
    rm "$ovl/merged/run-all"
    check '[ ! -e "$ovl/merged/run-all" ] && [ -e "$lower/run-all" ]' \
        "a deleted lower file is hidden, the lower keeps it"
    check '[ -c "$ovl/upper/run-all" ] && [ "$(stat -c %t,%T "$ovl/upper/run-all")" = 0,0 ]' \
        "the deletion is a whiteout (char 0/0) in the upper layer"
else
    check false "overlayfs mounts with its lower dir on 9p"
fi
exit "$status"
