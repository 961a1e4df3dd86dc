//! Stack ids and addresses → symbolized frames, in bpftrace's formats: kernel addresses through
//! kallsyms, user addresses through the mappings recorded when the process was first seen (so
//! a process that has exited by the time its stacks print is still symbolized).
use crate::decode::{output_mode, Symbols};
use ferret_lang::stacks::{FLAG_USER, MAX_FRAMES, REC_FLAGS, REC_IPS, REC_NR, REC_PID};
use ferret_lang::types::StackMode;
use ferret_output::{Stack, StackFrame};
use ferret_symbols::{KernelSymbols, UserSymbolizer};
use ferret_sys::bpf::Map;
use std::cell::RefCell;
use std::path::{Path, PathBuf};

/// A stack record read back from the stacks map.
struct Record {
    pid: u32,
    user: bool,
    ips: Vec<u64>,
}

pub struct Symbolizer {
    /// The stacks map (a second fd), when the program takes stacks.
    stacks: Option<Map>,
    /// Add `@file:line` to user frames in bpftrace mode (config `show_debug_info`).
    debug_info: bool,
    /// Files traced processes probably run (probed binaries, the `-c` command), for processes
    /// that exit before their mappings are read.
    programs: RefCell<Vec<PathBuf>>,
    user: RefCell<UserSymbolizer>,
}

fn u32_at(b: &[u8], at: i16) -> u32 {
    b.get(at as usize..at as usize + 4).map_or(0, |s| u32::from_ne_bytes(s.try_into().unwrap_or([0; 4])))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| u64::from_ne_bytes(s.try_into().unwrap_or([0; 8])))
}

impl Symbolizer {
    pub fn new(stacks: Option<Map>, debug_info: bool, demangle: bool) -> Symbolizer {
        let mut user = UserSymbolizer::default();
        user.no_demangle = !demangle;
        Symbolizer { stacks, debug_info, programs: RefCell::new(vec![]), user: RefCell::new(user) }
    }

    /// A file traced processes may run.
    pub fn add_program(&self, path: &Path) {
        self.programs.borrow_mut().push(path.to_path_buf());
    }

    /// Record a process's mappings now, while it lives (see [`ferret_lang::Action::ProcessSeen`]);
    /// if it is already gone, at least its program from its code range and file (inode, device).
    pub fn capture(&self, pid: u32, code: (u64, u64), file: (u64, u64)) {
        let mut user = self.user.borrow_mut();
        if !user.capture(pid) {
            user.capture_program(pid, code, file, &self.programs.borrow());
        }
    }

    fn record(&self, id: u64) -> Option<Record> {
        let rec = self.stacks.as_ref()?.lookup(&id.to_ne_bytes()).ok()??;
        let nr = (u64_at(&rec, REC_NR as usize) as usize).min(MAX_FRAMES as usize);
        let ips = (0..nr).map(|i| u64_at(&rec, REC_IPS as usize + 8 * i)).collect();
        Some(Record { pid: u32_at(&rec, REC_PID), user: u32_at(&rec, REC_FLAGS) & FLAG_USER != 0, ips })
    }

    /// One address's lines in bpftrace (`sym+off`) or perf (`sym+off (module)`) mode. With
    /// `show_debug_info`, user addresses in code with line tables get `@file:line`, preceded by
    /// a line per function inlined there (`[inlined] f@file:line`, perf: `f (inlined)`).
    fn frame(&self, rec: &Record, addr: u64, perf: bool) -> Vec<String> {
        if !rec.user {
            return vec![match KernelSymbols::get().resolve(addr) {
                Some((name, off)) => format!("{name}+{off}"),
                None => format!("0x{addr:x}"),
            }];
        }
        let mut user = self.user.borrow_mut();
        let Some(s) = user.resolve(rec.pid, addr) else {
            return vec![if perf { format!("0x{addr:x} ([unknown])") } else { format!("0x{addr:x}") }];
        };
        let src = if self.debug_info { user.location(rec.pid, addr) } else { None };
        let (inlined, line) = src.map_or((vec![], None), |s| (s.inlined, s.line));
        let mut out: Vec<String> = inlined
            .into_iter()
            .map(|(name, loc)| match (perf, loc) {
                (true, _) => format!("{name} (inlined)"),
                (false, Some(loc)) => format!("[inlined] {name}@{loc}"),
                (false, None) => format!("[inlined] {name}"),
            })
            .collect();
        out.push(match (perf, line) {
            (true, _) => format!("{}+{} ({})", s.name, s.offset, s.module),
            (false, Some(loc)) => format!("{}+{}@{loc}", s.name, s.offset),
            (false, None) => format!("{}+{}", s.name, s.offset),
        });
        out
    }
}

impl Symbolizer {
    /// A `build_id` frame: the file's build id and the address's file offset (`0x` and at
    /// least two hex digits), or the bare hex address when the file has no build id.
    fn build_id_frame(&self, rec: &Record, addr: u64) -> String {
        match self.user.borrow_mut().build_id(rec.pid, addr) {
            Some((id, off)) if rec.user => {
                let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
                format!("{hex} 0x{off:02x}")
            }
            _ => format!("{addr:x}"),
        }
    }
}

impl Symbols for Symbolizer {
    fn stack(&self, id: u64, mode: StackMode) -> Stack {
        let mut stack = Stack { mode: output_mode(mode), frames: vec![] };
        let Some(rec) = self.record(id) else { return stack };
        for &addr in &rec.ips {
            let syms = match mode {
                StackMode::Raw => vec![String::new()],
                StackMode::BuildId => vec![self.build_id_frame(&rec, addr)],
                _ => self.frame(&rec, addr, mode == StackMode::Perf),
            };
            stack.frames.extend(syms.into_iter().map(|sym| StackFrame { addr, sym }));
        }
        stack
    }

    fn ksym(&self, addr: u64) -> String {
        KernelSymbols::get().resolve(addr).map_or_else(|| format!("0x{addr:x}"), |(name, _)| name.to_string())
    }

    fn usym(&self, addr: u64, pid: u32) -> String {
        self.user.borrow_mut().resolve(pid, addr).map_or_else(|| format!("0x{addr:x}"), |s| s.name)
    }
}
