#!/usr/bin/env bash
# Kernel function probe tests (tests/vm/*.test, the runtime test format) in a QEMU guest that
# runs a stock Debian 6.1 kernel, for what this host's kernel cannot do (kprobes, fentry).
# One boot runs them all: ferret and the runtime test runner, built static, go into a per-run
# initramfs with busybox; the guest's /init (tests/vm/init) runs the runner and powers off.
#
# Usage: tests/vm/run.sh [FILTER]   (FILTER: a test-name substring, as for the runtime tests)
# Prints the runner's PASS/FAIL/SKIP lines and the timings; exits 1 when a test fails. When the
# VM cannot be set up here (tests/vm/setup.sh: no apt, no network) it prints "SKIP: reason" and
# exits 0. Env: FERRET_VM_DIR (the cache, see setup.sh), VM_TIMEOUT (seconds, default 300),
# VM_LOG=FILE keeps the guest's console output.
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
mkdir -p "$root/lib/modules"
cp "$VM_MODULES"/*.ko "$root/lib/modules/"
cp tests/vm/*.test "$root/tests/"
mkdir -p "$root/tools"
cp "${VM_TOOLS:-/nonexistent}"/*.bt "$root/tools/" 2>/dev/null || true
cp tests/vm/init "$root/init"
chmod +x "$root/init"
[ -n "${1:-}" ] && printf '%s\n' "$1" >"$root/filter"
(cd "$root" && find . | "$VM_BUSYBOX" cpio -o -H newc 2>/dev/null) >"$tmp/initrd.cpio"

# TCG only: KVM on these hosts cannot run a stock kernel (see the QEMU notes).
t3=$(now)
# shellcheck disable=SC2086
timeout "${VM_TIMEOUT:-300}" "$VM_QEMU" $VM_QEMU_ARGS -nic none -m 1024 -smp 2 -accel tcg -cpu max \
    -no-reboot -display none -serial stdio -monitor none -kernel "$VM_KERNEL" -initrd "$tmp/initrd.cpio" \
    -append 'console=ttyS0 quiet panic=-1' </dev/null 2>&1 | tr -d '\r' >"$tmp/console.log"
t4=$(now)
[ -n "${VM_LOG:-}" ] && cp "$tmp/console.log" "$VM_LOG"

sed -n '/^VM-READY$/,/^VM-EXIT rc=/p' "$tmp/console.log" | grep -v '^VM-READY$\|^VM-EXIT rc='
rc=$(sed -n 's/^VM-EXIT rc=\([0-9]*\)$/\1/p' "$tmp/console.log" | tail -1)
echo "vm: setup $(secs "$t0" "$t1") s, static build $(secs "$t1" "$t2") s, initramfs $(secs "$t2" "$t3") s," \
    "boot + tests + poweroff $(secs "$t3" "$t4") s (TCG; $(cat "$DIR/kernel-package" 2>/dev/null))"
if [ -z "$rc" ]; then
    echo "FAIL: the guest did not finish (timeout or kernel panic); end of its console:"
    tail -30 "$tmp/console.log"
    exit 1
fi
[ "$rc" = 0 ] || exit 1
