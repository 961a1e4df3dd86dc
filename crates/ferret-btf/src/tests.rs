//! Tests on hand-built blobs (exact layouts, split BTF) and on the running kernel's BTF.
use super::*;

/// Builds a BTF blob: types as raw words, strings appended as named.
struct Builder {
    words: Vec<u32>,
    strs: Vec<u8>,
    str_base: u32,
}

impl Builder {
    fn new() -> Self {
        Builder { words: vec![], strs: vec![0], str_base: 0 }
    }

    fn split(base: &Btf) -> Self {
        Builder { words: vec![], strs: vec![], str_base: base.str_base + base.str_len as u32 }
    }

    fn s(&mut self, name: &str) -> u32 {
        if name.is_empty() {
            return 0;
        }
        let off = self.str_base + self.strs.len() as u32;
        self.strs.extend_from_slice(name.as_bytes());
        self.strs.push(0);
        off
    }

    fn ty(&mut self, name: &str, kind: u32, vlen: u32, kflag: bool, size_or_type: u32, extra: &[u32]) {
        let n = self.s(name);
        self.words.extend([n, (kflag as u32) << 31 | kind << 24 | vlen, size_or_type]);
        self.words.extend_from_slice(extra);
    }

    fn bytes(&self) -> Vec<u8> {
        let types: Vec<u8> = self.words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let mut out = vec![];
        out.extend(0xeb9fu16.to_ne_bytes());
        out.extend([1u8, 0]);
        for w in [24u32, 0, types.len() as u32, types.len() as u32, self.strs.len() as u32] {
            out.extend(w.to_ne_bytes());
        }
        out.extend(types);
        out.extend(&self.strs);
        out
    }
}

/// [1] int, [2] char, [3] const char, [4] const char *, [5] struct s { int a; unsigned b:3;
/// union { int c; char d; }; char name[4]; }, [6] anon union, [7] char[4], [8] u32 idx int,
/// [9] enum e { A = -1, B = 2 }, [10] proto int (const char *, ...), [11] func f, [12] typedef
/// s_t, [13] ptr to proto.
fn sample() -> Btf {
    let mut b = Builder::new();
    b.ty("int", 1, 0, false, 4, &[1 << 24 | 32]);
    b.ty("char", 1, 0, false, 1, &[2 << 24 | 8]);
    b.ty("", 10, 0, false, 2, &[]);
    b.ty("", 2, 0, false, 3, &[]);
    let (a, bb, nm, c, d) = (b.s("a"), b.s("b"), b.s("name"), b.s("c"), b.s("d"));
    b.ty("s", 4, 4, true, 16, &[a, 1, 0, bb, 8, 3 << 24 | 32, 0, 6, 64, nm, 7, 96]);
    b.ty("", 5, 2, false, 4, &[c, 1, 0, d, 2, 0]);
    b.ty("", 3, 0, false, 0, &[2, 8, 4]);
    b.ty("unsigned int", 1, 0, false, 4, &[32]);
    let (va, vb) = (b.s("A"), b.s("B"));
    b.ty("e", 6, 2, true, 4, &[va, -1i32 as u32, vb, 2]);
    let p = b.s("fmt");
    b.ty("", 13, 2, false, 1, &[p, 4, 0, 0]);
    b.ty("f", 12, 1, false, 10, &[]);
    b.ty("s_t", 8, 0, false, 5, &[]);
    b.ty("", 2, 0, false, 10, &[]);
    Btf::from_bytes("sample", b.bytes()).unwrap()
}

#[test]
fn decodes_kinds_and_names() {
    let b = sample();
    assert_eq!(b.len(), 13);
    assert_eq!(b.ty(5).unwrap().kind(), Kind::Struct);
    assert_eq!(b.ty(5).unwrap().name(), "s");
    assert_eq!(b.find(Kind::Struct, "s"), Some(5));
    assert_eq!(b.lookup("struct s"), Some(5));
    assert_eq!(b.lookup("s_t"), Some(12));
    assert_eq!(b.resolve(12), 5);
    assert_eq!(b.lookup("nope"), None);
    assert!(b.ty(0).is_none());
    assert!(b.ty(14).is_none());
}

#[test]
fn members_bitfields_and_anonymous_members() {
    let b = sample();
    let m = b.members(12);
    assert_eq!(m.len(), 4);
    assert_eq!((m[1].name, m[1].bit_offset, m[1].bitfield_size), ("b", 32, 3));
    assert_eq!(m[2].name, "");
    let d = b.find_member(5, "d").unwrap();
    assert_eq!((d.ty, d.bit_offset), (2, 64));
    assert_eq!(b.find_member(5, "name").unwrap().bit_offset, 96);
    assert_eq!(b.size_of(5), Some(16));
    assert_eq!(b.size_of(7), Some(4));
    assert_eq!(b.size_of(4), Some(8));
}

#[test]
fn enums_and_enum_constants() {
    let b = sample();
    let v = b.enum_values(9);
    assert_eq!((v[0].name, v[0].value), ("A", -1));
    assert_eq!(b.enum_value("B"), Some((9, 2)));
    assert_eq!(b.enum_value("C"), None);
}

