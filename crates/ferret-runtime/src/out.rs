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
}

impl Out {
    pub fn write(&mut self, s: &str) {
        // A closed pipe (`ferret ... | head`) must not kill the run with a panic.
        let _ = self.w.write_all(s.as_bytes());
    }
    pub fn flush(&mut self) {
        let _ = self.w.flush();
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
    pub fn attached(&mut self, n: u64) {
        match self.format {
            Format::Text => eprint!("{}", text::attached_probes(n)),
            Format::Json => self.line(json::attached_probes(n)),
        }
    }
}
