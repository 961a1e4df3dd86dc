//! What one compile sees beyond its [`crate::Options`]: the structs the script defines (and the
//! ones probed binaries' debug info adds), the target process, and `--unsafe`. A compile enters
//! a fresh [`Context`] for its duration ([`enter`]) and leaves it in the [`crate::Object`] it
//! makes, so that decoding that program's events later sees its own structs; the runtime
//! enters the object's context around decoding. Contexts are per thread and scoped: two programs
//! compiled in one process (on one thread or several) never see each other's.
use crate::cstruct::ScriptStruct;
use ferret_symbols::Elf;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Default)]
pub struct Context {
    structs: Mutex<Vec<ScriptStruct>>,
    /// Warnings found along the way (debug info that could not be read), for the caller.
    warnings: Mutex<Vec<String>>,
    /// `-p PID` (or the `-c` command): user-space probe targets named by library are looked
    /// up in its mappings first.
    pub target_pid: Option<i32>,
    /// `--unsafe`: probe expansion may do what could harm the traced process (a uprobe on a
    /// symbol of unknown size, which may not be an instruction boundary).
    pub unsafe_: bool,
    /// `--no-feature`: kernel features not to use even when present (`kprobe_multi`, ...).
    pub no_features: Vec<String>,
    /// ELF files opened while probes are resolved, by path: a script (or a tool like
    /// gethostlatency) with several uprobes on libc reads its symbol table once.
    elfs: Mutex<HashMap<PathBuf, Arc<Elf>>>,
}

impl Context {
    pub fn new(target_pid: Option<i32>, unsafe_: bool) -> Arc<Context> {
        Context::with_features(target_pid, unsafe_, vec![])
    }

    /// As [`Context::new`], with the kernel features `--no-feature` turned off.
    pub fn with_features(target_pid: Option<i32>, unsafe_: bool, no_features: Vec<String>) -> Arc<Context> {
        Arc::new(Context {
            structs: Mutex::default(),
            warnings: Mutex::default(),
            target_pid: target_pid.filter(|p| *p > 0),
            unsafe_,
            no_features,
            elfs: Mutex::default(),
        })
    }

    /// The ELF file at `path`, opened once per compile.
    pub fn elf(&self, path: &Path) -> Result<Arc<Elf>, String> {
        if let Some(e) = self.elfs.lock().unwrap_or_else(|e| e.into_inner()).get(path) {
            return Ok(e.clone());
        }
        let elf = Arc::new(Elf::open(path)?);
        self.elfs.lock().unwrap_or_else(|e| e.into_inner()).insert(path.to_path_buf(), elf.clone());
        Ok(elf)
    }

    /// Drop the ELF files opened so far (probes are resolved; the object keeps this context).
    pub fn forget_elfs(&self) {
        self.elfs.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Whether `--no-feature` turned the kernel feature `name` off.
    pub fn disabled(&self, name: &str) -> bool {
        self.no_features.iter().any(|n| n == name)
    }

    /// The script structs, ids from [`crate::cstruct::SCRIPT_ID_BASE`] by position.
    pub fn structs(&self) -> MutexGuard<'_, Vec<ScriptStruct>> {
        self.structs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Note a warning for whoever compiles or lists (once per text).
    pub fn warn(&self, msg: impl Into<String>) {
        let msg = msg.into();
        let mut w = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
        if !w.contains(&msg) {
            w.push(msg);
        }
    }

    /// The warnings noted so far, taken.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

thread_local! {
    static CURRENT: RefCell<Arc<Context>> = RefCell::new(Arc::default());
}

/// The context this thread is in (an empty one outside any [`enter`]).
pub fn current() -> Arc<Context> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Make `ctx` this thread's context until the returned guard drops (then the previous one is
/// back).
pub fn enter(ctx: Arc<Context>) -> Scope {
    Scope { prev: Some(CURRENT.with(|c| c.replace(ctx))) }
}

/// See [`enter`].
#[must_use = "the context is left when the scope drops"]
pub struct Scope {
    prev: Option<Arc<Context>>,
}

impl Drop for Scope {
    fn drop(&mut self) {
        if let Some(p) = self.prev.take() {
            CURRENT.with(|c| *c.borrow_mut() = p);
        }
    }
}
