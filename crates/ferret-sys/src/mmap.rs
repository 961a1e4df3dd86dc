//! Owned `mmap` regions: the shared kernel mappings behind the ring and perf buffer readers, and
//! read-only mappings of sysfs files ([`FileMap`]).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::ptr::NonNull;

use crate::{last_errno, Result, SysError};

/// An owned mapping, unmapped on drop: `MAP_SHARED` of a kernel object ([`Mmap::new`]), or
/// [`FileMap`]'s private one.
pub(crate) struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; the readers that use it synchronise
// with the kernel through atomics, and no thread-local state is involved.
unsafe impl Send for Mmap {}

impl Mmap {
    /// Maps `len` bytes of `fd` at `offset` (a multiple of the page size).
    pub(crate) fn new(fd: BorrowedFd<'_>, len: usize, offset: usize, writable: bool, what: &str) -> Result<Mmap> {
        let prot = if writable { libc::PROT_READ | libc::PROT_WRITE } else { libc::PROT_READ };
        let off =
            libc::off_t::try_from(offset).map_err(|_| SysError::Invalid(format!("mmap offset {offset} too large")))?;
        Mmap::raw(fd, len, off, prot, libc::MAP_SHARED).map_err(|errno| SysError::syscall("mmap", errno, what))
    }

    /// `mmap(NULL, len, prot, flags, fd, off)`, or its errno.
    fn raw(fd: BorrowedFd<'_>, len: usize, off: libc::off_t, prot: i32, flags: i32) -> std::result::Result<Mmap, i32> {
        // SAFETY: a fresh mapping at an address of the kernel's choosing aliases no Rust object;
        // the fd is valid for the duration of the call (borrowed).
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, fd.as_raw_fd(), off) };
        if p == libc::MAP_FAILED {
            return Err(last_errno());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or(libc::EINVAL)?;
        Ok(Mmap { ptr, len })
    }

    /// The start of the mapping.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The mapped length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned and nothing borrows the region past
        // the owner's lifetime (readers hand out slices only inside their poll callbacks).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// A whole sysfs file mapped read-only and private: /sys/kernel/btf/vmlinux, which the kernel
/// maps in place (no copy, no page of it counted in our RSS), where `read` would copy 5 MB into
/// the heap. Only sysfs files are mapped: their size and bytes are the kernel's, so the slice
/// cannot change or shrink under its reader (a regular file can, by anyone who may write it,
/// and a mapping of a shrunk file is a SIGBUS). Unmapped on drop.
pub struct FileMap(Mmap);

// SAFETY: a read-only private mapping of a sysfs file is immutable memory owned by this value
// (Mmap, Send, unmaps it on drop); shared references only ever read it.
unsafe impl Sync for FileMap {}

impl FileMap {
    /// Maps all of sysfs file `path` (its size from fstat), or says why not: the caller falls
    /// back to reading the file where mapping is refused (a file elsewhere than sysfs, sysfs
    /// files other than vmlinux, kernels before 6.16 for vmlinux).
    pub fn open_sysfs(path: &std::path::Path) -> std::io::Result<FileMap> {
        let file = std::fs::File::open(path)?;
        // SAFETY: fstatfs writes only the statfs we pass, on an open fd.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::fstatfs(file.as_raw_fd(), &mut st) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if st.f_type != libc::SYSFS_MAGIC {
            return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
        }
        let len =
            usize::try_from(file.metadata()?.len()).map_err(|_| std::io::Error::from_raw_os_error(libc::EFBIG))?;
        if len == 0 {
            return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
        }
        Mmap::raw(file.as_fd(), len, 0, libc::PROT_READ, libc::MAP_PRIVATE)
            .map(FileMap)
            .map_err(std::io::Error::from_raw_os_error)
    }
}

impl std::ops::Deref for FileMap {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the live read-only mapping, valid until the Mmap inside drops with self.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr(), self.0.len()) }
    }
}
