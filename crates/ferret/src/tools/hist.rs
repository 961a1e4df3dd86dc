//! BCC's histograms, as its `*lat`/`*dist` tools print them: power-of-two buckets (`0 -> 1`,
//! `2 -> 3`, `4 -> 7`, ...) or linear ones, each with a bar of up to 40 `*`, and BCC's JSON form
//! of a power-of-two histogram.
use super::{json_str, line};
use ferret::{MapValue, Running, Value};

const STARS: usize = 40;

/// BCC's power-of-two buckets from a `hist(v)` map value: BCC's bucket `i >= 1` holds
/// `2^(i-1) ..= 2^i - 1`, its first (`0 -> 1`) holds 0 and 1; ferret's `hist()` keeps negative
/// values at 0, zero at 1 and `2^(j-2) ..= 2^(j-1) - 1` at `j >= 2`. Negative values (none in
/// a latency or a size) are left out.
pub fn log2_buckets(v: &MapValue) -> Vec<u64> {
    let MapValue::Hist { buckets, .. } = v else { return vec![] };
    let mut out = vec![0u64; buckets.len().max(3) - 1];
    for (j, &n) in buckets.iter().enumerate() {
        match j {
            0 => {}
            1 => out[1] += n,
            j => out[j - 1] += n,
        }
    }
    out
}

/// Linear buckets from an `lhist(v, 0, max, 1)` map value: `out[i]` counts the value `i`
/// (ferret's bucket 0 holds values below the minimum, the one after the maximum's those above
/// it, counted here in the maximum's; missing trailing buckets count as zero).
pub fn linear_buckets(v: &MapValue) -> Vec<u64> {
    let MapValue::LHist { buckets, min, max, step } = v else { return vec![] };
    let mut out: Vec<u64> = buckets.iter().skip(1).copied().collect();
    let over = ferret_output::hist::lhist_bucket_count(*min, *max, *step) - 1;
    if buckets.len() > over && out.len() >= 2 {
        let n = out.pop().unwrap_or(0);
        *out.last_mut().expect("two buckets") += n;
    }
    out
}

/// Up to `width` `*` for `val` of `max`, the last a `+` when `val` exceeds `max`.
fn stars(val: u64, max: u64, width: usize) -> String {
    if max == 0 {
        return String::new();
    }
    // BCC adds a `*` while its index is at most `width * val / max - 1`: the floor.
    let n = ((width as u128 * val as u128 / max as u128) as usize).min(width);
    let mut s = "*".repeat(n);
    if val > max {
        s.pop();
        s.push('+');
    }
    s
}

/// A power-of-two histogram as BCC's `print_log2_hist(val_type)` prints it (nothing when it
/// is empty); each line ends with a newline.
pub fn log2_text(vals: &[u64], val_type: &str) -> String {
    let idx_max = vals.iter().rposition(|&v| v > 0);
    let max = vals.iter().copied().max().unwrap_or(0);
    let Some(idx_max) = idx_max.filter(|&i| i > 0) else { return String::new() };
    let mut out = String::new();
    let wide = idx_max > 32;
    let width = if wide { STARS / 2 } else { STARS };
    if wide {
        out.push_str(&format!("               {val_type:<29} : count     distribution\n"));
    } else {
        out.push_str(&format!("     {val_type:<19} : count     distribution\n"));
    }
    for (i, &val) in vals.iter().enumerate().take(idx_max + 1).skip(1) {
        let high: u128 = (1u128 << i) - 1;
        let mut low: u128 = (1u128 << i) >> 1;
        if low == high {
            low -= 1;
        }
        let bar = stars(val, max, width);
        if wide {
            out.push_str(&format!("{low:>20} -> {high:<20} : {val:<8} |{bar:<width$}|\n"));
        } else {
            out.push_str(&format!("{low:>10} -> {high:<10} : {val:<8} |{bar:<width$}|\n"));
        }
    }
    out
}

/// A linear histogram as BCC's `print_linear_hist(val_type)` prints it.
pub fn linear_text(vals: &[u64], val_type: &str) -> String {
    let Some(idx_max) = vals.iter().rposition(|&v| v > 0) else { return String::new() };
    let max = vals.iter().copied().max().unwrap_or(0);
    let mut out = format!("     {val_type:<13} : count     distribution\n");
    for (i, &val) in vals.iter().enumerate().take(idx_max + 1) {
        out.push_str(&format!("        {i:<10} : {val:<8} |{:<STARS$}|\n", stars(val, max, STARS)));
    }
    out
}

/// A power-of-two histogram as one JSON array of `{"interval-start", "interval-end", "count"}`
/// (BCC's JSON histogram data), up to the last non-empty bucket.
pub fn log2_json(vals: &[u64]) -> String {
    let last = vals.iter().rposition(|&v| v > 0).unwrap_or(0);
    let mut items = vec![];
    let mut prev: u128 = 0;
    for (i, &val) in vals.iter().enumerate().take(last + 1).skip(1) {
        let end: u128 = (1u128 << i) - 1;
        items.push(format!("{{\"interval-start\": {prev}, \"interval-end\": {end}, \"count\": {val}}}"));
        prev = end + 1;
    }
    format!("[{}]", items.join(", "))
}

