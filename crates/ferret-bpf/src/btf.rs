//! A minimal BTF blob describing a program's functions, which the kernel requires (as
//! `func_info`) once a program has subprograms such as for-loop callbacks. Pure: the loader
//! hands the bytes to BPF_BTF_LOAD.
const MAGIC: u16 = 0xeb9f;
const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const INT_SIGNED: u32 = 1;

struct Builder {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

impl Builder {
    fn name(&mut self, s: &str) -> u32 {
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }
    fn u32s(&mut self, words: &[u32]) {
        for w in words {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
    }
    fn ty(&mut self, name_off: u32, kind: u32, vlen: u32, size_or_type: u32, extra: &[u32]) -> u32 {
        self.u32s(&[name_off, kind << 24 | vlen, size_or_type]);
        self.u32s(extra);
        self.next_id += 1;
        self.next_id - 1
    }
}

/// BTF for `funcs` functions: the first is the program's entry (`int f(void *ctx)`), the rest
/// are map-iteration callbacks (`int f(void *map, void *key, void *value, void *ctx)`).
/// Returns the blob and each function's FUNC type id, in order.
pub fn func_info_btf(funcs: usize) -> (Vec<u8>, Vec<u32>) {
    let mut b = Builder { types: vec![], strings: vec![0], next_id: 1 };
    let int_name = b.name("int");
    let int = b.ty(int_name, KIND_INT, 0, 4, &[INT_SIGNED << 24 | 32]);
    let ptr = b.ty(0, KIND_PTR, 0, 0, &[]);
    let ctx = b.name("ctx");
    let entry_proto = b.ty(0, KIND_FUNC_PROTO, 1, int, &[ctx, ptr]);
    let params: Vec<u32> = ["map", "key", "value", "ctx"].iter().flat_map(|p| [b.name(p), ptr]).collect();
    let cb_proto = b.ty(0, KIND_FUNC_PROTO, 4, int, &params);
    let mut ids = vec![];
    for i in 0..funcs {
        let (name, proto) = if i == 0 { ("prog".to_string(), entry_proto) } else { (format!("cb{i}"), cb_proto) };
        let n = b.name(&name);
        ids.push(b.ty(n, KIND_FUNC, 0, proto, &[]));
    }
    let mut out = vec![];
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&[1, 0]); // version, flags
    let hdr_len = 24u32;
    for w in [hdr_len, 0, b.types.len() as u32, b.types.len() as u32, b.strings.len() as u32] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&b.types);
    out.extend_from_slice(&b.strings);
    (out, ids)
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_and_ids() {
        let (blob, ids) = super::func_info_btf(3);
        assert_eq!(&blob[..2], &0xeb9fu16.to_le_bytes());
        assert_eq!(ids, vec![5, 6, 7]);
        let type_len = u32::from_le_bytes(blob[16..20].try_into().unwrap()) as usize;
        let str_len = u32::from_le_bytes(blob[20..24].try_into().unwrap()) as usize;
        assert_eq!(blob.len(), 24 + type_len + str_len);
    }
}
