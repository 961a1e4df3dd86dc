//! Map aggregations (`count sum avg min max stats hist lhist`) and map operations
//! (`delete clear zero has_key len`).
use super::{arity, literal_int, Builtin, CallSite};
use crate::codegen::{Gen, GenResult, Val};
use crate::sema::Sema;
use crate::types::{AggKind, TsAgg, Type, I64};
use crate::Action;
use ferret_bpf::helpers;
use ferret_bpf::insn::*;
use ferret_syntax::ast::ExprKind;
use ferret_syntax::Diagnostic;

fn int_arg(s: &mut Sema, site: &CallSite) -> bool {
    if !arity(s, site, 1, 1) {
        return false;
    }
    let t = s.check_expr(&site.args[0]);
    if !(t.is_int() || t == Type::None) {
        let msg = format!("{}() expects an integer argument ({t} provided)", site.name);
        s.error(site.args[0].span, msg);
    }
    t.is_signed()
}

fn value_of(g: &mut Gen, site: &CallSite) -> GenResult<Val> {
    g.expr(&site.args[0])
}

macro_rules! agg {
    ($ident:ident, $name:literal, $doc:literal, $check:expr, $lower:expr) => {
        pub static $ident: Builtin = Builtin {
            name: $name,
            doc: $doc,
            variable: false,
            aggregate: true,
            unsafe_only: false,
            check: $check,
            lower: $lower,
        };
    };
}

