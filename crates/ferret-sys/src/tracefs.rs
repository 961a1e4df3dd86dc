//! tracefs: where tracepoints are named — their ids (for perf_event_open), the list that
//! wildcards expand against, and the `format` files that give `args` its fields.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::{last_errno, Result, SysError};

const TRACEFS: &str = "/sys/kernel/tracing";
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

/// A directory laid out as tracefs (`available_events`, `events/CAT/EVENT/{id,format}`) to read
/// instead of the kernel's: the fuzzers and compile-only tests serve format files from a fixture.
pub const ENV_OVERRIDE: &str = "FERRET_TRACEFS";

/// Mounts tracefs at `target` (`mount("nodev", target, "tracefs", 0, NULL)`).
pub fn mount_tracefs(target: &Path) -> Result<()> {
    let t = CString::new(target.as_os_str().as_encoded_bytes())
        .map_err(|_| SysError::Invalid(format!("mount point {target:?} contains NUL")))?;
    // SAFETY: all pointers are NUL-terminated strings alive for the call; data is NULL.
    let r = unsafe { libc::mount(c"nodev".as_ptr(), t.as_ptr(), c"tracefs".as_ptr(), 0, std::ptr::null()) };
    if r < 0 {
        return Err(SysError::syscall("mount(tracefs)", last_errno(), target.display().to_string()));
    }
    Ok(())
}

/// The tracefs root (cached). On a system where it is not mounted (a bare VM, a container),
/// mounts it at `/sys/kernel/tracing`; older setups only have `/sys/kernel/debug/tracing`.
pub fn root() -> Result<PathBuf> {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    static FINDING: Mutex<()> = Mutex::new(());
    if let Some(p) = ROOT.get() {
        return Ok(p.clone());
    }
    // One thread at a time, so racing callers do not stack two tracefs mounts.
    let _guard = FINDING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = ROOT.get() {
        return Ok(p.clone());
    }
    let p = find_root()?;
    Ok(ROOT.get_or_init(|| p).clone())
}

fn find_root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(ENV_OVERRIDE).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let primary = Path::new(TRACEFS);
    if primary.join("events").is_dir() {
        return Ok(primary.to_path_buf());
    }
    let legacy = Path::new(DEBUGFS_TRACING);
    // A failed mount is reported only if no tracefs turns up: another process may have
    // mounted it between our check and our mount.
    let mount_err = if primary.is_dir() { mount_tracefs(primary).err() } else { None };
    if primary.join("events").is_dir() {
        return Ok(primary.to_path_buf());
    }
    if legacy.join("events").is_dir() {
        return Ok(legacy.to_path_buf());
    }
    Err(mount_err.unwrap_or_else(|| SysError::Unsupported {
        what: "tracefs".to_string(),
        why: format!("neither {TRACEFS}/events nor {DEBUGFS_TRACING}/events exists"),
    }))
}

/// Rejects path components that would escape `events/` (`..`, `/`, empty).
fn component<'a>(kind: &str, s: &'a str) -> Result<&'a str> {
    if s.is_empty() || s == "." || s == ".." || s.contains('/') || s.contains('\0') {
        return Err(SysError::Invalid(format!("bad tracepoint {kind} {s:?}")));
    }
    Ok(s)
}

fn event_dir(category: &str, event: &str) -> Result<PathBuf> {
    Ok(root()?.join("events").join(component("category", category)?).join(component("event", event)?))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| SysError::io(path, e))
}

/// The event id of `category:event`, the `config` of a `PERF_TYPE_TRACEPOINT` event.
pub fn tracepoint_id(category: &str, event: &str) -> Result<u64> {
    let path = event_dir(category, event)?.join("id");
    let s = read(&path)?;
    s.trim().parse().map_err(|_| SysError::parse(&path, format!("not an id: {:?}", s.trim())))
}

/// Every tracepoint as `(category, event)`, sorted. Reads `available_events` (`cat:event`
/// lines): as fast as walking `events/` (~1 ms for 2300 events either way, measured on 6.18)
/// but one syscall sequence, and it leaves out the `ftrace:` internal events, which have
/// `events/` directories but cannot be attached through perf.
pub fn list_tracepoints() -> Result<Vec<(String, String)>> {
    let path = root()?.join("available_events");
    let text = read(&path)?;
    let mut out = parse_available_events(&text);
    out.sort();
    out.dedup();
    Ok(out)
}

/// Parses `available_events` text (`category:event` per line; malformed lines are skipped).
pub fn parse_available_events(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (c, e) = l.trim().split_once(':')?;
            (!c.is_empty() && !e.is_empty()).then(|| (c.to_string(), e.to_string()))
        })
        .collect()
}

