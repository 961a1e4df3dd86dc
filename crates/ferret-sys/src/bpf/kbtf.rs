//! Kernel BTF objects as the kernel holds them: fentry/fexit programs on a module's function
//! name their target by a type id inside that module's BTF *object*, passed to `BPF_PROG_LOAD`
//! as `attach_btf_obj_fd`. The object is found by walking the loaded BTF ids and asking each
//! its name.

use std::os::fd::{AsRawFd, OwnedFd};

use super::{owned_fd, sys_bpf, BpfAttr, Cmd};
use crate::{Result, SysError};

/// The `BPF_*_GET_NEXT_ID` / `BPF_*_GET_FD_BY_ID` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct GetIdAttr {
    /// `start_id` (GET_NEXT_ID) or `btf_id` (GET_FD_BY_ID).
    id: u32,
    next_id: u32,
    open_flags: u32,
}
// SAFETY: repr(C), three u32, no padding, no addresses.
unsafe impl BpfAttr for GetIdAttr {}
const _: () = assert!(std::mem::size_of::<GetIdAttr>() == 12);

/// `BPF_OBJ_GET_INFO_BY_FD`.
#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}
// SAFETY: repr(C), no padding; `info` points to `info_len` live bytes during the call.
unsafe impl BpfAttr for InfoAttr {}
const _: () = assert!(std::mem::size_of::<InfoAttr>() == 16);

/// `struct bpf_btf_info`.
#[repr(C)]
#[derive(Default)]
struct BtfInfo {
    btf: u64,
    btf_size: u32,
    id: u32,
    name: u64,
    name_len: u32,
    kernel_btf: u32,
}

/// The next loaded BTF object id after `start`, or `None` at the end (ENOENT).
fn next_btf_id(start: u32) -> Result<Option<u32>> {
    let mut a = GetIdAttr { id: start, ..Default::default() };
    // SAFETY: the attr carries no addresses.
    match unsafe { sys_bpf(Cmd::BtfGetNextId, &mut a) } {
        Ok(_) => Ok(Some(a.next_id)),
        Err(libc::ENOENT) => Ok(None),
        Err(e) => Err(SysError::syscall(Cmd::BtfGetNextId.call_name(), e, format!("after BTF id {start}"))),
    }
}

/// The name of a kernel BTF object (`vmlinux`, a module's name), or `None` for BTF that
/// programs loaded themselves.
fn kernel_btf_name(fd: &OwnedFd) -> Result<Option<String>> {
    let mut name = [0u8; 64];
    let mut info = BtfInfo { name: name.as_mut_ptr() as u64, name_len: name.len() as u32, ..Default::default() };
    let mut a = InfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: std::mem::size_of::<BtfInfo>() as u32,
        info: &mut info as *mut BtfInfo as u64,
    };
    // SAFETY: `info` and `name` outlive the call; the lengths match their sizes.
    unsafe { sys_bpf(Cmd::ObjGetInfoByFd, &mut a) }
        .map_err(|e| SysError::syscall(Cmd::ObjGetInfoByFd.call_name(), e, "a BTF object".to_string()))?;
    if info.kernel_btf == 0 {
        return Ok(None);
    }
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok(Some(String::from_utf8_lossy(&name[..end]).into_owned()))
}

/// An fd of the kernel's BTF object for `module` (`vmlinux` or a loaded module's name).
pub fn kernel_btf_fd(module: &str) -> Result<OwnedFd> {
    let mut id = 0;
    while let Some(next) = next_btf_id(id)? {
        id = next;
        let mut a = GetIdAttr { id, ..Default::default() };
        // SAFETY: the attr carries no addresses.
        let fd = match unsafe { sys_bpf(Cmd::BtfGetFdById, &mut a) } {
            Ok(fd) => owned_fd(fd),
            // Freed between the two calls.
            Err(libc::ENOENT) => continue,
            Err(e) => return Err(SysError::syscall(Cmd::BtfGetFdById.call_name(), e, format!("BTF id {id}"))),
        };
        if kernel_btf_name(&fd)?.as_deref() == Some(module) {
            return Ok(fd);
        }
    }
    Err(SysError::Unsupported {
        what: format!("BTF of module {module}"),
        why: "the kernel holds no BTF object of that name (module not loaded?)".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_vmlinux_btf_object() {
        if !ferret_testing::skip_unless(&[ferret_testing::Need::Root, ferret_testing::Need::KernelBtf]) {
            return;
        }
        let fd = kernel_btf_fd("vmlinux").expect("vmlinux BTF object");
        assert_eq!(kernel_btf_name(&fd).unwrap().as_deref(), Some("vmlinux"));
        let e = kernel_btf_fd("no_such_module_xyz").unwrap_err();
        assert!(e.to_string().contains("no_such_module_xyz"), "{e}");
    }
}
