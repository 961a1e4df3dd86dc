#!/usr/bin/env bash
# Build BCC's libbpf-tools (execsnoop, opensnoop, runqlat, ... as small CO-RE binaries) for
# benchmarking against ferret. Nothing from BCC lands in this repository: the trees are exported
# into a temporary directory under /tmp, built there, and only the binaries are copied to $OUT.
#   bash bench/libbpf-tools.sh            # -> /tmp/libbpf-tools/execsnoop, ...
# Environment (each *_SRC is a bare git dir or a checkout; a plain directory is copied as is):
#   BCC_SRC     iovisor/bcc     (default /work/.mirror/iovisor+bcc/repo), BCC_REV (default HEAD)
#   LIBBPF_SRC  libbpf/libbpf   (default /work/.mirror/libbpf+libbpf/repo)
#   BPFTOOL_SRC libbpf/bpftool  (default /work/.mirror/libbpf+bpftool/repo)
#   OUT         where the binaries go (default /tmp/libbpf-tools); FORCE=1 rebuilds into it
#   KEEP=1      keep the build directory
# The submodules (src/cc/libbpf, libbpf-tools/bpftool and bpftool's own libbpf) are taken at the
# commits BCC pins; if a pinned commit is not in the given repo, its HEAD is used (said on stderr).
# The blazesym submodule is left out (USE_BLAZESYM=0): the tools use their built-in symbolizer.
# Unavailable inputs or tools print "SKIP: <reason>" and exit 0. Last line on success: $OUT.
set -uo pipefail
BCC_SRC=${BCC_SRC:-/work/.mirror/iovisor+bcc/repo}
BCC_REV=${BCC_REV:-HEAD}
LIBBPF_SRC=${LIBBPF_SRC:-/work/.mirror/libbpf+libbpf/repo}
BPFTOOL_SRC=${BPFTOOL_SRC:-/work/.mirror/libbpf+bpftool/repo}
OUT=${OUT:-/tmp/libbpf-tools}
skip() { echo "SKIP: $*"; exit 0; }

# Already built: nothing to do.
if [ "${FORCE:-0}" != 1 ] && [ -x "$OUT/execsnoop" ]; then echo "$OUT"; exit 0; fi

# Build dependencies (Debian names). Installed quietly when root with apt-get; checked after.
pkgs=(clang llvm make gcc libc6-dev pkg-config libelf-dev zlib1g-dev libcap-dev git)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && command -v dpkg >/dev/null; then
  missing=(); for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1; apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; } ||
      echo "note: apt-get install ${missing[*]} failed" >&2
  fi
fi
for c in git make cc clang llvm-strip; do command -v "$c" >/dev/null || skip "$c not installed"; done
for h in libelf.h zlib.h; do
  echo "#include <$h>" | cc -E -x c - >/dev/null 2>&1 || skip "$h not found (libelf-dev, zlib1g-dev)"
done

