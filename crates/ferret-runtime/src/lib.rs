//! BPF object → a running session: maps created, programs loaded (verifier errors mapped back
//! to script spans), probes attached, event records turned into [`Event`]s for a [`Sink`], maps
//! read, and teardown. Generic: it knows no probe type or builtin by name. It prints nothing,
//! installs no signal handler and keeps no process-wide state: the caller drives it (see the
//! `ferret` crate's facade and binary).
pub mod child;
pub mod clock;
pub mod decode;
pub mod harness;
pub mod host;
mod pcap;
pub mod resolve;
pub mod symbolize;
pub mod unwind;

use ferret_bpf::insn::BPF_PSEUDO_MAP_FD;
use ferret_lang::probe::{AttachError, AttachOpts, Special};
use ferret_lang::{Action, Object, MAP_FULL, MAP_LOST, MAP_RINGBUF, MAP_STOPPED};
use ferret_output::{Event, Location, MapDump, Sink};
use ferret_syntax::Diagnostic;
use ferret_sys::bpf::{self, map_flags, map_type, Map};
use ferret_sys::ringbuf::RingBuf;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

/// What went wrong loading or attaching, with the syscall error (and its errno) kept.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The verifier (or the kernel) refused a program: reported at the script line.
    #[error("{}", .0.message)]
    Load(Diagnostic),
    /// A syscall failed while creating maps, loading BTF or setting up the event buffers.
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: ferret_sys::SysError,
    },
    /// A probe could not be attached.
    #[error("Error attaching probe: {probe}: {source}")]
    Attach {
        probe: String,
        #[source]
        source: AttachError,
    },
}

impl RuntimeError {
    /// The errno of the syscall that failed, when one did (EPERM: no privilege; ENOENT: no
    /// such event; ...).
    pub fn errno(&self) -> Option<i32> {
        match self {
            RuntimeError::Load(_) => None,
            RuntimeError::Sys { source, .. } => source.errno(),
            RuntimeError::Attach { source, .. } => source.errno(),
        }
    }
}

fn sys<E: Into<ferret_sys::SysError>>(what: impl Into<String>) -> impl FnOnce(E) -> RuntimeError {
    let what = what.into();
    move |e| RuntimeError::Sys { what, source: e.into() }
}

/// How actions are carried out, beyond what the object says.
pub struct Settings {
    /// The program as written and the name it goes by (`stdin` for `-e`), for `errorf()`
    /// and `warnf()` locations.
    pub source_name: String,
    pub source_text: String,
    /// Bytes `cat()` prints of a file (`BPFTRACE_MAX_CAT_BYTES`).
    pub max_cat_bytes: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { source_name: "stdin".into(), source_text: String::new(), max_cat_bytes: host::DEFAULT_MAX_CAT_BYTES }
    }
}

/// A loaded program and what keeps it attached.
struct Loaded {
    fd: OwnedFd,
    special: Option<Special>,
}

pub struct Session {
    pub object: Object,
    maps: Vec<Map>,
    progs: Vec<Loaded>,
    /// Links and perf events, in attach order.
    attachments: Vec<OwnedFd>,
    /// Iterator links (`iter:` probes) by probe name: ferret runs them by reading an iterator
    /// made from each, after BEGIN.
    iter_links: Vec<(String, OwnedFd)>,
    /// An iteration is running: its output is all shown, even after `exit()`, as bpftrace
    /// shows all of an iterator's output.
    iterating: bool,
    ring: RingBuf,
    /// `skboutput()`'s packets, and the pcap files they go to.
    skb_out: Option<(ferret_sys::perfbuf::PerfBuf, pcap::Writers)>,
    skb_lost_reported: u64,
    exit_code: Option<i32>,
    exiting: bool,
    warned_full: Vec<bool>,
    lost_reported: u64,
    /// When lost events and full maps were last checked.
    last_check: Instant,
    /// Parsed printf formats by action id, parsed on first use.
    formats: std::collections::HashMap<usize, ferret_output::printf::Format>,
    pub settings: Settings,
    /// Wall-clock time of boot (ns), for `strftime()` values.
    boot_realtime_ns: i128,
    /// Stacks and symbols for the values that print them.
    symbols: symbolize::Symbolizer,
    /// The DWARF unwind tables, when user stacks are unwound in the kernel.
    unwind: Option<unwind::Tables>,
}

