//! Views of single BTF types, decoded on access from the raw `struct btf_type` bytes.
use crate::{u32_at, Btf, TypeId, TYPE_HEADER};

/// `BTF_KIND_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Type id 0; never stored.
    Void,
    Int,
    Ptr,
    Array,
    Struct,
    Union,
    Enum,
    /// A forward declaration (`struct foo;`, or `union foo;` with kind_flag).
    Fwd,
    Typedef,
    Volatile,
    Const,
    Restrict,
    Func,
    FuncProto,
    Var,
    Datasec,
    Float,
    DeclTag,
    TypeTag,
    Enum64,
}

impl Kind {
    pub(crate) fn from_raw(k: u32) -> Option<Kind> {
        use Kind::*;
        Some(match k {
            1 => Int,
            2 => Ptr,
            3 => Array,
            4 => Struct,
            5 => Union,
            6 => Enum,
            7 => Fwd,
            8 => Typedef,
            9 => Volatile,
            10 => Const,
            11 => Restrict,
            12 => Func,
            13 => FuncProto,
            14 => Var,
            15 => Datasec,
            16 => Float,
            17 => DeclTag,
            18 => TypeTag,
            19 => Enum64,
            _ => return None,
        })
    }

    /// Bytes that follow the 12-byte header for this kind with `vlen` entries.
    pub(crate) fn extra_len(self, vlen: usize) -> usize {
        use Kind::*;
        match self {
            Int | Var | DeclTag => 4,
            Array => 12,
            Struct | Union | Datasec | Enum64 => 12 * vlen,
            Enum | FuncProto => 8 * vlen,
            _ => 0,
        }
    }

    /// Kinds that name another type without changing its layout: typedef, qualifiers, tags.
    pub fn is_alias(self) -> bool {
        matches!(self, Kind::Typedef | Kind::Const | Kind::Volatile | Kind::Restrict | Kind::TypeTag)
    }

    /// `const`, `volatile`, `restrict` and type tags (not typedefs).
    pub fn is_qualifier(self) -> bool {
        matches!(self, Kind::Const | Kind::Volatile | Kind::Restrict | Kind::TypeTag)
    }
}

/// `BTF_KIND_INT` details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntInfo {
    pub signed: bool,
    /// `BTF_INT_CHAR`: the compiler said "char" (signedness is in `signed`).
    pub char: bool,
    pub bool: bool,
    /// Bit offset of the value inside its storage (0 in kernel BTF).
    pub offset: u32,
    pub bits: u32,
}

/// `BTF_KIND_ARRAY` details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayInfo {
    pub elem: TypeId,
    pub index: TypeId,
    pub len: u32,
}

/// A struct or union member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    /// Empty for anonymous struct/union members.
    pub name: &'a str,
    pub ty: TypeId,
    /// Bit offset from the start of the containing struct/union.
    pub bit_offset: u32,
    /// Width of a bitfield; 0 for an ordinary member.
    pub bitfield_size: u32,
}

/// A field found by [`Btf::find_member`], possibly inside anonymous members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRef {
    pub ty: TypeId,
    /// From the start of the struct the search began at.
    pub bit_offset: u32,
    pub bitfield_size: u32,
}

/// A FUNC_PROTO parameter; `ty` 0 with an empty name marks `...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    pub name: &'a str,
    pub ty: TypeId,
}

/// One enumerator. Unsigned 64-bit values above `i64::MAX` wrap, as their bit pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnumValue<'a> {
    pub name: &'a str,
    pub value: i64,
}

/// One type, borrowed from its [`Btf`]. Cheap to copy; every accessor decodes on demand.
#[derive(Clone, Copy)]
pub struct Type<'a> {
    btf: &'a Btf,
    id: TypeId,
    bytes: &'a [u8],
}

impl std::fmt::Debug for Type<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {:?} '{}'", self.id, self.kind(), self.name())
    }
}

impl<'a> Type<'a> {
    pub(crate) fn new(btf: &'a Btf, id: TypeId, bytes: &'a [u8]) -> Self {
        Type { btf, id, bytes }
    }

    fn word(&self, i: usize) -> u32 {
        u32_at(self.bytes, i * 4)
    }

