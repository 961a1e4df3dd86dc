//! The running kernel's BTF: /sys/kernel/btf/vmlinux and one split file per module, each read
//! once per process and shared.
use crate::store::{self, Data};
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

/// Where vmlinux's index file goes unless `$FERRET_CACHE_DIR` says otherwise (empty: none).
pub const CACHE_DIR: &str = "/var/cache/ferret";

/// The directory for index files, if any.
fn cache_dir() -> Option<std::path::PathBuf> {
    match std::env::var_os("FERRET_CACHE_DIR") {
        Some(d) if d.is_empty() => None,
        Some(d) => Some(d.into()),
        None => Some(CACHE_DIR.into()),
    }
}

/// The kernel's own BTF (or the file `$BPFTRACE_BTF` names). Parsed on first call, then
/// shared; a failure is not cached, so a later call tries again. The kernel's file is mapped
/// where the kernel allows it, and its indexes come from the index file in
/// `$FERRET_CACHE_DIR` (default [`CACHE_DIR`]), which the first process on a kernel writes.
pub fn vmlinux() -> Result<Arc<Btf>, Error> {
    static CACHE: OnceLock<Arc<Btf>> = OnceLock::new();
    if let Some(b) = CACHE.get() {
        return Ok(b.clone());
    }
    let btf = match std::env::var(ENV_OVERRIDE) {
        Ok(path) => Btf::from_bytes("vmlinux", read(&path)?)?,
        Err(_) => {
            let path = format!("{SYSFS_DIR}/vmlinux");
            let data = match ferret_sys::FileMap::open_sysfs(std::path::Path::new(&path)) {
                Ok(m) => Data::Mapped(m),
                Err(_) => Data::Owned(read(&path)?),
            };
            let salt = std::fs::read("/proc/version").unwrap_or_default();
            let dir = cache_dir();
            let saved = dir.as_deref().and_then(|d| store::load(d, &data, &salt));
            let fresh = saved.is_none();
            let btf = Btf::parse("vmlinux", data, None, saved)?;
            if let Some(d) = dir.as_deref().filter(|_| fresh) {
                // A cache: failing to write it costs the next process the build, nothing else.
                let _ = btf.save_indexes(d, &salt);
            }
            btf
        }
    };
    Ok(CACHE.get_or_init(|| Arc::new(btf)).clone())
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

/// vmlinux, then each module's BTF, read only as the iterator reaches it: for searches that
/// usually end in vmlinux (a kernel may have hundreds of modules).
pub fn each() -> impl Iterator<Item = Arc<Btf>> {
    let first = vmlinux().ok();
    let modules = first.is_some().then(module_names).unwrap_or_default();
    first.into_iter().chain(modules.into_iter().filter_map(|m| module(&m).ok()))
}

/// vmlinux followed by every module's BTF that could be read. Empty if vmlinux is unreadable.
pub fn all() -> Vec<Arc<Btf>> {
    let Ok(v) = vmlinux() else { return vec![] };
    std::iter::once(v).chain(module_names().iter().filter_map(|m| module(m).ok())).collect()
}