/// Map a verifier rejection to the span of the instruction the verifier stopped at.
fn verifier_diagnostic(spec: &ferret_lang::ProgSpec, err: &bpf::LoadError) -> Diagnostic {
    let reason = err.verifier_message().unwrap_or("").to_string();
    // The last "N: (..)" line before the complaint names the failing instruction.
    let insn = err
        .log
        .lines()
        .rev()
        .filter_map(|l| l.split_once(": (").and_then(|(n, _)| n.trim().parse::<usize>().ok()))
        .next();
    let span = insn.and_then(|i| spec.spans.get(i)).copied().or_else(|| spec.spans.first().copied());
    let msg = if err.log.trim().is_empty() || reason.trim().is_empty() {
        format!("the kernel refused to load the program for {}: {}", spec.targets[0].name, err)
    } else {
        format!("the BPF verifier rejected the program for {}: {}", spec.targets[0].name, reason)
    };
    let d = match span {
        Some(s) => Diagnostic::error(s, msg),
        None => Diagnostic::global(msg),
    };
    match verifier_hint(&reason) {
        Some(h) => d.with_hint(h),
        None => d,
    }
}

/// What a verifier refusal that comes from the kernel's configuration (not the script) means.
fn verifier_hint(reason: &str) -> Option<&'static str> {
    if reason.contains("ldimm64 failed to find the address for kernel symbol") {
        Some("this kernel's kallsyms lists no data symbols (CONFIG_KALLSYMS_ALL is off), and the verifier needs them to place kernel variables such as per-CPU ones")
    } else if reason.contains("cannot use helper bpf_probe_write_user") {
        Some("this kernel forbids writing user memory from BPF (lockdown, or a kernel built without it)")
    } else if reason.contains("type=scalar expected=sock_common") {
        Some("socket_cookie() needs the socket pointer as the probe receives it: pass args.NAME itself, not a copy in a variable or a pointer read from memory")
    } else {
        None
    }
}