agg!(
    COUNT,
    "count",
    "count events: @m = count()",
    |s, site| {
        arity(s, site, 0, 0);
        Type::Agg(AggKind::Count)
    },
    |_, _| Ok(Val::None)
);
agg!(
    SUM,
    "sum",
    "sum of values: @m = sum(n)",
    |s, site| {
        let signed = int_arg(s, site);
        Type::Agg(AggKind::Sum { signed })
    },
    value_of
);
agg!(
    AVG,
    "avg",
    "average of values: @m = avg(n)",
    |s, site| {
        let signed = int_arg(s, site);
        Type::Agg(AggKind::Avg { signed })
    },
    value_of
);
agg!(
    MIN,
    "min",
    "minimum value: @m = min(n)",
    |s, site| {
        let signed = int_arg(s, site);
        Type::Agg(AggKind::Min { signed })
    },
    value_of
);
agg!(
    MAX,
    "max",
    "maximum value: @m = max(n)",
    |s, site| {
        let signed = int_arg(s, site);
        Type::Agg(AggKind::Max { signed })
    },
    value_of
);
agg!(
    STATS,
    "stats",
    "count, average and total: @m = stats(n)",
    |s, site| {
        let signed = int_arg(s, site);
        Type::Agg(AggKind::Stats { signed })
    },
    value_of
);
agg!(
    HIST,
    "hist",
    "power-of-two histogram: @m = hist(n[, k])",
    |s, site| {
        if !arity(s, site, 1, 2) {
            return Type::Agg(AggKind::Hist { k: 0 });
        }
        let t = s.check_expr(&site.args[0]);
        if !(t.is_int() || t == Type::None) {
            s.error(site.args[0].span, format!("hist() expects an integer argument ({t} provided)"));
        }
        let k = match site.args.get(1) {
            Some(e) => match literal_int(s, e, "hist() k") {
                Some(k) if (0..=5).contains(&k) => k as u32,
                Some(_) => {
                    s.error(e.span, "hist: bits should be between 0 and 5");
                    0
                }
                None => 0,
            },
            None => 0,
        };
        Type::Agg(AggKind::Hist { k })
    },
    |g, site| {
        let v = g.expr(&site.args[0])?;
        let k = site.args.get(1).map_or(0, |e| g.literal(e)) as u32;
        g.load(R1, v);
        hist_index(g, k);
        Ok(g.spill(R0))
    }
);
agg!(
    TSERIES,
    "tseries",
    "time series: @m = tseries(n, interval, num_intervals[, \"avg\"|\"sum\"|\"min\"|\"max\"])",
    |s, site| {
        let fallback = Type::Agg(AggKind::TSeries { interval_ns: 1, n: 1, agg: TsAgg::Last, signed: false });
        if !arity(s, site, 3, 4) {
            return fallback;
        }
        let t = s.check_expr(&site.args[0]);
        if !(t.is_int() || t == Type::None) {
            s.error(site.args[0].span, format!("tseries() expects an integer value ({t} provided)"));
        }
        let interval = literal_int(s, &site.args[1], "tseries() interval").unwrap_or(1);
        let n = literal_int(s, &site.args[2], "tseries() num_intervals").unwrap_or(1);
        if interval <= 0 {
            s.error(site.args[1].span, "tseries() interval must be >= 1");
        }
        if !(1..=1_000_000).contains(&n) {
            s.error(site.args[2].span, "tseries() num_intervals must be >= 1 and <= 1000000");
        }
        let agg = match site.args.get(3).map(|a| &a.kind) {
            None => TsAgg::Last,
            Some(ExprKind::Str(a)) => match a.as_str() {
                "avg" => TsAgg::Avg,
                "sum" => TsAgg::Sum,
                "min" => TsAgg::Min,
                "max" => TsAgg::Max,
                other => {
                    s.error(
                        site.args[3].span,
                        format!("{other} is not a valid aggregation function. Valid: avg, max, min, sum"),
                    );
                    TsAgg::Last
                }
            },
            Some(_) => {
                s.error(site.args[3].span, "tseries() aggregation must be a string literal");
                TsAgg::Last
            }
        };
        Type::Agg(AggKind::TSeries {
            interval_ns: interval.max(1) as u64,
            n: n.clamp(1, 1_000_000) as u32,
            agg,
            signed: t.is_signed(),
        })
    },
    |g, site| g.expr(&site.args[0])
);
agg!(
    LHIST,
    "lhist",
    "linear histogram: @m = lhist(n, min, max, step)",
    |s, site| {
        if !arity(s, site, 4, 4) {
            return Type::Agg(AggKind::LHist { min: 0, max: 1, step: 1 });
        }
        let t = s.check_expr(&site.args[0]);
        if !(t.is_int() || t == Type::None) {
            s.error(site.args[0].span, format!("lhist() expects an integer argument ({t} provided)"));
        }
        let min = literal_int(s, &site.args[1], "lhist() min").unwrap_or(0);
        let max = literal_int(s, &site.args[2], "lhist() max").unwrap_or(1);
        let step = literal_int(s, &site.args[3], "lhist() step").unwrap_or(1);
        if step <= 0 {
            s.error(site.args[3].span, "lhist() step must be >= 1");
        } else if min < 0 {
            s.error(site.args[1].span, "lhist() min must be non-negative");
        } else if max <= min {
            s.error(site.args[2].span, "lhist() max must be greater than min");
        } else if (max - min) / step > 1000 {
            s.error(site.span, "lhist() too many buckets, must be <= 1000 (max-min)/step");
        }
        Type::Agg(AggKind::LHist { min, max, step: step.max(1) })
    },
    |g, site| {
        let v = g.expr(&site.args[0])?;
        let (min, max, step) = (g.literal(&site.args[1]), g.literal(&site.args[2]), g.literal(&site.args[3]).max(1));
        // 0: below min; 1..=n: [min + (i-1)*step, ...); n+1: at or above max.
        let n = ((max - min) / step) as i32;
        let (below, above, done) = (g.asm.new_label(), g.asm.new_label(), g.asm.new_label());
        g.load(R1, v);
        g.asm.ld_imm64(R2, min as u64);
        g.asm.jmp_reg(Cond::SLt, R1, R2, below);
        g.asm.ld_imm64(R2, max as u64);
        g.asm.jmp_reg(Cond::SGt, R1, R2, above);
        g.asm.ld_imm64(R2, min as u64);
        g.asm.alu64(BPF_SUB, R1, R2);
        g.asm.ld_imm64(R2, step as u64);
        g.asm.alu64(BPF_DIV, R1, R2);
        g.asm.alu64_imm(BPF_ADD, R1, 1);
        g.asm.mov64(R0, R1);
        g.asm.ja(done);
        g.asm.bind(below);
        g.asm.mov64_imm(R0, 0);
        g.asm.ja(done);
        g.asm.bind(above);
        g.asm.mov64_imm(R0, n + 1);
        g.asm.bind(done);
        Ok(g.spill(R0))
    }
);

