#!/usr/bin/env bash
# The tools side by side: each `ferret TOOL` against its bpftrace version (Debian's
# /usr/sbin/TOOL.bt) in the same run. Per tool, medians of REPS runs:
#   ready  start until the first line on stdout: ferret's attach marker
#          (__BPFTRACE_NOTIFY_PROBES_ATTACHED) or header, both printed once attached; bpftrace
#          0.17 prints its tools' headers from BEGIN, which runs after attach in 0.17
#   exit   SIGINT until the process has ended, after 1 s of tracing
#   rss    max RSS of that run (GNU time %M)
# Usage: bash bench/tools.sh [TOOL...]   (default: every tool with a .bt version here)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
(cd "$here/.." && cargo build --release -q)
FERRET=$here/../target/release/ferret
REPS=${REPS:-5}
tools=("$@")
[ ${#tools[@]} -eq 0 ] && tools=(execsnoop opensnoop killsnoop syscount)
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# one_run CMD... -> "ready_ms exit_ms rss_kib"
one_run() {
  local out t0 ready="" t1 t2 pid
  out=$(mktemp -u); mkfifo "$out"
  t0=$(now)
  __BPFTRACE_NOTIFY_PROBES_ATTACHED=1 /usr/bin/time -f %M -o "$out.rss" "$@" >"$out" 2>/dev/null &
  pid=$!
  exec 3<"$out"
  IFS= read -r -t 20 _ <&3 && ready=$(( ($(now) - t0) / 1000000 ))
  sleep 1
  t1=$(now)
  pkill -INT -P "$pid" 2>/dev/null
  cat <&3 >/dev/null
  wait "$pid"
  t2=$(now)
  exec 3<&-
  echo "${ready:-NA} $(( (t2 - t1) / 1000000 )) $(cat "$out.rss" 2>/dev/null || echo NA)"
  rm -f "$out" "$out.rss"
}

printf '%-10s %-9s %8s %8s %9s\n' tool tracer ready_ms exit_ms rss_kib
for t in "${tools[@]}"; do
  for tracer in ferret bpftrace; do
    if [ $tracer = ferret ]; then cmd=("$FERRET" "$t"); else cmd=(bpftrace "/usr/sbin/$t.bt"); fi
    [ $tracer = bpftrace ] && { command -v bpftrace >/dev/null && [ -f "/usr/sbin/$t.bt" ] || continue; }
    r=(); e=(); m=()
    for _ in $(seq "$REPS"); do
      read -r a b c < <(one_run "${cmd[@]}")
      r+=("$a"); e+=("$b"); m+=("$c")
      sleep 0.5
    done
    printf '%-10s %-9s %8s %8s %9s\n' "$t" "$tracer" \
      "$(printf '%s\n' "${r[@]}" | median)" "$(printf '%s\n' "${e[@]}" | median)" "$(printf '%s\n' "${m[@]}" | median)"
  done
done
