//! `--cgroup PATH` and `--container ID`: the cgroup v2 id (the inode of the cgroup's directory,
//! what the kernel's `bpf_get_current_cgroup_id()` and the language's `cgroup` return) of a path,
//! or of the cgroup a container runtime made for a container. Docker, podman, containerd (and so
//! Kubernetes pods) and CRI-O name a container's cgroup after its 64-hex-digit ID, as
//! `docker-ID.scope`, `libpod-ID.scope`, `cri-containerd-ID.scope`, `crio-ID.scope` (systemd
//! driver) or plainly `ID` (cgroupfs driver, under `docker/`, `kubepods/.../podUID/`, ...).
use ferret::Event;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// `text` with each `printf("FMT", args)` also printing the task's cgroup id
/// (`printf("FMT<RS>%d", args, cgroup)`), for `--containers`.
pub fn with_cgroup(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(at) = rest.find("printf(\"") {
        let (head, tail) = rest.split_at(at + "printf(\"".len());
        out.push_str(head);
        // The format string's end: the first unescaped quote.
        let bytes = tail.as_bytes();
        let mut i = 0;
        while i < bytes.len() && bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        let fmt = &tail[..i.min(tail.len())];
        // A trailing newline stays last.
        match fmt.strip_suffix("\\n") {
            Some(f) => out.push_str(&format!("{f}\\x1e%d\\n")),
            None => out.push_str(&format!("{fmt}\\x1e%d")),
        }
        // The call's closing parenthesis, strings skipped.
        let after = &tail[i.min(tail.len())..];
        // `after` starts at the format's closing quote: the scan starts past it.
        let (mut depth, mut quoted, mut j) = (1i32, false, 1usize);
        let ab = after.as_bytes();
        while j < ab.len() {
            match ab[j] {
                b'\\' if quoted => j += 1,
                b'"' => quoted = !quoted,
                b'(' if !quoted => depth += 1,
                b')' if !quoted => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        out.push_str(&after[..j.min(after.len())]);
        out.push_str(", cgroup");
        rest = &after[j.min(after.len())..];
    }
    out.push_str(rest);
    out
}

/// A printf event of a program made by [`with_cgroup`]: the event as the tool wrote it, and
/// the cgroup id.
pub fn split_cgroup(e: &Event) -> Option<(Event, u64)> {
    let Event::Printf { id, format, args, text } = e else { return None };
    let (head, tail) = format.rsplit_once('\u{1e}')?;
    if tail.trim_end_matches('\n') != "%d" {
        return None;
    }
    let newline = if tail.ends_with('\n') { "\n" } else { "" };
    let mut args = args.clone();
    let cg = match args.pop()? {
        ferret::Value::UInt(u) => u,
        ferret::Value::Int(i) => i as u64,
        _ => return None,
    };
    let text = text.rsplit_once('\u{1e}').map_or(text.clone(), |(t, _)| format!("{t}{newline}"));
    Some((Event::Printf { id: *id, format: format!("{head}{newline}"), args, text }, cg))
}

/// The short (12-digit) ID of the container whose cgroup has v2 id `id`, `-` for a cgroup that
/// names no container (the host's); looked up once per id.
pub fn container_name(id: u64) -> String {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<u64, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(n) = cache.lock().ok().and_then(|c| c.get(&id).cloned()) {
        return n;
    }
    let name = v2_root().and_then(|root| path_of(&root, id, 0)).map_or_else(
        || "-".to_string(),
        |p| {
            // The innermost directory naming a container (a container's own sub-cgroups too).
            p.ancestors()
                .filter_map(|a| a.file_name().and_then(|n| n.to_str()).and_then(container_of))
                .next()
                .map_or_else(|| "-".to_string(), |c| c[..12].to_string())
        },
    );
    if let Ok(mut c) = cache.lock() {
        c.insert(id, name.clone());
    }
    name
}

/// The directory under `dir` whose inode is `id`.
fn path_of(dir: &Path, id: u64, depth: usize) -> Option<PathBuf> {
    if std::fs::metadata(dir).is_ok_and(|m| m.ino() == id) {
        return Some(dir.to_path_buf());
    }
    if depth >= 12 {
        return None;
    }
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .find_map(|e| path_of(&e.path(), id, depth + 1))
}

/// Where the cgroup v2 hierarchy is mounted: `/sys/fs/cgroup` on a unified system,
/// `/sys/fs/cgroup/unified` on a hybrid one.
pub fn v2_root() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    let roots: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').collect::<Vec<_>>().get(1..3).map(|f| (f[0], f[1])))
        .filter(|(_, t)| *t == "cgroup2")
        .map(|(m, _)| m)
        .collect();
    roots.iter().find(|m| **m == "/sys/fs/cgroup").or(roots.first()).map(PathBuf::from)
}

/// The v2 id of a cgroup named by its path: absolute within the v2 mount, a path in a v1
/// hierarchy (`/sys/fs/cgroup/memory/X`: the same X in the v2 one), or relative to the v2 root.
pub fn id_of_path(path: &str) -> Result<u64, String> {
    let root = v2_root().ok_or("no cgroup v2 hierarchy is mounted (the kernel filters by cgroup v2 ids)")?;
    let p = Path::new(path);
    let candidates: Vec<PathBuf> = if let Ok(rel) = p.strip_prefix(&root) {
        vec![root.join(rel)]
    } else if let Ok(rel) = p.strip_prefix("/sys/fs/cgroup") {
        // A v1 controller's path: skip the controller's directory.
        let mut parts = rel.components();
        parts.next();
        vec![root.join(parts.as_path())]
    } else {
        vec![root.join(path.trim_start_matches('/'))]
    };
    for c in &candidates {
        if let Ok(m) = std::fs::metadata(c) {
            if m.is_dir() {
                return Ok(m.ino());
            }
        }
    }
    Err(format!("{path}: no such cgroup in the cgroup v2 hierarchy at {}", root.display()))
}

/// The container ID a cgroup directory's name carries, if it names a container.
fn container_of(name: &str) -> Option<&str> {
    let stem = name.strip_suffix(".scope").unwrap_or(name);
    if stem.starts_with("libpod-conmon-") {
        return None;
    }
    let id = ["docker-", "libpod-", "cri-containerd-", "crio-", "containerd-"]
        .iter()
        .find_map(|p| stem.strip_prefix(p))
        .unwrap_or(stem);
    (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// The cgroup directories under `root` (at most 12 levels down) whose name carries a
/// container ID starting with `prefix`, with that ID.
fn find(root: &Path, prefix: &str, depth: usize, out: &mut Vec<(PathBuf, String)>) {
    let Ok(dir) = std::fs::read_dir(root) else { return };
    for e in dir.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        match container_of(&name) {
            Some(id) if id.starts_with(prefix) => out.push((e.path(), id.to_string())),
            _ if depth < 12 => find(&e.path(), prefix, depth + 1, out),
            _ => {}
        }
    }
}

/// The v2 id of a container's cgroup, from its ID or a unique prefix of it (`docker ps`'
/// 12 digits).
pub fn id_of_container(id: &str) -> Result<u64, String> {
    let id = id.to_ascii_lowercase();
    if id.len() < 4 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{id}: a container ID is hexadecimal, at least 4 digits (as `docker ps` shows it)"));
    }
    let root = v2_root().ok_or("no cgroup v2 hierarchy is mounted (the kernel filters by cgroup v2 ids)")?;
    let mut found = vec![];
    find(&root, &id, 0, &mut found);
    let mut ids: Vec<&str> = found.iter().map(|(_, i)| i.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    match (ids.len(), found.first()) {
        (0, _) | (_, None) => Err(format!("no container with ID {id} has a cgroup under {}", root.display())),
        (1, Some((path, _))) => {
            std::fs::metadata(path).map(|m| m.ino()).map_err(|e| format!("{}: {e}", path.display()))
        }
        _ => Err(format!("container ID {id} is ambiguous: {}", ids.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::container_of;

    #[test]
    fn printf_calls_get_the_cgroup() {
        let t = super::with_cgroup(r#"t { printf("%d %s\n", pid, str(args.x, ")")); printf("x"); }"#);
        assert_eq!(t, r#"t { printf("%d %s\x1e%d\n", pid, str(args.x, ")"), cgroup); printf("x\x1e%d", cgroup); }"#);
    }

    #[test]
    fn container_cgroup_names() {
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        for name in [
            format!("docker-{id}.scope"),
            format!("libpod-{id}.scope"),
            format!("cri-containerd-{id}.scope"),
            format!("crio-{id}.scope"),
            id.to_string(),
        ] {
            assert_eq!(container_of(&name), Some(id), "{name}");
        }
        assert_eq!(container_of(&format!("libpod-conmon-{id}.scope")), None);
        assert_eq!(container_of("user.slice"), None);
        assert_eq!(container_of("docker-1234.scope"), None);
    }
}
