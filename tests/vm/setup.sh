#!/usr/bin/env bash
# Installs what tests/vm/run.sh needs, once, into $FERRET_VM_DIR (default: /var/cache/ferret-vm,
# or target/vm when that is not writable):
#   vmlinux   a stock Debian 6.1 kernel (kprobes, fentry, BTF built in), extracted from its
#             bzImage for PVH direct boot (no decompression under TCG: ~2 s saved per boot)
#   qemu/     qemu-system-x86_64 (the system one, or extracted from Debian's packages when it
#             cannot be installed: see below) and the firmware it loads
#   modules/  the kernel's own modules that tests load (binfmt_misc: module BTF, no dependencies)
#   busybox   the guest's shell and tools (busybox-static, extracted: nothing installed)
#   tools/    the .bt tools Debian ships in its bpftrace package (extracted, never committed):
#             the kprobe ones run unmodified in the guest
#   env       where those are, for run.sh
# Idempotent: a finished setup leaves "ready" and returns at once. Only `apt-get download` and,
# for QEMU's shared libraries, `apt-get install --no-remove` touch the network or the system.
# Exit status: 0 ready (the directory printed on stdout); 77 cannot set up here (a line
# "SKIP: reason" on stdout); other: error. Progress goes to stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${FERRET_VM_DIR:-}" ]; then
    if mkdir -p /var/cache/ferret-vm 2>/dev/null && [ -w /var/cache/ferret-vm ]; then
        FERRET_VM_DIR=/var/cache/ferret-vm
    else
        FERRET_VM_DIR=$ROOT/target/vm
    fi
fi
DIR=$FERRET_VM_DIR
# Bumped when the setup adds something, so an older cache completes itself.
VERSION=4
if [ "$(cat "$DIR/ready" 2>/dev/null)" = "$VERSION" ]; then
    echo "$DIR"
    exit 0
fi

skip() {
    echo "SKIP: $*"
    exit 77
}
log() { echo "vm setup: $*" >&2; }

[ "$(uname -m)" = x86_64 ] || skip "the VM tests boot an x86-64 kernel; this is $(uname -m)"
command -v apt-get >/dev/null || skip "no apt-get: the VM tests fetch Debian's kernel and QEMU packages"
command -v dpkg-deb >/dev/null || skip "no dpkg-deb to unpack Debian packages"
[ "$(id -u)" = 0 ] || skip "setup needs root (apt)"

mkdir -p "$DIR/debs"
cd "$DIR/debs"

# The kernel package linux-image-amd64 points to (6.1.0-N-amd64 on Debian 12).
kernel_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}
KPKG=$(kernel_pkg || true)
if [ -z "$KPKG" ]; then
    log "apt-get update"
    apt-get update -qq >/dev/null 2>&1 || skip "apt-get update failed (no network?)"
    KPKG=$(kernel_pkg || true)
fi
[ -n "$KPKG" ] || skip "the apt sources have no linux-image-amd64"

download() {
    log "apt-get download $*"
    apt-get download -qq "$@" >/dev/null 2>&1 || skip "apt-get download $* failed (no network?)"
}

