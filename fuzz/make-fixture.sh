#!/usr/bin/env bash
# Refreshes fixtures/tracefs from this machine's tracefs: the tracepoint categories that the
# seed programs (tests/runtime, bpftrace's tools) use, laid out as tracefs is (available_events,
# events/CAT/EVENT/{id,format}). The compile fuzzer reads it through FERRET_TRACEFS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=/sys/kernel/tracing
[ -d $root/events ] || mount -t tracefs nodev $root
out=$here/fixtures/tracefs
rm -rf "$out" && mkdir -p "$out/events"
cats="syscalls raw_syscalls sched block skb sock tcp kmem irq timer signal writeback net"
for c in $cats; do
  for d in "$root/events/$c"/*/; do
    e=$(basename "$d")
    [ -f "$d/format" ] || continue
    mkdir -p "$out/events/$c/$e"
    cat "$d/id" > "$out/events/$c/$e/id"
    # The print fmt line is what makes format files large; the compiler reads only the fields.
    grep -v "^print fmt:" "$d/format" > "$out/events/$c/$e/format"
    echo "$c:$e" >> "$out/available_events"
  done
done
echo "$(wc -l < "$out/available_events") events in $out"
