//! Where a stripped file's DWARF lives, searched the way elfutils (and so bpftrace) does: the
//! `.build-id/xx/yyyy.debug` trees under absolute search directories, then the file named by
//! `.gnu_debuglink` (or `NAME.debug` without one) in each search directory. The search path is
//! `--debuginfo` directories, then the file's own directory, its `.debug/` subdirectory and
//! `/usr/lib/debug`.
use object::Object;
use std::path::{Component, Path, PathBuf};
use std::sync::RwLock;

/// The defaults after the user's directories: "" is the file's directory, relative entries are
/// subdirectories of it, absolute ones are trees mirroring the file's absolute directory.
const DEFAULT_PATH: [&str; 3] = ["", ".debug", "/usr/lib/debug"];

static USER_DIRS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// `--debuginfo DIR[:DIR...]` (repeatable): directories searched before the defaults.
pub fn set_search_path(dirs: &[String]) {
    let split = dirs.iter().flat_map(|d| d.split(':')).filter(|d| !d.is_empty()).map(str::to_string).collect();
    *USER_DIRS.write().unwrap_or_else(|e| e.into_inner()) = split;
}

fn search_path() -> Vec<String> {
    let mut dirs = USER_DIRS.read().unwrap_or_else(|e| e.into_inner()).clone();
    dirs.extend(DEFAULT_PATH.iter().map(|d| d.to_string()));
    dirs
}

/// The separate debug file of the ELF file `path` (parsed as `file`) and its contents; `None`
/// when no candidate exists or none matches (by build id, else by the debuglink's CRC).
pub fn find<'d, R: object::ReadRef<'d>>(path: &Path, file: &object::File<'d, R>) -> Option<(PathBuf, Vec<u8>)> {
    let build_id = file.build_id().ok().flatten().map(<[u8]>::to_vec);
    let link = file.gnu_debuglink().ok().flatten();
    let expect = Expect { build_id: build_id.clone(), crc: link.map(|(_, crc)| crc) };
    let dirs = search_path();
    if let Some(id) = build_id.filter(|id| id.len() >= 2) {
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let rel = format!(".build-id/{}/{}.debug", &hex[..2], &hex[2..]);
        for d in dirs.iter().filter(|d| d.starts_with('/')) {
            if let Some(found) = expect.check(&Path::new(d).join(&rel)) {
                return Some(found);
            }
        }
    }
    let name = match link {
        Some((name, _)) => String::from_utf8_lossy(name).into_owned(),
        None => format!("{}.debug", path.file_name()?.to_string_lossy()),
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    dirs.iter().flat_map(|d| candidates(d, &dir, &name)).filter(|c| c.as_path() != path).find_map(|c| expect.check(&c))
}

/// Where one search-path entry says to look for `name`, a debug file of a file in `dir`.
fn candidates(entry: &str, dir: &Path, name: &str) -> Vec<PathBuf> {
    if entry.is_empty() {
        return vec![dir.join(name)];
    }
    if !entry.starts_with('/') {
        return vec![dir.join(entry).join(name)];
    }
    // ENTRY/a/b/c/NAME, ENTRY/b/c/NAME, ENTRY/c/NAME, ENTRY/NAME for a file in /a/b/c.
    let Ok(abs) = std::fs::canonicalize(dir) else { return vec![Path::new(entry).join(name)] };
    let parts: Vec<_> = abs.components().filter(|c| matches!(c, Component::Normal(_))).collect();
    (0..=parts.len())
        .map(|skip| {
            let mut p = PathBuf::from(entry);
            p.extend(&parts[skip..]);
            p.join(name)
        })
        .collect()
}

/// What a candidate must match: the build id when the file has one, else the debuglink's CRC.
struct Expect {
    build_id: Option<Vec<u8>>,
    crc: Option<u32>,
}

impl Expect {
    /// The candidate's contents when it is an ELF file with DWARF that belongs to the file.
    fn check(&self, candidate: &Path) -> Option<(PathBuf, Vec<u8>)> {
        let data = std::fs::read(candidate).ok()?;
        let ok = {
            let file = object::File::parse(&*data).ok()?;
            file.section_by_name(".debug_info")?;
            match (&self.build_id, file.build_id().ok().flatten(), self.crc) {
                (Some(want), Some(have), _) => want.as_slice() == have,
                (_, _, Some(crc)) => crc32(&data) == crc,
                _ => true,
            }
        };
        ok.then(|| (candidate.to_path_buf(), data))
    }
}

/// The CRC-32 (IEEE 802.3, as zlib computes it) `.gnu_debuglink` records of the debug file.
fn crc32(data: &[u8]) -> u32 {
    let table: Vec<u32> =
        (0..256u32).map(|i| (0..8).fold(i, |c, _| if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 })).collect();
    !data.iter().fold(!0u32, |c, &b| table[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_zlib() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn candidates_follow_elfutils_rules() {
        let dir = Path::new("./bin");
        assert_eq!(candidates("", dir, "a.debug"), vec![PathBuf::from("./bin/a.debug")]);
        assert_eq!(candidates(".debug", dir, "a.debug"), vec![PathBuf::from("./bin/.debug/a.debug")]);
        let abs = candidates("/usr/lib/debug", Path::new("/usr/bin"), "a.debug");
        assert_eq!(
            abs,
            vec![
                PathBuf::from("/usr/lib/debug/usr/bin/a.debug"),
                PathBuf::from("/usr/lib/debug/bin/a.debug"),
                PathBuf::from("/usr/lib/debug/a.debug"),
            ]
        );
    }
}