/// How a histogram tool shows its map each interval.
pub struct Show<'a> {
    /// The map holding `hist()` (or, with `linear`, `lhist()`) values.
    pub map: &'a str,
    /// The unit (`usecs`, `msecs`, `kbytes`): the first column's title.
    pub unit: &'a str,
    /// What a key is (`pid`, `disk`): BCC's section title, `name = key` before each histogram.
    pub section: &'a str,
    /// A key as its section shows it.
    pub label: &'a dyn Fn(&Value) -> String,
    pub linear: bool,
    /// `HH:MM:SS` before the histograms (`-T`).
    pub timestamp: bool,
    pub json: bool,
}

/// A key as a section shows it: integers, strings, tuples joined by spaces.
pub fn plain(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Bool(b) => u8::from(*b).to_string(),
        Value::Str(s) => s.clone(),
        Value::Symbolic { name, .. } => name.clone(),
        Value::Tuple(t) => t.iter().map(plain).collect::<Vec<_>>().join(" "),
        other => format!("{other:?}"),
    }
}

/// Print (as BCC does: a blank line, `-T`'s time, then each key's histogram) and empty the
/// map; with `json`, one object per key: `{"time", SECTION: key, "unit", "hist": [...]}`.
/// False once the output is closed.
pub fn show(r: &Running, s: &Show) -> bool {
    let mut entries = r.map(s.map).map(|d| d.entries).unwrap_or_default();
    r.clear(s.map);
    entries.sort_by_key(|(k, _)| k.as_ref().map(sort_key));
    let buckets = |v: &MapValue| if s.linear { linear_buckets(v) } else { log2_buckets(v) };
    let time = super::hms();
    if s.json {
        return entries.iter().all(|(k, v)| {
            let key = match (k, s.section.is_empty()) {
                (Some(k), false) => format!(", {}: {}", json_str(s.section), json_str(&(s.label)(k))),
                _ => String::new(),
            };
            let b = buckets(v);
            let data = if s.linear {
                let items: Vec<String> =
                    b.iter().enumerate().map(|(i, n)| format!("{{\"value\": {i}, \"count\": {n}}}")).collect();
                format!("[{}]", items.join(", "))
            } else {
                log2_json(&b)
            };
            line(&format!("{{\"time\": {}{key}, \"unit\": {}, \"hist\": {data}}}", json_str(&time), json_str(s.unit)))
        });
    }
    let mut out = String::from("\n");
    if s.timestamp {
        out.push_str(&format!("{time:<8}\n"));
    }
    for (k, v) in &entries {
        if let (Some(k), false) = (k, s.section.is_empty()) {
            out.push_str(&format!("\n{} = {}\n", s.section, (s.label)(k)));
        }
        let b = buckets(v);
        out.push_str(&if s.linear { linear_text(&b, s.unit) } else { log2_text(&b, s.unit) });
    }
    line(out.trim_end_matches('\n'))
}

/// Keys in order: numbers by value, then the rest by their text.
fn sort_key(v: &Value) -> (i128, String) {
    match v {
        Value::Int(i) => (*i as i128, String::new()),
        Value::UInt(u) => (*u as i128, String::new()),
        Value::Tuple(t) => t.first().map(sort_key).map_or((0, String::new()), |(n, s)| (n, s + &plain(v))),
        other => (i128::MAX, plain(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_layout_matches_bcc() {
        // BCC: vals[1] = 233 (0 -> 1), vals[2] = 742 (2 -> 3), vals[3] = 0.
        let text = log2_text(&[0, 233, 742, 0, 1], "usecs");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "     usecs               : count     distribution");
        assert_eq!(lines[1], "         0 -> 1          : 233      |************                            |");
        assert_eq!(lines[2], "         2 -> 3          : 742      |****************************************|");
        assert_eq!(lines[3], "         4 -> 7          : 0        |                                        |");
        assert_eq!(lines[4], "         8 -> 15         : 1        |                                        |");
        assert_eq!(lines.len(), 5);
        assert_eq!(log2_text(&[0, 0, 0], "usecs"), "");
    }

    #[test]
    fn ferret_buckets_map_to_bcc_buckets() {
        // ferret: [neg, 0, 1, 2..3, 4..7]; BCC: [-, 0..1, 2..3, 4..7].
        let v = MapValue::Hist { k: 0, buckets: vec![9, 1, 2, 3, 4] };
        assert_eq!(log2_buckets(&v), vec![0, 3, 3, 4]);
        let l = MapValue::LHist { min: 0, max: 3, step: 1, buckets: vec![0, 5, 6, 7, 1] };
        assert_eq!(linear_buckets(&l), vec![5, 6, 8]);
        let short = MapValue::LHist { min: 0, max: 100, step: 1, buckets: vec![0, 99, 101] };
        assert_eq!(linear_buckets(&short), vec![99, 101]);
    }

    #[test]
    fn linear_layout_and_json() {
        let text = linear_text(&[2, 0, 4], "runqlen");
        assert_eq!(text.lines().next(), Some("     runqlen       : count     distribution"));
        assert_eq!(
            text.lines().nth(1),
            Some("        0          : 2        |********************                    |")
        );
        assert_eq!(
            log2_json(&[0, 1, 0, 2]),
            "[{\"interval-start\": 0, \"interval-end\": 1, \"count\": 1}, {\"interval-start\": 2, \"interval-end\": 3, \"count\": 0}, {\"interval-start\": 4, \"interval-end\": 7, \"count\": 2}]"
        );
    }
}
