#!/usr/bin/env bash
# The pure cgroup v2 VM lane, run by VmLaneTest. This machine has no KVM, so it boots Debian's own
# kernel and systemd under qemu's software emulation: a Debian 12 root file system made with
# mmdebstrap from Debian packages, booted with Debian's initrd, the tests shared in by 9p.
#
#   lane.sh WORK SHARE
#
# WORK: an empty directory for the image (removed again at the end, but for console.log).
# SHARE: holds cp/ (the class path, one entry per line in cp.txt), tests.txt (ConsoleLauncher
# selectors) and gets results/<mode>/ (reports, output, exit code) and results/times.
# qemu exits 0 whatever the guest did: the verdict is in SHARE/results, read by VmLaneTest.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(realpath "$1")
share=$(realpath "$2")
root=$work/rootfs
mkdir -p "$share/results"
now() { date +%s%N; }
took() { echo "$1 $(( ($(now) - $2) / 1000000 )) ms" >> "$share/results/times"; }
cleanup() { rm -rf "$root" "$work/root.img" "$work/vmlinuz" "$work/initrd.img"; }
trap cleanup EXIT

t0=$(now)
# Recommends left out: only what the tests need (python3: LimitsTest's memory and pids tests; podman,
# uidmap, slirp4netns, its default rootless network, and busybox-static for its image: PodmanSystemdCgroupTest).
mmdebstrap --mode=root --variant=apt --aptopt='APT::Install-Recommends "false"' \
    --include=linux-image-amd64,initramfs-tools,systemd,systemd-sysv,udev,dbus,dbus-user-session,libpam-systemd,passwd,mount,util-linux,procps,kmod,openjdk-17-jre-headless,python3,podman,uidmap,slirp4netns,busybox-static \
    bookworm "$root" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main"
took mmdebstrap "$t0"

t1=$(now)
cp "$root"/boot/vmlinuz-* "$work/vmlinuz"
cp "$root"/boot/initrd.img-* "$work/initrd.img"
# Drivers no test uses (the initrd has what the boot needs), docs, locales: a third of the image.
# (Not with dpkg's path-exclude: without /usr/share/man, openjdk's postinst fails.)
rm -rf "$root"/usr/lib/modules/*/kernel/drivers/{gpu,net/wireless,media,infiniband,staging} "$root"/usr/lib/modules/*/kernel/sound \
    "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/locale "$root"/boot/*
echo crabcan-vm > "$root/etc/hostname"
echo '/dev/vda / ext4 rw,relatime 0 1' > "$root/etc/fstab"
# A getty on the serial console hangs the port up and the lane's later output is lost. podman's
# system units (rootful podman's API, auto-update, restart) are not the test's, and podman.service
# has Delegate=true: started at boot, it makes systemd enable cpu, cpuset and io in system.slice,
# and the service way would no longer run without a cpu controller.
for unit in serial-getty@.service getty@.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
        podman.service podman.socket podman-auto-update.service podman-auto-update.timer podman-restart.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
# The ordinary user, with a user manager from boot on (what loginctl enable-linger records).
useradd --root "$root" --create-home --uid 1000 --shell /bin/sh tester
# Its subordinate ids, for rootless podman: useradd gives them only where /etc/subuid and /etc/subgid exist.
for f in subuid subgid; do
    grep -q '^tester:' "$root/etc/$f" 2> /dev/null || echo tester:100000:65536 >> "$root/etc/$f"
done
mkdir -p "$root/var/lib/systemd/linger"
touch "$root/var/lib/systemd/linger/tester"
install -m 0755 "$here/guest.sh" "$root/usr/local/sbin/crabcan-lane"
# Started once multi-user.target is reached (DefaultDependencies=no: else that target would be
# ordered after it, a cycle); powers the machine off whatever happens.
cat > "$root/etc/systemd/system/crabcan-lane.service" <<'UNIT'
[Unit]
Description=Crabcan's pure cgroup v2 lane
DefaultDependencies=no
After=multi-user.target user@1000.service
Wants=user@1000.service
Conflicts=shutdown.target
Before=shutdown.target
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/crabcan-lane
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/crabcan-lane.service "$root/etc/systemd/system/multi-user.target.wants/crabcan-lane.service"
size=$(( $(du -sm "$root" | cut -f1) + 1536 ))
mkfs.ext4 -q -F -L root -d "$root" "$work/root.img" "${size}M"
rm -rf "$root"
took image "$t1"

t2=$(now)
# -no-reboot: a guest panic (panic=-1 reboots) ends qemu instead of looping; timeout bounds a hang.
# The plain qemu64 CPU (x86-64 with SSE3): qemu 7.2 rewrote its emulation of the newer vector
# instructions, and JVMs crashed in JIT-compiled code with them: SIGSEGV with AVX (twice in two
# fresh-clone CI runs), and a JVM killed by a signal with -cpu max minus AVX (once, in CI). A JVM
# picks its instructions from what the CPU reports, so it keeps to the long-emulated ones here.
timeout 2400 qemu-system-x86_64 -machine pc -accel tcg,thread=multi -cpu qemu64 -smp 2 -m 3072 \
    -kernel "$work/vmlinuz" -initrd "$work/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 panic=-1 systemd.show_status=0 loglevel=4" \
    -drive file="$work/root.img",format=raw,if=virtio,cache=unsafe \
    -virtfs local,path="$share",mount_tag=share,security_model=none,id=share \
    -nic none -display none -serial file:"$work/console.log" -no-reboot || echo "qemu: exit $?" >> "$work/console.log"
took vm "$t2"
took total "$t0"
