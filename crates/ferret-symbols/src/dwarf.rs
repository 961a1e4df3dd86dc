//! A function's parameters and the types they reach, from a file's DWARF (`.debug_info`): what
//! uprobe `args.NAME` reads and what `-lv 'uprobe:BIN:FUNC'` lists. Types are reduced to what a
//! probe can use (integers, pointers, structs and unions with their member offsets, arrays);
//! each parameter also keeps its C spelling for listing.
use gimli::{AttributeValue, EndianArcSlice, Reader as _, RunTimeEndian};
use object::{Object, ObjectSection};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

type Reader = EndianArcSlice<RunTimeEndian>;
type Unit = gimli::Unit<Reader>;
type Entry<'a> = gimli::DebuggingInformationEntry<'a, 'a, Reader>;

/// A type as a probe sees it: qualifiers and typedefs are peeled off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CType {
    Void,
    /// Integers, `bool`, characters and enums.
    Int {
        bytes: u8,
        signed: bool,
    },
    /// Floating point: not readable from the integer argument registers.
    Float(u8),
    Ptr(Box<CType>),
    /// A struct or union by its C name (`struct Foo`); its layout is in [`FuncDebug::structs`].
    Struct(String),
    Array(Box<CType>, u32),
    /// Anything else (function types, unsupported tags).
    Other,
}

/// One formal parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Empty for unnamed parameters.
    pub name: String,
    /// The C spelling bpftrace lists (`int*`, `struct Foo*`, `const char*`).
    pub c_type: String,
    pub ty: CType,
}

/// A struct or union reached from the parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructDef {
    /// `struct Foo` / `union Bar`.
    pub name: String,
    pub size: u32,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub ty: CType,
    /// Byte offset (of the storage unit, for bitfields).
    pub offset: u32,
    /// (bit shift within the bytes at `offset`, width) for bitfields.
    pub bitfield: Option<(u32, u32)>,
}

/// A function's parameters and every struct they reach (through pointers and members).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FuncDebug {
    pub params: Vec<Param>,
    pub structs: Vec<StructDef>,
}

/// A file's debug info, loaded once and searched per function: its own DWARF or that of its
/// separate debug file (see [`crate::debugfile`]), with the split units of skeleton units
/// (`-gsplit-dwarf`) from their `.dwo` files or the `.dwp` package beside the binary.
pub struct Debug {
    dwarf: gimli::Dwarf<Reader>,
    /// Split compilation units by the DWO id of their skeleton.
    splits: HashMap<u64, gimli::Dwarf<Reader>>,
    /// Skeleton units whose split unit was not found (bpftrace warns, and goes on with what the
    /// skeletons have).
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Debug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Debug")
    }
}

/// An ELF file's DWARF sections (`.dwo` ones for a split file), each decompressed.
fn load_sections(file: &object::File<'_>, dwo: bool) -> Option<gimli::Dwarf<Reader>> {
    let endian = endian_of(file);
    let load = |id: gimli::SectionId| -> Result<Reader, gimli::Error> {
        let name = if dwo { id.dwo_name() } else { Some(id.name()) };
        let bytes =
            name.and_then(|n| file.section_by_name(n)).and_then(|s| s.uncompressed_data().ok()).unwrap_or_default();
        Ok(EndianArcSlice::new(Arc::from(&*bytes), endian))
    };
    gimli::Dwarf::load(load).ok()
}

fn endian_of(file: &object::File<'_>) -> RunTimeEndian {
    if file.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    }
}

impl Debug {
    /// The DWARF of the ELF file at `path`, or of its separate debug file; `None` when neither
    /// has `.debug_info`.
    pub fn open(path: &Path) -> Option<Debug> {
        let data = std::fs::read(path).ok()?;
        let file = object::File::parse(&*data).ok()?;
        let dwarf = match file.section_by_name(".debug_info") {
            Some(_) => load_sections(&file, false)?,
            None => {
                let (_, debug) = crate::debugfile::find(path, &file)?;
                load_sections(&object::File::parse(&*debug).ok()?, false)?
            }
        };
        let mut debug = Debug { dwarf, splits: HashMap::new(), warnings: vec![] };
        debug.load_splits(path);
        Some(debug)
    }

