//! Writing files a user keeps (case files, reports, artifacts) so that no crash loses them.
//!
//! `std::fs::write` truncates and then writes: a crash or `SIGKILL` in between leaves an empty
//! or half-written file where a valid one was. Every write here goes to a temporary file in the
//! same directory, is synced, and only then takes the final name (a rename, or a hard link when
//! an existing file must not be replaced); the directory is synced last so the new name itself
//! survives a power failure. A reader therefore sees either the old file or the whole new one.
//!
//! Temporary files are named `.<name>.<pid>.<n>.tmp`: hidden, and not ending in `.json`, so a
//! leftover from a killed process is never mistaken for a case file.
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What [`write_new`] found at the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The file did not exist and now holds the bytes.
    Created,
    /// The file already held exactly these bytes; it was left as it was.
    AlreadyThere,
}

/// Writes `bytes` to `path` atomically, replacing any file there: after a crash at any moment
/// the path holds either its previous content or all of `bytes`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = write_temp(path, bytes)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(path)
}

/// Writes `bytes` to `path` atomically unless a file is already there. An existing file with
/// the same bytes is left as it is ([`Written::AlreadyThere`]); one with other bytes is never
/// replaced, and the answer is an error of kind [`io::ErrorKind::AlreadyExists`].
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<Written> {
    if let Some(w) = same_or_taken(path, bytes)? {
        return Ok(w);
    }
    let tmp = write_temp(path, bytes)?;
    // A hard link, unlike a rename, fails when the name is taken, so two writers racing for
    // one name cannot replace each other's file.
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(path)?;
            Ok(Written::Created)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match same_or_taken(path, bytes)? {
            Some(w) => Ok(w),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Saves `bytes` under `dir` as `<stem>.<ext>`, or, when that name holds other bytes,
/// `<stem>-2.<ext>`, `<stem>-3.<ext>` and so on: never replacing a file that differs. Creates
/// the directory. Returns the path that holds the bytes.
pub fn save_unique(dir: &Path, stem: &str, ext: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    for n in 1..=1000u32 {
        let name = if n == 1 {
            format!("{stem}.{ext}")
        } else {
            format!("{stem}-{n}.{ext}")
        };
        let path = dir.join(name);
        match write_new(&path, bytes) {
            Ok(_) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{}: 1000 different files already named {stem}[-N].{ext}",
            dir.display()
        ),
    ))
}

/// A stable 64-bit digest of bytes (FNV-1a): the same on every platform and in every release,
/// so a name derived from it names the same content forever.
pub fn digest(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `Some` when `path` exists: `AlreadyThere` if it holds `bytes`, else an `AlreadyExists`
/// error; `None` when nothing is there.
fn same_or_taken(path: &Path, bytes: &[u8]) -> io::Result<Option<Written>> {
    match fs::read(path) {
        Ok(existing) if existing == bytes => Ok(Some(Written::AlreadyThere)),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} already exists with other content", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes and syncs a temporary file beside `path`; returns its path.
fn write_temp(path: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file name", path.display()),
        )
    })?;
    let tmp = path.with_file_name(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Syncs the directory holding `path`, so a new name in it survives a power failure.
fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("quorumlab-fsutil-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporary_file() {
        let d = scratch("atomic");
        let p = d.join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn write_new_never_replaces_other_content() {
        let d = scratch("new");
        let p = d.join("a.json");
        assert_eq!(write_new(&p, b"one").unwrap(), Written::Created);
        assert_eq!(write_new(&p, b"one").unwrap(), Written::AlreadyThere);
        let e = write_new(&p, b"two").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&p).unwrap(), b"one");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn save_unique_picks_the_next_free_name() {
        let d = scratch("unique");
        let a = save_unique(&d, "case", "json", b"a").unwrap();
        let b = save_unique(&d, "case", "json", b"b").unwrap();
        let a2 = save_unique(&d, "case", "json", b"a").unwrap();
        assert_eq!(a, d.join("case.json"));
        assert_eq!(b, d.join("case-2.json"));
        assert_eq!(a2, a);
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn the_digest_is_fixed() {
        // FNV-1a's published test vector: a changed digest would rename every saved case.
        assert_eq!(digest(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
