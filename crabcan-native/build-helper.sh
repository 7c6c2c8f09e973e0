#!/usr/bin/env bash
# Compiles the helper statically (it must run inside any root filesystem, on any libc)
# with warnings as errors. Arguments: source dir, the dir of the generated contract.h, output dir.
set -euo pipefail
src=$1 gen=$2 out=$3
mkdir -p "$out"
gcc -std=gnu11 -O2 -static -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wconversion -Wno-sign-conversion \
    -fstack-protector-strong -D_FORTIFY_SOURCE=2 -I "$gen" -o "$out/crabcan-helper" "$src"/*.c
strip "$out/crabcan-helper"
# The Java side names the helper's cache directory after this, and checks copies on disk against it.
sha256sum "$out/crabcan-helper" | cut -c1-64 > "$out/crabcan-helper.sha256"