    /// Finds the split unit of every skeleton unit: in the `.dwp` package beside the binary,
    /// else in the `.dwo` file the skeleton names (relative to its compilation directory, or
    /// beside the binary).
    fn load_splits(&mut self, path: &Path) {
        let mut dwp: Option<Option<DwpFile>> = None;
        let mut headers = self.dwarf.units();
        while let Ok(Some(header)) = headers.next() {
            let Ok(unit) = self.dwarf.unit(header) else { continue };
            let Some(id) = unit.dwo_id else { continue };
            if self.splits.contains_key(&id.0) {
                continue;
            }
            let package = dwp.get_or_insert_with(|| DwpFile::open(&with_suffix(path, ".dwp")));
            let found = package
                .as_ref()
                .and_then(|p| p.package.find_cu(id, &self.dwarf).ok().flatten())
                .or_else(|| self.dwo_file(&unit, path));
            match found {
                Some(split) => {
                    self.splits.insert(id.0, split);
                }
                None => self.warnings.push(self.missing_split(&unit, path)),
            }
        }
    }

    /// The `.dwo` file of a skeleton unit, made to read its addresses from the binary.
    fn dwo_file(&self, unit: &Unit, path: &Path) -> Option<gimli::Dwarf<Reader>> {
        let name = self.dwo_name(unit)?;
        let comp_dir = unit.comp_dir.as_ref().and_then(|d| d.to_string_lossy().ok().map(|c| c.into_owned()));
        let beside = path.parent().unwrap_or(Path::new(".")).join(Path::new(&name).file_name()?);
        let mut tries = vec![];
        if let Some(dir) = comp_dir {
            tries.push(Path::new(&dir).join(&name));
        }
        tries.push(beside);
        tries.into_iter().find_map(|p| {
            let data = std::fs::read(p).ok()?;
            let file = object::File::parse(&*data).ok()?;
            let mut dwo = load_sections(&file, true)?;
            dwo.make_dwo(&self.dwarf);
            Some(dwo)
        })
    }

    fn dwo_name(&self, unit: &Unit) -> Option<String> {
        let v = unit.dwo_name().ok()??;
        let s = self.dwarf.attr_string(unit, v).ok()?;
        Some(s.to_string_lossy().ok()?.into_owned())
    }

    /// bpftrace's warning for a skeleton unit without its split unit.
    fn missing_split(&self, unit: &Unit, path: &Path) -> String {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let dwo = self
            .dwo_name(unit)
            .and_then(|n| Path::new(&n).file_name().map(|f| f.to_string_lossy().into_owned()))
            .unwrap_or_else(|| format!("{stem}.dwo"));
        format!(
            "Unable to find split debug file '{dwo}' or '{stem}.dwp' for '{}', debugging information may be \
             incomplete!",
            path.display()
        )
    }

