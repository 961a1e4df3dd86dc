//! What a running program produces, as values: the runtime turns each event record, each
//! counter change and each map read into an [`Event`]; a caller consumes them as it likes (the
//! CLI renders them with a [`crate::sink::Writer`], a library user matches on them).
use crate::value::{MapDump, Value};

/// A place in the program, for messages reported at run time (`errorf`, `warnf`, `-k`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub filename: String,
    pub line: u64,
    pub col: u64,
    /// `stdin:1:9-62`
    pub text: String,
}

/// One thing a running program said or that happened to it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `printf()`: the format's id in the program (one per call site), the format string,
    /// the decoded arguments and the text they render to.
    Printf { id: usize, format: String, args: Vec<Value>, text: String },
    /// `print(value)`.
    Print(Value),
    /// `print(@map)` (with its `top` and `div` arguments), or `Running::map` read.
    Map { dump: MapDump, top: Option<usize>, div: Option<u64> },
    /// The user maps printed when the program ends (`print_maps_on_exit`).
    MapsAtExit(Vec<MapDump>),
    /// `time()`: the formatted time.
    Time(String),
    /// `cat()`: the file's bytes as text.
    Cat(String),
    /// `system()`: the command's output.
    System(String),
    /// `join()`: the joined arguments.
    Join(String),
    /// `errorf()` (`error: true`) or `warnf()`.
    Report { error: bool, message: String, at: Location },
    /// `-k`: a helper call failed. `rendered` is the located warning as text (source line and
    /// underline).
    HelperError { rendered: String, helper: String, retcode: i64, strerror: String, at: Location },
    /// A runtime problem (a failed action, an unreadable iterator).
    Error(String),
    /// A runtime warning (a full map, full unwind tables).
    Warning(String),
    /// Events the kernel had no room for since the last `Lost`.
    Lost(u64),
    /// `exit()` was called (with its code when it gave one).
    Exit(Option<i32>),
    /// Probes attached.
    Attached(u64),
    /// `--bench`: one benchmark's result; `names` are all benchmarks, in order.
    Benchmark { names: Vec<String>, index: usize, mean_ns: u64, iters: u64 },
    /// `--test`: one test's result; `passed` holds the results so far, this one last.
    TestResult { names: Vec<String>, passed: Vec<bool>, duration_ns: u64, output: String },
}

/// A consumer of events.
pub trait Sink {
    fn event(&mut self, e: Event);
}

impl Sink for Vec<Event> {
    fn event(&mut self, e: Event) {
        self.push(e);
    }
}

impl<F: FnMut(Event)> Sink for F {
    fn event(&mut self, e: Event) {
        self(e)
    }
}
