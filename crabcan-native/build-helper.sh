#!/usr/bin/env bash
# Compiles the helper statically (it must run inside any root filesystem, on any libc) against
# musl, whose MIT licence asks nothing of a binary shipped in a jar (a static glibc would bring
# the LGPL's relinking terms), with warnings as errors. Arguments: source dir, the dir of the
# generated contract.h, output dir.
set -euo pipefail
src=$1 gen=$2 out=$3
if ! command -v musl-gcc >/dev/null; then
    echo "build-helper.sh: musl-gcc not found: install musl-tools (Debian, Ubuntu: apt-get install musl-tools linux-libc-dev)" >&2
    exit 1
fi
# musl-gcc searches only musl's headers; the kernel's (linux/, asm/, asm-generic/) are added alone,
# never the rest of /usr/include, which belongs to glibc.
kernel="$gen/kernel-include"
mkdir -p "$kernel"
asm=/usr/include/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/asm
[ -d "$asm" ] || asm=/usr/include/asm
for dir in /usr/include/linux /usr/include/asm-generic "$asm"; do
    if [ ! -d "$dir" ]; then
        echo "build-helper.sh: kernel headers missing ($dir): install linux-libc-dev" >&2
        exit 1
    fi
done
ln -sfn /usr/include/linux "$kernel/linux"
ln -sfn /usr/include/asm-generic "$kernel/asm-generic"
ln -sfn "$asm" "$kernel/asm"
mkdir -p "$out"
musl-gcc -std=gnu11 -O2 -static -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wconversion -Wno-sign-conversion \
    -fstack-protector-strong -I "$gen" -isystem "$kernel" -o "$out/crabcan-helper" "$src"/*.c
strip "$out/crabcan-helper"
# The Java side names the helper's cache directory after this, and checks copies on disk against it.
sha256sum "$out/crabcan-helper" | cut -c1-64 > "$out/crabcan-helper.sha256"