    /// Calls `f` with each compilation unit that describes types and functions (a skeleton's
    /// split unit in its place) until it returns `Some`.
    fn find_unit<T>(&self, mut f: impl FnMut(&gimli::Dwarf<Reader>, &Unit) -> Option<T>) -> Option<T> {
        let mut headers = self.dwarf.units();
        while let Ok(Some(header)) = headers.next() {
            let Ok(unit) = self.dwarf.unit(header) else { continue };
            let split = unit.dwo_id.and_then(|id| self.splits.get(&id.0));
            let found = match split {
                Some(dwo) => {
                    let Some(mut split_unit) = dwo.units().next().ok().flatten().and_then(|h| dwo.unit(h).ok()) else {
                        continue;
                    };
                    split_unit.copy_relocated_attributes(&unit);
                    f(dwo, &split_unit)
                }
                None => f(&self.dwarf, &unit),
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// The parameters of function `func`; `None` when no unit defines it.
    pub fn function(&self, func: &str) -> Option<FuncDebug> {
        self.find_unit(|dwarf, unit| find_in_unit(dwarf, unit, func))
    }

    /// A struct or union by its C name (`struct Foo`), with every struct its members reach;
    /// `None` when no unit defines it.
    pub fn named_struct(&self, name: &str) -> Option<(CType, Vec<StructDef>)> {
        let (tag, bare) = match (name.strip_prefix("struct "), name.strip_prefix("union ")) {
            (Some(n), _) => (gimli::DW_TAG_structure_type, n.trim()),
            (_, Some(n)) => (gimli::DW_TAG_union_type, n.trim()),
            _ => return None,
        };
        self.find_unit(|dwarf, unit| {
            let mut entries = unit.entries();
            while let Ok(Some((_, e))) = entries.next_dfs() {
                if e.tag() != tag
                    || e.attr_value(gimli::DW_AT_declaration).ok().flatten().is_some()
                    || name_of(dwarf, unit, e).as_deref() != Some(bare)
                {
                    continue;
                }
                let mut r = Resolver { dwarf, unit, structs: HashMap::new(), order: vec![] };
                let ty = r.struct_type(e.offset(), 0);
                let structs = r.order.iter().filter_map(|n| r.structs.remove(n).flatten()).collect();
                return Some((ty, structs));
            }
            None
        })
    }
}

/// A `.dwp` package: every split unit of a binary in one file.
struct DwpFile {
    package: gimli::DwarfPackage<Reader>,
}

impl DwpFile {
    fn open(path: &Path) -> Option<DwpFile> {
        let data = std::fs::read(path).ok()?;
        let file = object::File::parse(&*data).ok()?;
        let endian = endian_of(&file);
        let load = |id: gimli::SectionId| -> Result<Reader, gimli::Error> {
            let bytes = id
                .dwo_name()
                .and_then(|n| file.section_by_name(n))
                .and_then(|s| s.uncompressed_data().ok())
                .unwrap_or_default();
            Ok(EndianArcSlice::new(Arc::from(&*bytes), endian))
        };
        let empty = EndianArcSlice::new(Arc::from(&[][..]), endian);
        Some(DwpFile { package: gimli::DwarfPackage::load(load, empty).ok()? })
    }
}

/// `path` with `suffix` appended to its file name (`a/b` → `a/b.dwp`).
fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

impl Debug {
    /// `uprobe:BIN@FILE:LINE[:COL]`: the lowest address of code from that source line (`col`
    /// 0: any column). FILE matches a line table's file by trailing path components.
    pub fn line_address(&self, file: &str, line: u64, col: u64) -> Result<u64, String> {
        let mut best: Option<u64> = None;
        let mut headers = self.dwarf.units();
        while let Ok(Some(header)) = headers.next() {
            let Ok(unit) = self.dwarf.unit(header) else { continue };
            let Some(program) = unit.line_program.clone() else { continue };
            let mut rows = program.rows();
            while let Ok(Some((header, row))) = rows.next_row() {
                if row.end_sequence() || row.line().map(|l| l.get()) != Some(line) {
                    continue;
                }
                let column = match row.column() {
                    gimli::ColumnType::LeftEdge => 0,
                    gimli::ColumnType::Column(c) => c.get(),
                };
                if col != 0 && column != col {
                    continue;
                }
                let Some(path) = row.file(header).and_then(|f| self.file_path(&unit, header, f)) else { continue };
                if path_ends_with(&path, file) {
                    best = Some(best.map_or(row.address(), |b| b.min(row.address())));
                }
            }
        }
        let at = if col > 0 { format!("{file}:{line}:{col}") } else { format!("{file}:{line}") };
        best.ok_or_else(|| format!("Unable to map '{at}' to address"))
    }

    /// A line table file's path: its directory (when it has one) joined with its name.
    fn file_path(
        &self,
        unit: &Unit,
        header: &gimli::LineProgramHeader<Reader>,
        f: &gimli::FileEntry<Reader>,
    ) -> Option<String> {
        let attr_str =
            |v| self.dwarf.attr_string(unit, v).ok().and_then(|s| s.to_string_lossy().ok().map(|c| c.into_owned()));
        let name = attr_str(f.path_name())?;
        let dir = f.directory(header).and_then(attr_str).unwrap_or_default();
        Some(if dir.is_empty() || name.starts_with('/') { name } else { format!("{dir}/{name}") })
    }
}

/// Whether `path`'s last components are `suffix`'s (`/src/a/b.c` ends with `a/b.c`, not `/b.c`
/// of another directory's `xb.c`).
fn path_ends_with(path: &str, suffix: &str) -> bool {
    let p: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    let s: Vec<&str> = suffix.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    !s.is_empty() && p.ends_with(&s)
}

/// The parameters of function `func` in the ELF file at `path` (see [`struct@Debug`]).
pub fn function_params(path: &Path, func: &str) -> Option<FuncDebug> {
    Debug::open(path)?.function(func)
}

/// The defining subprogram DIE named `func` in one unit, read into a [`FuncDebug`].
fn find_in_unit(dwarf: &gimli::Dwarf<Reader>, unit: &Unit, func: &str) -> Option<FuncDebug> {
    let mut entries = unit.entries();
    while let Ok(Some((_, e))) = entries.next_dfs() {
        if e.tag() != gimli::DW_TAG_subprogram || e.attr_value(gimli::DW_AT_declaration).ok().flatten().is_some() {
            continue;
        }
        if name_of(dwarf, unit, e).as_deref() != Some(func) {
            continue;
        }
        let mut r = Resolver { dwarf, unit, structs: HashMap::new(), order: vec![] };
        let params = r.params(e.offset())?;
        let structs = r.order.iter().filter_map(|n| r.structs.remove(n).flatten()).collect();
        return Some(FuncDebug { params, structs });
    }
    None
}

fn name_of(dwarf: &gimli::Dwarf<Reader>, unit: &Unit, e: &Entry<'_>) -> Option<String> {
    let v = e.attr_value(gimli::DW_AT_name).ok()??;
    let s = dwarf.attr_string(unit, v).ok()?;
    Some(s.to_string_lossy().ok()?.into_owned())
}

fn udata(e: &Entry<'_>, at: gimli::DwAt) -> Option<u64> {
    e.attr_value(at).ok()??.udata_value()
}

/// Walks types from one unit, collecting struct layouts (each once; recursion through
/// self-referencing pointers stops at the name already being resolved).
struct Resolver<'a> {
    dwarf: &'a gimli::Dwarf<Reader>,
    unit: &'a Unit,
    /// `None` while a struct is being resolved.
    structs: HashMap<String, Option<StructDef>>,
    order: Vec<String>,
}

impl Resolver<'_> {
    fn entry(&self, off: gimli::UnitOffset) -> Option<Entry<'_>> {
        self.unit.entry(off).ok()
    }

