//! Many rewrites with one model, decoded as a batch: *Apply to every function*, *every use of
//! a name*, and evaluation runs. Up to `edit.batch` workers each take the next region and
//! rewrite it exactly as [`super::rewrite`] would, through a batched view of the model
//! ([`Model::batched`]), so their forward passes run together, one per step. [`batched`] is
//! the same for any work (`anneal eval` generates its candidates with it).

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anneal_models::Model;

use super::{rewrite, EditSettings, EngineError, EngineProgress, Proposal, RewriteRequest};

/// What many rewrites did, besides their proposals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ManyStats {
    /// Forward passes the batch ran, each for up to `edit.batch` regions.
    pub forward_passes: usize,
    /// Forward passes the regions would have run one by one.
    pub region_passes: usize,
}

/// Runs `work(view, i)` for every `i < count` on up to `batch` worker threads, each with its
/// own batched view of `model`, so the forward passes of all items in flight run together.
/// Results in order; also the number of batched forward passes run.
pub fn batched<T: Send>(model: &Model, count: usize, batch: usize, work: impl Fn(&Model, usize) -> T + Sync) -> (Vec<T>, usize) {
    let workers = batch.clamp(1, count.max(1));
    let (views, handle) = model.batched(workers);
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<T>>> = (0..count).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for view in views {
            let (next, results, work) = (&next, &results, &work);
            scope.spawn(move || {
                // The view leaves the batch when this worker runs out of items and drops it.
                let view = view;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let result = work(&view, i);
                    *results[i].lock().expect("result lock") = Some(result);
                }
            });
        }
    });
    let results = results.into_iter().map(|r| r.into_inner().expect("result lock").expect("every item ran")).collect();
    (results, handle.stats().forward_passes)
}

/// Rewrites every request; one result per request, in order. `observe` sees each region's
/// steps with `block`/`blocks` counting regions finished of all (its `step` is the
/// reporting region's); breaking cancels every region still running.
pub fn rewrite_many(
    model: &Model,
    requests: &[RewriteRequest],
    settings: &EditSettings,
    observe: &mut (dyn FnMut(&EngineProgress) -> ControlFlow<()> + Send),
) -> (Vec<Result<Proposal, EngineError>>, ManyStats) {
    let finished = AtomicUsize::new(0);
    let observe = Mutex::new(observe);
    let (results, forward_passes) = batched(model, requests.len(), settings.batch, |view, i| {
        let mut report = |p: &EngineProgress| {
            let p = EngineProgress {
                attempt: p.attempt,
                block: finished.load(Ordering::Relaxed),
                blocks: requests.len(),
                step: p.step,
                remaining: p.remaining,
                preview: None,
            };
            (observe.lock().expect("observer lock"))(&p)
        };
        let result = rewrite(view, &requests[i], settings, &mut report);
        finished.fetch_add(1, Ordering::Relaxed);
        result
    });
    let region_passes = results.iter().filter_map(|r| r.as_ref().ok()).map(|p| p.forward_passes).sum();
    (results, ManyStats { forward_passes, region_passes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anneal_grammars::{Language, SyntaxTree};

    #[test]
    fn a_batch_proposes_what_each_rewrite_proposes_alone_in_fewer_passes() {
        let model = Model::load_default(&candle_core::Device::Cpu).unwrap();
        let text = "def add(a, b):\n    return a + b\n\n\ndef scale(xs, k):\n    out = [x * k for x in xs]\n    return out\n\n\ndef name(user):\n    return user.first + ' ' + user.last\n";
        let tree = SyntaxTree::new(text, Some(Language::Python));
        let functions = tree.functions(text);
        assert_eq!(functions.len(), 3);
        let requests: Vec<RewriteRequest> = functions
            .iter()
            .map(|f| RewriteRequest {
                text,
                selection: f.clone(),
                language: Some(Language::Python),
                syntax: Some(&tree),
                instruction: None,
            })
            .collect();
        let settings = EditSettings { accept_syntax_errors: true, batch: 3, ..EditSettings::default() };
        let alone: Vec<Proposal> =
            requests.iter().map(|r| rewrite(&model, r, &settings, &mut |_| ControlFlow::Continue(())).unwrap()).collect();
        let mut seen = 0;
        let (together, stats) = rewrite_many(&model, &requests, &settings, &mut |p| {
            assert_eq!(p.blocks, 3, "progress counts regions");
            seen += 1;
            ControlFlow::Continue(())
        });
        let together: Vec<Proposal> = together.into_iter().map(Result::unwrap).collect();
        assert_eq!(together, alone, "batching changes nothing a region gets");
        assert!(seen > 0);
        assert_eq!(stats.region_passes, alone.iter().map(|p| p.forward_passes).sum::<usize>());
        assert!(stats.forward_passes < stats.region_passes, "{stats:?}");

        // Cancelling stops every region.
        let (cancelled, _) = rewrite_many(&model, &requests, &settings, &mut |_| ControlFlow::Break(()));
        assert!(cancelled.iter().all(|r| matches!(r, Err(EngineError::Cancelled))));
    }
}