#[test]
fn prints_c_declarations() {
    let b = sample();
    assert_eq!(b.type_name(4), "const char *");
    assert_eq!(b.type_name(7), "char[4]");
    assert_eq!(b.declaration(7, "name"), "char name[4]");
    assert_eq!(b.type_name(13), "int (*)(const char *, ...)");
    assert_eq!(b.declaration(13, "cb"), "int (*cb)(const char *, ...)");
    assert_eq!(b.type_name(0), "void");
    let p = b.params(11);
    assert_eq!((p[0].name, b.type_name(p[0].ty)), ("fmt", "const char *".to_string()));
    assert_eq!(b.return_type(11), Some(1));
}

#[test]
fn prints_definitions() {
    let b = sample();
    assert_eq!(
        b.c_definition(5).unwrap(),
        "struct s {\n\tint a;\n\tunsigned int b: 3;\n\tunion {\n\t\tint c;\n\t\tchar d;\n\t};\n\tchar name[4];\n};\n"
    );
    assert_eq!(b.c_definition(9).unwrap(), "enum e {\n\tA = -1,\n\tB = 2,\n};\n");
    assert_eq!(b.c_definition(1), None);
}

#[test]
fn split_btf_continues_the_base() {
    let base = Arc::new(sample());
    let mut m = Builder::split(&base);
    let x = m.s("x");
    m.ty("mod_s", 4, 1, false, 8, &[x, 4, 0]); // [14] struct mod_s { const char *x; }
    let mb = Btf::from_split_bytes("mod", m.bytes(), base.clone()).unwrap();
    assert_eq!(mb.first_id(), 14);
    assert_eq!(mb.find(Kind::Struct, "mod_s"), Some(14));
    assert_eq!(mb.find(Kind::Struct, "s"), Some(5));
    assert_eq!(mb.declaration(14, "v"), "struct mod_s v");
    assert_eq!(mb.c_definition(14).unwrap(), "struct mod_s {\n\tconst char *x;\n};\n");
    assert_eq!(mb.funcs().count(), 0);
    assert_eq!(base.funcs().map(|(_, n)| n).collect::<Vec<_>>(), vec!["f"]);
}

#[test]
fn rejects_malformed_blobs() {
    assert!(Btf::from_bytes("x", vec![0; 10]).is_err());
    let mut bytes = sample_bytes();
    bytes[0] ^= 0xff;
    assert!(Btf::from_bytes("x", bytes).is_err());
    let mut bytes = sample_bytes();
    bytes[24 + 7] = 30; // first type's kind byte: unknown kind
    assert!(Btf::from_bytes("x", bytes).is_err());
}

fn sample_bytes() -> Vec<u8> {
    let mut b = Builder::new();
    b.ty("int", 1, 0, false, 4, &[1 << 24 | 32]);
    b.bytes()
}

/// The running kernel's BTF, or None (with a note) where there is none.
fn kernel() -> Option<Arc<Btf>> {
    match kernel::vmlinux() {
        Ok(b) => Some(b),
        Err(e) => {
            ferret_testing::skip(format!("needs kernel BTF: {e}"));
            None
        }
    }
}

#[test]
fn kernel_task_struct_pid() {
    let Some(b) = kernel() else { return };
    let ts = b.lookup("struct task_struct").unwrap();
    let pid = b.find_member(ts, "pid").unwrap();
    assert_eq!(b.type_name(pid.ty), "pid_t");
    assert_eq!(b.type_name(b.resolve(pid.ty)), "int");
    assert_eq!(pid.bit_offset % 32, 0);
    assert!(pid.bit_offset > 0);
    assert_eq!(b.type_name(b.find_member(ts, "comm").unwrap().ty), "char[16]");
    assert!(b.size_of(ts).unwrap() > 1000);
}

#[test]
fn kernel_struct_path() {
    let Some(b) = kernel() else { return };
    let p = b.lookup("struct path").unwrap();
    let names: Vec<_> = b.members(p).iter().map(|m| (m.name, b.type_name(m.ty))).collect();
    assert_eq!(names[0], ("mnt", "struct vfsmount *".to_string()));
    assert_eq!(names[1], ("dentry", "struct dentry *".to_string()));
    assert_eq!(b.size_of(p), Some(16));
    let def = b.c_definition(p).unwrap();
    assert_eq!(def, "struct path {\n\tstruct vfsmount *mnt;\n\tstruct dentry *dentry;\n};\n");
}

#[test]
fn kernel_vfs_read_params() {
    let Some(b) = kernel() else { return };
    let f = b.find(Kind::Func, "vfs_read").unwrap();
    let p: Vec<_> = b.params(f).iter().map(|p| format!("{} {}", b.type_name(p.ty), p.name)).collect();
    assert_eq!(p, ["struct file * file", "char * buf", "size_t count", "loff_t * pos"]);
    assert_eq!(b.type_name(b.return_type(f).unwrap()), "ssize_t");
    assert!(b.funcs().any(|(_, n)| n == "vfs_write"));
}

