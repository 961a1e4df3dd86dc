//! `BEGIN` / `END`: loaded as raw_tracepoint programs that user space runs itself with
//! BPF_PROG_TEST_RUN, so they fire exactly once, on ferret's own thread, with no attach cost.
use super::{Context, ListQuery, Listed, ProbeKind, Special, Target};
use ferret_syntax::ast::AttachPoint;
use ferret_syntax::Diagnostic;

fn expand(kind: &'static ProbeKind, ap: &AttachPoint) -> Result<Vec<Target>, Diagnostic> {
    if ap.parts.len() != 1 {
        return Err(Diagnostic::error(ap.span, format!("{} probe type takes no arguments", kind.names[0])));
    }
    Ok(vec![Target::new(kind, kind.names[0].to_string(), vec![], Context::None)])
}

fn no_list(_: &ListQuery<'_>) -> Vec<Listed> {
    vec![]
}

fn no_attach(
    _: &Target,
    _: std::os::fd::BorrowedFd<'_>,
    _: &super::AttachOpts,
) -> Result<Vec<std::os::fd::OwnedFd>, String> {
    Ok(vec![])
}

pub static BEGIN: ProbeKind = ProbeKind {
    names: &["BEGIN", "begin"],
    doc: "runs once, before any other probe fires",
    expand,
    prog_type: ferret_sys::bpf::prog_type::RAW_TRACEPOINT,
    attach: no_attach,
    list: no_list,
    listed_by_default: false,
    special: Some(Special::Begin),
};

pub static END: ProbeKind = ProbeKind {
    names: &["END", "end"],
    doc: "runs once, after every other probe is detached",
    expand,
    prog_type: ferret_sys::bpf::prog_type::RAW_TRACEPOINT,
    attach: no_attach,
    list: no_list,
    listed_by_default: false,
    special: Some(Special::End),
};