/// R0 = the log2 histogram bucket of the signed value in R1 (see `ferret_output::hist_index`):
/// 0 for negatives, 1 for zero, then 2 + 2^k buckets per power of two.
pub fn hist_index(g: &mut Gen, k: u32) {
    let (neg, zero, done) = (g.asm.new_label(), g.asm.new_label(), g.asm.new_label());
    g.asm.jmp_imm(Cond::SLt, R1, 0, neg);
    g.asm.jmp_imm(Cond::Eq, R1, 0, zero);
    // R2 = floor(log2(R1)) by binary search, R3 = scratch
    g.asm.mov64_imm(R2, 0);
    g.asm.mov64(R4, R1);
    for sh in [32, 16, 8, 4, 2, 1] {
        let skip = g.asm.new_label();
        g.asm.mov64(R3, R4);
        g.asm.alu64_imm(BPF_RSH, R3, sh);
        g.asm.jmp_imm(Cond::Eq, R3, 0, skip);
        g.asm.mov64(R4, R3);
        g.asm.alu64_imm(BPF_ADD, R2, sh);
        g.asm.bind(skip);
    }
    if k == 0 {
        g.asm.mov64(R0, R2);
        g.asm.alu64_imm(BPF_ADD, R0, 2);
    } else {
        // Values below 2^k get exact buckets: index = v + 1.
        let (small, _) = (g.asm.new_label(), ());
        g.asm.jmp_imm(Cond::Lt, R2, k as i32, small);
        // sub-bucket = (v >> (log2 - k)) & (2^k - 1); index = 1 + 2^k * (log2 - k + 1) + sub
        g.asm.mov64(R3, R2);
        g.asm.alu64_imm(BPF_SUB, R3, k as i32);
        g.asm.mov64(R0, R1);
        g.asm.alu64(BPF_RSH, R0, R3);
        g.asm.alu64_imm(BPF_AND, R0, (1 << k) - 1);
        g.asm.alu64_imm(BPF_ADD, R3, 1);
        g.asm.alu64_imm(BPF_LSH, R3, k as i32);
        g.asm.alu64(BPF_ADD, R0, R3);
        g.asm.alu64_imm(BPF_ADD, R0, 1);
        g.asm.ja(done);
        g.asm.bind(small);
        g.asm.mov64(R0, R1);
        g.asm.alu64_imm(BPF_ADD, R0, 1);
    }
    g.asm.ja(done);
    g.asm.bind(neg);
    g.asm.mov64_imm(R0, 0);
    g.asm.ja(done);
    g.asm.bind(zero);
    g.asm.mov64_imm(R0, 1);
    g.asm.bind(done);
}

fn map_arg(s: &mut Sema, site: &CallSite, i: usize) -> bool {
    match site.args.get(i).map(|a| &a.kind) {
        Some(ExprKind::Map(_)) => {
            s.check_expr(&site.args[i]);
            true
        }
        _ => {
            let msg = format!("{}() expects a map argument", site.name);
            s.error(site.span, msg);
            false
        }
    }
}

/// The key expressions of a separate key argument: a tuple literal is the map's several keys.
fn key_list(k: &ferret_syntax::ast::Expr) -> Vec<&ferret_syntax::ast::Expr> {
    match &k.kind {
        ExprKind::Tuple(items) => items.iter().collect(),
        _ => vec![k],
    }
}

fn map_idx(g: &Gen, site: &CallSite) -> usize {
    g.map_of(&site.args[0]).0
}

macro_rules! mapop {
    ($ident:ident, $name:literal, $doc:literal, $check:expr, $lower:expr) => {
        pub static $ident: Builtin = Builtin {
            name: $name,
            doc: $doc,
            variable: false,
            aggregate: false,
            unsafe_only: false,
            check: $check,
            lower: $lower,
        };
    };
}