#[test]
fn kernel_raw_tracepoints_and_enums() {
    let Some(b) = kernel() else { return };
    assert!(b.raw_tracepoints().any(|(ev, _)| ev == "sched_switch"));
    let p = b.raw_tracepoint_params("sched_switch").unwrap();
    assert!(p.iter().any(|p| p.name == "prev" && b.type_name(p.ty) == "struct task_struct *"));
    assert_eq!(b.enum_value("PIDTYPE_PID").map(|(_, v)| v), Some(0));
    let e = b.lookup("enum pid_type").unwrap();
    assert!(b.enum_values(e).iter().any(|v| v.name == "PIDTYPE_TGID"));
}

#[test]
fn kernel_btf_trace_typedef_gives_the_raw_tracepoint_prototype() {
    let Some(b) = kernel() else { return };
    let (_, td) = b.raw_tracepoints().find(|(ev, _)| *ev == "sched_switch").unwrap();
    let params = b.params(td);
    // The context pointer first, then the tracepoint's own arguments (unnamed here).
    assert_eq!(b.type_name(params[0].ty), "void *");
    assert_eq!(params.len(), b.raw_tracepoint_params("sched_switch").unwrap().len() + 1);
}

#[test]
fn kernel_bitfields_inside_anonymous_members() {
    let Some(b) = kernel() else { return };
    let skb = b.lookup("struct sk_buff").unwrap();
    let f = b.find_member(skb, "pkt_type").unwrap();
    assert_eq!(f.bitfield_size, 3);
    assert!(f.bit_offset > 0);
    assert!(b.members(skb).iter().all(|m| m.name != "pkt_type"), "pkt_type sits in an anonymous member");
}

/// The kernel's BTF read into memory and parsed from scratch (no mapping, no index file).
fn kernel_fresh() -> Option<Btf> {
    let data = std::fs::read(format!("{}/vmlinux", kernel::SYSFS_DIR)).ok()?;
    Btf::from_bytes("vmlinux", data).ok()
}

#[test]
fn index_file_round_trip_answers_as_a_fresh_parse() {
    let Some(fresh) = kernel_fresh() else { return ferret_testing::skip("needs /sys/kernel/btf/vmlinux") };
    let dir = std::env::temp_dir().join(format!("ferret-btf-idx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // A stale file of another kernel is removed when the new one is written.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("btf-vmlinux-0000000000000000.idx"), b"old").unwrap();
    fresh.save_indexes(&dir, b"salt").unwrap();
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let data = std::fs::read(format!("{}/vmlinux", kernel::SYSFS_DIR)).unwrap();
    let saved = store::load(&dir, &data, b"salt").expect("the index file just written loads");
    let cached = Btf::parse("vmlinux", Data::Owned(data), None, Some(saved)).unwrap();
    assert_eq!(cached.len(), fresh.len());
    for name in ["struct task_struct", "struct sk_buff", "pid_t", "vfs_read", "btf_trace_sched_switch"] {
        assert_eq!(cached.lookup(name), fresh.lookup(name), "{name}");
        assert!(cached.lookup(name).is_some(), "{name}");
    }
    for e in ["PIDTYPE_PID", "TASK_COMM_LEN", "SKB_DROP_REASON_NOT_SPECIFIED", "BPF_MAP_TYPE_RINGBUF"] {
        assert_eq!(cached.enum_value(e), fresh.enum_value(e), "{e}");
    }
    assert_eq!(cached.enum_value("NO_SUCH_ENUMERATOR_X"), None);
    let last = fresh.next_id() - 1;
    assert_eq!(cached.ty(last).map(|t| t.name().to_string()), fresh.ty(last).map(|t| t.name().to_string()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn damaged_or_foreign_index_files_are_not_used() {
    let Some(fresh) = kernel_fresh() else { return ferret_testing::skip("needs /sys/kernel/btf/vmlinux") };
    let dir = std::env::temp_dir().join(format!("ferret-btf-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    fresh.save_indexes(&dir, b"salt").unwrap();
    let path = std::fs::read_dir(&dir).unwrap().flatten().next().unwrap().path();
    let data = std::fs::read(format!("{}/vmlinux", kernel::SYSFS_DIR)).unwrap();
    // Truncated: the sizes in its header no longer add up.
    let whole = std::fs::read(&path).unwrap();
    std::fs::write(&path, &whole[..whole.len() - 4]).unwrap();
    assert!(store::load(&dir, &data, b"salt").is_none());
    // Another BTF (one byte changed in a sampled place) has another key, so no file.
    std::fs::write(&path, &whole).unwrap();
    assert!(store::load(&dir, &data, b"salt").is_some());
    let mut other = data.clone();
    other[data.len() / 2] ^= 0xff;
    assert!(store::load(&dir, &other, b"salt").is_none());
    // Another kernel build of the same BTF (another /proc/version).
    assert!(store::load(&dir, &data, b"another build").is_none());
    // A directory others may write is not trusted: a planted index could hang lookups.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert!(store::load(&dir, &data, b"salt").is_none());
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A wrong magic.
    let mut bad = whole.clone();
    bad[0] ^= 0xff;
    std::fs::write(&path, &bad).unwrap();
    assert!(store::load(&dir, &data, b"salt").is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
