//! `--bench` and `--test`: the `bench:NAME` / `test:NAME` blocks, run by ferret itself with
//! BPF_PROG_TEST_RUN instead of being attached. They are XDP programs because that program type's
//! test run can repeat a program in the kernel and time it; their context is a dummy packet.
use crate::Session;
use ferret_lang::probe::Special;
use ferret_output::{Event, Writer};
use ferret_sys::bpf;
use std::cell::RefCell;
use std::io::Write;
use std::os::fd::AsFd;
use std::rc::Rc;

/// The smallest packet an XDP test run accepts (an Ethernet header), zeroed.
const PACKET: [u8; 14] = [0; 14];

/// What the programs print while they run under the harness, kept apart from the real output.
#[derive(Clone, Default)]
struct Capture(Rc<RefCell<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Which harness mode ferret runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bench,
    Test,
}

impl Session {
    /// Run BEGIN, then every block of `mode`'s kind in script order, then END and the maps.
    /// Returns 1 when a benchmark or test failed.
    pub fn run_harness(mut self, out: &mut Writer, mode: Mode) -> i32 {
        let which = match mode {
            Mode::Bench => Special::Bench,
            Mode::Test => Special::Test,
        };
        self.run_special(Special::Begin, out);
        let picked: Vec<usize> = (0..self.progs.len()).filter(|&i| self.progs[i].special == Some(which)).collect();
        let names: Vec<String> = picked.iter().map(|&i| self.object.progs[i].targets[0].name.clone()).collect();
        let mut failed = false;
        let mut passed = vec![];
        for (n, &i) in picked.iter().enumerate() {
            let ok = match mode {
                Mode::Bench => self.bench_one(i, &names, n, out),
                Mode::Test => {
                    let ok = self.test_one(i, &names, &mut passed, out);
                    ok.is_some_and(|p| p)
                }
            };
            failed |= !ok;
        }
        self.exiting = false;
        self.run_special(Special::End, out);
        self.check_counters(out);
        if let Some(maps) = self.maps_at_exit() {
            out.emit(&Event::MapsAtExit(maps));
        }
        out.flush();
        i32::from(failed)
    }

    /// Run program `i` with `out`'s writer swapped for a capture; returns its r0, its mean run
    /// time, what it printed, and whether it failed (a non-zero exit() or a reported error).
    fn run_captured(&mut self, i: usize, repeat: u32, out: &mut Writer) -> Result<(u32, u32, String, bool), String> {
        let capture = Capture::default();
        let real = std::mem::replace(&mut out.out, Box::new(capture.clone()));
        let errors = out.errors;
        self.exit_code = None;
        let run = bpf::prog_test_run_repeat(self.progs[i].fd.as_fd(), &PACKET, repeat);
        self.drain(out);
        self.exiting = false;
        out.out = real;
        let (retval, mean) = run.map_err(|e| e.to_string())?;
        let bad = self.exit_code.take().is_some_and(|c| c != 0) || out.errors != errors;
        let text = String::from_utf8_lossy(&capture.0.borrow()).into_owned();
        Ok((retval, mean, text, bad))
    }

    /// One benchmark: repeat it until the runs take at least a millisecond in all, then print
    /// the mean time of one run. A benchmark that returns non-zero is skipped.
    fn bench_one(&mut self, i: usize, names: &[String], index: usize, out: &mut Writer) -> bool {
        let mut iters: u32 = 1;
        loop {
            let (retval, mean, _, bad) = match self.run_captured(i, iters, out) {
                Ok(r) => r,
                Err(e) => {
                    out.emit(&Event::Error(format!("running benchmark '{}': {e}", names[index])));
                    return false;
                }
            };
            if bad {
                out.emit(&Event::Error(format!("Benchmark '{}' failed.", names[index])));
                return false;
            }
            if retval != 0 {
                return true;
            }
            let total = u64::from(mean) * u64::from(iters);
            let grow: u32 = match total {
                0..1_000 => 1000,
                1_000..10_000 => 100,
                10_000..100_000 => 10,
                100_000..1_000_000 => 2,
                _ => {
                    out.emit(&Event::Benchmark {
                        names: names.to_vec(),
                        index,
                        mean_ns: u64::from(mean),
                        iters: u64::from(iters),
                    });
                    return true;
                }
            };
            match iters.checked_mul(grow) {
                Some(n) => iters = n,
                None => {
                    out.emit(&Event::Benchmark {
                        names: names.to_vec(),
                        index,
                        mean_ns: u64::from(mean),
                        iters: u64::from(iters),
                    });
                    return true;
                }
            }
        }
    }

    /// One test: run it once; it passes when it returns 0, exits with 0 (or not at all) and
    /// reports no error. Its output is shown only when it fails.
    fn test_one(&mut self, i: usize, names: &[String], passed: &mut Vec<bool>, out: &mut Writer) -> Option<bool> {
        let (ok, mean, text) = match self.run_captured(i, 1, out) {
            Ok((retval, mean, text, bad)) => (retval == 0 && !bad, mean, text),
            Err(e) => (false, 0, format!("ERROR: {e}\n")),
        };
        passed.push(ok);
        out.emit(&Event::TestResult {
            names: names.to_vec(),
            passed: passed.clone(),
            duration_ns: u64::from(mean),
            output: text,
        });
        Some(ok)
    }
}
