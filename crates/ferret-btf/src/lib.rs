//! Kernel BTF (BPF Type Format), read straight from bytes: the type information the compiler and
//! `-l` need (struct layouts, enum values, function prototypes, raw tracepoint arguments).
//!
//! Start-up cost is the point of this crate. [`Btf::from_bytes`] only walks the type section
//! once to record where each type starts (vmlinux: ~127k types, ~1 ms); nothing is decoded until
//! asked for. The name index is built on the first lookup by name, and the enumerator index on
//! the first enum-constant lookup. Memory is the blob itself plus 4 bytes per type and 8 bytes
//! per index slot. The running kernel's vmlinux ([`kernel::vmlinux`]) is cheaper still: its
//! blob is mapped where the kernel allows, and its indexes come from an index file written by
//! the first process (module `store`).
//!
//! Module BTF (`/sys/kernel/btf/<module>`) is "split" BTF: its type ids and string offsets
//! continue those of vmlinux, so a module [`Btf`] keeps its base and answers for both.
mod cdecl;
mod index;
pub mod kernel;
mod store;
mod types;

pub use types::{ArrayInfo, EnumValue, FieldRef, IntInfo, Kind, Member, Param, Type};

use index::NameIndex;
use std::sync::{Arc, OnceLock};
use store::{Data, Words};

/// A type id: 0 is `void`; vmlinux types start at 1; a module's continue after vmlinux's.
pub type TypeId = u32;

/// `BTF_MAGIC`, read in host byte order.
const MAGIC: u16 = 0xeb9f;
/// Every `struct btf_type` starts with name_off, info, size/type.
const TYPE_HEADER: usize = 12;

/// Why BTF could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to read BTF from {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("malformed BTF in {name}: {what}")]
    Format { name: String, what: String },
}

/// Prefixes of the per-tracepoint BTF functions whose prototypes carry named raw tracepoint
/// arguments (after a leading `void *__data`). `__probestub_` (kernel 6.5+) is tried first;
/// `__traceiter_` exists since 5.10. The `btf_trace_<event>` typedefs have the same prototype
/// but without parameter names.
pub const RAW_TRACEPOINT_FUNC_PREFIXES: [&str; 2] = ["__probestub_", "__traceiter_"];

/// One BTF object: vmlinux, or a module's split BTF on top of vmlinux.
pub struct Btf {
    name: String,
    data: Data,
    /// Byte offset in `data` of each of this object's own types, in id order.
    offsets: Words,
    /// Id of this object's first own type.
    first_id: TypeId,
    str_start: usize,
    str_len: usize,
    /// String offsets below this belong to the base.
    str_base: u32,
    base: Option<Arc<Btf>>,
    names: OnceLock<NameIndex>,
    /// Enumerator names → positions in the packed `(enum id << 16 | index)` list beside it.
    /// Each position holds `(enum id << 16 | index)` as a (low, high) pair of words.
    enumerators: OnceLock<(NameIndex, Words)>,
}

impl std::fmt::Debug for Btf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Btf({}, {} types)", self.name, self.offsets.len())
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

impl Btf {
    /// Parse a complete (base) BTF blob such as /sys/kernel/btf/vmlinux. `name` labels it in
    /// listings and errors (`vmlinux`).
    pub fn from_bytes(name: &str, data: Vec<u8>) -> Result<Btf, Error> {
        Self::parse(name, Data::Owned(data), None, None)
    }

    /// Parse split BTF (a module's) whose ids and strings continue `base`'s.
    pub fn from_split_bytes(name: &str, data: Vec<u8>, base: Arc<Btf>) -> Result<Btf, Error> {
        Self::parse(name, Data::Owned(data), Some(base), None)
    }