impl Session {
    /// Create maps and load every program. Nothing is attached yet.
    pub fn load(object: Object) -> Result<Session, RuntimeError> {
        let mut maps = vec![];
        // Hash maps allocate their elements on insert where every program type may use such
        // maps (6.1+): preallocating all of them took ~25 ms for a 4096-key per-CPU
        // histogram and ~550 ms for memleak's 262144-entry maps, before anything attached.
        // Not with perf_event programs (profile:, hardware events): in NMI context an
        // allocation can fail under a burst, and that would read as a full map.
        let sampling = object.progs.iter().any(|p| p.prog_type == bpf::prog_type::PERF_EVENT);
        let no_prealloc = || !sampling && ferret_sys::features::features().hash_no_prealloc();
        for m in &object.maps {
            let name = m.name.trim_start_matches('@');
            let name = if name.is_empty() { "at" } else { name };
            let flags = match m.map_type {
                map_type::HASH | map_type::PERCPU_HASH if no_prealloc() => map_flags::BPF_F_NO_PREALLOC,
                _ => 0,
            };
            let map = Map::create(m.map_type, name, m.key_size, m.value_size, m.max_entries, flags)
                .map_err(sys(format!("creating map {}", m.name)))?;
            maps.push(map);
        }
        let mut progs = vec![];
        for spec in &object.progs {
            let insns: Vec<u64> = spec
                .insns
                .iter()
                .map(|i| {
                    let mut i = *i;
                    if i.code == 0x18 && i.src == BPF_PSEUDO_MAP_FD {
                        i.imm = maps[i.imm as usize].raw_fd();
                    }
                    i.encode()
                })
                .collect();
            // Subprograms (for-loop callbacks) need BTF describing every function.
            let (btf, func_info) = if spec.func_starts.len() > 1 {
                let (blob, ids) = ferret_bpf::btf::func_info_btf(spec.func_starts.len());
                let fd = bpf::load_btf(&blob).map_err(sys("loading program BTF"))?;
                let info: Vec<[u32; 2]> = spec.func_starts.iter().zip(ids).map(|(s, id)| [*s, id]).collect();
                (Some(fd), info)
            } else {
                (None, vec![])
            };
            // Tracing programs name their kernel function at load time; a module's function
            // also needs the fd of the module's BTF object.
            let target_btf = match spec.btf.as_ref().and_then(|b| b.module.as_deref()) {
                Some(m) => {
                    Some(bpf::kernel_btf_fd(m).map_err(sys(format!("{}: BTF of module {m}", spec.targets[0].name)))?)
                }
                None => None,
            };
            let load = bpf::ProgLoad {
                prog_type: spec.prog_type,
                insns: &insns,
                name: &spec.name,
                license: &object.license,
                expected_attach_type: spec.targets.first().map_or(0, |t| t.expected_attach_type()),
                attach_btf_id: spec.btf.as_ref().map_or(0, |b| b.btf_id),
                attach_btf_obj_fd: target_btf.as_ref().map(|f| f.as_fd()),
                btf_fd: btf.as_ref().map(|f| f.as_fd()),
                func_info: &func_info,
                ..Default::default()
            };
            let fd = bpf::load_program(&load).map_err(|e| RuntimeError::Load(verifier_diagnostic(spec, &e)))?;
            progs.push(Loaded { fd, special: spec.special });
        }
        let ring = RingBuf::new(&maps[MAP_RINGBUF]).map_err(sys("ring buffer"))?;
        let skb_out = match object.skb_output_map {
            Some(i) => Some((
                ferret_sys::perfbuf::PerfBuf::new(&maps[i], 64, 1).map_err(sys("skboutput perf buffer"))?,
                pcap::Writers::default(),
            )),
            None => None,
        };
        let warned_full = vec![false; object.maps.len()];
        let (debug_info, demangle) = (object.show_debug_info, object.cpp_demangle);
        let clone = |i: usize| {
            maps[i].try_clone().map_err(|e| RuntimeError::Sys {
                what: maps[i].name.clone(),
                source: ferret_sys::SysError::Syscall {
                    call: "dup",
                    errno: e.raw_os_error().unwrap_or(libc::EIO),
                    what: String::new(),
                },
            })
        };
        let stacks = match object.stack_maps {
            Some(sm) => Some(clone(sm.stacks)?),
            None => None,
        };
        let unwind = match object.stack_maps.and_then(|sm| sm.unwind) {
            Some(um) => {
                let mut t = unwind::Tables::new(clone(um.rows)?, clone(um.files)?, clone(um.pids)?);
                for f in &object.probed_files {
                    t.load_path(std::path::Path::new(f));
                }
                // Every process's outermost frames are in libc.
                if let Ok(libc) = ferret_symbols::resolve_binary("libc", None) {
                    t.load_path(&libc);
                }
                Some(t)
            }
            None => None,
        };
        let symbols = symbolize::Symbolizer::new(stacks, debug_info, demangle);
        for f in &object.probed_files {
            symbols.add_program(std::path::Path::new(f));
        }
        Ok(Session {
            object,
            maps,
            progs,
            attachments: vec![],
            iter_links: vec![],
            iterating: false,
            ring,
            skb_out,
            skb_lost_reported: 0,
            exit_code: None,
            exiting: false,
            warned_full,
            lost_reported: 0,
            last_check: Instant::now(),
            formats: Default::default(),
            settings: Settings::default(),
            boot_realtime_ns: clock::boot_realtime_ns(),
            symbols,
            unwind,
        })
    }