# export SRC REV DEST [PATH...]: put the tree of SRC at REV (limited to PATHs) into DEST with
# git archive; plain dirs are copied. Mirrors may lack their largest blobs (e.g. an arch's
# vmlinux.h): git archive stops at the first absent one, so only the present files are listed.
export_tree() {
  local src=$1 rev=$2 dest=$3 lst absent; shift 3
  mkdir -p "$dest"
  if ! git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    if [ $# -gt 0 ]; then cp -a "$src/$1" "$dest/"; else cp -a "$src/." "$dest/"; fi; return
  fi
  lst=$(git -C "$src" ls-tree -r "$rev" -- "$@" | awk -F'\t' '{split($1, f, " "); if (f[2] == "blob") print f[3] "\t" $2}')
  [ -n "$lst" ] || return 1
  absent=$(cut -f1 <<<"$lst" | git -C "$src" cat-file --batch-check | awk '$2 == "missing" {print $1}')
  [ -z "$absent" ] || echo "note: absent from $src, left out: $(grep -F "$absent" <<<"$lst" | cut -f2 | tr '\n' ' ')" >&2
  grep -vF "${absent:-//none//}" <<<"$lst" | cut -f2 | tr '\n' '\0' |
    xargs -0 git -C "$src" archive --format=tar "$rev" -- 2>/dev/null | tar -x -i -C "$dest"
}
# pinned SRC REV PATH SUBREPO: the commit SRC@REV pins for submodule PATH if SUBREPO has it,
# else SUBREPO's HEAD. Prints the commit.
pinned() {
  local want
  want=$(git -C "$1" ls-tree "$2" "$3" 2>/dev/null | awk '$2 == "commit" {print $3}')
  if [ -n "$want" ] && git -C "$4" cat-file -e "$want^{commit}" 2>/dev/null; then echo "$want"; return; fi
  echo "note: $3 pinned at ${want:-?} not in $4; using its HEAD" >&2
  git -C "$4" rev-parse HEAD
}

for s in "$BCC_SRC" "$LIBBPF_SRC" "$BPFTOOL_SRC"; do [ -d "$s" ] || skip "$s not found"; done
git -C "$BCC_SRC" cat-file -e "$BCC_REV:libbpf-tools/Makefile" 2>/dev/null ||
  [ -f "$BCC_SRC/libbpf-tools/Makefile" ] || skip "no libbpf-tools/Makefile in $BCC_SRC"

B=$(mktemp -d /tmp/libbpf-tools-build.XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$B"' EXIT
bcc_commit=$(git -C "$BCC_SRC" rev-parse "$BCC_REV" 2>/dev/null || echo "(not git)")
libbpf_commit=$(pinned "$BCC_SRC" "$BCC_REV" src/cc/libbpf "$LIBBPF_SRC")
bpftool_commit=$(pinned "$BCC_SRC" "$BCC_REV" libbpf-tools/bpftool "$BPFTOOL_SRC")
bt_libbpf_commit=$(pinned "$BPFTOOL_SRC" "$bpftool_commit" libbpf "$LIBBPF_SRC")
echo "bcc $bcc_commit, libbpf $libbpf_commit, bpftool $bpftool_commit (its libbpf $bt_libbpf_commit)" >&2

# Only libbpf-tools and the libbpf submodule of BCC are needed, not the whole tree.
rm -rf "$B/bcc"
export_tree "$BCC_SRC" "$BCC_REV" "$B/bcc" libbpf-tools &&
  rm -rf "$B/bcc/src/cc/libbpf" "$B/bcc/libbpf-tools/bpftool" &&
  export_tree "$LIBBPF_SRC" "$libbpf_commit" "$B/bcc/src/cc/libbpf" &&
  export_tree "$BPFTOOL_SRC" "$bpftool_commit" "$B/bcc/libbpf-tools/bpftool" &&
  rm -rf "$B/bcc/libbpf-tools/bpftool/libbpf" &&
  export_tree "$LIBBPF_SRC" "$bt_libbpf_commit" "$B/bcc/libbpf-tools/bpftool/libbpf" ||
  skip "could not export the source trees"

# Build every tool; -k so one tool failing does not stop the others. USE_BLAZESYM=0: no cargo.
T=$B/bcc/libbpf-tools
start=$SECONDS
# No vmlinux.h for this arch (absent from the mirror): dump this kernel's BTF with the bootstrap
# bpftool the Makefile builds anyway.
arch=$(uname -m | sed 's/x86_64/x86/; s/aarch64/arm64/; s/ppc64le/powerpc/; s/riscv64/riscv/; s/s390x/s390/')
if [ ! -s "$T/$arch/vmlinux.h" ] && [ -r /sys/kernel/btf/vmlinux ]; then
  mkdir -p "$T/$arch" && rm -f "$T/$arch/vmlinux.h"
  make -C "$T" -j2 USE_BLAZESYM=0 "$T/.output/bpftool/bootstrap/bpftool" >"$B/bpftool.log" 2>&1 &&
    "$T/.output/bpftool/bootstrap/bpftool" btf dump file /sys/kernel/btf/vmlinux format c >"$T/$arch/vmlinux.h" &&
    echo "note: $arch/vmlinux.h generated from /sys/kernel/btf/vmlinux" >&2
fi
# clang -target bpf does not search Debian's multiarch dir, where asm/errno.h lives (javagc's
# usdt.bpf.h includes linux/errno.h): add it for the BPF side via C_INCLUDE_PATH.
ma=$(cc -print-multiarch 2>/dev/null)
[ -n "$ma" ] && [ -d "/usr/include/$ma/asm" ] && export C_INCLUDE_PATH=/usr/include/$ma${C_INCLUDE_PATH:+:$C_INCLUDE_PATH}
make -C "$T" -k -j2 USE_BLAZESYM=0 >"$B/build.log" 2>&1
status=$?
secs=$((SECONDS - start))
apps=$(make -C "$T" -s --no-print-directory USE_BLAZESYM=0 -f Makefile \
  -f <(printf 'print-apps:\n\t@echo $(APPS) $(APP_ALIASES)\n') print-apps 2>/dev/null)
[ -x "$T/execsnoop" ] || { tail -20 "$B/build.log" >&2; skip "libbpf-tools build failed (make exit $status)"; }

# Copy the binaries (aliases such as killsnoop are relative symlinks to sigsnoop: kept as such).
mkdir -p "$OUT"
built=() failed=()
for a in $apps; do
  if [ -e "$T/$a" ]; then cp -a "$T/$a" "$OUT/"; built+=("$a"); else failed+=("$a"); fi
done
cp "$B/build.log" "$OUT/build.log"
printf 'bcc %s\nlibbpf %s\nbpftool %s\nbpftool-libbpf %s\nbuild_seconds %s\n' \
  "$bcc_commit" "$libbpf_commit" "$bpftool_commit" "$bt_libbpf_commit" "$secs" >"$OUT/COMMITS"
echo "built ${#built[@]} tools in ${secs}s: ${built[*]}" >&2
[ ${#failed[@]} -eq 0 ] || echo "failed: ${failed[*]} (see $OUT/build.log)" >&2
echo "$OUT"