    /// `saved`: indexes of this very data from an index file ([`store::load`] checked its
    /// key), used instead of walking the type section and building the name indexes.
    fn parse(name: &str, data: Data, base: Option<Arc<Btf>>, saved: Option<store::Indexes>) -> Result<Btf, Error> {
        let bad = |what: String| Error::Format { name: name.to_string(), what };
        if data.len() < 24 {
            return Err(bad(format!("{} bytes is shorter than the BTF header", data.len())));
        }
        let magic = u16::from_ne_bytes([data[0], data[1]]);
        if magic != MAGIC {
            let why = if magic == MAGIC.swap_bytes() { "BTF of the other byte order" } else { "bad magic" };
            return Err(bad(format!("{why} ({magic:#x})")));
        }
        let hdr_len = u32_at(&data, 4) as usize;
        let (type_off, type_len) = (u32_at(&data, 8) as usize, u32_at(&data, 12) as usize);
        let (str_off, str_len) = (u32_at(&data, 16) as usize, u32_at(&data, 20) as usize);
        let types_start = hdr_len + type_off;
        let types_end = types_start + type_len;
        let str_start = hdr_len + str_off;
        if types_end > data.len() || str_start + str_len > data.len() {
            return Err(bad("section extends past the end of the data".into()));
        }
        let (first_id, str_base) = match &base {
            Some(b) => (b.next_id(), b.str_base + b.str_len as u32),
            None => (1, 0),
        };
        let mut btf = Btf {
            name: name.to_string(),
            data,
            offsets: Words::Owned(vec![]),
            first_id,
            str_start,
            str_len,
            str_base,
            base,
            names: OnceLock::new(),
            enumerators: OnceLock::new(),
        };
        if let Some(ix) = saved {
            btf.offsets = ix.offsets;
            let _ = btf.names.set(NameIndex::from_slots(ix.names));
            let _ = btf.enumerators.set((NameIndex::from_slots(ix.enum_slots), ix.enum_packed));
            return Ok(btf);
        }
        let data = &btf.data;
        let mut offsets = Vec::with_capacity(type_len / 24);
        let mut off = types_start;
        while off < types_end {
            if off + TYPE_HEADER > types_end {
                return Err(bad(format!("truncated type at byte {off}")));
            }
            let info = u32_at(data, off + 4);
            let kind = Kind::from_raw((info >> 24) & 0x1f)
                .ok_or_else(|| bad(format!("unknown kind {} at byte {off}", (info >> 24) & 0x1f)))?;
            offsets.push(off as u32);
            off += TYPE_HEADER + kind.extra_len((info & 0xffff) as usize);
        }
        if off != types_end {
            return Err(bad("last type runs past the type section".into()));
        }
        btf.offsets = Words::Owned(offsets);
        Ok(btf)
    }

