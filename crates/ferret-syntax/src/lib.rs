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
