//! Events rendered as bpftrace renders them: text (its default) or JSON lines, on writers the
//! caller gives (the CLI's stdout or `-o FILE`, and stderr for the text messages bpftrace puts
//! there). A closed output is noted, not fatal: the caller asks [`Writer::closed`] and ends
//! tracing the normal way, as `ferret ... | head` expects.
use crate::event::{Event, Sink};
use crate::{json, text};
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// A [`Sink`] that writes events as text or JSON.
pub struct Writer {
    pub format: Format,
    /// Where output goes.
    pub out: Box<dyn Write>,
    /// Where text-mode messages go (errors, warnings, lost events, `errorf()`).
    pub err: Box<dyn Write>,
    /// False with `--no-warnings`: warnings (including `warnf()`) are not shown.
    pub warnings: bool,
    /// `-B full`: output is written when the buffer fills or at exit, never to keep up.
    pub full_buffering: bool,
    /// Errors seen so far (`errorf()`, failed actions): a `--test` test with any fails.
    pub errors: u64,
    closed: bool,
}

impl Writer {
    pub fn new(format: Format, out: Box<dyn Write>, err: Box<dyn Write>) -> Writer {
        Writer { format, out, err, warnings: true, full_buffering: false, errors: 0, closed: false }
    }

    /// Whether the output was closed by its reader (a broken pipe): nothing more can be shown.
    pub fn closed(&self) -> bool {
        self.closed
    }

    fn write(&mut self, s: &str) {
        if let Err(e) = self.out.write_all(s.as_bytes()) {
            self.note(e);
        }
    }

    fn note(&mut self, e: std::io::Error) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            self.closed = true;
        }
    }

    pub fn flush(&mut self) {
        if let Err(e) = self.out.flush() {
            self.note(e);
        }
    }

    /// Write out what is pending so the output keeps up with events and stays in order with
    /// the messages on `err`, unless `-B full` asked for full buffering.
    pub fn flush_pending(&mut self) {
        if !self.full_buffering {
            self.flush();
        }
    }

    fn line(&mut self, json_line: String) {
        self.write(&json_line);
        if !json_line.ends_with('\n') {
            self.write("\n");
        }
    }

    fn message(&mut self, s: &str) {
        self.flush_pending();
        let _ = self.err.write_all(s.as_bytes());
        let _ = self.err.flush();
    }

    /// Render one event.
    pub fn emit(&mut self, e: &Event) {
        let json = self.format == Format::Json;
        match e {
            Event::Printf { text, .. } if json => self.line(json::printf(text)),
            Event::Printf { text, .. } => self.write(text),
            Event::Time(s) if json => self.line(json::time(s)),
            Event::Time(s) => self.write(s),
            Event::Cat(s) if json => self.line(json::cat(s)),
            Event::Cat(s) => self.write(s),
            Event::System(s) if json => self.line(json::syscall(s)),
            Event::System(s) => self.write(&text::syscall(s)),
            Event::Join(s) if json => self.line(json::join(s)),
            Event::Join(s) => self.write(&text::join(s)),
            Event::Print(v) if json => self.line(json::value(v)),
            Event::Print(v) => self.write(&text::value_line(v)),
            Event::Map { dump, top, div } if json => self.line(json::map(dump, *top, *div)),
            Event::Map { dump, top, div } => self.write(&text::map(dump, *top, *div)),
            Event::MapsAtExit(maps) if json => {
                self.write(json::end());
                self.write(&json::maps_at_exit(maps));
            }
            Event::MapsAtExit(maps) => {
                self.write(text::end());
                self.write(&text::maps_at_exit(maps));
            }
            Event::Report { error, message, at } => {
                self.errors += u64::from(*error);
                if !*error && !self.warnings {
                    return;
                }
                if json {
                    let f = if *error { json::errorf } else { json::warnf };
                    self.line(f(message, &at.filename, at.line, at.col));
                } else {
                    let word = if *error { "ERROR" } else { "WARNING" };
                    let msg = message.strip_suffix('\n').unwrap_or(message);
                    self.message(&format!("{}: {word}: {msg}\n", at.text));
                }
            }
            Event::HelperError { rendered, helper, retcode, strerror, at } => {
                if json {
                    self.line(json::helper_error(strerror, helper, *retcode, &at.filename, at.line, at.col));
                } else if self.warnings {
                    self.message(rendered);
                }
            }
            Event::Error(msg) => {
                self.errors += 1;
                self.message(&format!("ERROR: {msg}\n"));
            }
            Event::Warning(msg) => {
                if self.warnings {
                    self.message(&format!("WARNING: {msg}\n"));
                }
            }
            Event::Lost(n) if json => self.line(json::lost_events(*n)),
            Event::Lost(n) => self.message(&text::lost_events(*n)),
            Event::Attached(n) if json => self.line(json::attached_probes(*n)),
            Event::Attached(n) => self.message(&text::attached_probes(*n)),
            Event::Benchmark { names, index, mean_ns, iters } if json => {
                self.line(json::benchmark_result(&names[*index], *mean_ns, *iters))
            }
            Event::Benchmark { names, index, mean_ns, iters } => {
                if *index == 0 {
                    self.write(&text::benchmark_header(names));
                }
                self.write(&text::benchmark_row(names, &names[*index], *mean_ns, *iters))
            }
            Event::TestResult { names, passed, duration_ns, output } => {
                let index = passed.len() - 1;
                if json {
                    self.line(json::test_result(&names[index], *duration_ns, passed[index], output));
                } else {
                    self.write(&text::test_result(names, index, *duration_ns, passed, output));
                }
            }
            Event::Exit(_) => {}
        }
    }
}

impl Sink for Writer {
    fn event(&mut self, e: Event) {
        self.emit(&e);
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
    fn a_closed_pipe_is_noted_instead_of_panicking() {
        let mut w = Writer::new(Format::Text, Box::new(ClosedPipe), Box::new(std::io::sink()));
        assert!(!w.closed());
        w.emit(&Event::Printf { id: 0, format: "x\n".into(), args: vec![], text: "x\n".into() });
        assert!(w.closed());
    }

    #[test]
    fn text_messages_go_to_err_and_json_records_to_out() {
        #[derive(Clone, Default)]
        struct Buf(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);
        impl Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.borrow_mut().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (out, err) = (Buf::default(), Buf::default());
        let mut w = Writer::new(Format::Text, Box::new(out.clone()), Box::new(err.clone()));
        w.emit(&Event::Lost(3));
        w.emit(&Event::Warning("w".into()));
        w.emit(&Event::Printf { id: 0, format: "%d\n".into(), args: vec![], text: "1\n".into() });
        assert_eq!(String::from_utf8_lossy(&out.0.borrow()), "1\n");
        assert!(String::from_utf8_lossy(&err.0.borrow()).contains("WARNING: w\n"));
        let (out, err) = (Buf::default(), Buf::default());
        let mut w = Writer::new(Format::Json, Box::new(out.clone()), Box::new(err.clone()));
        w.emit(&Event::Lost(3));
        assert!(String::from_utf8_lossy(&out.0.borrow()).contains("lost_events"));
        assert!(err.0.borrow().is_empty());
    }
}
