//! Executables and libraries → symbols and file offsets: where uprobes attach, and how stack
//! addresses are symbolized (kernel ones through kallsyms, user ones through the process's
//! mappings and ELF symbol tables). Pure file reading: ELF through the `object` crate, paths
//! through `$PATH`, the library directories and `/proc/PID/maps`.
pub mod debugfile;
pub mod dwarf;
pub mod elf;
pub mod kernel;
pub mod lines;
pub mod paths;
pub mod process;
pub mod unwind;
pub mod usdt;

pub use elf::{Elf, Symbol};
pub use kernel::KernelSymbols;
pub use paths::{resolve_binary, resolve_targets, Binary};
pub use process::{demangle, UserSymbol, UserSymbolizer};
