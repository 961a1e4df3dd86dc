#!/usr/bin/env bash
# The tools side by side, in one run: each `ferret TOOL` against its bpftrace version (Debian's
# /usr/sbin/TOOL.bt) and its libbpf-tools build (bench/libbpf-tools.sh builds BCC's
# libbpf-tools into $LIBBPF_TOOLS, default /tmp/libbpf-tools; nothing of it is kept in the
# repo). Per tool and tracer, medians of REPS runs:
#   ready  start until the first line on stdout: ferret's attach marker
#          (__BPFTRACE_NOTIFY_PROBES_ATTACHED, printed once attached), the others' headers
#          (libbpf-tools print them after attach; bpftrace 0.17 from BEGIN, after attach);
#          every tracer runs under `stdbuf -oL` so a pipe does not hold its first line back
#   exit   SIGINT until the process has ended, after 1 s of tracing
#   rss    max RSS of that run (GNU time %M)
# A tracer that prints nothing within 10 s, or exits with an error, is "fails" (libbpf-tools and
# .bt tools that need kprobes or fentry, here).
# Usage: bash bench/tools.sh [TOOL...]   (default: every ferret tool)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
(cd "$here/.." && cargo build --release -q)
FERRET=$here/../target/release/ferret
REPS=${REPS:-5}
# The anchors: Debian's bpftrace (its .bt tools) and BCC's libbpf-tools, built from source.
if ! command -v bpftrace >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q bpftrace >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bpftrace >/dev/null; }; } || true
fi
LIBBPF_TOOLS=$(OUT=${LIBBPF_TOOLS:-/tmp/libbpf-tools} bash "$here/libbpf-tools.sh" | tail -1)
tools=("$@")
[ ${#tools[@]} -eq 0 ] && mapfile -t tools < <("$FERRET" tools | awk '{print $1}')
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The arguments each tool needs (the same for every tracer where they take them).
args_for() {
  case $1 in
    funccount|stackcount) echo "t:syscalls:sys_enter_openat" ;;
    trace) echo 't:syscalls:sys_enter_openat "%s", args->filename' ;;
    argdist) echo "-C t:syscalls:sys_enter_openat():int:args->dfd" ;;
    funclatency) echo "c:malloc" ;;
    *) echo "" ;;
  esac
}

# one_run CMD... -> "ready_ms exit_ms rss_kib" (ready NA when no line came)
one_run() {
  local out t0 ready="" t1 t2 pid
  out=$(mktemp -u); mkfifo "$out"
  t0=$(now)
  __BPFTRACE_NOTIFY_PROBES_ATTACHED=1 /usr/bin/time -f %M -o "$out.rss" stdbuf -oL "$@" >"$out" 2>/dev/null &
  pid=$!
  exec 3<"$out"
  IFS= read -r -t 10 _ <&3 && ready=$(( ($(now) - t0) / 1000000 ))
  sleep 1
  t1=$(now)
  # time's child is the tool (stdbuf execs it).
  pkill -INT -P "$pid" 2>/dev/null
  cat <&3 >/dev/null
  wait "$pid"
  t2=$(now)
  exec 3<&-
  # A tracer that exited with an error (GNU time says so before the RSS) failed.
  grep -q 'non-zero status' "$out.rss" 2>/dev/null && ready=""
  echo "${ready:-NA} $(( (t2 - t1) / 1000000 )) $(tail -1 "$out.rss" 2>/dev/null || echo NA)"
  rm -f "$out" "$out.rss"
}

printf '%-15s %-10s %8s %8s %9s\n' tool tracer ready_ms exit_ms rss_kib
for t in "${tools[@]}"; do
  read -r -a extra <<<"$(args_for "$t")"
  [ "$t" = trace ] && extra=('t:syscalls:sys_enter_openat "%s", args->filename')
  for tracer in ferret bpftrace libbpf-tools; do
    case $tracer in
      ferret) cmd=("$FERRET" "$t" "${extra[@]}") ;;
      bpftrace)
        command -v bpftrace >/dev/null && [ -f "/usr/sbin/$t.bt" ] || continue
        cmd=(bpftrace "/usr/sbin/$t.bt") ;;
      libbpf-tools)
        [ -x "$LIBBPF_TOOLS/$t" ] || continue
        case $t in
          funclatency) cmd=("$LIBBPF_TOOLS/$t" "$(ldconfig -p | awk '/libc.so.6 .*x86-64/ {print $NF; exit}'):malloc") ;;
          *) cmd=("$LIBBPF_TOOLS/$t") ;;
        esac ;;
    esac
    r=(); e=(); m=()
    for _ in $(seq "$REPS"); do
      read -r a b c < <(one_run "${cmd[@]}")
      r+=("$a"); e+=("$b"); m+=("$c")
      sleep 0.3
    done
    if printf '%s\n' "${r[@]}" | grep -q NA; then
      printf '%-15s %-10s %8s %8s %9s\n' "$t" "$tracer" fails - -
    else
      printf '%-15s %-10s %8s %8s %9s\n' "$t" "$tracer" \
        "$(printf '%s\n' "${r[@]}" | median)" "$(printf '%s\n' "${e[@]}" | median)" "$(printf '%s\n' "${m[@]}" | median)"
    fi
  done
done
