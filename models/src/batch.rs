//! Batched decoding without changing the samplers: several workers, each decoding its own
//! region with an ordinary sampler, share one forward pass per step.
//!
//! [`Model::batched`] gives `n` views of one model. Each view's `logits` call joins a batch; the
//! batch runs when every view still decoding has joined it (the last to arrive runs it, and
//! hands each waiting view its rows), so the views step in lockstep and no timer or extra
//! thread is involved. A view that finishes leaves the group when it is dropped, and the batch
//! then stops waiting for it. Sequences of different lengths are right-padded and their
//! padding masked out of attention, so a view's logits are what the model alone would give.
//!
//! Why: on a CPU one forward pass over a batch of B canvases costs far less than B passes
//! (matrix–matrix rather than matrix–vector products), and on a GPU a single canvas leaves most
//! of the device idle. *Apply to every function* decodes its regions this way.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

use candle_core::{Device, Tensor};

use crate::transformer::Transformer;

pub(crate) struct Batcher {
    transformer: Transformer,
    device: Device,
    pad: u32,
    state: Mutex<State>,
    done: Condvar,
}

#[derive(Default)]
struct State {
    /// Views still decoding: a batch waits for each of them.
    active: usize,
    waiting: Vec<(u64, Vec<u32>)>,
    results: HashMap<u64, Result<Tensor, String>>,
    next_ticket: u64,
    /// A batch is running (outside the lock).
    running: bool,
    stats: BatchStats,
}

/// What a group of views did, for benchmarks and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Forward passes run (each over a whole batch).
    pub forward_passes: usize,
    /// Sequences they covered: `sequences / forward_passes` is the mean batch size.
    pub sequences: usize,
}

impl Batcher {
    pub(crate) fn new(transformer: Transformer, device: Device, pad: u32, views: usize) -> Batcher {
        Batcher { transformer, device, pad, state: Mutex::new(State { active: views, ..State::default() }), done: Condvar::new() }
    }

    pub(crate) fn logits(&self, ids: &[u32]) -> candle_core::Result<Tensor> {
        let mut state = self.state.lock().expect("batch lock");
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.waiting.push((ticket, ids.to_vec()));
        loop {
            if let Some(result) = state.results.remove(&ticket) {
                return result.map_err(candle_core::Error::Msg);
            }
            state = self.run_if_complete(state);
            if !state.results.contains_key(&ticket) {
                state = self.done.wait(state).expect("batch lock");
            }
        }
    }

    /// A view is done: later batches no longer wait for it.
    pub(crate) fn leave(&self) {
        let mut state = self.state.lock().expect("batch lock");
        state.active -= 1;
        drop(self.run_if_complete(state));
        self.done.notify_all();
    }

    pub(crate) fn stats(&self) -> BatchStats {
        self.state.lock().expect("batch lock").stats
    }

    /// Runs the waiting batch when every active view is in it (and none is running), with the
    /// lock released during the forward pass.
    fn run_if_complete<'a>(&'a self, mut state: std::sync::MutexGuard<'a, State>) -> std::sync::MutexGuard<'a, State> {
        if state.running || state.waiting.is_empty() || state.waiting.len() < state.active {
            return state;
        }
        let batch = std::mem::take(&mut state.waiting);
        state.running = true;
        drop(state);
        // A panic in the forward pass must not leave `running` set, or every view would wait
        // for ever: it becomes every sequence's error instead.
        let outputs = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.forward(&batch)))
            .unwrap_or_else(|_| Err(candle_core::Error::Msg("the batched forward pass panicked".into())));
        let mut state = self.state.lock().expect("batch lock");
        state.running = false;
        state.stats.forward_passes += 1;
        state.stats.sequences += batch.len();
        match outputs {
            Ok(rows) => state.results.extend(batch.iter().map(|(t, _)| *t).zip(rows.into_iter().map(Ok))),
            Err(e) => state.results.extend(batch.iter().map(|(t, _)| (*t, Err(e.to_string())))),
        }
        self.done.notify_all();
        state
    }

    fn forward(&self, batch: &[(u64, Vec<u32>)]) -> candle_core::Result<Vec<Tensor>> {
        let lens: Vec<usize> = batch.iter().map(|(_, ids)| ids.len()).collect();
        let width = lens.iter().copied().max().unwrap_or(0);
        let mut flat = Vec::with_capacity(batch.len() * width);
        for (_, ids) in batch {
            flat.extend_from_slice(ids);
            flat.extend(std::iter::repeat_n(self.pad, width - ids.len()));
        }
        let input = Tensor::from_vec(flat, (batch.len(), width), &self.device)?;
        let logits = self.transformer.forward_padded(&input, &lens)?;
        lens.iter().enumerate().map(|(i, &len)| logits.get(i)?.narrow(0, 0, len)).collect()
    }
}

