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
//! * [`event`]: [`Event`], what a running program produces, and the [`Sink`]s that take them.
//! * [`sink`]: [`Writer`], the sink that renders events as text or JSON on writers it is given.
//!
//! This crate knows nothing about the kernel; every renderer returns a `String` and documents
//! the stream it belongs on. Its only I/O is [`Writer`]'s, on writers its caller hands it.

pub mod event;
mod gfp;
pub mod hist;
pub mod json;
pub mod printf;
mod shape;
pub mod sink;
mod stlsort;
pub mod text;
pub mod tseries;
pub mod value;

pub use event::{Event, Location, Sink};
pub use gfp::set_kernel_bits as set_gfp_bits;
pub use hist::{hist_bucket_count, hist_index, lhist_bucket_count, lhist_index};
pub use sink::{Format, Writer};
pub use value::{MapDump, MapValue, Num, Stack, StackFrame, StackMode, Value};