    /// The unit offset of the type an entry refers to (`None`: void).
    fn type_ref(e: &Entry<'_>) -> Option<gimli::UnitOffset> {
        match e.attr_value(gimli::DW_AT_type).ok()?? {
            AttributeValue::UnitRef(o) => Some(o),
            _ => None,
        }
    }

    fn params(&mut self, func: gimli::UnitOffset) -> Option<Vec<Param>> {
        let mut tree = self.unit.entries_tree(Some(func)).ok()?;
        let root = tree.root().ok()?;
        let mut children = root.children();
        let mut offsets = vec![];
        while let Ok(Some(child)) = children.next() {
            let e = child.entry();
            if e.tag() == gimli::DW_TAG_formal_parameter {
                offsets.push((name_of(self.dwarf, self.unit, e).unwrap_or_default(), Self::type_ref(e)));
            }
        }
        Some(
            offsets
                .into_iter()
                .map(|(name, ty)| Param { name, c_type: self.c_name(ty, 0), ty: self.ctype(ty, 0) })
                .collect(),
        )
    }

    /// The C spelling of a type, as bpftrace writes it in `-lv` listings.
    fn c_name(&self, off: Option<gimli::UnitOffset>, depth: u32) -> String {
        let Some(e) = off.and_then(|o| self.entry(o)) else { return "void".into() };
        if depth > 16 {
            return "<unknown type>".into();
        }
        let named = |prefix: &str| {
            let n = name_of(self.dwarf, self.unit, &e).unwrap_or_else(|| "<anonymous>".into());
            format!("{prefix}{n}")
        };
        match e.tag() {
            gimli::DW_TAG_base_type | gimli::DW_TAG_typedef => named(""),
            gimli::DW_TAG_pointer_type => match Self::type_ref(&e) {
                Some(_) => format!("{}*", self.c_name(Self::type_ref(&e), depth + 1)),
                None => "void*".into(),
            },
            gimli::DW_TAG_structure_type => named("struct "),
            gimli::DW_TAG_union_type => named("union "),
            gimli::DW_TAG_enumeration_type => named("enum "),
            gimli::DW_TAG_const_type => {
                let inner = Self::type_ref(&e);
                let is_ptr = inner.and_then(|o| self.entry(o)).is_some_and(|i| i.tag() == gimli::DW_TAG_pointer_type);
                let name = self.c_name(inner, depth + 1);
                if is_ptr {
                    format!("{name} const")
                } else {
                    format!("const {name}")
                }
            }
            _ => "<unknown type>".into(),
        }
    }

    /// The probe's view of a type (typedefs and qualifiers peeled).
    fn ctype(&mut self, off: Option<gimli::UnitOffset>, depth: u32) -> CType {
        let Some(off) = off else { return CType::Void };
        let Some(e) = self.entry(off) else { return CType::Other };
        if depth > 32 {
            return CType::Other;
        }
        let size = udata(&e, gimli::DW_AT_byte_size).unwrap_or(0);
        match e.tag() {
            gimli::DW_TAG_typedef
            | gimli::DW_TAG_const_type
            | gimli::DW_TAG_volatile_type
            | gimli::DW_TAG_restrict_type
            | gimli::DW_TAG_atomic_type => self.ctype(Self::type_ref(&e), depth + 1),
            gimli::DW_TAG_base_type => {
                let enc = match e.attr_value(gimli::DW_AT_encoding).ok().flatten() {
                    Some(AttributeValue::Encoding(enc)) => enc,
                    _ => return CType::Other,
                };
                let bytes = size.clamp(1, 8) as u8;
                match enc {
                    gimli::DW_ATE_boolean | gimli::DW_ATE_unsigned | gimli::DW_ATE_unsigned_char => {
                        CType::Int { bytes, signed: false }
                    }
                    gimli::DW_ATE_signed | gimli::DW_ATE_signed_char => CType::Int { bytes, signed: true },
                    gimli::DW_ATE_float => CType::Float(bytes),
                    _ => CType::Other,
                }
            }
            gimli::DW_TAG_enumeration_type => CType::Int { bytes: size.clamp(1, 8) as u8, signed: false },
            gimli::DW_TAG_pointer_type => CType::Ptr(Box::new(self.ctype(Self::type_ref(&e), depth + 1))),
            gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type => self.struct_type(off, depth),
            gimli::DW_TAG_array_type => self.array_type(off, depth),
            _ => CType::Other,
        }
    }