/// One `field:` line of a tracepoint `format` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatField {
    /// Field name (`filename`, `comm`).
    pub name: String,
    /// The C type with any array suffix moved onto it: `const char *`, `char[16]`,
    /// `__data_loc char[]`, `unsigned long`.
    pub c_type: String,
    /// Byte offset in the record (the program's context).
    pub offset: u32,
    /// Size in bytes (4 for a `__data_loc` descriptor).
    pub size: u32,
    /// Whether the kernel marks the field signed.
    pub signed: bool,
    /// Whether it is one of the `common_*` header fields every event has.
    pub is_common: bool,
    /// `N` of a fixed array `name[N]`.
    pub array_len: Option<u32>,
    /// Whether it is a `__data_loc` field: a u32 whose low 16 bits are the offset of the data
    /// in the record and high 16 bits its length.
    pub data_loc: bool,
}

/// The parsed `format` file of one tracepoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TracepointFormat {
    /// Fields in file order, common ones first.
    pub fields: Vec<FormatField>,
}

impl TracepointFormat {
    /// Parses `format` file text; `path` only names the file in errors.
    pub fn parse(path: &str, text: &str) -> Result<TracepointFormat> {
        let mut fields = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if !line.starts_with("field:") {
                continue;
            }
            let f =
                parse_field_line(line).map_err(|w| SysError::parse(path, format!("line {}: {w}: {line:?}", i + 1)))?;
            fields.push(f);
        }
        Ok(TracepointFormat { fields })
    }

    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&FormatField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The event's own fields (what bpftrace exposes as `args`).
    pub fn args(&self) -> impl Iterator<Item = &FormatField> {
        self.fields.iter().filter(|f| !f.is_common)
    }
}

/// Parses `field:const char * filename;<TAB>offset:24;<TAB>size:8;<TAB>signed:0;`.
fn parse_field_line(line: &str) -> std::result::Result<FormatField, String> {
    let mut decl = None;
    let mut offset = None;
    let mut size = None;
    let mut signed = false;
    for part in line.split(';') {
        let part = part.trim();
        let Some((k, v)) = part.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "field" => decl = Some(v),
            "offset" => offset = Some(v.parse::<u32>().map_err(|_| "bad offset")?),
            "size" => size = Some(v.parse::<u32>().map_err(|_| "bad size")?),
            "signed" => signed = v == "1",
            _ => {}
        }
    }
    let decl = decl.ok_or("no field declaration")?;
    let offset = offset.ok_or("no offset")?;
    let size = size.ok_or("no size")?;
    let (c_type, name, array_len) = split_decl(decl)?;
    let data_loc = c_type.starts_with("__data_loc ");
    Ok(FormatField { is_common: name.starts_with("common_"), name, c_type, offset, size, signed, array_len, data_loc })
}

/// Splits a C declaration into (type, name, array length):
/// `char comm[16]` → (`char[16]`, `comm`, 16); `__data_loc char[] name` →
/// (`__data_loc char[]`, `name`, None); `const char * filename` → (`const char *`, `filename`).
fn split_decl(decl: &str) -> std::result::Result<(String, String, Option<u32>), String> {
    let decl = decl.trim();
    let (base, suffix) = match decl.strip_suffix(']') {
        // `type name[N]`: the array suffix belongs to the name.
        Some(rest) => {
            let open = rest.rfind('[').ok_or("unbalanced ']'")?;
            (&rest[..open], Some(rest[open + 1..].trim()))
        }
        None => (decl, None),
    };
    let base = base.trim_end();
    let name_start = base.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
    let name = &base[name_start..];
    let ty = base[..name_start].trim();
    if name.is_empty() || ty.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        return Err(format!("cannot split declaration {decl:?}"));
    }
    let (c_type, array_len) = match suffix {
        Some(n) => (format!("{ty}[{n}]"), n.parse::<u32>().ok()),
        None => (ty.to_string(), None),
    };
    Ok((c_type, name.to_string(), array_len))
}

