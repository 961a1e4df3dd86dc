//! Records → text or JSON lines on the chosen output (stdout or `-o FILE`).
use ferret_output::{json, text, MapDump, Value};
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

pub struct Out {
    pub format: Format,
    pub w: Box<dyn Write>,
    /// False with `--no-warnings`: warnings (including `warnf()`) are not printed.
    pub warnings: bool,
    /// `-B full`: output is written when the buffer fills or at exit, never to keep up.
    pub full_buffering: bool,
    /// Errors reported so far (`errorf()`, failed actions): a `--test` test with any fails.
    pub errors: u64,
}

/// A place in the program, for messages reported at run time (`errorf`, `warnf`).
pub struct Location {
    pub filename: String,
    pub line: u64,
    pub col: u64,
    /// `stdin:1:9-62`
    pub text: String,
}

impl Out {
    pub fn write(&mut self, s: &str) {
        // A closed pipe (`ferret ... | head`) must not kill the run with a panic: it ends
        // tracing the normal way instead, as Ctrl-C would.
        if let Err(e) = self.w.write_all(s.as_bytes()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                crate::request_stop();
            }
        }
    }
    pub fn flush(&mut self) {
        if let Err(e) = self.w.flush() {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                crate::request_stop();
            }
        }
    }
    /// Write out what is pending so the output keeps up with events and stays in order with
    /// stderr messages, unless `-B full` asked for full buffering.
    pub fn flush_pending(&mut self) {
        if !self.full_buffering {
            self.flush();
        }
    }
    pub fn line(&mut self, json_line: String) {
        self.write(&json_line);
        if !json_line.ends_with('\n') {
            self.write("\n");
        }
    }

    pub fn printf(&mut self, s: &str) {
        match self.format {
            Format::Text => self.write(s),
            Format::Json => self.line(json::printf(s)),
        }
    }
    pub fn time(&mut self, s: &str) {
        match self.format {
            Format::Text => self.write(s),
            Format::Json => self.line(json::time(s)),
        }
    }
    /// `cat()` output: the file's bytes as they are.
    pub fn cat(&mut self, s: &str) {
        match self.format {
            Format::Text => self.write(s),
            Format::Json => self.line(json::cat(s)),
        }
    }
    /// `system()` output.
    pub fn syscall(&mut self, s: &str) {
        match self.format {
            Format::Text => self.write(&text::syscall(s)),
            Format::Json => self.line(json::syscall(s)),
        }
    }
    pub fn join(&mut self, s: &str) {
        match self.format {
            Format::Text => self.write(&text::join(s)),
            Format::Json => self.line(json::join(s)),
        }
    }
    /// `errorf()`/`warnf()`: text goes to stderr as `loc: ERROR: msg` (one trailing newline of
    /// the message dropped), JSON is a record on the output.
    pub fn report(&mut self, error: bool, msg: &str, at: &Location) {
        self.errors += u64::from(error);
        if !error && !self.warnings {
            return;
        }
        match self.format {
            Format::Text => {
                let word = if error { "ERROR" } else { "WARNING" };
                self.flush_pending();
                eprintln!("{}: {word}: {}", at.text, msg.strip_suffix('\n').unwrap_or(msg));
            }
            Format::Json => {
                let f = if error { json::errorf } else { json::warnf };
                self.line(f(msg, &at.filename, at.line, at.col));
            }
        }
    }
    /// `-k`: a failed helper call. `text` is the rendered warning (location, message, source
    /// line, underline) for text mode.
    pub fn helper_error(&mut self, text: &str, helper: &str, retcode: i64, strerror: &str, at: &Location) {
        match self.format {
            Format::Text => {
                if self.warnings {
                    self.flush_pending();
                    eprint!("{text}");
                }
            }
            Format::Json => self.line(json::helper_error(strerror, helper, retcode, &at.filename, at.line, at.col)),
        }
    }
    /// A runtime problem on stderr (`ERROR: ...`), after what was already printed.
    pub fn error(&mut self, msg: &str) {
        self.errors += 1;
        self.flush_pending();
        eprintln!("ERROR: {msg}");
    }
    /// A runtime warning on stderr, unless `--no-warnings`.
    pub fn warning(&mut self, msg: &str) {
        if self.warnings {
            self.flush_pending();
            eprintln!("WARNING: {msg}");
        }
    }
    pub fn value(&mut self, v: &Value) {
        match self.format {
            Format::Text => self.write(&text::value_line(v)),
            Format::Json => self.line(json::value(v)),
        }
    }
    pub fn map(&mut self, m: &MapDump, top: Option<usize>, div: Option<u64>) {
        match self.format {
            Format::Text => self.write(&text::map(m, top, div)),
            Format::Json => self.line(json::map(m, top, div)),
        }
    }
    pub fn maps_at_exit(&mut self, maps: &[MapDump]) {
        match self.format {
            Format::Text => {
                self.write(text::end());
                self.write(&text::maps_at_exit(maps));
            }
            Format::Json => {
                self.write(json::end());
                self.write(&json::maps_at_exit(maps));
            }
        }
    }
    /// Lost events go to stderr in text mode, as a record in JSON mode.
    pub fn lost_events(&mut self, n: u64) {
        match self.format {
            Format::Text => eprint!("{}", text::lost_events(n)),
            Format::Json => self.line(json::lost_events(n)),
        }
    }
    /// `--bench`: one benchmark's result (the header before the first).
    pub fn benchmark(&mut self, names: &[String], index: usize, mean_ns: u64, iters: u64) {
        match self.format {
            Format::Text => {
                if index == 0 {
                    self.write(&text::benchmark_header(names));
                }
                self.write(&text::benchmark_row(names, &names[index], mean_ns, iters))
            }
            Format::Json => self.line(json::benchmark_result(&names[index], mean_ns, iters)),
        }
    }
    /// `--test`: one test's result (with a summary after the last).
    pub fn test_result(&mut self, names: &[String], passed: &[bool], duration_ns: u64, output: &str) {
        let index = passed.len() - 1;
        match self.format {
            Format::Text => self.write(&text::test_result(names, index, duration_ns, passed, output)),
            Format::Json => self.line(json::test_result(&names[index], duration_ns, passed[index], output)),
        }
    }
    pub fn attached(&mut self, n: u64) {
        match self.format {
            Format::Text => eprint!("{}", text::attached_probes(n)),
            Format::Json => self.line(json::attached_probes(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct ClosedPipe;
    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_ends_tracing_instead_of_panicking() {
        let mut out =
            Out { format: Format::Text, w: Box::new(ClosedPipe), warnings: true, full_buffering: false, errors: 0 };
        assert!(!crate::STOP.load(std::sync::atomic::Ordering::SeqCst));
        out.printf("x\n");
        assert!(crate::STOP.load(std::sync::atomic::Ordering::SeqCst));
    }
}
