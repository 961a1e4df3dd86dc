use std::io::Read;
fn main() {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).unwrap();
    match ferret_syntax::parse(&s) {
        Ok(p) => print!("{}", ferret_syntax::dump(&p)),
        Err(d) => print!("{}", ferret_syntax::Source { name: "stdin", text: &s }.render_all(&d)),
    }
}
