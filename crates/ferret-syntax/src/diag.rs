//! Compiler diagnostics and their rendering in bpftrace's shape:
//! `stdin:1:24-27: ERROR: message`, then the source line, then a `~` underline.
use crate::span::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Hint,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub level: Level,
    pub span: Option<Span>,
    pub message: String,
    /// Extra `HINT:` lines printed after the underline.
    pub hints: Vec<String>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic { level: Level::Error, span: Some(span), message: message.into(), hints: vec![] }
    }
    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic { level: Level::Warning, span: Some(span), message: message.into(), hints: vec![] }
    }
    /// An error that belongs to no place in the program.
    pub fn global(message: impl Into<String>) -> Diagnostic {
        Diagnostic { level: Level::Error, span: None, message: message.into(), hints: vec![] }
    }
    /// A warning about no place in the program (shown as `WARNING: message`).
    pub fn global_warning(message: impl Into<String>) -> Diagnostic {
        Diagnostic { level: Level::Warning, span: None, message: message.into(), hints: vec![] }
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hints.push(hint.into());
        self
    }
}

/// The program text and the name it is shown under (`stdin` for `-e`, else the script path).
pub struct Source<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    /// The line holding `span` (start and end offsets) and the span's width in characters on it.
    fn extent(&self, span: Span) -> (usize, usize, usize) {
        let start = (span.start as usize).min(self.text.len());
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[line_start..].find('\n').map_or(self.text.len(), |i| line_start + i);
        let end = (span.end as usize).clamp(start, line_end);
        (line_start, line_end, self.text[start..end].chars().count().max(1))
    }

    /// `name:line:col-endcol`, as messages about a place in the program start.
    pub fn location(&self, span: Span) -> String {
        let (line, col) = self.line_col(span.start as usize);
        let (_, _, width) = self.extent(span);
        format!("{}:{}:{}-{}", self.name, line, col, col + width)
    }

    /// Render one diagnostic exactly as bpftrace does.
    pub fn render(&self, d: &Diagnostic) -> String {
        let word = match d.level {
            Level::Error => "ERROR",
            Level::Warning => "WARNING",
            Level::Hint => "HINT",
        };
        let mut out = String::new();
        // A span outside this text (code from a built-in macro) is reported without a location
        // rather than mis-rendered.
        let fits = |s: &Span| s.start <= s.end && (s.end as usize) <= self.text.len();
        match d.span.filter(fits) {
            None => out.push_str(&format!("{word}: {}\n", d.message)),
            Some(span) => {
                let (line_start, line_end, width) = self.extent(span);
                out.push_str(&format!("{}: {word}: {}\n", self.location(span), d.message));
                let src_line = &self.text[line_start..line_end];
                out.push_str(src_line);
                out.push('\n');
                let pad: String = self.text[line_start..span.start as usize]
                    .chars()
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                out.push_str(&pad);
                out.push_str(&"~".repeat(width));
                out.push('\n');
            }
        }
        for h in &d.hints {
            out.push_str(&format!("HINT: {h}\n"));
        }
        out
    }

    pub fn render_all(&self, ds: &[Diagnostic]) -> String {
        ds.iter().map(|d| self.render(d)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_bpftrace_shape() {
        let text = "BEGIN { printf(\"%d\\n\", foo); }";
        let src = Source { name: "stdin", text };
        let start = text.find("foo").unwrap();
        let d = Diagnostic::error(Span::new(start, start + 3), "Unknown identifier: 'foo'");
        assert_eq!(
            src.render(&d),
            "stdin:1:24-27: ERROR: Unknown identifier: 'foo'\nBEGIN { printf(\"%d\\n\", foo); }\n                       ~~~\n"
        );
    }
}
