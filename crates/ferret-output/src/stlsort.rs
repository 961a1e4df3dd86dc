//! A re-implementation of the (unstable) introsort of GNU libstdc++'s
//! `std::sort`, used where bpftrace's output order for equal sort keys is
//! decided by that algorithm rather than by the data.
//!
//! bpftrace sorts histogram maps by total count with `std::ranges::sort`,
//! starting from a deterministic order (map keys by `memcmp`). For up to 16
//! entries the algorithm degenerates to a stable insertion sort, but beyond
//! that its partitioning reorders ties; reproducing the algorithm step by
//! step is the only way to print such maps in the same order.

/// Sorts `v` exactly as libstdc++'s `std::sort(first, last, less)` would.
pub(crate) fn sort<T: Copy>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    if v.is_empty() {
        return;
    }
    let depth = 2 * v.len().ilog2() as usize;
    introsort_loop(v, 0, v.len(), depth, &less);
    final_insertion_sort(v, &less);
}

const THRESHOLD: usize = 16;

fn introsort_loop<T: Copy>(
    v: &mut [T],
    first: usize,
    mut last: usize,
    mut depth: usize,
    less: &impl Fn(&T, &T) -> bool,
) {
    while last - first > THRESHOLD {
        if depth == 0 {
            heap_sort(&mut v[first..last], less);
            return;
        }
        depth -= 1;
        let cut = partition_pivot(v, first, last, less);
        introsort_loop(v, cut, last, depth, less);
        last = cut;
    }
}

/// Median of `v[first+1]`, `v[mid]`, `v[last-1]` is swapped to `v[first]`
/// and used as the pivot for an unguarded Hoare partition of the rest.
fn partition_pivot<T: Copy>(v: &mut [T], first: usize, last: usize, less: &impl Fn(&T, &T) -> bool) -> usize {
    let mid = first + (last - first) / 2;
    let (a, b, c) = (first + 1, mid, last - 1);
    let median = if less(&v[a], &v[b]) {
        if less(&v[b], &v[c]) {
            b
        } else if less(&v[a], &v[c]) {
            c
        } else {
            a
        }
    } else if less(&v[a], &v[c]) {
        a
    } else if less(&v[b], &v[c]) {
        c
    } else {
        b
    };
    v.swap(first, median);

    let pivot = first;
    let (mut lo, mut hi) = (first + 1, last);
    loop {
        while less(&v[lo], &v[pivot]) {
            lo += 1;
        }
        hi -= 1;
        while less(&v[pivot], &v[hi]) {
            hi -= 1;
        }
        if lo >= hi {
            return lo;
        }
        v.swap(lo, hi);
        lo += 1;
    }
}

fn final_insertion_sort<T: Copy>(v: &mut [T], less: &impl Fn(&T, &T) -> bool) {
    if v.len() > THRESHOLD {
        insertion_sort(&mut v[..THRESHOLD], less);
        for i in THRESHOLD..v.len() {
            linear_insert(v, i, less);
        }
    } else {
        insertion_sort(v, less);
    }
}

fn insertion_sort<T: Copy>(v: &mut [T], less: &impl Fn(&T, &T) -> bool) {
    for i in 1..v.len() {
        if less(&v[i], &v[0]) {
            v[..=i].rotate_right(1);
        } else {
            linear_insert(v, i, less);
        }
    }
}

/// Moves `v[i]` left past every element it is less than (the caller
/// guarantees a smaller-or-equal element exists to the left).
fn linear_insert<T: Copy>(v: &mut [T], mut i: usize, less: &impl Fn(&T, &T) -> bool) {
    let val = v[i];
    while less(&val, &v[i - 1]) {
        v[i] = v[i - 1];
        i -= 1;
    }
    v[i] = val;
}

/// `std::__partial_sort(first, last, last)`: make_heap then sort_heap.
fn heap_sort<T: Copy>(v: &mut [T], less: &impl Fn(&T, &T) -> bool) {
    let len = v.len();
    if len >= 2 {
        let mut parent = (len - 2) / 2;
        loop {
            let val = v[parent];
            adjust_heap(v, parent, len, val, less);
            if parent == 0 {
                break;
            }
            parent -= 1;
        }
    }
    let mut last = len;
    while last > 1 {
        last -= 1;
        let val = v[last];
        v[last] = v[0];
        adjust_heap(v, 0, last, val, less);
    }
}

fn adjust_heap<T: Copy>(v: &mut [T], mut hole: usize, len: usize, val: T, less: &impl Fn(&T, &T) -> bool) {
    let top = hole;
    let mut child = hole;
    while child < (len.saturating_sub(1)) / 2 {
        child = 2 * (child + 1);
        if less(&v[child], &v[child - 1]) {
            child -= 1;
        }
        v[hole] = v[child];
        hole = child;
    }
    if len & 1 == 0 && len >= 2 && child == (len - 2) / 2 {
        child = 2 * (child + 1);
        v[hole] = v[child - 1];
        hole = child - 1;
    }
    // push_heap
    let mut parent = hole.wrapping_sub(1) / 2;
    while hole > top && less(&v[parent], &val) {
        v[hole] = v[parent];
        hole = parent;
        parent = hole.wrapping_sub(1) / 2;
    }
    v[hole] = val;
}

#[cfg(test)]
mod tests {
    use super::sort;

    /// Deterministic pseudo-random keys with many ties.
    fn data(n: usize, seed: u64, range: u64) -> Vec<(u64, usize)> {
        let mut x = seed;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((x >> 33) % range, i)
            })
            .collect()
    }

    #[test]
    fn sorts() {
        for n in [0, 1, 2, 15, 16, 17, 100, 1000] {
            for range in [1, 3, 50, 1 << 30] {
                let mut v = data(n, n as u64 * 31 + range, range);
                sort(&mut v, |a, b| a.0 < b.0);
                assert!(v.windows(2).all(|w| w[0].0 <= w[1].0));
                let mut idx: Vec<usize> = v.iter().map(|e| e.1).collect();
                idx.sort();
                assert_eq!(idx, (0..n).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn small_inputs_are_stable() {
        let mut v = data(16, 7, 3);
        let mut want = v.clone();
        want.sort_by_key(|e| e.0);
        sort(&mut v, |a, b| a.0 < b.0);
        assert_eq!(v, want);
    }

    #[test]
    fn heap_fallback_sorts() {
        let mut v = data(300, 3, 10);
        super::heap_sort(&mut v, &|a: &(u64, usize), b: &(u64, usize)| a.0 < b.0);
        assert!(v.windows(2).all(|w| w[0].0 <= w[1].0));
    }
}
