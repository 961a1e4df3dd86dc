//! The lexer and parser on raw bytes: the UTF-8 check, then parse, then the AST dump and every
//! diagnostic rendered against the text (as `ferret -d ast` and errors do).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, diags) = match ferret_syntax::program_text(data.to_vec()) {
        Ok(text) => {
            let diags = match ferret_syntax::parse(&text) {
                Ok(ast) => {
                    let _ = ferret_syntax::dump(&ast);
                    vec![]
                }
                Err(d) => d,
            };
            (text, diags)
        }
        Err((text, d)) => (text, vec![d]),
    };
    let _ = ferret_syntax::Source { name: "stdin", text: &text }.render_all(&diags);
});
