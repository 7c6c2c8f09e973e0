#!/usr/bin/env bash
# Every test, as CI runs them (.ci/run calls this): unit tests, then real containers on the real
# kernel, as root and again as uid 65534. Needs root: it installs what a fresh Debian or Ubuntu
# machine lacks, and the tests mount, make cgroups and switch users.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" != 0 ]; then
    echo "test.sh: run it as root (sudo ./test.sh): it installs packages and the tests need root" >&2
    exit 1
fi

need=()
command -v javac >/dev/null || need+=(default-jdk-headless)
command -v mvn >/dev/null || need+=(maven)
command -v gcc >/dev/null || need+=(gcc)
command -v musl-gcc >/dev/null || need+=(musl-tools)  # the helper is linked statically against musl
[ -e /usr/include/linux/mount.h ] || need+=(linux-libc-dev)
command -v setpriv >/dev/null || need+=(util-linux)  # the rootless rerun and the attack tests switch users
command -v ip >/dev/null || need+=(iproute2)
command -v bwrap >/dev/null || need+=(bubblewrap)   # the benchmark compares against it
command -v nft >/dev/null || need+=(nftables)       # private networks: a root caller's table, every sandbox's filter
command -v pasta >/dev/null || need+=(passt)        # private networks of rootless callers
command -v python3 >/dev/null || need+=(python3)    # the network tests' web and DNS servers, OciExecTest's console socket
command -v busybox >/dev/null || need+=(busybox-static)  # OciExecTest's container root file systems
command -v perl >/dev/null || need+=(perl-base)     # CacheTrustTest's swapping loop
command -v podman >/dev/null || need+=(podman)      # PodmanTest drives crabcan-oci with it (brings conmon)
command -v newuidmap >/dev/null || need+=(uidmap)   # PodmanRootlessTest: rootless podman maps its user's subordinate ids
command -v runc >/dev/null || need+=(runc)          # RuncInteropTest runs a config.json written from Java
command -v containerd >/dev/null || need+=(containerd)  # ContainerdTest: containerd, ctr and the runc v2 shim
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || need+=(busybox-static)  # ContainerdTest's image, the image build tests' base images
command -v crun >/dev/null || need+=(crun)          # the benchmark compares crabcan-oci with crun and runc
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)                  # the pure cgroup v2 lane (VmLaneTest) builds
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)     # a Debian 12 VM image and boots it
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
if [ ${#need[@]} -gt 0 ]; then
    echo "test.sh: installing ${need[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

# pasta (rootless private networks) opens /dev/net/tun as the caller. Debian's udev makes it
# mode 0666; some container hosts create it 0600, which leaves only root callers a private network.
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
    echo "test.sh: chmod 0666 /dev/net/tun, so that rootless sandboxes can have a private network"
    chmod 0666 /dev/net/tun
fi

# The VM lane runs here, as in CI; a plain mvn verify leaves it out (it takes 10 to 30 minutes).
exec mvn -B -ntp verify -Prelease -Dcrabcan.it.vm=true "$@"
