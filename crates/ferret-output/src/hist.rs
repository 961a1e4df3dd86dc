//! Histogram bucketing (shared with the BPF code generator) and the
//! user-space conversion of bucket counts into labelled rows.
//!
//! The index functions here are the contract between the eBPF side (which
//! increments `map[key ++ index]`) and the renderer; both must agree bit for
//! bit with bpftrace, whose code generator emits the same algorithms.

/// Bucket index of `v` in a `hist(v, k)` histogram, `k` in `0..=5`.
///
/// Bucket 0 holds negative values; buckets `1..=2^k` hold the single values
/// `0..2^k`; after that every power of two `[2^p, 2^(p+1))` is split into
/// `2^k` equal sub-buckets. The value is first widened to 64 bits
/// (sign-extended if its type is signed, zero-extended otherwise) and then
/// treated as **signed**, so an unsigned value `>= 2^63` lands in bucket 0
/// exactly as in bpftrace.
///
/// Algorithm, as 64-bit integer operations (what the eBPF side must emit):
///
/// ```text
/// if n < 0 (signed compare)      -> return 0
/// mask = (1 << k) - 1
/// if n <= mask (unsigned)        -> return n + 1
/// l = 0                          // becomes floor(log2(n))
/// for i in [5, 4, 3, 2, 1, 0]:
///     s = (n >= (1 << (1 << i))) << i   // compare gives 0 or 1; thresholds 2^32, 2^16, 2^8, 2^4, 2^2, 2^1
///     n = n >> s                        // logical shift
///     l = l + s
/// l = l - k
/// x = (original_n >> l) & mask          // the k bits after the leading 1
/// return ((l + 1) << k) + x + 1
/// ```
///
/// E.g. `k = 0`: 0 -> 1, 1 -> 2, 2..3 -> 3, 4..7 -> 4, 1024..2047 -> 12.
/// `k = 2`, `n = 225 (0b11100001)`: `l = 7 - 2 = 5`, `x = 0b11`, index
/// `(6 << 2) + 3 + 1 = 28`.
pub fn hist_index(v: i64, k: u32) -> usize {
    debug_assert!(k <= 5, "hist() k must be in 0..=5");
    if v < 0 {
        return 0;
    }
    let n0 = v as u64;
    let mask = (1u64 << k) - 1;
    if n0 <= mask {
        return (n0 + 1) as usize;
    }
    let mut n = n0;
    let mut l = 0u64;
    for i in (0..=5u32).rev() {
        let threshold = 1u64 << (1u32 << i);
        let s = u64::from(n >= threshold) << i;
        n >>= s;
        l += s;
    }
    let l = l - u64::from(k);
    let x = (n0 >> l) & mask;
    (((l + 1) << k) + x + 1) as usize
}

/// Number of buckets a `hist(v, k)` map can use: indices
/// `0..hist_bucket_count(k)`. The largest index, reached by `i64::MAX`, is
/// `(64 - k) << k`, so this is `((64 - k) << k) + 1` (65 for `k = 0`,
/// 1889 for `k = 5`).
pub fn hist_bucket_count(k: u32) -> usize {
    ((64 - k as usize) << k) + 1
}

/// Bucket index of `v` in `lhist(v, min, max, step)`.
///
/// ```text
/// if v < min (signed)  -> 0                                  // underflow
/// if v > max (signed)  -> 1 + (max - min) / step             // overflow
/// else                 -> 1 + (v - min) / step
/// ```
///
/// The divisions are **unsigned** 64-bit divisions of the (non-negative)
/// differences, as in bpftrace's generated code. Note that when
/// `(max - min)` is a multiple of `step`, `v == max` already lands in the
/// overflow bucket (`[max, ...)`).
pub fn lhist_index(v: i64, min: i64, max: i64, step: i64) -> usize {
    if v < min {
        return 0;
    }
    let step = (step as u64).max(1);
    if v > max {
        return (1 + (max.wrapping_sub(min) as u64) / step) as usize;
    }
    (1 + (v.wrapping_sub(min) as u64) / step) as usize
}

/// Number of buckets of `lhist(v, min, max, step)`: the underflow bucket,
/// `(max - min) / step` in-range buckets and the overflow bucket, i.e.
/// `(max - min) / step + 2` (indices `0..=(max - min) / step + 1`).
pub fn lhist_bucket_count(min: i64, max: i64, step: i64) -> usize {
    ((max.wrapping_sub(min) as u64) / (step as u64).max(1)) as usize + 2
}

/// A bucket boundary as bpftrace carries it: either a plain integer (which
/// allows the `[n]` single-value form) or a pre-formatted label with a
/// numeric value (`"1K"` = 1024) used by JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Label {
    Int(i64),
    Sym { text: String, num: u64 },
}

