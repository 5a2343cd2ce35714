//! Writing files a user keeps (case files, reports, artifacts) so that no crash loses them.
//!
//! `std::fs::write` truncates and then writes: a crash or `SIGKILL` in between leaves an empty
//! or half-written file where a valid one was. Every write here goes to a temporary file in the
//! same directory, is synced, and only then takes the final name (a rename, or a hard link when
//! an existing file must not be replaced); the directory is synced last so the new name itself
//! survives a power failure. A reader therefore sees either the old file or the whole new one.
//!
//! Temporary files are named `.<name>.<pid>.<n>.tmp`: hidden, and not ending in `.json`, so a
//! leftover from a killed process is never mistaken for a case file. The next write of the same
//! name removes such leftovers of processes no longer running.
//!
//! Files that must change together (the matrix's examples, their reports and the tables that
//! link them) are written whole into a hidden staging directory beside their targets first
//! ([`Staging`]), and moved into place, one rename each, only once every one of them is
//! written: a run killed before that leaves every previous file as it was.
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

/// What the first bytes of a saved case and of a case's report hold.
const WRITTEN_BY_QUORUMLAB: [&str; 2] = [
    "\"format\": \"quorumlab-history/",
    "<meta name=\"generator\" content=\"quorumlab report\">",
];

/// Whether the file at `path` is a case or a case report that quorumlab wrote (its first bytes
/// say so), so that a run replacing or removing its own earlier output can tell it from a
/// user's file of the same name; `None` when there is no such file.
pub fn written_by_quorumlab(path: &Path) -> io::Result<Option<bool>> {
    use std::io::Read;
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut head = Vec::with_capacity(512);
    file.take(512).read_to_end(&mut head)?;
    let head = String::from_utf8_lossy(&head);
    Ok(Some(WRITTEN_BY_QUORUMLAB.iter().any(|m| head.contains(m))))
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

/// Writes and syncs a temporary file beside `path`; returns its path. Temporary files of
/// the same name left by processes that are gone are removed first.
fn write_temp(path: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file name", path.display()),
        )
    })?;
    remove_stale(path, &format!(".{}.", name.to_string_lossy()), ".tmp");
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

/// Removes the entries in the directory of `path` named `<prefix><pid>.<anything><suffix>`
/// (or `<prefix><pid>-<anything><suffix>`) whose process is no longer running: what a killed
/// writer left. Best effort: an entry that cannot be removed stays.
fn remove_stale(path: &Path, prefix: &str, suffix: &str) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.strip_suffix(suffix))
        else {
            continue;
        };
        let pid = rest.split(['.', '-']).next().and_then(|p| p.parse().ok());
        if pid.is_some_and(|pid| !running(pid)) {
            let p = entry.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
}