    /// Saves this object's indexes (building the name and enumerator ones first) for
    /// [`store::load`] to find next time, in a directory we own (checked before anything is
    /// built: a process that cannot write there builds each index when it first needs it).
    fn save_indexes(&self, dir: &std::path::Path, salt: &[u8]) -> std::io::Result<()> {
        if !store::trusted(dir, true) {
            return Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, "index directory not ours"));
        }
        let names = self.name_index().slots();
        let (enums, packed) = self.enumerator_index();
        store::save(dir, &self.data, salt, [&self.offsets, names, enums.slots(), packed])
    }

    /// `vmlinux` or the module's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The base this split BTF extends, if any.
    pub fn base(&self) -> Option<&Arc<Btf>> {
        self.base.as_ref()
    }

    /// One past the last valid type id (ids of this object are `first_id()..next_id()`).
    pub fn next_id(&self) -> TypeId {
        self.first_id + self.offsets.len() as u32
    }

    /// Id of this object's first own type (1 for a base BTF).
    pub fn first_id(&self) -> TypeId {
        self.first_id
    }

    /// Number of this object's own types (not counting the base's).
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Ids of this object's own types (not the base's).
    pub fn own_ids(&self) -> std::ops::Range<TypeId> {
        self.first_id..self.next_id()
    }

    /// The string at `off` of the string section (the base's for small offsets); "" if out of
    /// range or not UTF-8.
    pub fn str_at(&self, off: u32) -> &str {
        let bytes = self.str_bytes(off);
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        std::str::from_utf8(&bytes[..end]).unwrap_or("")
    }

    /// The bytes of type `id` (header and trailing data), from whichever object owns it.
    fn raw(&self, id: TypeId) -> Option<&[u8]> {
        if id < self.first_id {
            return self.base.as_ref().and_then(|b| b.raw(id));
        }
        // Checked slicing: offsets may come from an index file.
        let off = self.offsets.get((id - self.first_id) as usize)? as usize;
        let h = self.data.get(off..off + TYPE_HEADER)?;
        let info = u32_at(h, 4);
        let kind = Kind::from_raw((info >> 24) & 0x1f)?;
        self.data.get(off..off + TYPE_HEADER + kind.extra_len((info & 0xffff) as usize))
    }

    /// Type `id`; `None` for 0 (`void`) and unknown ids.
    pub fn ty(&self, id: TypeId) -> Option<Type<'_>> {
        self.raw(id).map(|bytes| Type::new(self, id, bytes))
    }

    /// Kind of `id`, with 0 as [`Kind::Void`].
    pub fn kind(&self, id: TypeId) -> Option<Kind> {
        if id == 0 {
            return Some(Kind::Void);
        }
        self.ty(id).map(|t| t.kind())
    }

    /// The bytes of the string at `off` through the end of its section (NUL-terminated).
    fn str_bytes(&self, off: u32) -> &[u8] {
        if off < self.str_base {
            return self.base.as_ref().map_or(&[], |b| b.str_bytes(off));
        }
        let local = (off - self.str_base) as usize;
        if local >= self.str_len {
            return &[];
        }
        &self.data[self.str_start + local..self.str_start + self.str_len]
    }

    fn name_index(&self) -> &NameIndex {
        // Hash names in place, straight from the type headers: no Type views, no UTF-8 checks.
        self.names.get_or_init(|| {
            let named = self.offsets.iter().enumerate().filter_map(|(i, off)| {
                let name_off = u32_at(&self.data, off as usize);
                (name_off != 0).then(|| (self.first_id + i as u32, index::hash(self.str_bytes(name_off))))
            });
            NameIndex::build(self.offsets.len(), named)
        })
    }

    /// Every type named `name` (any kind): this object's own first, then the base's.
    pub fn find_all(&self, name: &str) -> Vec<TypeId> {
        let mut out: Vec<TypeId> = self.name_index().lookup(name, |v| self.ty(v).map_or("", |t| t.name())).collect();
        out.sort_unstable();
        if let Some(b) = &self.base {
            out.extend(b.find_all(name));
        }
        out
    }

    /// The first type of `kind` named `name`. Struct/union lookups prefer a full definition over
    /// a forward declaration or an empty duplicate.
    pub fn find(&self, kind: Kind, name: &str) -> Option<TypeId> {
        let all = self.find_all(name);
        let mut of_kind = all.iter().copied().filter(|&id| self.kind(id) == Some(kind));
        match kind {
            Kind::Struct | Kind::Union => {
                let first = of_kind.next()?;
                let sized = std::iter::once(first).chain(of_kind).find(|&id| self.ty(id).is_some_and(|t| t.vlen() > 0));
                Some(sized.unwrap_or(first))
            }
            _ => of_kind.next(),
        }
    }

    /// A type by its C spelling: `struct task_struct`, `union bpf_attr`, `enum pid_type`, a
    /// typedef (`pid_t`), a base type (`unsigned int`), or a function name.
    pub fn lookup(&self, c_name: &str) -> Option<TypeId> {
        let c_name = c_name.trim();
        for (prefix, kinds) in [
            ("struct ", &[Kind::Struct, Kind::Fwd][..]),
            ("union ", &[Kind::Union, Kind::Fwd][..]),
            ("enum ", &[Kind::Enum, Kind::Enum64][..]),
        ] {
            if let Some(rest) = c_name.strip_prefix(prefix) {
                return kinds.iter().find_map(|&k| self.find(k, rest.trim()));
            }
        }
        if c_name == "void" {
            return Some(0);
        }
        [Kind::Typedef, Kind::Int, Kind::Float, Kind::Func, Kind::Struct, Kind::Union, Kind::Enum, Kind::Enum64]
            .iter()
            .find_map(|&k| self.find(k, c_name))
    }

    /// Follow typedefs, `const`/`volatile`/`restrict` and type tags down to the type that
    /// decides layout (a struct, int, pointer, array...). 0 stays 0 (`void`).
    pub fn resolve(&self, mut id: TypeId) -> TypeId {
        for _ in 0..64 {
            match self.ty(id) {
                Some(t) if t.kind().is_alias() => id = t.type_ref(),
                _ => return id,
            }
        }
        id
    }

    /// Like [`Btf::resolve`] but keeps typedefs: strips only qualifiers and type tags.
    pub fn strip_qualifiers(&self, mut id: TypeId) -> TypeId {
        for _ in 0..64 {
            match self.ty(id) {
                Some(t) if t.kind().is_qualifier() => id = t.type_ref(),
                _ => return id,
            }
        }
        id
    }

    /// Size in bytes of a value of type `id` (`None` for void, functions and forward
    /// declarations).
    pub fn size_of(&self, id: TypeId) -> Option<u32> {
        let t = self.ty(self.resolve(id))?;
        match t.kind() {
            Kind::Int | Kind::Struct | Kind::Union | Kind::Enum | Kind::Enum64 | Kind::Float | Kind::Datasec => {
                Some(t.size())
            }
            Kind::Ptr => Some(8),
            Kind::Array => {
                let a = t.array()?;
                Some(self.size_of(a.elem)?.saturating_mul(a.len))
            }
            _ => None,
        }
    }

    /// Natural alignment in bytes (the largest member alignment for aggregates).
    pub fn align_of(&self, id: TypeId) -> u32 {
        self.align_depth(id, 0)
    }

    fn align_depth(&self, id: TypeId, depth: u32) -> u32 {
        let Some(t) = self.ty(self.resolve(id)) else { return 1 };
        if depth > 32 {
            return 1;
        }
        match t.kind() {
            Kind::Int | Kind::Enum | Kind::Enum64 | Kind::Float => t.size().clamp(1, 8),
            Kind::Ptr => 8,
            Kind::Array => t.array().map_or(1, |a| self.align_depth(a.elem, depth + 1)),
            Kind::Struct | Kind::Union => t.members().map(|m| self.align_depth(m.ty, depth + 1)).max().unwrap_or(1),
            _ => 1,
        }
    }

    /// Members of struct/union `id` (after resolving typedefs and qualifiers); empty otherwise.
    pub fn members(&self, id: TypeId) -> Vec<Member<'_>> {
        match self.ty(self.resolve(id)) {
            Some(t) if matches!(t.kind(), Kind::Struct | Kind::Union) => t.members().collect(),
            _ => vec![],
        }
    }

    /// Field `name` of struct/union `id`, looking through anonymous struct/union members as C
    /// does; the bit offset is from the start of `id`.
    pub fn find_member(&self, id: TypeId, name: &str) -> Option<FieldRef> {
        self.find_member_depth(id, name, 0)
    }

    fn find_member_depth(&self, id: TypeId, name: &str, depth: u32) -> Option<FieldRef> {
        if depth > 32 {
            return None;
        }
        for m in self.members(id) {
            if m.name == name {
                return Some(FieldRef { ty: m.ty, bit_offset: m.bit_offset, bitfield_size: m.bitfield_size });
            }
            if m.name.is_empty() {
                if let Some(mut f) = self.find_member_depth(m.ty, name, depth + 1) {
                    f.bit_offset += m.bit_offset;
                    return Some(f);
                }
            }
        }
        None
    }

    /// The FUNC_PROTO of FUNC `func` (or `func` itself if it already is one).
    pub fn func_proto(&self, func: TypeId) -> Option<TypeId> {
        let t = self.ty(func)?;
        match t.kind() {
            Kind::Func => self.func_proto(t.type_ref()),
            Kind::FuncProto => Some(func),
            Kind::Typedef | Kind::Ptr | Kind::Const | Kind::Volatile | Kind::TypeTag => self.func_proto(t.type_ref()),
            _ => None,
        }
    }

    /// Parameters of a FUNC or FUNC_PROTO. A variadic prototype ends with a `(ty 0, "")` entry.
    pub fn params(&self, func: TypeId) -> Vec<Param<'_>> {
        self.func_proto(func).and_then(|p| self.ty(p)).map_or(vec![], |t| t.params().collect())
    }

    /// Return type of a FUNC or FUNC_PROTO (0 = void).
    pub fn return_type(&self, func: TypeId) -> Option<TypeId> {
        Some(self.ty(self.func_proto(func)?)?.type_ref())
    }

    /// This object's own FUNCs (not the base's), in id order.
    pub fn funcs(&self) -> impl Iterator<Item = (TypeId, &str)> + '_ {
        self.own_ids().filter_map(|id| {
            let t = self.ty(id)?;
            (t.kind() == Kind::Func).then(|| (id, t.name()))
        })
    }

    /// Raw tracepoints of this object: `(event, typedef id)` for each `btf_trace_<event>`
    /// typedef, whose target is a pointer to the FUNC_PROTO a raw tracepoint program receives.
    pub fn raw_tracepoints(&self) -> impl Iterator<Item = (&str, TypeId)> + '_ {
        self.own_ids().filter_map(|id| {
            let t = self.ty(id)?;
            if t.kind() != Kind::Typedef {
                return None;
            }
            t.name().strip_prefix("btf_trace_").map(|ev| (ev, id))
        })
    }

    /// The arguments of raw tracepoint `event` with their names, without the leading
    /// `void *__data` (from `__probestub_<event>`, else `__traceiter_<event>`).
    pub fn raw_tracepoint_params(&self, event: &str) -> Option<Vec<Param<'_>>> {
        RAW_TRACEPOINT_FUNC_PREFIXES.iter().find_map(|p| {
            let f = self.find(Kind::Func, &format!("{p}{event}"))?;
            Some(self.params(f).into_iter().skip(1).collect())
        })
    }

    /// Values of enum `id` (after resolving typedefs).
    pub fn enum_values(&self, id: TypeId) -> Vec<EnumValue<'_>> {
        match self.ty(self.resolve(id)) {
            Some(t) if matches!(t.kind(), Kind::Enum | Kind::Enum64) => t.enum_values().collect(),
            _ => vec![],
        }
    }

    fn enumerator_index(&self) -> &(NameIndex, Words) {
        self.enumerators.get_or_init(|| {
            let mut packed = vec![];
            let mut hashes = vec![];
            for id in self.own_ids() {
                let Some(t) = self.ty(id) else { continue };
                if matches!(t.kind(), Kind::Enum | Kind::Enum64) {
                    for (i, v) in t.enum_values().enumerate() {
                        // (id << 16 | i) as its low and high words.
                        packed.extend([(id << 16) | i as u32, id >> 16]);
                        hashes.push(index::hash(v.name.as_bytes()));
                    }
                }
            }
            let idx = NameIndex::build(hashes.len(), hashes.into_iter().enumerate().map(|(i, h)| (i as u32 + 1, h)));
            (idx, Words::Owned(packed))
        })
    }

    /// An enum constant by name (`PIDTYPE_PID`): its enum's id and value. Searches this
    /// object, then the base.
    pub fn enum_value(&self, name: &str) -> Option<(TypeId, i64)> {
        let (idx, packed) = self.enumerator_index();
        let decode = |slot: u32| -> Option<(TypeId, EnumValue<'_>)> {
            let at = 2 * (slot as usize).checked_sub(1)?;
            let v = packed.get(at)? as u64 | (packed.get(at + 1)? as u64) << 32;
            let id = (v >> 16) as TypeId;
            let e = self.ty(id)?.enum_values().nth((v & 0xffff) as usize)?;
            Some((id, e))
        };
        let found = idx
            .lookup(name, |slot| decode(slot).map_or("", |(_, e)| e.name))
            .next()
            .and_then(decode)
            .map(|(id, e)| (id, e.value));
        found.or_else(|| self.base.as_ref()?.enum_value(name))
    }

    /// The C spelling of type `id` as used in a declaration without a name: `struct file *`,
    /// `const char *`, `int (*)(void *)`, `char[16]`.
    pub fn type_name(&self, id: TypeId) -> String {
        cdecl::decl(self, id, "")
    }

    /// A C declaration of `name` with type `id`: `char comm[16]`, `void (*func)(void *)`.
    pub fn declaration(&self, id: TypeId, name: &str) -> String {
        cdecl::decl(self, id, name)
    }

    /// The C definition of a named struct, union or enum, in the layout libbpf's BTF dumper
    /// prints (tab indents, anonymous members inline, bitfields, explicit padding), ending
    /// with `};` and a newline.
    pub fn c_definition(&self, id: TypeId) -> Option<String> {
        cdecl::definition(self, id)
    }
}

#[cfg(test)]
mod tests;