impl Label {
    pub(crate) fn text(&self) -> String {
        match self {
            Label::Int(v) => v.to_string(),
            Label::Sym { text, .. } => text.clone(),
        }
    }

    /// The JSON `max` of a bucket whose exclusive upper bound is `self`.
    pub(crate) fn one_less(&self) -> i64 {
        match self {
            Label::Int(v) => v.wrapping_sub(1),
            Label::Sym { num: 0, .. } => -1,
            Label::Sym { num, .. } => (num - 1) as i64,
        }
    }
}

/// True when bucket `[a, b)` holds exactly one integer, printed `[a]`.
/// Only plain integers qualify; suffixed labels never do.
pub(crate) fn single_value(a: &Label, b: &Label) -> bool {
    match (a, b) {
        (Label::Int(a), Label::Int(b)) => a.checked_add(1) == Some(*b),
        _ => false,
    }
}

/// The printable rows of one histogram, mirroring bpftrace's
/// `Value::Histogram`: `labels[i]` is the exclusive upper bound of row `i`;
/// the first row's lower bound is `lower_bound` (absent = open `(..., x)`);
/// a final row without a label is the open-ended `[x, ...)` bucket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct HistRows {
    pub lower_bound: Option<Label>,
    pub labels: Vec<Label>,
    pub counts: Vec<u64>,
}

/// First and last non-empty bucket. bpftrace reads each count into a C
/// `int` for this test, so a count whose low 32 bits are zero or negative
/// as an `i32` is treated as empty; we keep that quirk for byte-exactness.
fn used_range(buckets: &[u64]) -> Option<(usize, usize)> {
    let nonzero = |c: &u64| (*c as i32) > 0;
    let first = buckets.iter().position(nonzero)?;
    let last = buckets.iter().rposition(nonzero)?;
    Some((first, last))
}

/// Upper bound of log2 bucket `index >= 2^k` as a suffixed label: the
/// bucket starts a run of `2^k` sub-buckets of size `2^power` beginning at
/// `2^power * 2^k`; the K/M/G/T/P/E suffix is chosen from the power of 1024.
fn hist_index_label(index: usize, k: u32) -> Label {
    let n = 1u64 << k;
    let interval = index as u64 & (n - 1);
    let mut power = ((index as u64) >> k) - 1;
    let num = (1u64 << power) * (n + interval);
    let decade = power / 10;
    let suffix = ["", "K", "M", "G", "T", "P", "E"][decade as usize];
    power -= 10 * decade;
    Label::Sym { text: format!("{}{}", (1u64 << power) * (n + interval), suffix), num }
}

/// Rows of a log2 histogram: every bucket between the first and last
/// non-empty one, counts divided by `div` (bpftrace's `print(@h, 0, div)`).
pub(crate) fn build_hist(buckets: &[u64], div: u64, k: u32) -> HistRows {
    let mut rows = HistRows::default();
    let Some((first, last)) = used_range(buckets) else {
        return rows;
    };
    // Indices up to 2^(k+1) hold a single value (index - 1), so their
    // bounds stay plain integers and print in the `[n]` form.
    let plain_limit = 2usize << k;
    let label = |i: usize| {
        if i <= plain_limit {
            Label::Int(i as i64)
        } else {
            hist_index_label(i, k)
        }
    };
    if first != 0 {
        rows.lower_bound = Some(label(first - 1));
    }
    for (i, &count) in buckets.iter().enumerate().take(last + 1).skip(first) {
        rows.labels.push(label(i));
        rows.counts.push(count / div.max(1));
    }
    rows
}

/// Label of an lhist boundary. Suffixes are used only when `step` is a
/// multiple of 1024 (so all boundaries of one histogram are consistent).
fn lhist_label(number: i64, step: i64) -> Label {
    const KILO: i64 = 1024;
    const MEGA: i64 = 1024 * 1024;
    if step % KILO != 0 {
        return Label::Int(number);
    }
    let text = if number == 0 {
        "0".to_string()
    } else if number % MEGA == 0 {
        format!("{}M", number / MEGA)
    } else if number % KILO == 0 {
        format!("{}K", number / KILO)
    } else {
        number.to_string()
    };
    Label::Sym { text, num: number as u64 }
}