/// Whether a process with this id is running (on other platforms than Unix, always yes: a
/// leftover is then kept rather than a live writer's file removed).
fn running(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // Signal 0 only asks whether the process exists (EPERM: it does, under another user).
        // SAFETY: kill with signal 0 sends nothing and touches no memory.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Files written aside and moved into place together. [`Staging::write`] writes a target's
/// bytes whole into a hidden directory beside it (`.quorumlab-staging-<pid>-<n>`, so on the
/// same filesystem); [`Staging::commit`] renames each into place, in the order written.
/// Dropped without a commit, or left by a killed process, the staging directories are removed
/// (the next staging in the same directory removes those of processes no longer running) and
/// no target has changed.
#[derive(Debug)]
pub struct Staging {
    tag: String,
    dirs: Vec<PathBuf>,
    moves: Vec<(PathBuf, PathBuf)>,
}

/// The prefix of a staging directory's name.
pub const STAGING_PREFIX: &str = ".quorumlab-staging-";

impl Default for Staging {
    fn default() -> Self {
        Staging::new()
    }
}

impl Staging {
    /// An empty staging area.
    pub fn new() -> Staging {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        Staging {
            tag: format!(
                "{STAGING_PREFIX}{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ),
            dirs: Vec::new(),
            moves: Vec::new(),
        }
    }

    /// Writes and syncs `bytes` aside, to become `target` on [`Staging::commit`]; a later
    /// write for the same target replaces this one. Returns the staged file's path.
    pub fn write(&mut self, target: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
        let name = target.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a file name", target.display()),
            )
        })?;
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let stage = dir.join(&self.tag);
        if !self.dirs.contains(&stage) {
            remove_stale(&stage, STAGING_PREFIX, "");
            fs::create_dir(&stage)?;
            self.dirs.push(stage.clone());
        }
        let staged = stage.join(name);
        let mut f = File::create(&staged)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        self.moves.retain(|(_, t)| t != target);
        self.moves.push((staged.clone(), target.to_path_buf()));
        Ok(staged)
    }

    /// Where `target`'s new bytes are staged, if they are.
    pub fn staged(&self, target: &Path) -> Option<&Path> {
        self.moves
            .iter()
            .find(|(_, t)| t == target)
            .map(|(s, _)| s.as_path())
    }

    /// The targets staged so far, in the order written.
    pub fn targets(&self) -> impl Iterator<Item = &Path> {
        self.moves.iter().map(|(_, t)| t.as_path())
    }

    /// Moves every staged file into place, one rename each (so each target is at every
    /// moment its old or its whole new file), syncs the directories and removes the staging
    /// directories.
    pub fn commit(mut self) -> io::Result<()> {
        for (staged, target) in &self.moves {
            fs::rename(staged, target).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("moving {} into place: {e}", target.display()),
                )
            })?;
        }
        for (_, target) in &self.moves {
            sync_dir(target)?;
        }
        self.moves.clear();
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        for d in &self.dirs {
            let _ = fs::remove_dir_all(d);
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
    fn a_dead_writers_temporary_file_goes_with_the_next_write_of_its_target() {
        let d = scratch("stale");
        let p = d.join("a.json");
        // No process has pid 0x7fff_fff0 (above Linux's pid_max); our own is running.
        let dead = d.join(".a.json.2147483632.0.tmp");
        let live = d.join(format!(".a.json.{}.999.tmp", std::process::id()));
        let other = d.join(".b.json.2147483632.0.tmp");
        for f in [&dead, &live, &other] {
            fs::write(f, b"half").unwrap();
        }
        write_atomic(&p, b"one").unwrap();
        assert!(!dead.exists());
        assert!(live.exists(), "a running writer's file stays");
        assert!(
            other.exists(),
            "another target's file waits for its own next write"
        );
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn staged_files_change_nothing_until_committed() {
        let d = scratch("staging");
        let (a, b) = (d.join("a.json"), d.join("sub/b.json"));
        fs::create_dir_all(d.join("sub")).unwrap();
        fs::write(&a, b"old a").unwrap();
        let stale = d.join(format!("{STAGING_PREFIX}2147483632-0"));
        fs::create_dir(&stale).unwrap();
        fs::write(stale.join("a.json"), b"a killed run's").unwrap();
        {
            let mut s = Staging::new();
            s.write(&a, b"new a").unwrap();
            s.write(&b, b"new b").unwrap();
            assert_eq!(fs::read(&a).unwrap(), b"old a");
            assert!(!b.exists());
            assert!(!stale.exists(), "a dead run's staging directory is removed");
            // Dropped without a commit: nothing changed, nothing left.
        }
        assert_eq!(fs::read(&a).unwrap(), b"old a");
        assert!(!b.exists());
        let mut s = Staging::new();
        s.write(&a, b"first").unwrap();
        s.write(&b, b"new b").unwrap();
        s.write(&a, b"new a").unwrap();
        assert_eq!(s.targets().count(), 2);
        s.commit().unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"new a");
        assert_eq!(fs::read(&b).unwrap(), b"new b");
        let left: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .chain(fs::read_dir(d.join("sub")).unwrap())
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn the_digest_is_fixed() {
        // FNV-1a's published test vector: a changed digest would rename every saved case.
        assert_eq!(digest(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