    /// Load the unwind table of a program about to run (the `-c` command), so its first
    /// stacks unwind fully.
    pub fn preload_unwind(&mut self, path: &std::path::Path) {
        self.symbols.add_program(path);
        if let Some(t) = self.unwind.as_mut() {
            t.load_path(path);
        }
    }

    /// Load the unwind tables of a running process (`-p PID`) and record its mappings.
    pub fn preload_process(&mut self, pid: u32) {
        if self.object.stack_maps.is_none() {
            return;
        }
        self.symbols.capture(pid, (0, 0), (0, 0));
        if let Some(t) = self.unwind.as_mut() {
            t.load_process(pid);
        }
    }

    /// Run the BEGIN blocks. bpftrace runs them before anything is attached, so what they set
    /// up (start times, config maps) is in place before the first event; what they print
    /// stays in the ring until the next [`Session::poll`]. Failures go to `out`.
    pub fn begin(&mut self, out: &mut dyn Sink) {
        self.run_special_programs(Special::Begin, out);
    }

    /// Attach every non-special program. On failure everything attached so far is released
    /// (the session is dropped by the caller), so no probe is ever left half-attached.
    pub fn attach(&mut self, opts: &AttachOpts) -> Result<usize, RuntimeError> {
        let mut n = 0;
        // Probes on one event should fire in script order. Most hooks run their programs
        // oldest-first; those whose probe type says its hook runs them newest-first are
        // attached in reverse.
        let newest_first = |s: &ferret_lang::ProgSpec| s.targets.iter().any(|t| t.kind.consumers_newest_first);
        let pairs: Vec<(usize, &ferret_lang::ProgSpec)> = self.object.progs.iter().enumerate().collect();
        let order =
            pairs.iter().filter(|(_, s)| !newest_first(s)).chain(pairs.iter().rev().filter(|(_, s)| newest_first(s)));
        for &(i, spec) in order {
            let loaded = &self.progs[i];
            if loaded.special.is_some() {
                n += 1;
                continue;
            }
            if let Some((map, slot)) = spec.tail_call {
                // Reached by tail call from a dispatcher that is attached on its own.
                use std::os::fd::AsRawFd;
                let fd = loaded.fd.as_raw_fd() as u32;
                self.maps[map]
                    .update(&slot.to_ne_bytes(), &fd.to_ne_bytes(), 0)
                    .map_err(|e| RuntimeError::Attach { probe: spec.targets[0].name.clone(), source: e.into() })?;
                n += spec.targets.iter().map(|t| t.probe_count()).sum::<usize>();
                continue;
            }
            for t in &spec.targets {
                let fds = (t.kind.attach)(t, loaded.fd.as_fd(), opts)
                    .map_err(|source| RuntimeError::Attach { probe: t.name.clone(), source })?;
                if ferret_lang::probe::iter::is_iter(t) {
                    self.iter_links.extend(fds.into_iter().map(|fd| (t.name.clone(), fd)));
                } else {
                    self.attachments.extend(fds);
                }
                n += t.probe_count();
            }
        }
        Ok(n)
    }

    fn run_special(&mut self, which: Special, out: &mut dyn Sink) {
        self.run_special_programs(which, out);
        self.drain(out);
    }

    fn run_special_programs(&self, which: Special, out: &mut dyn Sink) {
        for (i, p) in self.progs.iter().enumerate() {
            if p.special == Some(which) {
                if let Err(e) = bpf::prog_test_run(p.fd.as_fd(), &[0u8; 16], None) {
                    out.event(Event::Error(format!("running {}: {e}", self.object.progs[i].targets[0].name)));
                }
            }
        }
    }

    /// Whether every probe is BEGIN/END (or a bench/test block, which only `--bench`/`--test`
    /// run): such a program ends right after BEGIN. `self:signal` probes keep it running.
    pub fn only_special(&self) -> bool {
        self.progs
            .iter()
            .all(|p| matches!(p.special, Some(Special::Begin | Special::End | Special::Bench | Special::Test)))
    }