/// Rows of a linear histogram. `print()`'s divisor does not apply to
/// lhist in bpftrace, so there is no `div` here.
pub(crate) fn build_lhist(buckets: &[u64], min: i64, max: i64, step: i64) -> HistRows {
    let mut rows = HistRows::default();
    let Some((first, last)) = used_range(buckets) else {
        return rows;
    };
    let bound = |i: usize| min.wrapping_add((i as i64).wrapping_mul(step));
    if first != 0 {
        rows.lower_bound = Some(lhist_label(bound(first - 1), step));
    }
    for (i, &count) in buckets.iter().enumerate().take(last + 1).skip(first) {
        // The overflow bucket has no upper bound, hence no label.
        if bound(i) <= max {
            rows.labels.push(lhist_label(bound(i), step));
        }
        rows.counts.push(count);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_index_k0() {
        assert_eq!(hist_index(-5, 0), 0);
        assert_eq!(hist_index(i64::MIN, 0), 0);
        assert_eq!(hist_index(0, 0), 1);
        assert_eq!(hist_index(1, 0), 2);
        assert_eq!(hist_index(2, 0), 3);
        assert_eq!(hist_index(3, 0), 3);
        assert_eq!(hist_index(4, 0), 4);
        assert_eq!(hist_index(1023, 0), 11);
        assert_eq!(hist_index(1024, 0), 12);
        assert_eq!(hist_index(3 << 20, 0), 23);
        assert_eq!(hist_index(i64::MAX, 0), 64);
        // u64 >= 2^63 cast to i64 is negative, as in bpftrace.
        assert_eq!(hist_index(u64::MAX as i64, 0), 0);
    }

    #[test]
    fn log2_index_with_k() {
        // The worked example from bpftrace's codegen comment.
        assert_eq!(hist_index(225, 2), 28);
        // k = 3: 0..7 single values (indices 1..=8), then 8 sub-buckets
        // per power of two.
        assert_eq!(hist_index(7, 3), 8);
        assert_eq!(hist_index(8, 3), 9);
        assert_eq!(hist_index(15, 3), 16);
        assert_eq!(hist_index(16, 3), 17);
        assert_eq!(hist_index(17, 3), 17);
        assert_eq!(hist_index(18, 3), 18);
        for k in 0..=5 {
            assert_eq!(hist_index(i64::MAX, k) + 1, hist_bucket_count(k));
        }
        assert_eq!(hist_bucket_count(0), 65);
        assert_eq!(hist_bucket_count(5), 1889);
    }

    /// Brute-force cross-check against the closed form: the bucket of `v`
    /// must have label bounds that contain `v`.
    #[test]
    fn log2_index_matches_labels() {
        for k in 0..=5u32 {
            let mut v: i64 = 0;
            while v < 1 << 40 {
                let i = hist_index(v, k);
                let upper = if i <= (2usize << k) {
                    i as u64
                } else {
                    match hist_index_label(i, k) {
                        Label::Sym { num, .. } => num,
                        Label::Int(_) => unreachable!(),
                    }
                };
                let lower = if i - 1 <= (2usize << k) {
                    (i - 1) as u64
                } else {
                    match hist_index_label(i - 1, k) {
                        Label::Sym { num, .. } => num,
                        Label::Int(_) => unreachable!(),
                    }
                };
                assert!(lower <= v as u64 && (v as u64) < upper, "k={k} v={v} i={i} [{lower},{upper})");
                v = v * 5 / 4 + 1;
            }
        }
    }

    #[test]
    fn linear_index() {
        assert_eq!(lhist_index(-3, 0, 100, 10), 0);
        assert_eq!(lhist_index(0, 0, 100, 10), 1);
        assert_eq!(lhist_index(9, 0, 100, 10), 1);
        assert_eq!(lhist_index(55, 0, 100, 10), 6);
        assert_eq!(lhist_index(99, 0, 100, 10), 10);
        assert_eq!(lhist_index(100, 0, 100, 10), 11);
        assert_eq!(lhist_index(500, 0, 100, 10), 11);
        assert_eq!(lhist_bucket_count(0, 100, 10), 12);
        assert_eq!(lhist_index(104, 0, 105, 10), 11);
        assert_eq!(lhist_index(1000, 0, 105, 10), 11);
        assert_eq!(lhist_bucket_count(0, 105, 10), 12);
        assert_eq!(lhist_index(-5, -10, 10, 5), 2);
    }

    #[test]
    fn labels() {
        assert_eq!(hist_index_label(12, 0).text(), "2K");
        assert_eq!(hist_index_label(23, 0).text(), "4M");
        assert_eq!(hist_index_label(64, 0).text(), "8E");
        // k = 3 keeps multiples below the next suffix unsuffixed.
        assert_eq!(hist_index_label(16, 3).text(), "16");
        assert_eq!(lhist_label(-2048, 1024).text(), "-2K");
        assert_eq!(lhist_label(1 << 20, 1024).text(), "1M");
        assert_eq!(lhist_label(1536, 512), Label::Int(1536));
    }
}
