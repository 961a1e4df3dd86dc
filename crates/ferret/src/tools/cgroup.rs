//! `--cgroup PATH` and `--container ID`: the cgroup v2 id (the inode of the cgroup's directory,
//! what the kernel's `bpf_get_current_cgroup_id()` and the language's `cgroup` return) of a path,
//! or of the cgroup a container runtime made for a container. Docker, podman, containerd (and so
//! Kubernetes pods) and CRI-O name a container's cgroup after its 64-hex-digit ID, as
//! `docker-ID.scope`, `libpod-ID.scope`, `cri-containerd-ID.scope`, `crio-ID.scope` (systemd
//! driver) or plainly `ID` (cgroupfs driver, under `docker/`, `kubepods/.../podUID/`, ...).
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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