/// The parsed `format` file of `category:event`.
pub fn format(category: &str, event: &str) -> Result<TracepointFormat> {
    let path = event_dir(category, event)?.join("format");
    let text = read(&path)?;
    TracepointFormat::parse(&path.display().to_string(), &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENAT: &str = "name: sys_enter_openat
ID: 782
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
\tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;
\tfield:umode_t mode;\toffset:40;\tsize:8;\tsigned:0;

print fmt: \"dfd: 0x%08lx, filename: 0x%08lx\", ((unsigned long)(REC->dfd))
";

    fn field(name: &str, c_type: &str, offset: u32, size: u32, signed: bool, array_len: Option<u32>) -> FormatField {
        FormatField {
            name: name.into(),
            c_type: c_type.into(),
            offset,
            size,
            signed,
            is_common: name.starts_with("common_"),
            array_len,
            data_loc: c_type.starts_with("__data_loc"),
        }
    }

    #[test]
    fn parses_literal_openat() {
        let f = TracepointFormat::parse("openat", OPENAT).expect("parse");
        assert_eq!(f.fields.len(), 9);
        assert_eq!(f.args().count(), 5);
        assert_eq!(f.field("filename"), Some(&field("filename", "const char *", 24, 8, false, None)));
        assert_eq!(f.field("common_pid"), Some(&field("common_pid", "int", 4, 4, true, None)));
        assert_eq!(f.field("__syscall_nr"), Some(&field("__syscall_nr", "int", 8, 4, true, None)));
    }

    #[test]
    fn parses_arrays_data_loc_and_odd_lines() {
        let text = "\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;
\tfield:__data_loc char[] name;\toffset:24;\tsize:4;\tsigned:0;
\tfield:unsigned long args[];\toffset:24;\tsize:0;\tsigned:0;
\tfield:u8 addr[ETH_ALEN];\toffset:32;\tsize:6;\tsigned:0;
\tfield:struct sockaddr * uservaddr;\toffset:40;\tsize:8;
\tfield:__data_loc u64[] ips;\toffset:48;\tsize:4;\tsigned:0;
";
        let f = TracepointFormat::parse("lit", text).expect("parse");
        assert_eq!(f.fields[0], field("comm", "char[16]", 8, 16, false, Some(16)));
        assert_eq!(f.fields[1], field("name", "__data_loc char[]", 24, 4, false, None));
        assert!(f.fields[1].data_loc);
        assert_eq!(f.fields[2], field("args", "unsigned long[]", 24, 0, false, None));
        assert_eq!(f.fields[3], field("addr", "u8[ETH_ALEN]", 32, 6, false, None));
        // Kernels before 2.6.31 had no `signed:`; it defaults to unsigned.
        assert_eq!(f.fields[4], field("uservaddr", "struct sockaddr *", 40, 8, false, None));
        assert_eq!(f.fields[5], field("ips", "__data_loc u64[]", 48, 4, false, None));
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        for bad in [
            "field:int;\toffset:0;\tsize:4;",
            "field:int x;\toffset:zero;\tsize:4;",
            "field:int x;\tsize:4;",
            "field:char x];\toffset:0;\tsize:4;",
            "field:;\toffset:0;\tsize:4;",
            "field:int 9x;\toffset:0;\tsize:4;",
        ] {
            let e = TracepointFormat::parse("bad", bad).unwrap_err();
            assert!(matches!(e, SysError::Parse { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn available_events_lines() {
        let v = parse_available_events("sched:sched_switch\nbogus\n:x\nsyscalls:sys_enter_openat\n");
        assert_eq!(
            v,
            vec![
                ("sched".to_string(), "sched_switch".to_string()),
                ("syscalls".to_string(), "sys_enter_openat".to_string())
            ]
        );
    }

    #[test]
    fn path_components_cannot_escape() {
        assert!(matches!(tracepoint_id("..", "x"), Err(SysError::Invalid(_)) | Err(SysError::Unsupported { .. })));
        assert!(matches!(format("sched", "a/b"), Err(SysError::Invalid(_)) | Err(SysError::Unsupported { .. })));
    }

    fn have_tracefs() -> bool {
        if !ferret_testing::skip_unless(&[ferret_testing::Need::Tracefs]) {
            return false;
        }
        match root() {
            Ok(_) => true,
            Err(e) => {
                ferret_testing::skip(e);
                false
            }
        }
    }

    #[test]
    fn real_format_files() {
        if !have_tracefs() {
            return;
        }
        let f = format("syscalls", "sys_enter_openat").expect("openat format");
        let fname = f.field("filename").expect("filename");
        assert_eq!(fname.c_type, "const char *");
        assert_eq!((fname.offset, fname.size), (24, 8));
        assert_eq!(f.field("common_pid").map(|f| f.is_common), Some(true));

        let f = format("sched", "sched_switch").expect("sched_switch format");
        let comm = f.field("prev_comm").expect("prev_comm");
        assert_eq!(comm.c_type, "char[16]");
        assert_eq!(comm.array_len, Some(16));
        assert_eq!(comm.size, 16);
        let pid = f.field("next_pid").expect("next_pid");
        assert!(pid.signed);
        assert_eq!(pid.size, 4);

        // Every format file on this machine parses.
        let cats = std::fs::read_dir(root().expect("root").join("events")).expect("events");
        let mut n = 0;
        for c in cats.flatten() {
            let Ok(evs) = std::fs::read_dir(c.path()) else {
                continue;
            };
            for e in evs.flatten() {
                let p = e.path().join("format");
                if let Ok(text) = std::fs::read_to_string(&p) {
                    TracepointFormat::parse(&p.display().to_string(), &text).unwrap_or_else(|e| panic!("{e}"));
                    n += 1;
                }
            }
        }
        assert!(n > 100, "only {n} format files");
    }

    #[test]
    fn ids_and_list() {
        if !have_tracefs() {
            return;
        }
        let id = tracepoint_id("syscalls", "sys_enter_getppid").expect("id");
        assert!(id > 0);
        let e = tracepoint_id("syscalls", "no_such_event").unwrap_err();
        assert!(e.is_not_found(), "{e}");
        let t = std::time::Instant::now();
        let all = list_tracepoints().expect("list");
        eprintln!("list_tracepoints: {} in {:?}", all.len(), t.elapsed());
        assert!(all.contains(&("sched".to_string(), "sched_switch".to_string())));
        assert!(all.len() > 100);
    }
}
