//! Executables and libraries → symbols and file offsets: where uprobes attach (and, later, how user
//! stacks are symbolized). Pure file reading: ELF through the `object` crate, paths through
//! `$PATH`, the library directories and `/proc/PID/maps`.
pub mod elf;
pub mod paths;
pub mod usdt;

pub use elf::{Elf, Symbol};
pub use paths::resolve_binary;
