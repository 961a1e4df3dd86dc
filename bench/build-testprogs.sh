#!/bin/sh
# Build bpftrace's runtime-test programs (tests/testprogs, tests/testlibs) next to their sources in an
# extracted test tree, so that `bt_runtime.py --with-testprogs` can run the uprobe/usdt tests.
# Usage: bench/build-testprogs.sh /tmp/bt-src/tests
# Nothing built here belongs in this repository: the sources are bpftrace's, extracted under /tmp.
set -u
T=${1:?usage: build-testprogs.sh TESTS_DIR}
P=$T/testprogs L=$T/testlibs INC=$T/include
CFLAGS="-g -O0 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer"
ok=0 bad=0
cc_one() { # out src flags...
    out=$1 src=$2; shift 2
    if "$@" -o "$out" "$src" $after 2>/tmp/testprogs-build.err; then ok=$((ok+1)); else
        bad=$((bad+1)); echo "build failed: $out ($(head -c 200 /tmp/testprogs-build.err | tr '\n' ' '))"; fi
}
# testlibs first: usdt_lib links against libusdt_tp.so
for src in "$L"/*.c; do
    n=$(basename "$src" .c)
    after="" cc_one "$L/lib$n.so" "$src" gcc -I"$INC" -g -O0 -shared -fPIC && chmod -x "$L/lib$n.so"
done
for src in "$P"/*.c "$P"/*.cpp; do
    n=${src##*/}; n=${n%.*}
    comp=gcc; case $src in *.cpp) comp=g++;; esac
    flags=$CFLAGS
    [ "$n" = uprobe_nofp ] && flags="-g -O1 -fomit-frame-pointer -fno-optimize-sibling-calls"
    after=""; [ "$n" = usdt_lib ] && after="-I$L -fPIC -L$L -lusdt_tp -Wl,-rpath,$L"
    cc_one "$P/$n" "$src" $comp -I"$INC" $flags -no-pie
    cc_one "$P/$n-pie" "$src" $comp -I"$INC" $flags -fpie -pie
done
command -v rustc >/dev/null && for src in "$P"/*.rs; do
    after="" cc_one "$P/$(basename "$src" .rs)" "$src" rustc -C symbol_mangling_version=v0
done
# A flat binary holding only false.c's main; a zip holding `true`.
gcc -c "$P/false.c" -o /tmp/false.o && objcopy -S --only-section=.text --keep-symbol=main -O binary /tmp/false.o "$P/false.bin"
rm -f "$P/archive.zip"; (cd "$P" && zip -q -0 -j archive.zip true)
# Separate debug info: --debuginfo dir and .debug/ by debuglink.
mkdir -p "$P/external_debug/dwo" "$P/external_debug/dwp" "$P/.debug"
objcopy --only-keep-debug "$P/uprobe_test" "$P/external_debug/uprobe_test-stripped.debug"
objcopy --strip-debug "$P/uprobe_test" "$P/uprobe_test-stripped"
objcopy --only-keep-debug "$P/uprobe_separate_debug" "$P/.debug/uprobe_separate_debug-stripped.debug"
objcopy --strip-debug "$P/uprobe_separate_debug" "$P/uprobe_separate_debug-stripped"
objcopy --add-gnu-debuglink="$P/.debug/uprobe_separate_debug-stripped.debug" "$P/uprobe_separate_debug-stripped"
(cd "$P/external_debug/dwo" && gcc -g -O0 -gsplit-dwarf "$P/uprobe_test.c" -o uprobe_test-split)
if command -v llvm-dwp >/dev/null; then
    (cd "$P/external_debug/dwp" && gcc -g -O0 -gsplit-dwarf "$P/uprobe_test.c" -o uprobe_test-split &&
     llvm-dwp -e uprobe_test-split -o uprobe_test-split.dwp && rm -f ./*.dwo)
fi
echo "testprogs: $ok built, $bad failed"
