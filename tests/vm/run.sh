#!/usr/bin/env bash
# Kernel function probe tests (tests/vm/*.test, the runtime test format) in QEMU guests that run
# stock Debian kernels, for what this host's kernel cannot do (kprobes, fentry, kprobe_multi):
# Debian 12's 6.1 and Debian 13's 6.12 (tests/vm/setup.sh). One boot per kernel runs them all:
# ferret and the runtime test runner, built static, go into a per-run initramfs with busybox (and
# that kernel's modules, a second archive); the guest's /init (tests/vm/init) runs the runner and
# powers off.
#
# Usage: tests/vm/run.sh [FILTER]   (FILTER: a test-name substring, as for the runtime tests)
# Prints, for each kernel, the runner's PASS/FAIL/SKIP lines and the timings; exits 1 when a test
# fails on any of them. When the
# VM cannot be set up here (tests/vm/setup.sh: no apt, no network) it prints "SKIP: reason" and
# exits 0. Env: FERRET_VM_DIR (the cache, see setup.sh), VM_TIMEOUT (seconds per boot, default
# 300), VM_KERNEL=6.1|6.12 boots only that one, VM_LOG=FILE keeps the guests' console output.
set -uo pipefail
cd "$(dirname "$0")/../.."

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

t0=$(now)
DIR=$(tests/vm/setup.sh)
case $? in
0) ;;
77)
    echo "$DIR" | grep '^SKIP' || echo "SKIP: tests/vm/setup.sh cannot set up the VM here"
    exit 0
    ;;
*)
    echo "FAIL: tests/vm/setup.sh failed"
    exit 1
    ;;
esac
# shellcheck source=/dev/null
. "$DIR/env"

tmp=$(mktemp -d /tmp/ferret-vm.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Static binaries: the guest has no libc. --target keeps crt-static off build scripts and
# proc-macros.
t1=$(now)
if ! RUSTFLAGS='-C target-feature=+crt-static' cargo test --release --target x86_64-unknown-linux-gnu \
    -p ferret --test runtime --no-run --message-format=json >"$tmp/build.json" 2>"$tmp/build.log"; then
    cat "$tmp/build.log"
    echo "FAIL: static build for the VM"
    exit 1
fi
exe() { grep -o "\"executable\":\"[^\"]*/$1\"" "$tmp/build.json" | head -1 | cut -d'"' -f4; }
FERRET=$(exe ferret)
RUNNER=$(exe 'runtime-[0-9a-f]*')
if [ -z "$FERRET" ] || [ -z "$RUNNER" ]; then
    echo "FAIL: the static build did not report the ferret and runtime executables"
    exit 1
fi

# The initramfs: busybox, the binaries (stripped: a smaller archive unpacks faster), the tests.
t2=$(now)
root=$tmp/root
mkdir -p "$root"/bin "$root"/tests "$root"/proc "$root"/sys "$root"/dev "$root"/tmp
cp "$VM_BUSYBOX" "$root/bin/busybox"
for b in "$FERRET:ferret" "$RUNNER:runtime"; do
    strip -o "$root/bin/${b#*:}" "${b%%:*}" 2>/dev/null || cp "${b%%:*}" "$root/bin/${b#*:}"
done
cp tests/vm/*.test "$root/tests/"
mkdir -p "$root/tools"
cp "${VM_TOOLS:-/nonexistent}"/*.bt "$root/tools/" 2>/dev/null || true
cp tests/vm/init "$root/init"
chmod +x "$root/init"
[ -n "${1:-}" ] && printf '%s\n' "$1" >"$root/filter"
(cd "$root" && find . | "$VM_BUSYBOX" cpio -o -H newc 2>/dev/null) >"$tmp/initrd.cpio"

# One boot per kernel. TCG only: KVM on these hosts cannot run a stock kernel (see the QEMU notes).
failed=0
ran=0
for kdir in $VM_KERNELS; do
    name=$(basename "$kdir")
    [ -n "${VM_KERNEL:-}" ] && [ "$VM_KERNEL" != "$name" ] && continue
    ran=$((ran + 1))
    echo "== guest kernel $name ($(cat "$kdir/package"))"
    mods=$tmp/mods-$name
    mkdir -p "$mods/lib/modules"
    cp "$kdir"/modules/*.ko "$mods/lib/modules/"
    (cd "$mods" && find . | "$VM_BUSYBOX" cpio -o -H newc 2>/dev/null) | cat "$tmp/initrd.cpio" - >"$tmp/initrd-$name.cpio"
    t3=$(now)
    # Two vCPUs on one TCG thread: with a thread per vCPU (MTTCG), kernel text patched while
    # the other vCPU runs it (a kprobe or fentry detaching from vfs_read, do_filp_open) was
    # seen to execute garbage (RIP 0 oopses, on 6.1 and 6.12), which real CPUs' text_poke
    # synchronisation rules out.
    # shellcheck disable=SC2086
    timeout "${VM_TIMEOUT:-300}" "$VM_QEMU" $VM_QEMU_ARGS -nic none -m 1024 -smp 2 -accel tcg,thread=single -cpu max \
        -no-reboot -display none -serial stdio -monitor none -kernel "$kdir/image" \
        -initrd "$tmp/initrd-$name.cpio" -append 'console=ttyS0 quiet panic=-1' </dev/null 2>&1 |
        tr -d '\r' >"$tmp/console.log"
    t4=$(now)
    [ -n "${VM_LOG:-}" ] && cat "$tmp/console.log" >>"$VM_LOG"

    sed -n '/^VM-READY$/,/^VM-EXIT rc=/p' "$tmp/console.log" | grep -v '^VM-READY$\|^VM-EXIT rc='
    rc=$(sed -n 's/^VM-EXIT rc=\([0-9]*\)$/\1/p' "$tmp/console.log" | tail -1)
    echo "vm $name: boot + tests + poweroff $(secs "$t3" "$t4") s (TCG)"
    if [ -z "$rc" ]; then
        echo "FAIL: the $name guest did not finish (timeout or kernel panic); end of its console:"
        tail -30 "$tmp/console.log"
        failed=1
    elif [ "$rc" != 0 ]; then
        failed=1
    fi
done
echo "vm: setup $(secs "$t0" "$t1") s, static build $(secs "$t1" "$t2") s, $ran kernel(s)"
if [ "$ran" = 0 ]; then
    echo "FAIL: no guest kernel${VM_KERNEL:+ named $VM_KERNEL} in $DIR/kernels"
    exit 1
fi
exit "$failed"
