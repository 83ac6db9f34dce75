//! AdamW whose state can be saved and restored, so training resumes exactly after a kill
//! (candle-nn's optimiser keeps its moments private).

use std::collections::HashMap;

use candle_core::{backprop::GradStore, Result, Tensor, Var};

pub struct AdamW {
    /// Parameters by name, in a fixed order.
    params: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    pub step: usize,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl AdamW {
    pub fn new(mut params: Vec<(String, Var)>, weight_decay: f64) -> Result<Self> {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let m = params.iter().map(|(_, p)| p.zeros_like()).collect::<Result<Vec<_>>>()?;
        let v = m.clone();
        Ok(Self { params, m, v, step: 0, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay })
    }

    /// The global L2 norm of the gradients (for clipping and the log).
    pub fn grad_norm(&self, grads: &GradStore) -> Result<f64> {
        let mut total = 0f64;
        for (_, p) in &self.params {
            if let Some(g) = grads.get(p) {
                total += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            }
        }
        Ok(total.sqrt())
    }

    /// One update with learning rate `lr`, gradients scaled by `scale` (clipping).
    pub fn step(&mut self, grads: &GradStore, lr: f64, scale: f64) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(t);
        let c2 = 1.0 - b2.powi(t);
        for (i, (name, p)) in self.params.iter().enumerate() {
            let Some(g) = grads.get(p) else { continue };
            let g = (g * scale)?;
            self.m[i] = ((&self.m[i] * b1)? + (&g * (1.0 - b1))?)?;
            self.v[i] = ((&self.v[i] * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let update = ((&self.m[i] / c1)? / ((&self.v[i] / c2)?.sqrt()? + self.eps)?)?;
            // No decay on norms and biases: shrinking them only hurts.
            let decay = if name.ends_with(".bias") || name.contains("norm") { 0.0 } else { self.weight_decay };
            let next = ((p.as_tensor() * (1.0 - lr * decay))? - (update * lr)?)?;
            p.set(&next)?;
        }
        Ok(())
    }

    /// Optimiser moments by name, for the checkpoint.
    pub fn state_tensors(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.insert(format!("adam_m.{name}"), self.m[i].clone());
            out.insert(format!("adam_v.{name}"), self.v[i].clone());
        }
        out
    }

    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, step: usize) -> Result<()> {
        for (i, (name, _)) in self.params.iter().enumerate() {
            if let (Some(m), Some(v)) = (tensors.get(&format!("adam_m.{name}")), tensors.get(&format!("adam_v.{name}"))) {
                self.m[i] = m.clone();
                self.v[i] = v.clone();
            }
        }
        self.step = step;
        Ok(())
    }
}
