#!/usr/bin/env bash
# Installs what tests/vm/run.sh needs, once, into $FERRET_VM_DIR (default: /var/cache/ferret-vm,
# or target/vm when that is not writable):
#   kernels/  stock Debian kernels (kprobes, fentry, BTF built in): 6.1 and 6.12, each with the
#             ELF vmlinux extracted from its bzImage for PVH direct boot (no decompression under
#             TCG: ~2 s saved per boot) and the modules tests load
#   qemu/     qemu-system-x86_64 (the system one, or extracted from Debian's packages when it
#             cannot be installed: see below) and the firmware it loads
#   busybox   the guest's shell and tools (busybox-static, extracted: nothing installed)
#   tools/    the .bt tools Debian ships in its bpftrace package (extracted, never committed):
#             the kprobe ones run unmodified in the guest
#   env       where those are, for run.sh
# Idempotent: a finished setup leaves "ready" and returns at once. Only `apt-get download` (and
# `apt-get update` on lists kept in $DIR/apt for Debian 13's kernel) and, for QEMU's shared
# libraries, `apt-get install --no-remove` touch the network or the system.
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
VERSION=5
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

# Two stock kernels, each in kernels/NAME/ with `image` (what QEMU boots), `modules/` and `package`:
#   6.1   Debian 12's (this host's apt sources): kprobes, fentry, no kprobe_multi (no CONFIG_FPROBE)
#   6.12  Debian 13's, fetched through apt lists kept under $DIR/apt (the system's sources are not
#         touched): kprobe_multi links (CONFIG_FPROBE), a newer verifier
# A kernel that cannot be fetched is left out with a line on stderr; run.sh says which ran.
MODULES="kernel/fs/binfmt_misc.ko"

# apt-get/apt-cache for SUITE: "" is the system's sources, else deb.debian.org's SUITE.
apt_for() {
    local suite=$1 tool=$2
    shift 2
    if [ -z "$suite" ]; then
        "$tool" "$@"
        return
    fi
    local a=$DIR/apt/$suite
    mkdir -p "$a/lists/partial" "$a/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
        >"$a/sources.list"
    "$tool" -o Dir::Etc::SourceList="$a/sources.list" -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::State::Lists="$a/lists" -o Dir::Cache="$a/cache" "$@"
}

# The kernel package linux-image-amd64 points to in SUITE.
kernel_pkg() {
    apt_for "$1" apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}

# The ELF vmlinux inside a bzImage (XZ or zstd payload: no decompression under TCG, PVH boot),
# or the bzImage itself when it cannot be unpacked here.
unpack_image() {
    local vmlinuz=$1 out=$2
    local -x LC_ALL=C # grep -P matches bytes
    rm -f "$out.tmp"
    if grep -qobUaP '\xfd7zXZ\x00' "$vmlinuz" && command -v python3 >/dev/null; then
        python3 - "$vmlinuz" "$out.tmp" <<'PY'
import lzma, sys
d = open(sys.argv[1], 'rb').read()
i = d.find(b'\xfd7zXZ\0')
open(sys.argv[2], 'wb').write(lzma.LZMADecompressor().decompress(d[i:]))
PY
    elif command -v zstd >/dev/null; then
        local off
        off=$(grep -obUaP '\x28\xb5\x2f\xfd' "$vmlinuz" | head -1 | cut -d: -f1)
        [ -n "$off" ] && tail -c +$((off + 1)) "$vmlinuz" | zstd -dcq 2>/dev/null >"$out.tmp" || true
    fi
    if [ -s "$out.tmp" ] && head -c 4 "$out.tmp" | grep -q ELF; then
        mv "$out.tmp" "$out"
    else
        log "cannot unpack $vmlinuz here; QEMU boots the compressed image"
        rm -f "$out.tmp"
        cp "$vmlinuz" "$out"
    fi
}

# fetch_kernel NAME SUITE: kernels/NAME from SUITE's linux-image-amd64. Returns 1 (and says why)
# when that cannot be done here.
fetch_kernel() {
    local name=$1 suite=$2 kdir=$DIR/kernels/$1 pkg
    [ -f "$kdir/ready" ] && return 0
    pkg=$(kernel_pkg "$suite" || true)
    if [ -z "$pkg" ]; then
        log "apt-get update${suite:+ ($suite)}"
        apt_for "$suite" apt-get update -qq >/dev/null 2>&1 || { log "apt-get update${suite:+ ($suite)} failed"; return 1; }
        pkg=$(kernel_pkg "$suite" || true)
    fi
    [ -n "$pkg" ] || { log "no linux-image-amd64 in ${suite:-the apt sources}"; return 1; }
    log "apt-get download $pkg"
    (cd "$DIR/debs" && apt_for "$suite" apt-get download -qq "$pkg" >/dev/null 2>&1) ||
        { log "apt-get download $pkg failed"; return 1; }
    rm -rf "$DIR/debs/kroot" "$kdir" && mkdir -p "$DIR/debs/kroot" "$kdir/modules"
    # Debian 13 ships /usr/lib/modules and compressed modules (.ko.xz).
    dpkg-deb --fsys-tarfile "$DIR/debs/$pkg"_*.deb | tar -x -C "$DIR/debs/kroot" --wildcards --no-wildcards-match-slash \
        './boot/vmlinuz-*' $(for m in $MODULES; do echo "./lib/modules/*/$m*" "./usr/lib/modules/*/$m*"; done) 2>/dev/null || true
    for m in $MODULES; do
        local f
        f=$(ls "$DIR"/debs/kroot/lib/modules/*/"$m"* "$DIR"/debs/kroot/usr/lib/modules/*/"$m"* 2>/dev/null | head -1)
        [ -n "$f" ] || { log "$pkg has no $m"; return 1; }
        case $f in
        *.xz) xz -dc "$f" >"$kdir/modules/$(basename "$m")" ;;
        *.zst) zstd -dcq "$f" >"$kdir/modules/$(basename "$m")" ;;
        *) cp "$f" "$kdir/modules/" ;;
        esac
    done
    unpack_image "$(ls "$DIR"/debs/kroot/boot/vmlinuz-*)" "$kdir/image"
    echo "$pkg" >"$kdir/package"
    rm -rf "$DIR/debs/kroot" "$DIR/debs/$pkg"_*.deb
    touch "$kdir/ready"
}

download() {
    log "apt-get download $*"
    apt-get download -qq "$@" >/dev/null 2>&1 || skip "apt-get download $* failed (no network?)"
}

mkdir -p "$DIR/kernels"
# The older layout (one kernel at the top) is replaced.
rm -rf "$DIR/vmlinux" "$DIR/modules" "$DIR/kernel-package"
fetch_kernel 6.1 "" || skip "cannot fetch Debian 12's kernel (no network?)"
fetch_kernel 6.12 trixie || log "Debian 13's kernel is left out: kprobe_multi tests will skip"
KERNELS=""
for k in 6.1 6.12; do [ -f "$DIR/kernels/$k/ready" ] && KERNELS="$KERNELS $DIR/kernels/$k"; done

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
VM_KERNELS='${KERNELS# }'
VM_BUSYBOX='$DIR/busybox'
VM_TOOLS='$DIR/tools'
EOF
echo "$VERSION" >"$DIR/ready"
log "ready in $DIR ($(cat "$DIR"/kernels/*/package | paste -sd' '), $("$QEMU" --version | head -1))"
echo "$DIR"
