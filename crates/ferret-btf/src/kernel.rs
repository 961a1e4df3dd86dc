//! The running kernel's BTF: /sys/kernel/btf/vmlinux and one split file per module, each read
//! once per process and shared.
use crate::{Btf, Error};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Where the kernel exposes its BTF.
pub const SYSFS_DIR: &str = "/sys/kernel/btf";

/// bpftrace's override for the vmlinux BTF file (a raw BTF blob).
pub const ENV_OVERRIDE: &str = "BPFTRACE_BTF";

fn read(path: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Io { path: path.to_string(), source })
}

/// The kernel's own BTF (or the file `$BPFTRACE_BTF` names). Parsed on first call, then
/// shared; a failure is not cached, so a later call tries again.
pub fn vmlinux() -> Result<Arc<Btf>, Error> {
    static CACHE: OnceLock<Arc<Btf>> = OnceLock::new();
    if let Some(b) = CACHE.get() {
        return Ok(b.clone());
    }
    let path = std::env::var(ENV_OVERRIDE).unwrap_or_else(|_| format!("{SYSFS_DIR}/vmlinux"));
    let btf = Arc::new(Btf::from_bytes("vmlinux", read(&path)?)?);
    Ok(CACHE.get_or_init(|| btf).clone())
}

/// A loaded module's split BTF, on top of [`vmlinux`].
pub fn module(name: &str) -> Result<Arc<Btf>, Error> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Btf>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(b) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
        return Ok(b.clone());
    }
    let base = vmlinux()?;
    let btf = Arc::new(Btf::from_split_bytes(name, read(&format!("{SYSFS_DIR}/{name}"))?, base)?);
    cache.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), btf.clone());
    Ok(btf)
}

/// Names of the modules that have BTF, sorted (vmlinux excluded).
pub fn module_names() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(SYSFS_DIR) else { return vec![] };
    let mut names: Vec<String> =
        dir.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n != "vmlinux").collect();
    names.sort();
    names
}

/// vmlinux followed by every module's BTF that could be read. Empty if vmlinux is unreadable.
pub fn all() -> Vec<Arc<Btf>> {
    let Ok(v) = vmlinux() else { return vec![] };
    std::iter::once(v).chain(module_names().iter().filter_map(|m| module(m).ok())).collect()
}
