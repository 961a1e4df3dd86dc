#!/usr/bin/env bash
# Side-by-side benchmarks: ferret and bpftrace on this machine, in the same run, with the shared
# anchors script (../shared/bench/anchors.sh: startup, RSS, per-event cost, printf throughput).
#   bash bench/run.sh                 # sections 1 2 3 4, both tracers
#   SECTIONS="1 2" bash bench/run.sh  # a subset
# Output: bench/results/<date>-<tracer>.txt (one metric= line each); summarise into RESULTS.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
anchors=${ANCHORS:-$here/../../shared/bench/anchors.sh}
[ -f "$anchors" ] || { echo "anchors.sh not found at $anchors (set ANCHORS=)"; exit 1; }
(cd "$here/.." && cargo build --release -q)
# The anchor: Debian's bpftrace, and bpftool (the anchors script uses it to see probes attached).
if ! command -v bpftrace >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q bpftrace bpftool >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bpftrace bpftool >/dev/null; }; } || true
fi
mkdir -p "$here/results"
stamp=$(date +%Y%m%d-%H%M)
for tracer in "$here/../target/release/ferret" bpftrace; do
  command -v "$tracer" >/dev/null || { echo "skip $tracer: not installed (apt-get install bpftrace)"; continue; }
  name=$(basename "$tracer")
  TRACER="$tracer" SECTIONS="${SECTIONS:-1 2 3 4}" bash "$anchors" | tee "$here/results/$stamp-$name.txt"
done
