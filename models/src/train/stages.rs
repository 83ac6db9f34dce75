//! Which stage of the recipe a step belongs to, and the batch each stage trains on.
//!
//! The main run is `steps` long: mask diffusion, with edit corruption on half of each batch for
//! the last `edit_fraction`. Post stages follow at the final learning rate, each a number of
//! steps of one kind; the model-driven kinds (constrained order, on-policy, self-distillation) fill the even
//! slots of a batch and the edit stage's corruption keeps the odd ones, so the edit skill is
//! not forgotten. Each arm of the ablation differs only in its post stages.

use serde::{Deserialize, Serialize};

use super::TrainConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// Stage 1: every example masked with t ~ U(0,1).
    Mask,
    /// Stage 2: half of each batch edit-corrupted.
    Edit,
    /// Stage 3: constrained-order distillation (train::distill).
    Order,
    /// Stage 4: on-policy states of the aggressive sampler (train::distill).
    OnPolicy,
    /// Stage 4, towards the model's own slow decode (certainty forcing, train::distill).
    SelfDistill,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostStage {
    pub kind: StageKind,
    pub steps: usize,
}

impl TrainConfig {
    /// First step of the edit stage within the main run.
    pub fn edit_from(&self) -> usize {
        ((1.0 - self.edit_fraction) * self.steps as f64) as usize
    }

    pub fn total_steps(&self) -> usize {
        self.steps + self.post.iter().map(|p| p.steps).sum::<usize>()
    }

    pub fn stage_at(&self, step: usize) -> StageKind {
        if step < self.steps {
            return if step >= self.edit_from() { StageKind::Edit } else { StageKind::Mask };
        }
        let mut start = self.steps;
        for p in &self.post {
            if step < start + p.steps {
                return p.kind;
            }
            start += p.steps;
        }
        self.post.last().map_or(StageKind::Mask, |p| p.kind)
    }

    /// Whether any of the first `done` steps trained on corrupted visible tokens: what the
    /// checkpoint's `anneal_edit_trained` says, and so which sampler the engine picks.
    pub fn edit_trained_after(&self, done: usize) -> bool {
        (0..done).any(|s| self.stage_at(s) != StageKind::Mask)
    }

    /// Steps at which a stage begins: a checkpoint is saved there, so an ablation arm can
    /// branch from exactly that point.
    pub fn is_stage_boundary(&self, step: usize) -> bool {
        step > 0 && step < self.total_steps() && self.stage_at(step) != self.stage_at(step - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(post: Vec<PostStage>) -> TrainConfig {
        let mut c: TrainConfig = serde_json::from_str(include_str!("../../train/default.json")).unwrap();
        c.steps = 100;
        c.edit_fraction = 0.2;
        c.post = post;
        c
    }

    #[test]
    fn stages_follow_the_recipe_in_order() {
        let c = config(vec![PostStage { kind: StageKind::Order, steps: 10 }, PostStage { kind: StageKind::OnPolicy, steps: 5 }]);
        assert_eq!(c.total_steps(), 115);
        assert_eq!(c.stage_at(0), StageKind::Mask);
        assert_eq!(c.stage_at(79), StageKind::Mask);
        assert_eq!(c.stage_at(80), StageKind::Edit);
        assert_eq!(c.stage_at(99), StageKind::Edit);
        assert_eq!(c.stage_at(100), StageKind::Order);
        assert_eq!(c.stage_at(110), StageKind::OnPolicy);
        let boundaries: Vec<usize> = (0..115).filter(|&s| c.is_stage_boundary(s)).collect();
        assert_eq!(boundaries, vec![80, 100, 110]);
    }

    #[test]
    fn edit_trained_only_once_a_non_mask_step_ran() {
        let mut c = config(vec![]);
        assert!(!c.edit_trained_after(80));
        assert!(c.edit_trained_after(81));
        c.edit_fraction = 0.0;
        c.post = vec![PostStage { kind: StageKind::Mask, steps: 10 }];
        assert!(!c.edit_trained_after(110));
        c.post.push(PostStage { kind: StageKind::Order, steps: 10 });
        assert!(c.edit_trained_after(111));
    }
}