/// Leaves the group when the view holding it is dropped.
pub(crate) struct Membership(pub(crate) Arc<Batcher>);

impl Drop for Membership {
    fn drop(&mut self) {
        self.0.leave();
    }
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use candle_core::Device;

    use crate::mask_sampler::{decode_masked, MaskConfig, MaskRequest};
    use crate::{Denoiser, Model};

    fn model() -> Model {
        let dir = tempfile::tempdir().unwrap();
        crate::random::write_tiny_checkpoint(dir.path(), 7).unwrap();
        Model::load(dir.path(), &Device::Cpu).unwrap()
    }

    fn sequence(len: usize, seed: u32) -> Vec<u32> {
        (0..len as u32).map(|i| 3 + (i * 7 + seed * 13) % 50).collect()
    }

    #[test]
    fn padded_rows_get_the_logits_each_sequence_gets_alone() {
        let model = model();
        let seqs: Vec<Vec<u32>> = [5, 12, 9, 12].iter().enumerate().map(|(i, &n)| sequence(n, i as u32)).collect();
        let (views, handle) = model.batched(seqs.len());
        let batched: Vec<candle_core::Tensor> = std::thread::scope(|s| {
            let jobs: Vec<_> = views.into_iter().zip(&seqs).map(|(view, ids)| s.spawn(move || view.logits(ids).unwrap())).collect();
            jobs.into_iter().map(|j| j.join().unwrap()).collect()
        });
        assert_eq!(handle.stats(), super::BatchStats { forward_passes: 1, sequences: 4 }, "one pass for all four");
        for (ids, got) in seqs.iter().zip(batched) {
            let alone = model.logits(ids).unwrap();
            assert_eq!(got.dims(), alone.dims());
            let diff = (got - &alone).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            let scale = alone.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff <= 1e-4 * scale.max(1.0), "length {}: max difference {diff} (scale {scale})", ids.len());
        }
    }

    #[test]
    fn logits_at_gives_each_canvas_the_row_a_pass_of_its_own_gives() {
        let model = model();
        let base = sequence(20, 3);
        let at: Vec<usize> = vec![0, 4, 11, 19];
        let canvases: Vec<Vec<u32>> = at
            .iter()
            .map(|&i| {
                let mut c = base.clone();
                c[i] = model.specials().mask;
                c
            })
            .collect();
        let batched = model.logits_at(&canvases, &at).unwrap();
        assert_eq!(batched.dims(), &[4, model.config.vocab_size]);
        for (r, (ids, &i)) in canvases.iter().zip(&at).enumerate() {
            let alone = model.logits(ids).unwrap().narrow(0, i, 1).unwrap().squeeze(0).unwrap();
            let diff = (batched.get(r).unwrap() - &alone).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff <= 1e-4, "canvas {r}: max difference {diff}");
        }
        assert!(model.logits_at(&[base.clone(), base[..5].to_vec()], &[0, 0]).is_err(), "canvases of unequal length are refused");
    }

    #[test]
    fn views_decoding_in_lockstep_write_what_each_writes_alone_in_fewer_passes() {
        let model = model();
        let config = MaskConfig { threshold: 0.2, max_steps: 6, ..MaskConfig::default() };
        let requests: Vec<(Vec<u32>, usize, Vec<u32>)> =
            (0..3).map(|i| (sequence(6 + 2 * i, i as u32), 4 + 3 * i, sequence(5, 9 + i as u32))).collect();
        let decode = |m: &Model, (prefix, canvas_len, suffix): &(Vec<u32>, usize, Vec<u32>)| {
            decode_masked(m, &MaskRequest { prefix, canvas_len: *canvas_len, suffix }, &config, &mut |_| ControlFlow::Continue(())).unwrap()
        };
        let alone: Vec<_> = requests.iter().map(|r| decode(&model, r)).collect();
        let (views, handle) = model.batched(requests.len());
        let together: Vec<_> = std::thread::scope(|s| {
            let jobs: Vec<_> = views.into_iter().zip(&requests).map(|(view, r)| s.spawn(move || decode(&view, r))).collect();
            jobs.into_iter().map(|j| j.join().unwrap()).collect()
        });
        for (a, t) in alone.iter().zip(&together) {
            assert_eq!(a.tokens, t.tokens);
            assert_eq!(a.forward_passes, t.forward_passes);
        }
        let passes_alone: usize = alone.iter().map(|o| o.forward_passes).sum();
        let stats = handle.stats();
        assert_eq!(stats.sequences, passes_alone, "every view's pass was served");
        assert_eq!(
            stats.forward_passes,
            alone.iter().map(|o| o.forward_passes).max().unwrap(),
            "lockstep: as many passes as the longest decode"
        );
    }
}