    /// Whether the program has blocks only `--bench` or `--test` run, and nothing else to attach.
    pub fn only_harness_blocks(&self) -> Option<Special> {
        let mut found = None;
        for p in &self.progs {
            match p.special {
                Some(s @ (Special::Bench | Special::Test)) => found = found.or(Some(s)),
                Some(Special::End) => {}
                _ => return None,
            }
        }
        found
    }

    /// The descriptor that becomes readable when events are waiting, for callers with an event
    /// loop of their own (epoll, Python's selectors). Programs write without waking a reader
    /// (cheap for the traced workload; `exit()` forces a wakeup), so such a loop should also
    /// call [`Session::poll`] on a short timer.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.ring.fd()
    }

    /// Wait up to `timeout` for events and hand every pending one to `out`; every 500 ms,
    /// report lost events and full maps. After `exit()` the events that follow it are dropped,
    /// as bpftrace drops them, and [`Session::exiting`] is true.
    pub fn poll(&mut self, timeout: Duration, out: &mut dyn Sink) {
        self.wait(timeout);
        self.drain(out);
        if self.last_check.elapsed() > Duration::from_millis(500) {
            self.check_counters(out);
            self.last_check = Instant::now();
        }
    }

    /// Wait up to `timeout` for the ring to become readable.
    fn wait(&self, timeout: Duration) {
        let mut pfd =
            libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&self.ring.fd()), events: libc::POLLIN, revents: 0 };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut pfd, 1, ms) };
    }

    /// Run the `self:signal:SIGUSR1` probes (the caller saw the signal).
    pub fn signal(&mut self, out: &mut dyn Sink) {
        self.run_special(Special::Signal, out);
    }

    /// Whether `exit()` was called.
    pub fn exiting(&self) -> bool {
        self.exiting
    }

    /// The code `exit(N)` gave, else 0.
    pub fn exit_code(&self) -> i32 {
        self.exit_code.unwrap_or(0)
    }

    /// Whether the program has `iter:` probes, which [`Session::iterate`] runs.
    pub fn iterates(&self) -> bool {
        !self.iter_links.is_empty()
    }

    /// Stop tracing the normal way: every probe stops (they check MAP_STOPPED first, as
    /// bpftrace detaches before END), pending events are delivered, END runs, and lost events
    /// and full maps are reported. The probes stay attached but inert, and the maps readable,
    /// until the session drops or [`Session::take_attachments`] hands the links over: closing
    /// them is slow (each perf-event link waits for an RCU grace period).
    pub fn stop(&mut self, out: &mut dyn Sink) {
        self.drain(out);
        let _ = self.maps[MAP_STOPPED].update(&0u32.to_ne_bytes(), &1u64.to_ne_bytes(), 0);
        self.drain(out);
        self.exiting = false;
        self.run_special(Special::End, out);
        self.check_counters(out);
    }

    /// The user maps as they are now, when the program prints them at exit (bpftrace's
    /// `print_maps_on_exit`, on by default); `None` when it does not.
    pub fn maps_at_exit(&self) -> Option<Vec<MapDump>> {
        self.object.print_maps_on_exit.then(|| self.maps())
    }

    /// Every user map as it is now, in the order the program names them.
    pub fn maps(&self) -> Vec<MapDump> {
        self.object.user_maps().map(|(i, _)| self.read_map(i)).collect()
    }

    /// The user map `name` (`@x`, or `@` for the unnamed one) as it is now.
    pub fn map(&self, name: &str) -> Option<MapDump> {
        self.user_map(name).map(|i| self.read_map(i))
    }

    /// Empty the user map `name`, as `clear(@name)` does; false when there is no such map.
    pub fn clear_map(&self, name: &str) -> bool {
        self.user_map(name).is_some_and(|i| self.maps[i].clear().is_ok())
    }

    /// The index of user map `name`.
    fn user_map(&self, name: &str) -> Option<usize> {
        self.object.user_maps().find(|(_, m)| m.name == name).map(|(i, _)| i)
    }

    /// Events the kernel had no room for, in all.
    pub fn lost(&self) -> u64 {
        self.counter(MAP_LOST, 0)
    }

    /// The user maps that refused an update because they were full, with how many updates each
    /// refused.
    pub fn map_full(&self) -> Vec<(String, u64)> {
        self.object
            .user_maps()
            .map(|(i, m)| (m.name.clone(), self.counter(MAP_FULL, (i - ferret_lang::FIRST_USER_MAP) as u32)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    fn counter(&self, map: usize, key: u32) -> u64 {
        self.maps[map]
            .lookup(&key.to_ne_bytes())
            .ok()
            .flatten()
            .map(|v| v.chunks(8).map(|c| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]))).sum())
            .unwrap_or(0)
    }

    /// The links and perf events that keep the probes attached, for a caller that closes them
    /// elsewhere (the CLI hands them to a child process, so it exits before their slow close).
    pub fn take_attachments(&mut self) -> Vec<OwnedFd> {
        std::mem::take(&mut self.attachments)
    }

    /// Run each `iter:` probe: read an iterator made from its link to the end (in a thread, so
    /// the ring is emptied while the kernel walks its objects), showing the events as they come.
    pub fn iterate(&mut self, out: &mut dyn Sink) {
        self.iterating = true;
        for (name, link) in std::mem::take(&mut self.iter_links) {
            let file = match bpf::iter_create(link.as_fd()) {
                Ok(fd) => std::fs::File::from(fd),
                Err(e) => {
                    out.event(Event::Error(format!("Failed to open iter probe link: {name}: {e}")));
                    continue;
                }
            };
            // The reading thread keeps the process's comm, which the iteration sees as `comm`.
            let reader = std::thread::spawn(move || {
                let mut file = file;
                std::io::copy(&mut file, &mut std::io::sink())
            });
            while !reader.is_finished() {
                self.wait(Duration::from_millis(1));
                self.drain(out);
            }
            if let Ok(Err(e)) = reader.join() {
                out.event(Event::Error(format!("reading iterator {name}: {e}")));
            }
            self.drain(out);
            self.check_counters(out);
        }
        self.iterating = false;
    }

    /// Write the packets `skboutput()` sent to their pcap files; packets the perf buffer had
    /// no room for are reported as lost events.
    fn drain_packets(&mut self, out: &mut dyn Sink) {
        let Some((buf, writers)) = self.skb_out.as_mut() else { return };
        let mut failed = None;
        let (actions, boot) = (&self.object.actions, self.boot_realtime_ns);
        let (_, lost) = buf.poll(|raw| {
            let Some(s) = pcap::parse(raw) else { return };
            let Some(Action::SkbOutput { path }) = actions.get(s.action) else { return };
            if let Err(e) = writers.write(path, boot + s.boot_ns as i128, s.packet) {
                failed.get_or_insert(format!("skboutput: {path}: {e}"));
            }
        });
        writers.flush();
        if let Some(e) = failed {
            out.event(Event::Error(e));
        }
        if lost > 0 {
            self.skb_lost_reported += lost;
            out.event(Event::Lost(lost));
        }
    }

    /// Read every pending event record and carry out its action.
    fn drain(&mut self, out: &mut dyn Sink) {
        // Decoding sees this program's script structs.
        let _scope = ferret_lang::context::enter(self.object.context.clone());
        self.drain_packets(out);
        let mut records = vec![];
        self.ring.poll(|r| records.push(r.to_vec()));
        for r in records {
            if self.exiting && !self.iterating {
                // bpftrace stops processing output once exit() has been seen.
                break;
            }
            self.handle(&r, out);
        }
    }

    fn handle(&mut self, rec: &[u8], out: &mut dyn Sink) {
        if rec.len() < 8 {
            return;
        }
        let id = u64::from_ne_bytes(rec[..8].try_into().unwrap_or([0; 8])) as usize;
        let body = &rec[8..];
        let Some(action) = self.object.actions.get(id).cloned() else { return };
        match action {
            Action::Printf { format, args, .. } => {
                let vals = decode::args(body, &args, &self.ctx());
                let text = self.render_values(id, &format, &vals);
                out.event(Event::Printf { id, format, args: vals, text });
            }
            Action::Print { ty } => {
                let v = decode::value(body, &ty, &self.ctx());
                out.event(Event::Print(v));
            }
            Action::PrintMap { map, top, div } => {
                let mut dump = self.read_map(map);
                if dump.entries.is_empty() {
                    dump = self.empty_scalar(map).unwrap_or(dump);
                }
                let top = (top > 0).then_some(top as usize);
                let div = (div > 0).then_some(div);
                out.event(Event::Map { dump, top, div });
            }
            Action::System { format, args } => {
                let cmd = self.render(id, &format, &args, body);
                match host::run_shell(&cmd) {
                    Ok(text) => out.event(Event::System(text)),
                    Err(e) => out.event(Event::Error(e)),
                }
            }
            Action::Cat { format, args } => {
                let path = self.render(id, &format, &args, body);
                match host::cat(&path, self.settings.max_cat_bytes) {
                    Ok(text) => out.event(Event::Cat(text)),
                    Err(e) => out.event(Event::Error(e)),
                }
            }
            // Packets come through their own perf buffer (drain_packets).
            Action::SkbOutput { .. } => {}
            Action::Report { error, format, args, span } => {
                let message = self.render(id, &format, &args, body);
                out.event(Event::Report { error, message, at: self.location(span) });
            }
            Action::HelperError { helper, span } => {
                let retcode =
                    u64::from_ne_bytes(body.get(..8).and_then(|b| b.try_into().ok()).unwrap_or([0; 8])) as i64;
                let strerror = host::strerror(-retcode as i32);
                let msg = ferret_output::text::helper_error_message(helper, retcode as i32, &strerror);
                let src = ferret_syntax::Source { name: &self.settings.source_name, text: &self.settings.source_text };
                let rendered = src.render(&Diagnostic::warning(span, msg));
                let at = self.location(span);
                out.event(Event::HelperError { rendered, helper: helper.to_string(), retcode, strerror, at });
            }
            Action::Join { delim, slots, slot_size } => {
                let parts: Vec<String> = body
                    .chunks(slot_size as usize)
                    .take(slots as usize)
                    .map(|c| {
                        String::from_utf8_lossy(&c[..c.iter().position(|&b| b == 0).unwrap_or(c.len())]).into_owned()
                    })
                    .take_while(|s| !s.is_empty())
                    .collect();
                out.event(Event::Join(parts.join(&delim)));
            }
            Action::Strftime { .. } => {}
            Action::ProcessSeen => {
                let word =
                    |i: usize| body.get(i * 8..i * 8 + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_ne_bytes);
                let pid = word(0);
                self.symbols.capture(pid as u32, (word(1), word(2)), (word(3), word(4)));
                if let Some(t) = self.unwind.as_mut() {
                    t.load_process(pid as u32);
                    if t.full && !t.full_reported {
                        t.full_reported = true;
                        out.event(Event::Warning(format!(
                            "the DWARF unwind tables are full ({} rows); stacks in files loaded later are walked by frame pointers",
                            ferret_lang::unwind::MAX_ROWS
                        )));
                    }
                }
            }
            Action::Clear { map } => {
                let _ = self.maps[map].clear();
            }
            Action::Zero { map } => {
                let _ = self.zero_map(map);
            }
            Action::Exit { code } => {
                if code {
                    self.exit_code = Some(u64::from_ne_bytes(body[..8].try_into().unwrap_or([0; 8])) as i32);
                }
                self.exiting = true;
                out.event(Event::Exit(self.exit_code));
            }
            Action::Time { format } => {
                out.event(Event::Time(clock::now(&format)));
            }
        }
    }

    /// Where `span` is in the program, for run-time messages.
    fn location(&self, span: ferret_syntax::Span) -> Location {
        let src = ferret_syntax::Source { name: &self.settings.source_name, text: &self.settings.source_text };
        let (line, col) = src.line_col(span.start as usize);
        Location {
            filename: self.settings.source_name.clone(),
            line: line as u64,
            col: col as u64,
            text: src.location(span),
        }
    }

    fn ctx(&self) -> decode::Ctx<'_> {
        decode::Ctx {
            actions: &self.object.actions,
            boot_realtime_ns: self.boot_realtime_ns,
            symbols: &self.symbols,
            trailer: &self.object.str_trunc_trailer,
        }
    }

    /// A printf-style action's text from its event record.
    fn render(&mut self, id: usize, format: &str, args: &[ferret_lang::types::Type], body: &[u8]) -> String {
        let vals = decode::args(body, args, &self.ctx());
        self.render_values(id, format, &vals)
    }

    fn render_values(&mut self, id: usize, format: &str, vals: &[ferret_output::Value]) -> String {
        let f = self.formats.entry(id).or_insert_with(|| {
            if format.contains("%gr") {
                // GFP flag bits differ between kernel configurations: take this kernel's.
                if let Some(def) = ferret_lang::ktypes::enum_constant("___GFP_DMA_BIT") {
                    ferret_output::set_gfp_bits(&def.variants);
                }
            }
            ferret_output::printf::Format::parse(format)
        });
        f.render(vals)
    }

    /// What `print(@m)` shows for an empty map without keys: its value type's zero, as bpftrace
    /// does (`@: 0`). Keyed maps and histograms print nothing when empty.
    fn empty_scalar(&self, idx: usize) -> Option<MapDump> {
        let _scope = ferret_lang::context::enter(self.object.context.clone());
        let spec = &self.object.maps[idx];
        if spec.key.is_some() || matches!(spec.value, ferret_lang::types::Type::Agg(a) if a.is_hist()) {
            return None;
        }
        let m = &self.maps[idx];
        let stride = if m.is_percpu() { m.percpu_stride() } else { 0 };
        let value_len = m.value_buf_len().ok()?;
        let zero = (vec![0u8; spec.key_size as usize], vec![0u8; value_len]);
        Some(decode::map(spec, &[zero], stride, &self.ctx()))
    }

    fn zero_map(&self, idx: usize) -> Result<(), ferret_sys::SysError> {
        let m = &self.maps[idx];
        let len = m.value_buf_len()?;
        let zeros = vec![0u8; len];
        for k in m.keys()? {
            m.update(&k, &zeros, 0)?;
        }
        Ok(())
    }

    pub fn read_map(&self, idx: usize) -> MapDump {
        let _scope = ferret_lang::context::enter(self.object.context.clone());
        let spec = &self.object.maps[idx];
        let m = &self.maps[idx];
        let entries = m.entries().unwrap_or_default();
        let stride = if m.is_percpu() { m.percpu_stride() } else { 0 };
        decode::map(spec, &entries, stride, &self.ctx())
    }

    /// Report events the ring had no room for, and maps that refused an update, once each.
    fn check_counters(&mut self, out: &mut dyn Sink) {
        let lost = self.lost();
        if lost > self.lost_reported {
            out.event(Event::Lost(lost - self.lost_reported));
            self.lost_reported = lost;
        }
        let user: Vec<(usize, String)> = self.object.user_maps().map(|(i, m)| (i, m.name.clone())).collect();
        for (i, name) in user {
            if !self.warned_full[i] && self.counter(MAP_FULL, (i - ferret_lang::FIRST_USER_MAP) as u32) > 0 {
                self.warned_full[i] = true;
                out.event(Event::Warning(format!(
                    "Map full; can't update element. Try increasing max_map_keys ({name} holds {} entries; ferret --max-map-keys N)",
                    self.object.maps[i].max_entries
                )));
            }
        }
    }
}
