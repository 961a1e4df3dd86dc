//! ferret's neutral value model and the renderers that reproduce bpftrace
//! master's output byte for byte.
//!
//! * [`value`]: [`Value`], [`MapValue`], [`MapDump`], the data the runtime
//!   decodes from BPF maps and events.
//! * [`hist`]: the log2/linear histogram bucket functions shared with the
//!   BPF code generator.
//! * [`text`]: bpftrace's default output format.
//! * [`json`]: `-f json` NDJSON records.
//! * [`printf`]: format-string parsing, type checking and rendering.
//!
//! This crate does no I/O and knows nothing about the kernel; every
//! renderer returns a `String` and documents the stream it belongs on.

mod gfp;
pub mod hist;
pub mod json;
pub mod printf;
mod shape;
mod stlsort;
pub mod text;
pub mod tseries;
pub mod value;

pub use gfp::set_kernel_bits as set_gfp_bits;
pub use hist::{hist_bucket_count, hist_index, lhist_bucket_count, lhist_index};
pub use value::{MapDump, MapValue, Num, Stack, StackFrame, StackMode, Value};