# --- kernel: boot/vmlinuz and the modules tests load, then the ELF vmlinux inside vmlinuz
# (an XZ-compressed payload)
MODULES="kernel/fs/binfmt_misc.ko"
if [ ! -f "$DIR/vmlinux" ] || [ ! -f "$DIR/modules/binfmt_misc.ko" ]; then
    ls "$KPKG"_*.deb >/dev/null 2>&1 || download "$KPKG"
    rm -rf kroot && mkdir kroot
    # shellcheck disable=SC2046
    dpkg-deb --fsys-tarfile "$KPKG"_*.deb | tar -x -C kroot --wildcards './boot/vmlinuz-*' \
        $(for m in $MODULES; do echo "./lib/modules/*/$m"; done)
    rm -rf "$DIR/modules" && mkdir -p "$DIR/modules"
    for m in $MODULES; do cp kroot/lib/modules/*/"$m" "$DIR/modules/"; done
    VMLINUZ=$(ls kroot/boot/vmlinuz-*)
    if command -v python3 >/dev/null; then
        python3 - "$VMLINUZ" "$DIR/vmlinux.tmp" <<'EOF'
import lzma, sys
d = open(sys.argv[1], 'rb').read()
i = d.find(b'\xfd7zXZ\0')
open(sys.argv[2], 'wb').write(lzma.LZMADecompressor().decompress(d[i:]))
EOF
    else
        off=$(grep -obUaP '\xfd7zXZ\x00' "$VMLINUZ" | head -1 | cut -d: -f1)
        tail -c +$((off + 1)) "$VMLINUZ" | xz -dc --single-stream >"$DIR/vmlinux.tmp"
    fi
    head -c 4 "$DIR/vmlinux.tmp" | grep -q ELF || { echo "vm setup: no ELF vmlinux in $VMLINUZ" >&2; exit 1; }
    mv "$DIR/vmlinux.tmp" "$DIR/vmlinux"
    echo "$KPKG" >"$DIR/kernel-package"
    rm -rf kroot "$KPKG"_*.deb
fi

# --- busybox: the static binary out of busybox-static, nothing installed
if [ ! -x "$DIR/busybox" ]; then
    ls busybox-static_*.deb >/dev/null 2>&1 || download busybox-static
    rm -rf bbroot && mkdir bbroot
    dpkg-deb -x busybox-static_*.deb bbroot
    cp bbroot/bin/busybox "$DIR/busybox"
    rm -rf bbroot busybox-static_*.deb
fi

# --- bpftrace's tools: /usr/sbin/*.bt out of Debian's bpftrace package, nothing installed
if ! ls "$DIR"/tools/*.bt >/dev/null 2>&1; then
    ls bpftrace_*.deb >/dev/null 2>&1 || download bpftrace
    rm -rf btroot && mkdir btroot
    dpkg-deb -x bpftrace_*.deb btroot
    rm -rf "$DIR/tools" && mkdir -p "$DIR/tools"
    cp btroot/usr/sbin/*.bt "$DIR/tools/"
    rm -rf btroot bpftrace_*.deb
fi

# --- QEMU: the system's, else an install, else Debian's binaries unpacked beside the cache
# (a host whose qemu-utils comes from backports refuses qemu-system-* 7.2: its qemu-utils
# `Breaks: qemu-system-common (<< 1:8.0)`; --no-remove keeps apt from "solving" that by removing
# qemu-utils).
QEMU=""
QEMU_ARGS=""
if command -v qemu-system-x86_64 >/dev/null; then
    QEMU=$(command -v qemu-system-x86_64)
elif [ -x "$DIR/qemu/usr/bin/qemu-system-x86_64" ]; then
    QEMU=$DIR/qemu/usr/bin/qemu-system-x86_64
    QEMU_ARGS="-L $DIR/qemu/usr/share/qemu -L $DIR/qemu/usr/share/seabios"
elif apt-get install -y -qq --no-install-recommends --no-remove qemu-system-x86 >/dev/null 2>&1; then
    QEMU=$(command -v qemu-system-x86_64)
else
    log "qemu-system-x86 does not install here; unpacking it under $DIR/qemu"
    PKGS="qemu-system-x86 qemu-system-common qemu-system-data seabios"
    for p in $PKGS; do ls "$p"_*.deb >/dev/null 2>&1 || download "$p"; done
    rm -rf "$DIR/qemu" && mkdir -p "$DIR/qemu"
    for p in $PKGS; do dpkg-deb -x "$p"_*.deb "$DIR/qemu"; done
    # Its shared libraries: the packages' own dependencies, minus QEMU's packages themselves.
    DEPS=$(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
        --no-enhances qemu-system-x86 qemu-system-common 2>/dev/null |
        awk '/^ *\|?Depends: [^<]/ {print $2}' | grep -v '^qemu-' | sort -u | tr '\n' ' ')
    MISSING=$(LD_LIBRARY_PATH= ldd "$DIR/qemu/usr/bin/qemu-system-x86_64" 2>/dev/null | grep -c 'not found' || true)
    if [ "$MISSING" != 0 ]; then
        log "apt-get install --no-remove (QEMU's libraries)"
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends --no-remove $DEPS >/dev/null 2>&1 ||
            skip "cannot install QEMU's shared libraries (apt-get install $DEPS failed)"
    fi
    QEMU=$DIR/qemu/usr/bin/qemu-system-x86_64
    QEMU_ARGS="-L $DIR/qemu/usr/share/qemu -L $DIR/qemu/usr/share/seabios"
    rm -f ./*.deb
fi
"$QEMU" --version >/dev/null 2>&1 || skip "$QEMU does not run"

cat >"$DIR/env" <<EOF
VM_QEMU='$QEMU'
VM_QEMU_ARGS='$QEMU_ARGS'
VM_KERNEL='$DIR/vmlinux'
VM_BUSYBOX='$DIR/busybox'
VM_MODULES='$DIR/modules'
VM_TOOLS='$DIR/tools'
EOF
echo "$VERSION" >"$DIR/ready"
log "ready in $DIR ($KPKG, $("$QEMU" --version | head -1))"
echo "$DIR"
