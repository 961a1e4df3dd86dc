//! text → tokens → AST: the front end of ferret's data path. No kernel, no I/O.
pub mod ast;
pub mod ast_dump;
pub mod diag;
pub mod lexer;
pub mod parser;
pub mod span;
pub mod token;
pub mod visit;

pub use ast_dump::dump;
pub use diag::{Diagnostic, Level, Source};
pub use span::Span;

/// Parse a whole program. Errors are returned as diagnostics ready to render against `src`.
pub fn parse(src: &str) -> Result<ast::Program, Vec<Diagnostic>> {
    parser::Parser::new(src).parse_program()
}

/// Program text from bytes (a script file, `-e`, stdin). Invalid UTF-8 is an error at the first
/// bad byte; the text returned with it has that byte (and any later ones) replaced with U+FFFD
/// so the error renders against the line as written.
pub fn program_text(bytes: Vec<u8>) -> Result<String, (String, Diagnostic)> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bad = e.as_bytes()[at];
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            // In the lossy text the bad sequence is one U+FFFD (3 bytes) at the same offset.
            let d = Diagnostic::error(
                Span::new(at, at + char::REPLACEMENT_CHARACTER.len_utf8()),
                format!("invalid UTF-8 in the program (byte 0x{bad:02x}): programs are UTF-8 text"),
            );
            Err((text, d))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn invalid_utf8_is_located() {
        let (text, d) = super::program_text(b"BEGIN { \xc3( exit(); }".to_vec()).unwrap_err();
        let src = super::Source { name: "stdin", text: &text };
        assert_eq!(
            src.render(&d),
            "stdin:1:9-10: ERROR: invalid UTF-8 in the program (byte 0xc3): programs are UTF-8 text\n\
             BEGIN { \u{fffd}( exit(); }\n        ~\n"
        );
        assert_eq!(super::program_text(b"BEGIN {}".to_vec()).unwrap(), "BEGIN {}");
    }
}
