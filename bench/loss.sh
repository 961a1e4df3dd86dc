#!/usr/bin/env bash
# Events lost under load, tool against tool in one run: a generator makes N failing open()s
# (or stat()s) at RATE per second, paced (default 100000 in 1 s), while `TOOL -x` (failed calls
# only, so nothing else is counted) writes its rows into a pipe; rows seen are counted against
# N. ferret against its libbpf-tools build ($LIBBPF_TOOLS, bench/libbpf-tools.sh) and Debian's
# bpftrace .bt where it has one. Lost events a tool reports go to its stderr, shown as given.
# Usage: bash bench/loss.sh   (env N, RATE, REPS)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
(cd "$here/.." && cargo build --release -q)
FERRET=$here/../target/release/ferret
LIBBPF_TOOLS=${LIBBPF_TOOLS:-/tmp/libbpf-tools}
N=${N:-100000}
RATE=${RATE:-100000}
REPS=${REPS:-3}
gen=$(mktemp -d)/lossgen
cat >"$gen.c" <<'C'
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
/* lossgen open|stat N RATE: N failing calls, paced to RATE per second. */
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    long n = atol(argv[2]), rate = atol(argv[3]);
    int use_stat = strcmp(argv[1], "stat") == 0;
    struct stat st;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        while (now() - t0 < (double)i / rate) {}
        if (use_stat) stat("/nonexistent-ferret-loss", &st); else open("/nonexistent-ferret-loss", O_RDONLY);
    }
    return 0;
}
C
gcc -O2 -o "$gen" "$gen.c" || { echo "SKIP: no gcc"; exit 0; }

# count CALL CMD...: rows the tool printed for N failed calls by lossgen
count() {
  local call=$1; shift
  local out; out=$(mktemp)
  "$@" >"$out" 2>"$out.err" &
  local pid=$!
  sleep 2
  "$gen" "$call" "$N" "$RATE"
  sleep 1
  kill -INT "$pid"; wait "$pid" 2>/dev/null
  echo "$(grep -c 'lossgen' "$out") $(grep -io 'lost[^.]*' "$out.err" | head -1)"
  rm -f "$out" "$out.err"
}

printf '%-10s %-13s %s\n' tool tracer "rows seen of $N (per run), reported loss"
for t in opensnoop statsnoop; do
  call=open; [ $t = statsnoop ] && call=stat
  for tracer in ferret libbpf-tools bpftrace; do
    case $tracer in
      ferret) cmd=("$FERRET" "$t" -x) ;;
      libbpf-tools) [ -x "$LIBBPF_TOOLS/$t" ] || continue; cmd=("$LIBBPF_TOOLS/$t" -x) ;;
      bpftrace) [ -f "/usr/sbin/$t.bt" ] && command -v bpftrace >/dev/null || continue; cmd=(bpftrace "/usr/sbin/$t.bt") ;;
    esac
    seen=()
    for _ in $(seq "$REPS"); do seen+=("$(count "$call" "${cmd[@]}")"); done
    printf '%-10s %-13s %s\n' "$t" "$tracer" "$(printf '%s; ' "${seen[@]}")"
  done
done
