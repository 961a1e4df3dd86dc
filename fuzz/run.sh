#!/usr/bin/env bash
# Runs the fuzz targets (cargo-fuzz, nightly toolchain).
#   fuzz/run.sh build                 # build every target (what .ci/run does)
#   fuzz/run.sh seed                  # (re)make the seed corpora
#   fuzz/run.sh TARGET SECONDS [ARGS] # fuzz TARGET until it has used SECONDS of CPU time (one
#                                     # process, one core; stopped with SIGINT, final stats printed)
# Seeds: every program in tests/runtime (PROG lines) and, when a bpftrace checkout is at
# $BPFTRACE_SRC (default /tmp/bt-src), its tools/*.bt. The compile target reads a copy of this
# kernel's BTF made here at run time (fuzz/work/vmlinux.btf, never committed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "SKIP fuzz: no nightly toolchain (rustup toolchain install nightly)"; exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  # A fresh machine has the nightly toolchain but not cargo-fuzz: install it (a few minutes,
  # once), so that CI builds the targets rather than skipping them.
  echo "fuzz: installing cargo-fuzz" >&2
  if ! cargo install cargo-fuzz --locked --quiet >/dev/null 2>&1 || ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "SKIP fuzz: cargo-fuzz is not installed and could not be (cargo install cargo-fuzz)"; exit 0
  fi
fi
seed() {
  mkdir -p corpus/parse corpus/compile corpus/output work
  python3 - "$here/.." "${BPFTRACE_SRC:-/tmp/bt-src}" <<'PY'
import hashlib, os, pathlib, sys
root, bt = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
progs = []
for f in sorted((root / "tests/runtime").glob("*.test")) + sorted((root / "tests/vm").glob("*.test")):
    cur = []
    for line in f.read_text().splitlines() + [""]:
        if line.startswith("PROG "):
            cur.append(line[5:])
        elif cur and not line.startswith("PROG"):
            progs.append("\n".join(cur)); cur = []
for f in sorted((bt / "tools").glob("*.bt")) if (bt / "tools").is_dir() else []:
    progs.append(f.read_text())
for t in ("parse", "compile"):
    for p in progs:
        d = root / "fuzz/corpus" / t
        (d / hashlib.sha1(p.encode()).hexdigest()).write_text(p)
print(f"{len(progs)} seed programs")
PY
  # The output target's seeds: printf formats seen in the programs, as raw bytes.
  grep -rhoE 'printf\("[^"]*"' "$here/../tests/runtime" | sed 's/^printf("//; s/"$//' | sort -u |
    while IFS= read -r f; do printf '%s' "$f" > "corpus/output/$(printf '%s' "$f" | sha1sum | cut -c1-40)"; done
}
case "${1:-}" in
  build) cargo +nightly fuzz build -O 2>&1 | tail -3 ;;
  seed) seed ;;
  parse|compile|output)
    t=$1; secs=${2:-60}; shift 2 || true
    [ -d corpus/$t ] || seed
    [ -f work/vmlinux.btf ] || cp /sys/kernel/btf/vmlinux work/vmlinux.btf
    cargo +nightly fuzz build -O "$t" 2>&1 | tail -1
    mkdir -p "artifacts/$t"
    # -timeout=1: an input slower than 1 s is reported (and saved) like a crash.
    "target/x86_64-unknown-linux-gnu/release/$t" "corpus/$t" -artifact_prefix="artifacts/$t/" -timeout="${FUZZ_TIMEOUT:-1}" \
      -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 "$@" &
    pid=$!
    tick=$(getconf CLK_TCK)
    while kill -0 $pid 2>/dev/null; do
      sleep 5
      used=$(awk -v t="$tick" '{print int(($14+$15)/t)}' /proc/$pid/stat 2>/dev/null || echo 0)
      [ "$used" -ge "$secs" ] && { echo "== $t: $used CPU seconds used, stopping"; kill -INT $pid; }
    done
    wait $pid
    ;;
  *) echo "usage: $0 build | seed | parse|compile|output SECONDS [libFuzzer args]"; exit 2 ;;
esac
