#!/bin/sh
# The lane inside the VM (crabcan-lane.service, as root, once multi-user.target is reached): runs
# the selected integration tests three ways and leaves everything in the share's results/:
#   service    root, in a system service without Delegate= (systemd-run --wait --pipe), OOMPolicy=continue
#   delegated  root, in a system service with Delegate=yes
#   user       uid 1000, in a scope of its user manager with Delegate=yes (systemd-run --user --scope)
set -u
share=/mnt/share
res=$share/results
mkdir -p $share
modprobe 9pnet_virtio
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share $share || exit 1
# Seconds from the kernel's start to here: boot to multi-user.target.
echo "boot $(cut -d' ' -f1 /proc/uptime) s" >> $res/times
{
    echo "kernel: $(uname -r)"
    echo "systemd: $(systemctl --version | head -n1)"
    echo "java: $(java -version 2>&1 | head -n1)"
    echo "podman: $(podman --version)"
    echo "cgroup mounts: $(grep cgroup /proc/self/mountinfo | cut -d' ' -f5,9 | tr '\n' ';')"
    for d in /sys/fs/cgroup /sys/fs/cgroup/system.slice /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service \
             /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice; do
        echo "$d: controllers [$(cat $d/cgroup.controllers)] subtree_control [$(cat $d/cgroup.subtree_control)]"
    done
} > $res/facts 2>&1
cp=$(paste -sd: $share/cp.txt)
selectors=$(cat $share/tests.txt)

# attempt MODE DIR COMMAND...: the ConsoleLauncher with DIR for its files, started by COMMAND. Without
# the tests' timeouts, made for the host: emulated, a JVM starts 18 times slower; the lane has its own.
# A JVM that crashes leaves its error report in results/MODE (-XX:ErrorFile).
attempt() {
    mode=$1 dir=$2
    shift 2
    mkdir -p $res/$mode
    start=$(date +%s%N)
    "$@" /usr/bin/java -cp "$cp" -XX:-UsePerfData -XX:ErrorFile=$res/$mode/hs_err_pid%p.log \
        -Djava.io.tmpdir=$dir/tmp -Duser.home=$dir \
        -Dcrabcan.cache.dir=$dir/cache -Dcrabcan.it.bin=$dir/bin -Dcrabcan.it.csrc=$share/csrc \
        -Dcrabcan.it.cli=$share/crabcan.jar \
        -Djunit.jupiter.execution.timeout.mode=disabled \
        org.junit.platform.console.ConsoleLauncher execute --disable-banner --disable-ansi-colors \
        --details=tree --fail-if-no-tests --reports-dir=$dir/reports $selectors > $res/$mode/output 2>&1
    echo $? > $res/$mode/exit
    # A JVM that may not write results/MODE (the user way's, run as tester) puts its report in its
    # working directory, DIR: it goes with the others, so that the crash is seen and run again.
    mv $dir/hs_err_pid*.log $res/$mode/ 2> /dev/null || true
    echo "tests-$mode $(( ($(date +%s%N) - start) / 1000000 )) ms" >> $res/times
    cp $dir/reports/*.xml $res/$mode/ 2>/dev/null
    echo "crabcan-lane: $mode exit $(cat $res/$mode/exit)"
}

# run MODE DIR COMMAND...: attempt, and up to twice more while the JVM itself crashed (a new error
# report exists): qemu's software emulation of x86 has crashed JIT-compiled code on a correct JVM,
# in about one way in three per lane, so that one retry left a lane failing about one run in four.
# The crashed attempts' output and reports stay (output.crashed-N, hs_err_*); VmLaneTest prints them.
run() {
    attempt "$@"
    for retry in 1 2; do
        crashes=$(ls $res/$1/hs_err_pid*.log 2> /dev/null | wc -l)
        if [ "$(cat $res/$1/exit)" = 0 ] || [ "$crashes" -lt "$retry" ]; then
            break
        fi
        mv $res/$1/output $res/$1/output.crashed-$retry
        echo "retry-$1 after a JVM crash" >> $res/times
        attempt "$@"
    done
}

mkdir -p /var/tmp/ccit-service/tmp /var/tmp/ccit-delegated/tmp
# OOMPolicy=continue: else systemd stops the whole service at a sandbox's first OOM kill (memory.events
# counts its cgroup's descendants; DefaultOOMPolicy=stop, which Delegate=yes units do not get).
run service /var/tmp/ccit-service systemd-run --quiet --wait --pipe --collect --unit=ccit-service \
    --setenv=CI=true -p WorkingDirectory=/var/tmp/ccit-service -p OOMPolicy=continue
run delegated /var/tmp/ccit-delegated systemd-run --quiet --wait --pipe --collect --unit=ccit-delegated \
    --setenv=CI=true -p WorkingDirectory=/var/tmp/ccit-delegated -p Delegate=yes
runuser -u tester -- mkdir -p /home/tester/ccit/tmp
cd /home/tester/ccit
run user /home/tester/ccit runuser -u tester -- env CI=true XDG_RUNTIME_DIR=/run/user/1000 \
    DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus systemd-run --user --scope --quiet -p Delegate=yes
cd /
journalctl -b --no-pager -o short-monotonic > $res/journal 2>&1
sync
umount $share
