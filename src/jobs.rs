//! Independent jobs run on a few threads, with their results in job order.
//!
//! The checker shares its keys between threads this way, and the harness its matrix cells,
//! canary searches and deep cases. Each job runs start to finish on one thread and the results
//! come back in the order of the jobs, never of their finishing, so a run's outcome does not
//! depend on the thread count or on which thread was faster, as long as the jobs share no
//! state of their own.
//!
//! ```
//! let squares = quorumlab::jobs::run(&[1u64, 2, 3, 4], 2, |&n| n * n);
//! assert_eq!(squares, [1, 4, 9, 16]);
//! ```
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One job just finished, as [`run_with_progress`] reports it.
#[derive(Debug)]
pub struct Finished<'a, R> {
    /// Jobs finished so far, this one included: 1 to `total`, in the order they finished.
    pub done: usize,
    /// Jobs in the run.
    pub total: usize,
    /// The job's place in the list given.
    pub index: usize,
    /// What the job returned.
    pub result: &'a R,
}

/// Runs `work` on every job on at most `threads` threads (0 counts as 1) and returns the
/// results in job order. See [`run_with_progress`].
pub fn run<J, R>(jobs: &[J], threads: usize, work: impl Fn(&J) -> R + Sync) -> Vec<R>
where
    J: Sync,
    R: Send,
{
    run_with_progress(jobs, threads, work, |_| {})
}

/// Runs `work` on every job on at most `threads` threads (0 counts as 1), calling `progress`
/// as each job finishes, and returns the results in job order.
///
/// Threads take the next job not yet taken, in list order, so the jobs start in that order:
/// put the longest first to finish soonest. With one thread (or one job) everything runs on
/// the calling thread. `progress` is called on the thread that ran the job, one call at a
/// time per thread but concurrently across threads. A panic in a job is raised again in the
/// caller once the other threads have stopped.
pub fn run_with_progress<J, R>(
    jobs: &[J],
    threads: usize,
    work: impl Fn(&J) -> R + Sync,
    progress: impl Fn(Finished<'_, R>) + Sync,
) -> Vec<R>
where
    J: Sync,
    R: Send,
{
    let total = jobs.len();
    let threads = threads.clamp(1, total.max(1));
    if threads == 1 {
        return jobs
            .iter()
            .enumerate()
            .map(|(index, job)| {
                let result = work(job);
                progress(Finished {
                    done: index + 1,
                    total,
                    index,
                    result: &result,
                });
                result
            })
            .collect();
    }
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<R>>> = Mutex::new((0..total).map(|_| None).collect());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(index) else { break };
                    let result = work(job);
                    progress(Finished {
                        done: done.fetch_add(1, Ordering::Relaxed) + 1,
                        total,
                        index,
                        result: &result,
                    });
                    // A panic elsewhere poisons nothing this thread relies on: each slot is
                    // written once, by the thread that ran its job.
                    slots.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(result);
                })
            })
            .collect();
        for worker in workers {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    slots
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn results_are_in_job_order_whatever_the_thread_count() {
        let jobs: Vec<u64> = (0..100).collect();
        // Later jobs finish first, so completion order differs from job order.
        let work = |&n: &u64| {
            std::thread::sleep(std::time::Duration::from_micros(100 - n));
            n * 3
        };
        let want: Vec<u64> = jobs.iter().map(|n| n * 3).collect();
        for threads in [0, 1, 2, 7, 200] {
            assert_eq!(run(&jobs, threads, work), want, "{threads} threads");
        }
    }

    #[test]
    fn progress_sees_every_job_once() {
        let jobs: Vec<usize> = (0..50).collect();
        let seen = Mutex::new(Vec::new());
        let out = run_with_progress(
            &jobs,
            3,
            |&n| n + 1,
            |f| {
                assert_eq!(*f.result, f.index + 1);
                assert_eq!(f.total, 50);
                seen.lock().unwrap().push((f.done, f.index));
            },
        );
        assert_eq!(out.len(), 50);
        let seen = seen.into_inner().unwrap();
        let done: BTreeSet<usize> = seen.iter().map(|&(d, _)| d).collect();
        let index: BTreeSet<usize> = seen.iter().map(|&(_, i)| i).collect();
        assert_eq!(done, (1..=50).collect());
        assert_eq!(index, (0..50).collect());
    }

    #[test]
    fn no_jobs_no_results() {
        let none: [u8; 0] = [];
        assert!(run(&none, 4, |&b| b).is_empty());
    }

    #[test]
    fn a_panic_in_a_job_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| {
            run(&[1, 2, 3, 4], 2, |&n| {
                assert_ne!(n, 3, "job three fails");
                n
            })
        });
        let panic = caught.expect_err("the panic is raised again");
        let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.contains("job three fails"), "{text}");
    }
}
