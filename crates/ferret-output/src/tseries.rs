//! `tseries()` maps: the text graph bpftrace draws (one row per interval, a `*` placed between
//! the series' minimum and maximum, a `.` column at zero) and the JSON points.
use crate::value::{Num, Value};

/// One interval of a time series: its start as text (graph row label and JSON timestamp) and
/// its value, `None` when nothing was recorded in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsPoint {
    /// `12:00:00.500` (to the interval's display unit)
    pub time: String,
    /// `1970-01-01 12:00:00.500000000`
    pub iso: String,
    pub value: Option<Num>,
}

const GRAPH_WIDTH: usize = 53;
const PADDING: usize = 21;

fn text(n: Num) -> String {
    crate::text::value(&n.to_value())
}

/// The graph, `header` being the time column's title (`hh:mm:ss.ms`).
pub fn graph(header: &str, points: &[TsPoint]) -> String {
    if points.is_empty() {
        return "<no data>".to_string();
    }
    let values: Vec<Num> = points.iter().filter_map(|p| p.value).collect();
    let (mut min, mut max) = match values.first() {
        Some(v) => (*v, *v),
        None => (Num::Signed(0), Num::Signed(0)),
    };
    for v in &values {
        if v.wide() < min.wide() {
            min = *v;
        }
        if v.wide() > max.wide() {
            max = *v;
        }
    }
    if min.wide() == max.wide() {
        // room on both sides of a flat series
        min = step(min, -1);
        max = step(max, 1);
    }
    let time_size = header.len().max(points[0].time.len());
    let (lo, hi) = (min.wide(), max.wide());
    let span = (hi - lo) as f32;
    let mut out = String::new();
    let axis =
        format!("{:time_size$} {:<PADDING$}{:>width$}\n", "", text(min), text(max), width = GRAPH_WIDTH - PADDING);
    out.push_str(&axis);
    out.push_str(&format!("{header:<w$}|{}|\n", "_".repeat(GRAPH_WIDTH - 2), w = time_size + 1));
    let zero = if lo < 0 && hi > 0 { (GRAPH_WIDTH as f32 * (-lo) as f32 / span) as usize } else { 0 };
    for p in points {
        let mut line = vec![b' '; GRAPH_WIDTH];
        line[0] = b'|';
        line[GRAPH_WIDTH - 1] = b'|';
        if zero > 0 {
            line[zero] = b'.';
        }
        out.push_str(&p.time);
        out.push(' ');
        match p.value {
            Some(v) => {
                let at = ((GRAPH_WIDTH - 1) as f32 * (v.wide() - lo) as f32 / span) as i64;
                line[at.clamp(0, GRAPH_WIDTH as i64 - 1) as usize] = b'*';
                out.push_str(&String::from_utf8_lossy(&line));
                out.push(' ');
                out.push_str(&text(v));
            }
            None => {
                out.push_str(&String::from_utf8_lossy(&line));
                out.push_str(" -");
            }
        }
        out.push('\n');
    }
    let mut bottom = vec![b'_'; GRAPH_WIDTH];
    bottom[0] = b'v';
    bottom[GRAPH_WIDTH - 1] = b'v';
    out.push_str(&format!("{:time_size$} {}\n", "", String::from_utf8_lossy(&bottom)));
    out.push_str(&axis);
    out
}

/// min - 1 / max + 1 without overflowing.
fn step(n: Num, by: i64) -> Num {
    match n {
        Num::Signed(v) => Num::Signed(v.checked_add(by).unwrap_or(v)),
        Num::Unsigned(v) => {
            Num::Unsigned(if by < 0 { v.checked_sub(1).unwrap_or(v) } else { v.checked_add(1).unwrap_or(v) })
        }
    }
}

/// The JSON array: recorded intervals only.
pub fn json(points: &[TsPoint]) -> String {
    let items: Vec<String> = points
        .iter()
        .filter_map(|p| {
            p.value.map(|v| {
                let n = match v.to_value() {
                    Value::Int(i) => i.to_string(),
                    Value::UInt(u) => u.to_string(),
                    other => crate::text::value(&other),
                };
                format!("{{\"interval_start\":\"{}\",\"value\":{n}}}", p.iso)
            })
        })
        .collect();
    format!("[{}]", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str, v: Option<i64>) -> TsPoint {
        TsPoint { time: t.into(), iso: t.into(), value: v.map(Num::Signed) }
    }

    #[test]
    fn flat_series_is_centered() {
        let g = graph("hh:mm:ss.ms", &[p("00:00:00.500", Some(9)), p("00:00:00.600", Some(9))]);
        let lines: Vec<&str> = g.lines().collect();
        assert_eq!(lines[0], "             8                                                  10");
        assert_eq!(lines[1], "hh:mm:ss.ms  |___________________________________________________|");
        assert_eq!(lines[2], "00:00:00.500 |                         *                         | 9");
        assert_eq!(lines[4], "             v___________________________________________________v");
    }

    #[test]
    fn zero_column_and_missing_values() {
        let t = ["00:00:00.100", "00:00:00.200", "00:00:00.300", "00:00:00.400"];
        let g = graph("hh:mm:ss.ms", &[p(t[0], Some(-5)), p(t[1], Some(-4)), p(t[2], Some(5)), p(t[3], None)]);
        let lines: Vec<&str> = g.lines().collect();
        assert_eq!(lines[0], "             -5                                                  5");
        assert_eq!(lines[2], "00:00:00.100 *                         .                         | -5");
        assert_eq!(lines[3], "00:00:00.200 |    *                    .                         | -4");
        assert!(lines[5].ends_with("| -"), "{}", lines[5]);
    }
}