    fn info(&self) -> u32 {
        self.word(1)
    }

    pub fn id(&self) -> TypeId {
        self.id
    }

    pub fn kind(&self) -> Kind {
        Kind::from_raw((self.info() >> 24) & 0x1f).unwrap_or(Kind::Void)
    }

    /// The type's name; "" when anonymous.
    pub fn name(&self) -> &'a str {
        self.btf.str_at(self.word(0))
    }

    /// Members, enumerators or parameters; a FUNC's linkage.
    pub fn vlen(&self) -> u16 {
        (self.info() & 0xffff) as u16
    }

    /// Bitfield-encoded members (struct/union), `union` (fwd), signed values (enum).
    pub fn kind_flag(&self) -> bool {
        self.info() >> 31 == 1
    }

    /// Byte size, for int, struct, union, enum, float and datasec.
    pub fn size(&self) -> u32 {
        self.word(2)
    }

    /// The referenced type for ptr, typedef, qualifiers, func, var and tags; a prototype's
    /// return type.
    pub fn type_ref(&self) -> TypeId {
        self.word(2)
    }

    pub fn int(&self) -> Option<IntInfo> {
        if self.kind() != Kind::Int {
            return None;
        }
        let v = u32_at(self.bytes, TYPE_HEADER);
        let enc = (v >> 24) & 0xf;
        Some(IntInfo {
            signed: enc & 1 != 0,
            char: enc & 2 != 0,
            bool: enc & 4 != 0,
            offset: (v >> 16) & 0xff,
            bits: v & 0xff,
        })
    }

    pub fn array(&self) -> Option<ArrayInfo> {
        if self.kind() != Kind::Array {
            return None;
        }
        let w = |i: usize| u32_at(self.bytes, TYPE_HEADER + 4 * i);
        Some(ArrayInfo { elem: w(0), index: w(1), len: w(2) })
    }

    /// Struct/union members; empty for other kinds.
    pub fn members(&self) -> impl Iterator<Item = Member<'a>> + 'a {
        let n = if matches!(self.kind(), Kind::Struct | Kind::Union) { self.vlen() as usize } else { 0 };
        let (btf, bytes, bitfields) = (self.btf, self.bytes, self.kind_flag());
        (0..n).map(move |i| {
            let at = TYPE_HEADER + 12 * i;
            let off = u32_at(bytes, at + 8);
            let (bit_offset, bitfield_size) = if bitfields { (off & 0xff_ffff, off >> 24) } else { (off, 0) };
            Member { name: btf.str_at(u32_at(bytes, at)), ty: u32_at(bytes, at + 4), bit_offset, bitfield_size }
        })
    }

    /// FUNC_PROTO parameters; empty for other kinds.
    pub fn params(&self) -> impl Iterator<Item = Param<'a>> + 'a {
        let n = if self.kind() == Kind::FuncProto { self.vlen() as usize } else { 0 };
        let (btf, bytes) = (self.btf, self.bytes);
        (0..n).map(move |i| {
            let at = TYPE_HEADER + 8 * i;
            Param { name: btf.str_at(u32_at(bytes, at)), ty: u32_at(bytes, at + 4) }
        })
    }

    /// Enumerators of an enum or enum64; empty for other kinds.
    pub fn enum_values(&self) -> impl Iterator<Item = EnumValue<'a>> + 'a {
        let kind = self.kind();
        let n = if matches!(kind, Kind::Enum | Kind::Enum64) { self.vlen() as usize } else { 0 };
        let (btf, bytes, signed) = (self.btf, self.bytes, self.kind_flag());
        (0..n).map(move |i| {
            if kind == Kind::Enum {
                let at = TYPE_HEADER + 8 * i;
                let raw = u32_at(bytes, at + 4);
                let value = if signed { raw as i32 as i64 } else { raw as i64 };
                EnumValue { name: btf.str_at(u32_at(bytes, at)), value }
            } else {
                let at = TYPE_HEADER + 12 * i;
                let value = ((u32_at(bytes, at + 8) as u64) << 32 | u32_at(bytes, at + 4) as u64) as i64;
                EnumValue { name: btf.str_at(u32_at(bytes, at)), value }
            }
        })
    }
}
