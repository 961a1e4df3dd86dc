//! Times each lazy stage on the running kernel's BTF: `cargo run --release -p ferret-btf
//! --example btf-timing [struct name]`.
use ferret_btf::{Btf, Kind};
use std::time::Instant;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: 0 kB");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "struct task_struct".into());
    let rss0 = rss_kib();
    let t = Instant::now();
    let bytes = std::fs::read("/sys/kernel/btf/vmlinux").expect("read vmlinux BTF");
    let read = t.elapsed();
    let t = Instant::now();
    let btf = Btf::from_bytes("vmlinux", bytes).expect("parse");
    let parse = t.elapsed();
    let t = Instant::now();
    let id = btf.lookup(&name).expect("type not found");
    let first_lookup = t.elapsed();
    let t = Instant::now();
    let f = btf.find(Kind::Func, "vfs_read").expect("vfs_read");
    let params = btf.params(f).len();
    let second_lookup = t.elapsed();
    let t = Instant::now();
    let def = btf.c_definition(id).unwrap_or_default();
    let print = t.elapsed();
    let t = Instant::now();
    let e = btf.enum_value("PIDTYPE_PID");
    let enum_lookup = t.elapsed();
    println!("types: {} in {} bytes", btf.len(), std::fs::metadata("/sys/kernel/btf/vmlinux").map_or(0, |m| m.len()));
    println!("read file:            {read:?}");
    println!("parse (offsets):      {parse:?}");
    println!("first lookup (index): {first_lookup:?}");
    println!("second lookup:        {second_lookup:?} (vfs_read: {params} params)");
    println!("definition of {name}: {print:?} ({} lines)", def.lines().count());
    println!("first enum constant:  {enum_lookup:?} ({e:?})");
    println!("RSS growth: {} KiB", rss_kib() - rss0);
}