mapop!(
    CLEAR,
    "clear",
    "remove every key of a map: clear(@m)",
    |s, site| {
        if arity(s, site, 1, 1) {
            map_arg(s, site, 0);
        }
        Type::None
    },
    |g, site| {
        let map = map_idx(g, site);
        g.emit_event(Action::Clear { map }, &[], false);
        Ok(Val::None)
    }
);
mapop!(
    ZERO,
    "zero",
    "set every value of a map to zero: zero(@m)",
    |s, site| {
        if arity(s, site, 1, 1) {
            map_arg(s, site, 0);
        }
        Type::None
    },
    |g, site| {
        let map = map_idx(g, site);
        g.emit_event(Action::Zero { map }, &[], false);
        Ok(Val::None)
    }
);
mapop!(
    DELETE,
    "delete",
    "delete one key: delete(@m, key) or delete(@m[key])",
    |s, site| {
        if !arity(s, site, 1, 2) {
            return Type::None;
        }
        match (&site.args[0].kind, site.args.len()) {
            (ExprKind::MapElem { .. }, 1) => {
                s.check_expr(&site.args[0]);
            }
            (ExprKind::Map(_), 2) => {
                s.check_expr(&site.args[0]);
                s.check_key_arg(&site.args[0], &key_list(&site.args[1]), "delete");
            }
            (ExprKind::Map(_), 1) => {
                s.check_expr(&site.args[0]);
            }
            _ => s.error(site.span, "delete() expects a map argument"),
        }
        Type::Bool
    },
    |g, site| {
        let (idx, _) = g.map_of(&site.args[0]);
        let key = match (&site.args[0].kind, site.args.get(1)) {
            (ExprKind::Map(_), Some(k)) => g.map_key_with(idx, &key_list(k))?,
            _ => g.map_key(&site.args[0])?,
        };
        g.asm.ld_map_fd(R1, idx as i32);
        g.asm.mov64(R2, R10);
        g.asm.alu64_imm(BPF_ADD, R2, key as i32);
        g.asm.call(helpers::MAP_DELETE_ELEM);
        // true when there was an entry to delete
        let l = g.asm.new_label();
        g.asm.mov64_imm(R1, 1);
        g.asm.jmp_imm(Cond::Eq, R0, 0, l);
        g.asm.mov64_imm(R1, 0);
        g.asm.bind(l);
        Ok(g.spill(R1))
    }
);
mapop!(
    HAS_KEY,
    "has_key",
    "whether a map holds a key: has_key(@m, key)",
    |s, site| {
        if arity(s, site, 2, 2) && map_arg(s, site, 0) {
            s.check_key_arg(&site.args[0], &key_list(&site.args[1]), "has_key");
        }
        Type::Bool
    },
    |g, site| {
        if !matches!(site.args[0].kind, ExprKind::Map(_)) {
            return Err(Diagnostic::error(site.span, "has_key() expects a map"));
        }
        let (idx, _) = g.map_of(&site.args[0]);
        let key = g.map_key_with(idx, &key_list(&site.args[1]))?;
        g.lookup(idx, key);
        let l = g.asm.new_label();
        g.asm.mov64_imm(R1, 0);
        g.asm.jmp_imm(Cond::Eq, R0, 0, l);
        g.asm.mov64_imm(R1, 1);
        g.asm.bind(l);
        Ok(g.spill(R1))
    }
);

/// The kfunc that sums a map's per-CPU element counters (Linux 6.6+); it counts in the program,
/// so `len(@m)` is usable in conditions, for every hash map type.
const ELEM_COUNT_KFUNC: &str = "bpf_map_sum_elem_count";

mapop!(
    LEN,
    "len",
    "number of keys in a map: len(@m)",
    |s, site| {
        if !arity(s, site, 1, 1) {
            return I64;
        }
        match &site.args[0].kind {
            ExprKind::Map(name) => {
                s.check_expr(&site.args[0]);
                let keyless = s.maps.get(&format!("@{name}")).is_some_and(|m| m.key.is_none());
                if keyless {
                    s.error(site.span, "call to len() expects a map with explicit keys (non-scalar map)");
                }
            }
            _ => {
                if !matches!(s.check_expr(&site.args[0]), Type::Stack { .. } | Type::None) {
                    s.error(site.span, "call to len() expects a map, ustack, or kstack");
                }
            }
        }
        I64
    },
    |g, site| {
        if matches!(g.ty(&site.args[0]), Type::Stack { .. }) {
            let v = g.expr(&site.args[0])?;
            crate::stacks::frames(g, v);
            return Ok(g.spill(R0));
        }
        let id = ferret_sys::features::kfunc_btf_id(ELEM_COUNT_KFUNC).ok_or_else(|| {
            Diagnostic::error(site.span, format!("len() needs the kernel function {ELEM_COUNT_KFUNC} (Linux 6.6+)"))
        })?;
        let idx = map_idx(g, site);
        g.asm.ld_map_fd(R1, idx as i32);
        g.asm.call_kfunc(id);
        Ok(g.spill(R0))
    }
);

pub static ALL: &[&Builtin] =
    &[&COUNT, &SUM, &AVG, &MIN, &MAX, &STATS, &HIST, &LHIST, &TSERIES, &CLEAR, &ZERO, &DELETE, &HAS_KEY, &LEN];
