//! Kernel types from the running kernel's BTF, as the language sees them: `struct task_struct *`
//! casts, `curtask`, `p->field` chains, `sizeof`/`offsetof` of kernel types. BTF is read only
//! when a script uses one of these.
use crate::cstruct::{script_type, ScriptStruct, SCRIPT_ID_BASE};
use crate::types::{AddrSpace, EnumDef, Type};
use ferret_btf::{Btf, Kind, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The running kernel's BTF, or why it is unavailable.
pub fn btf() -> Result<Arc<Btf>, String> {
    ferret_btf::kernel::vmlinux().map_err(|e| format!("kernel BTF is not available: {e}"))
}

/// The structs and unions the script defines, in the current compile's context (set once per
/// compile, before sema; see [`crate::context`]).
pub fn set_script_structs(structs: Vec<ScriptStruct>) {
    *crate::context::current().structs() = structs;
}

/// A struct from a probed binary's debug info (uprobe `args`), kept with the script's own:
/// its id when one of that name is already there (the script's definition wins), else a new
/// entry whose members `fill` computes. `fill` runs without the lock held and may intern the
/// structs the members refer to, this one included (self-referencing pointers).
pub fn intern_struct(name: &str, size: u32, fill: impl FnOnce() -> Vec<crate::cstruct::ScriptField>) -> TypeId {
    let ctx = crate::context::current();
    let idx = {
        let mut v = ctx.structs();
        if let Some(i) = v.iter().position(|s| s.name == name) {
            return SCRIPT_ID_BASE + i as u32;
        }
        v.push(ScriptStruct { name: name.to_string(), size, align: 1, fields: vec![] });
        v.len() - 1
    };
    let fields = fill();
    // Computed before taking the lock: a member's alignment may look up another struct.
    let align = fields.iter().map(|f| f.ty.member_align()).max().unwrap_or(1);
    if let Some(s) = ctx.structs().get_mut(idx) {
        s.fields = fields;
        s.align = align;
    }
    SCRIPT_ID_BASE + idx as u32
}

fn script_struct<T>(f: impl FnOnce(&[ScriptStruct]) -> Option<T>) -> Option<T> {
    f(&crate::context::current().structs())
}

/// `struct x` / `union x` / a typedef name → its id: the kernel's BTF definition when there is
/// one, else the script's own (ids from [`SCRIPT_ID_BASE`]).
pub fn lookup(name: &str) -> Option<TypeId> {
    let name = name.trim();
    if let Some(id) = lookup_btf(name) {
        return Some(id);
    }
    script_struct(|v| v.iter().position(|s| s.name == name).map(|i| SCRIPT_ID_BASE + i as u32))
}

fn lookup_btf(name: &str) -> Option<TypeId> {
    let btf = btf().ok()?;
    let id = if let Some(n) = name.strip_prefix("struct ") {
        btf.find(Kind::Struct, n.trim())?
    } else if let Some(n) = name.strip_prefix("union ") {
        btf.find(Kind::Union, n.trim())?
    } else if let Some(n) = name.strip_prefix("enum ") {
        btf.find(Kind::Enum, n.trim()).or_else(|| btf.find(Kind::Enum64, n.trim()))?
    } else {
        btf.find(Kind::Typedef, name).or_else(|| btf.lookup(name))?
    };
    Some(id)
}

/// The language type of BTF type `id`. Structs and unions stay references into BTF (their
/// members are looked up on use); char arrays are strings; pointers keep their pointee.
pub fn type_of(id: TypeId) -> Type {
    if id >= SCRIPT_ID_BASE {
        return script_struct(|v| {
            v.get((id - SCRIPT_ID_BASE) as usize).map(|s| script_type(s, (id - SCRIPT_ID_BASE) as usize))
        })
        .unwrap_or(Type::None);
    }
    match btf() {
        Ok(b) => convert(&b, id, 0),
        Err(_) => Type::Int { bytes: 8, signed: false },
    }
}

fn convert(btf: &Btf, id: TypeId, depth: u32) -> Type {
    let u64_t = Type::Int { bytes: 8, signed: false };
    let rid = btf.resolve(id);
    let Some(t) = btf.ty(rid) else { return u64_t };
    match t.kind() {
        Kind::Int => match t.int() {
            Some(i) if i.bool => Type::Bool,
            Some(i) => Type::Int { bytes: t.size().clamp(1, 8) as u8, signed: i.signed },
            None => u64_t,
        },
        Kind::Ptr => {
            let target = btf.resolve(t.type_ref());
            let pointee = if depth > 4 {
                u64_t
            } else {
                match btf.ty(target).map(|x| x.kind()) {
                    // void *: bytes
                    None | Some(Kind::Void) | Some(Kind::FuncProto) => Type::Int { bytes: 1, signed: false },
                    _ => convert(btf, target, depth + 1),
                }
            };
            Type::Ptr { space: AddrSpace::Kernel, pointee: Box::new(pointee) }
        }
        Kind::Array => {
            let Some(a) = t.array() else { return u64_t };
            let elem = convert(btf, a.elem, depth + 1);
            match elem {
                Type::Int { bytes: 1, .. } if is_char(btf, a.elem) => Type::Str(a.len.max(1)),
                elem => Type::Array { elem: Box::new(elem), len: a.len },
            }
        }
        Kind::Struct | Kind::Union => {
            let prefix = if t.kind() == Kind::Struct { "struct" } else { "union" };
            Type::Struct { name: format!("{prefix} {}", t.name()), id: rid, size: t.size() }
        }
        Kind::Enum | Kind::Enum64 => Type::Enum(enum_def(btf, rid)),
        _ => u64_t,
    }
}

/// Whether an array of `id` is text: its element type, through qualifiers but not typedefs, is
/// a C `char` (`char comm[16]`, `unsigned char d_iname[]`). Typedef'd bytes (`__u8
/// u6_addr8[16]`, `uint8_t`) are numbers, as in bpftrace.
fn is_char(btf: &Btf, id: TypeId) -> bool {
    let id = btf.strip_qualifiers(id);
    btf.ty(id)
        .filter(|t| t.kind() == Kind::Int)
        .and_then(|t| t.int())
        .is_some_and(|i| (i.char || i.bits == 8) && !i.bool)
}

/// Enum definitions are shared per BTF id (a big enum is built once).
fn enum_def(btf: &Btf, id: TypeId) -> Arc<EnumDef> {
    static CACHE: OnceLock<Mutex<HashMap<TypeId, Arc<EnumDef>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
    c.entry(id)
        .or_insert_with(|| {
            let name = btf.ty(id).map(|t| t.name().to_string()).unwrap_or_default();
            let variants = btf.enum_values(id).into_iter().map(|v| (v.name.to_string(), v.value as u64)).collect();
            Arc::new(EnumDef { name, variants })
        })
        .clone()
}

/// Member `field` of struct/union `id`: its type, byte offset and, for bitfields, (bit shift
/// within the loaded bytes, width).
pub struct Field {
    pub ty: Type,
    pub offset: u32,
    pub bitfield: Option<(u32, u32)>,
}

pub fn field(id: TypeId, name: &str) -> Option<Field> {
    if id >= SCRIPT_ID_BASE {
        return script_field(|v| v.get((id - SCRIPT_ID_BASE) as usize), name);
    }
    let btf = btf().ok()?;
    let Some(f) = btf.find_member(id, name) else {
        // A field the kernel renamed or dropped, declared in the script's own copy of the
        // struct: the script's layout is all there is.
        let sname = btf.type_name(id);
        return script_field(|v| v.iter().find(|s| s.name == sname), name);
    };
    let ty = convert(&btf, f.ty, 0);
    if f.bitfield_size == 0 {
        return Some(Field { ty, offset: f.bit_offset / 8, bitfield: None });
    }
    // Load the aligned bytes holding the bitfield (at most 8), then shift and mask.
    let start = f.bit_offset / 8;
    let shift = f.bit_offset % 8;
    Some(Field { ty, offset: start, bitfield: Some((shift, f.bitfield_size)) })
}

fn script_field(pick: impl FnOnce(&[ScriptStruct]) -> Option<&ScriptStruct>, name: &str) -> Option<Field> {
    script_struct(|v| {
        let s = pick(v)?;
        // anonymous members are searched too, as C does
        let direct = s.fields.iter().find(|f| f.name == name);
        let f = direct?;
        Some(Field { ty: f.ty.clone(), offset: f.offset, bitfield: f.bitfield })
    })
}

/// Every member of struct/union `id` in order (anonymous members' fields inlined), for printing
/// a whole struct: (name, type, byte offset, bitfield).
pub fn struct_fields(id: TypeId) -> Vec<(String, Field)> {
    if id >= SCRIPT_ID_BASE {
        return script_struct(|v| {
            v.get((id - SCRIPT_ID_BASE) as usize).map(|s| {
                s.fields
                    .iter()
                    .map(|f| (f.name.clone(), Field { ty: f.ty.clone(), offset: f.offset, bitfield: f.bitfield }))
                    .collect()
            })
        })
        .unwrap_or_default();
    }
    let Ok(btf) = btf() else { return vec![] };
    let mut out = vec![];
    for m in btf.members(id) {
        if m.name.is_empty() {
            for (n, mut f) in struct_fields(btf.resolve(m.ty)) {
                f.offset += m.bit_offset / 8;
                out.push((n, f));
            }
            continue;
        }
        let ty = convert(&btf, m.ty, 0);
        let bitfield = (m.bitfield_size > 0).then_some((m.bit_offset % 8, m.bitfield_size));
        out.push((m.name.to_string(), Field { ty, offset: m.bit_offset / 8, bitfield }));
    }
    out
}

/// The C alignment of struct or union `id`: a script struct's as it was laid out, a kernel
/// one's from its members' BTF types.
pub fn struct_align(id: TypeId) -> u32 {
    if id >= SCRIPT_ID_BASE {
        return script_struct(|v| v.get((id - SCRIPT_ID_BASE) as usize).map(|s| s.align)).unwrap_or(1).max(1);
    }
    btf().map_or(8, |b| b.align_of(id)).max(1)
}

/// `sizeof(struct x)`.
pub fn size_of(id: TypeId) -> Option<u32> {
    if id >= SCRIPT_ID_BASE {
        return script_struct(|v| v.get((id - SCRIPT_ID_BASE) as usize).map(|s| s.size));
    }
    btf().ok()?.size_of(id)
}

/// The struct type `task_struct` pointers have (`curtask`).
pub fn task_struct_ptr() -> Type {
    match lookup("struct task_struct") {
        Some(id) => Type::Ptr { space: AddrSpace::Kernel, pointee: Box::new(type_of(id)) },
        None => Type::Int { bytes: 8, signed: false },
    }
}

/// `offsetof(struct x, a.b)`: byte offset of a (nested) member.
pub fn offset_of(id: TypeId, path: &[String]) -> Result<u32, String> {
    let mut cur = if id >= SCRIPT_ID_BASE { type_of(id) } else { convert(&*btf()?, id, 0) };
    let mut total = 0;
    for name in path {
        let Type::Struct { id, name: sname, .. } = cur else {
            return Err(format!("'{name}' is not in a struct"));
        };
        let f = field(id, name).ok_or_else(|| format!("'{sname}' has no field named '{name}'"))?;
        total += f.offset;
        cur = f.ty;
    }
    Ok(total)
}

/// A kernel enum constant by name (`TASK_COMM_LEN`, `BTF_VAR_STATIC`): its enum's definition.
/// Only consulted for identifiers that are nothing else, so BTF is loaded only then.
pub fn enum_constant(name: &str) -> Option<Arc<EnumDef>> {
    let btf = btf().ok()?;
    let (id, _) = btf.enum_value(name)?;
    Some(enum_def(&btf, btf.resolve(id)))
}

/// A raw tracepoint's arguments (`rawtracepoint:sched_switch` → `preempt`, `prev`, `next`)
/// with their types, from the kernel's BTF; None when BTF does not describe the event.
pub fn raw_tracepoint_args(event: &str) -> Option<Vec<(String, Type)>> {
    let btf = btf().ok()?;
    let params = btf.raw_tracepoint_params(event)?;
    Some(params.iter().map(|p| (p.name.to_string(), convert(&btf, p.ty, 0))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_struct_members() {
        if let Err(e) = btf() {
            ferret_testing::skip(e);
            return;
        }
        let id = lookup("struct task_struct").unwrap();
        let pid = field(id, "pid").unwrap();
        assert_eq!(pid.ty, Type::Int { bytes: 4, signed: true });
        assert!(pid.offset > 0);
        let comm = field(id, "comm").unwrap();
        assert_eq!(comm.ty, Type::Str(16));
        let parent = field(id, "real_parent").unwrap();
        assert!(matches!(parent.ty, Type::Ptr { ref pointee, .. } if matches!(**pointee, Type::Struct { .. })));
        assert!(size_of(id).unwrap() > 1000);
        assert_eq!(offset_of(id, &["pid".into()]).unwrap(), pid.offset);
    }
}
