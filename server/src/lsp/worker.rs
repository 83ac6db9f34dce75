//! The one thread model work runs on. Decodes go one at a time anyway (the job permit), and
//! running them all on the same thread keeps one allocator heap warm: on tokio's blocking
//! pool each decode could land on another of its threads, every one of which grew a heap of
//! its own, and resident memory crept up for hundreds of requests before it levelled off.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::Mutex;

type Job = Box<dyn FnOnce() + Send>;

pub struct ModelWorker {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl ModelWorker {
    pub fn start() -> ModelWorker {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("anneal-model".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .expect("cannot start the model thread");
        ModelWorker { jobs: Mutex::new(tx) }
    }

    /// Runs `work` on the model thread. A panic in it is caught there (the thread lives on) and
    /// comes back as `Err` with the panic's message.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let outcome =
                std::panic::catch_unwind(AssertUnwindSafe(work)).map_err(|panic| format!("panicked: {}", super::panic_message(&*panic)));
            let _ = done.send(outcome);
        });
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).send(job).map_err(|_| "the model thread has stopped".to_string())?;
        result.await.map_err(|_| "the model thread dropped a job".to_string())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_one_thread_and_a_panic_is_an_error() {
        let worker = ModelWorker::start();
        let first = worker.run(|| std::thread::current().id()).await.unwrap();
        let err = worker.run(|| -> u32 { panic!("boom") }).await.unwrap_err();
        // Reported without its message, which could quote document text.
        assert!(err.contains("panicked") && !err.contains("boom"), "{err}");
        let after = worker.run(|| std::thread::current().id()).await.unwrap();
        assert_eq!(first, after, "the same thread, alive after the panic");
        assert_ne!(first, std::thread::current().id());
    }
}
