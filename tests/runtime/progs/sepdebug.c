/* CFLAGS: -g -O0
 * Separate debug info: copies of this program whose DWARF is elsewhere, for uprobe `args` and
 * `-lv` from --debuginfo directories, .gnu_debuglink, build-id trees and split DWARF.
 * POSTBUILD: mkdir -p ext .debug bid dwo dwp
 * POSTBUILD: objcopy --only-keep-debug sepdebug ext/sepdebug-ext.debug && objcopy --strip-debug sepdebug sepdebug-ext
 * POSTBUILD: objcopy --only-keep-debug sepdebug .debug/linked.debug && objcopy --strip-debug --add-gnu-debuglink=.debug/linked.debug sepdebug sepdebug-linked
 * POSTBUILD: id=$(readelf -n sepdebug | sed -n 's/.*Build ID: //p'); mkdir -p bid/.build-id/$(echo $id | cut -c1-2) && objcopy --only-keep-debug sepdebug bid/.build-id/$(echo $id | cut -c1-2)/$(echo $id | cut -c3-).debug && objcopy --strip-debug sepdebug sepdebug-bid
 * POSTBUILD: objcopy --strip-debug sepdebug sepdebug-wrong && gcc -g -O1 "$SRC" -o other && objcopy --only-keep-debug other .debug/sepdebug-wrong.debug
 * POSTBUILD: cd dwo && gcc -g -O0 -gsplit-dwarf "$SRC" -o sepdebug-split
 * POSTBUILD: cd dwp && gcc -g -O0 -gsplit-dwarf "$SRC" -o sepdebug-split && (llvm-dwp -e sepdebug-split -o sepdebug-split.dwp || dwp -e sepdebug-split -o sepdebug-split.dwp) && rm -f ./*.dwo
 * Usage: sepdebug (any copy) */
#include <stdio.h>

volatile long sink;

__attribute__((noinline)) void fn(int n, const char *str, char c) { sink += n + str[0] + c; }

int main(void) {
    char s[] = "sep"; /* on the stack: readable at once */
    fn(7, s, 'y');
    return 0;
}
