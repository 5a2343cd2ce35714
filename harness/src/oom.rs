//! Running out of memory ends the `quorumlab` command with exit 2 and "out of memory", never
//! with an abort.
//!
//! The readers and the checkers ask for their big buffers fallibly and refuse an input that
//! does not fit, naming where. Every other allocation is infallible: when one fails, Rust's
//! handler prints "memory allocation of N bytes failed" and calls `abort`, and a stable
//! program cannot replace that handler. So the binary's allocator ([`Watch`], the system
//! allocator with a note of the last allocation it could not serve) and a `SIGABRT` handler
//! ([`install`]) turn that abort into a plain exit: when an allocation has failed, the handler
//! says what the command was doing ([`doing`]) and exits with 2; any other abort goes on as
//! before.
//!
//! An allocation asked for fallibly (`try_reserve`) that fails is noted too, and the program
//! goes on; the note only changes what a later abort says.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

/// The size of the last allocation the system could not serve; 0 when none has failed.
static FAILED: AtomicUsize = AtomicUsize::new(0);

/// Set by the first thread to report: a second thread's abort exits without a second message.
static REPORTED: AtomicBool = AtomicBool::new(false);

/// What the command is doing, for the message: at most [`DOING_MAX`] bytes of UTF-8.
static DOING: [AtomicU8; DOING_MAX] = [const { AtomicU8::new(0) }; DOING_MAX];
static DOING_LEN: AtomicUsize = AtomicUsize::new(0);
const DOING_MAX: usize = 480;

/// The system allocator, noting each allocation it fails to serve.
pub struct Watch;

#[inline]
fn note(p: *mut u8, size: usize) -> *mut u8 {
    if p.is_null() {
        FAILED.store(size.max(1), Ordering::Relaxed);
    }
    p
}

// SAFETY: every call is passed to the system allocator unchanged, with its result.
unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(System.alloc(layout), layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(System.alloc_zeroed(layout), layout.size())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(System.realloc(ptr, layout, new_size), new_size)
    }
}

/// Says what the command is doing now (a subcommand, a file it reads), so that running out of
/// memory names it: "quorumlab check FILE: out of memory ...". Cut at a character boundary
/// past 480 bytes.
pub fn doing(what: &str) {
    let mut end = what.len().min(DOING_MAX);
    while !what.is_char_boundary(end) {
        end -= 1;
    }
    DOING_LEN.store(0, Ordering::Release);
    for (slot, &b) in DOING.iter().zip(&what.as_bytes()[..end]) {
        slot.store(b, Ordering::Relaxed);
    }
    DOING_LEN.store(end, Ordering::Release);
}

/// Installs the `SIGABRT` handler that ends the process with exit 2 and "out of memory" when
/// the abort follows an allocation that failed; and, under a limit on the address space,
/// keeps glibc's allocator to one arena (see `one_arena_under_a_limit`).
pub fn install() {
    one_arena_under_a_limit();
    #[cfg(unix)]
    // SAFETY: a plain handler (no SA_SIGINFO) that only reads atomics and calls write(2) and
    // _exit(2), both async-signal-safe; installed at startup.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_abort as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGABRT, &action, std::ptr::null_mut());
    }
}

/// glibc's allocator gives each thread that allocates an arena of its own, reserving 64 MB of
/// address space at a time for it. Under `ulimit -v` those reservations soon fail, and every
/// later allocation of that thread falls back to an `mmap` and `munmap` of its own: checking a
/// 200,000-op history took 9.5 s under a 200 MB limit against 42 ms without one (45,000 mmap
/// calls, half of them failing). With a finite address-space limit, every thread shares the
/// main arena instead, which grows without reservations; without a limit nothing changes.
fn one_arena_under_a_limit() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: getrlimit writes the struct it is given; mallopt is called before any thread
    // exists.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_AS, &mut limit) == 0
            && limit.rlim_cur != libc::RLIM_INFINITY
        {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// The message for a failed allocation of `size` bytes while doing `doing`, written into
/// `out` without allocating; returns its length.
fn message(doing: &[u8], size: usize, out: &mut [u8; 1024]) -> usize {
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        let take = bytes.len().min(out.len() - n);
        out[n..n + take].copy_from_slice(&bytes[..take]);
        n += take;
    };
    put(b"quorumlab");
    if !doing.is_empty() {
        put(b" ");
        put(doing);
    }
    put(b": out of memory: an allocation of ");
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = size;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    put(&digits[i..]);
    put(b" bytes did not fit in the memory left (see `ulimit -v`); give it more memory or a smaller input\n");
    n
}

#[cfg(unix)]
extern "C" fn on_abort(_: libc::c_int) {
    let size = FAILED.load(Ordering::Relaxed);
    if size == 0 {
        // Not a failed allocation: abort goes on (the default action once this returns).
        return;
    }
    if REPORTED.swap(true, Ordering::AcqRel) {
        // SAFETY: _exit(2) is async-signal-safe.
        unsafe { libc::_exit(2) }
    }
    let mut doing = [0u8; DOING_MAX];
    let len = DOING_LEN.load(Ordering::Acquire).min(DOING_MAX);
    for (b, slot) in doing.iter_mut().zip(&DOING).take(len) {
        *b = slot.load(Ordering::Relaxed);
    }
    let mut out = [0u8; 1024];
    let n = message(&doing[..len], size, &mut out);
    // SAFETY: write(2) and _exit(2) are async-signal-safe; `out` outlives the call.
    unsafe {
        libc::write(2, out.as_ptr().cast(), n);
        libc::_exit(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_what_was_done_and_the_size() {
        let mut out = [0u8; 1024];
        let n = message(b"check h.json", 268435456, &mut out);
        assert_eq!(
            std::str::from_utf8(&out[..n]).unwrap(),
            "quorumlab check h.json: out of memory: an allocation of 268435456 bytes did not \
             fit in the memory left (see `ulimit -v`); give it more memory or a smaller input\n"
        );
        let n = message(b"", 0, &mut out);
        assert!(std::str::from_utf8(&out[..n])
            .unwrap()
            .starts_with("quorumlab: out of memory: an allocation of 0 bytes"));
        // A long description is cut to fit, never past the buffer.
        let n = message(&[b'x'; 2000], usize::MAX, &mut out);
        assert_eq!(n, 1024);
    }

    #[test]
    fn doing_is_cut_at_a_character_boundary() {
        doing(&"é".repeat(300));
        let len = DOING_LEN.load(Ordering::Acquire);
        assert!(len <= DOING_MAX && len.is_multiple_of(2), "{len}");
        doing("check a.json");
        assert_eq!(DOING_LEN.load(Ordering::Acquire), 12);
    }
}
