//! Kernel symbol addresses from `/proc/kallsyms`, for `kaddr("name")` at compile time.
use std::collections::HashMap;
use std::sync::Mutex;

const KALLSYMS: &str = "/proc/kallsyms";

/// The address of kernel symbol `name`, or `None` when no symbol has that name. Answers are
/// cached: the compiler asks once per pass and per probe instance, and reading kallsyms is slow.
pub fn lookup(name: &str) -> Option<u64> {
    static CACHE: Mutex<Option<HashMap<String, Option<u64>>>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(a) = cache.get(name) {
        return *a;
    }
    let addr = std::fs::read_to_string(KALLSYMS).ok().and_then(|text| find(&text, name));
    cache.insert(name.to_string(), addr);
    addr
}

/// The first `ADDR TYPE NAME [module]` line of kallsyms text naming `name`.
fn find(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut f = l.split_ascii_whitespace();
        let (addr, _kind, sym) = (f.next()?, f.next()?, f.next()?);
        (sym == name).then(|| u64::from_str_radix(addr, 16).ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn finds_symbols_by_exact_name() {
        let text = "ffffffff81000000 T _stext\nffffffff81001000 t do_one\nffffffffc0000000 t mod_fn\t[mod]\n";
        assert_eq!(find(text, "do_one"), Some(0xffffffff81001000));
        assert_eq!(find(text, "mod_fn"), Some(0xffffffffc0000000));
        assert_eq!(find(text, "do_on"), None);
    }
}
