#!/bin/bash
# pids.max stops a fork loop: in a cgroup with pids.max=20, a process that tries to fork 100
# sleeping children gets exactly 19 (itself plus 19 is the limit), the other forks fail with
# EAGAIN, pids.current never goes above 20, and pids.events counts the refusals.

# The checks are eval'd strings that name variables set further up.
# shellcheck disable=SC2016,SC2034,SC2317
set -euo pipefail

limit=20
attempts=100
cg=/sys/fs/cgroup/vm-test-pids.$$

cleanup() {
    [ -d "$cg" ] || return 0
    # cgroup.kill (5.14+) kills every process in the cgroup, then wait until it is empty.
    echo 1 >"$cg/cgroup.kill" 2>/dev/null || true
    for _ in $(seq 100); do
        grep -q '^populated 0' "$cg/cgroup.events" && break
        sleep 0.1
    done
    rmdir "$cg"
}
trap cleanup EXIT

mkdir "$cg"
echo "$limit" >"$cg/pids.max"
[ "$(cat "$cg/pids.max")" = "$limit" ]

# perl, not a shell: bash retries a failed fork for ~15 s each time and ash gives up the whole
# script; perl's fork just returns undef. The shell moves itself into the cgroup first so that
# the cgroup holds only perl and its children. perl samples pids.current after every fork.
result=$(sh -c 'echo $$ >"$1/cgroup.procs" && exec perl -e "$2" "$1" "$3"' sh "$cg" '
    use strict;
    my ($cg, $attempts) = @ARGV;
    my ($ok, $failed, $max, $errno) = (0, 0, 0, "");
    my @kids;
    sub current { open(my $f, "<", "$cg/pids.current") or die "pids.current: $!"; my $v = <$f>; chomp $v; return $v; }
    for (1 .. $attempts) {
        my $pid = fork();
        if (!defined $pid) { $failed++; $errno = $! + 0; }
        elsif ($pid == 0) { sleep 1000; exit 0; }
        else { $ok++; push @kids, $pid; }
        my $c = current();
        $max = $c if $c > $max;
    }
    my $final = current();
    kill "KILL", @kids;
    waitpid($_, 0) for @kids;
    print "ok=$ok failed=$failed max=$max final=$final errno=$errno\n";
' "$attempts")
echo "fork loop: $result"

eval "$result" # sets ok failed max final errno
events=$(cat "$cg/pids.events")
echo "pids.events: $events"
max_events=$(awk '$1 == "max" { print $2 }' "$cg/pids.events")

status=0
check() {
    if ! eval "$1"; then
        echo "FAILED: $2 ($1)" >&2
        status=1
    fi
}
check '[ "$ok" -eq $((limit - 1)) ]' "perl plus its children must reach exactly pids.max"
check '[ "$failed" -eq $((attempts - limit + 1)) ]' "every fork beyond the limit must fail"
check '[ "$errno" -eq 11 ]' "a refused fork fails with EAGAIN"
check '[ "$max" -le "$limit" ]' "pids.current must never exceed pids.max"
check '[ "$final" -eq "$limit" ]' "pids.current counts the live children"
check '[ -n "$max_events" ] && [ "$max_events" -ge 1 ]' "pids.events must count the refused forks"
# After the children are reaped the cgroup must be empty again.
check '[ "$(cat "$cg/pids.current")" -eq 0 ]' "pids.current drops to 0 when all have exited"
exit "$status"