    /// Arrays: one level per subrange, outermost first.
    fn array_type(&mut self, off: gimli::UnitOffset, depth: u32) -> CType {
        let Some(e) = self.entry(off) else { return CType::Other };
        let elem = self.ctype(Self::type_ref(&e), depth + 1);
        let mut dims = vec![];
        if let Ok(mut tree) = self.unit.entries_tree(Some(off)) {
            if let Ok(root) = tree.root() {
                let mut children = root.children();
                while let Ok(Some(child)) = children.next() {
                    let c = child.entry();
                    if c.tag() == gimli::DW_TAG_subrange_type {
                        let n = udata(c, gimli::DW_AT_count)
                            .or_else(|| udata(c, gimli::DW_AT_upper_bound).map(|u| u + 1))
                            .unwrap_or(0);
                        dims.push(n as u32);
                    }
                }
            }
        }
        dims.into_iter().rev().fold(elem, |t, n| CType::Array(Box::new(t), n))
    }

    fn struct_type(&mut self, off: gimli::UnitOffset, depth: u32) -> CType {
        let Some(e) = self.entry(off) else { return CType::Other };
        let prefix = if e.tag() == gimli::DW_TAG_union_type { "union " } else { "struct " };
        let name = match name_of(self.dwarf, self.unit, &e) {
            Some(n) => format!("{prefix}{n}"),
            None => format!("{prefix}<anonymous@{:x}>", off.0),
        };
        if self.structs.contains_key(&name) {
            return CType::Struct(name);
        }
        let size = udata(&e, gimli::DW_AT_byte_size).unwrap_or(0) as u32;
        self.structs.insert(name.clone(), None);
        let mut raw = vec![];
        if let Ok(mut tree) = self.unit.entries_tree(Some(off)) {
            if let Ok(root) = tree.root() {
                let mut children = root.children();
                while let Ok(Some(child)) = children.next() {
                    let c = child.entry();
                    if c.tag() != gimli::DW_TAG_member {
                        continue;
                    }
                    let bit_off = udata(c, gimli::DW_AT_data_bit_offset);
                    let byte_off = udata(c, gimli::DW_AT_data_member_location).unwrap_or(0);
                    let bits = udata(c, gimli::DW_AT_bit_size);
                    raw.push((
                        name_of(self.dwarf, self.unit, c).unwrap_or_default(),
                        Self::type_ref(c),
                        byte_off,
                        bit_off,
                        bits,
                    ));
                }
            }
        }
        let mut members = vec![];
        for (mname, ty, byte_off, bit_off, bits) in raw {
            let ty = self.ctype(ty, depth + 1);
            let (offset, bitfield) = match (bits, bit_off) {
                (Some(w), Some(b)) => ((b / 8) as u32, Some(((b % 8) as u32, w as u32))),
                (Some(w), None) => (byte_off as u32, Some((0, w as u32))),
                _ => (bit_off.map_or(byte_off, |b| b / 8) as u32, None),
            };
            members.push(Member { name: mname, ty, offset, bitfield });
        }
        self.order.push(name.clone());
        self.structs.insert(name.clone(), Some(StructDef { name: name.clone(), size, members }));
        CType::Struct(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test binary itself is built with debug info; `function_params` must at least not
    /// fail on it, and an absent function yields `None`.
    #[test]
    fn path_suffixes() {
        assert!(path_ends_with("/src/dir/a.c", "a.c"));
        assert!(path_ends_with("/src/dir/a.c", "dir/a.c"));
        assert!(!path_ends_with("/src/dir/xa.c", "a.c"));
        assert!(!path_ends_with("/src/dir/a.c", "other/a.c"));
    }

    #[test]
    fn missing_function_is_none() {
        let exe = std::env::current_exe().unwrap();
        assert!(function_params(&exe, "no_such_function_in_this_binary_xyz").is_none());
    }
}
