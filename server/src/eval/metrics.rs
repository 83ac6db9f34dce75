//! Scores: the unbiased pass@k estimator, exact match, and each group's summary.

use std::collections::BTreeMap;

use super::exec::Verdict;
use super::record::Record;

/// The unbiased estimator of pass@k from `n` candidates of which `c` pass (Chen et al. 2021,
/// "Evaluating Large Language Models Trained on Code", fig. 3): 1 - C(n-c, k) / C(n, k),
/// computed as a running product so large `n` cannot overflow.
pub fn pass_at_k(n: usize, c: usize, k: usize) -> f64 {
    assert!(c <= n && k >= 1 && k <= n, "pass@{k} needs 1 <= k <= n and c <= n (n = {n}, c = {c})");
    if n - c < k {
        return 1.0;
    }
    1.0 - ((n - c + 1)..=n).map(|i| 1.0 - k as f64 / i as f64).product::<f64>()
}

/// The k of pass@k worth reporting for `n` candidates a sample.
pub fn reported_ks(n: usize) -> Vec<usize> {
    let mut ks: Vec<usize> = [1, 5, 10, 100, n].into_iter().filter(|&k| k >= 1 && k <= n).collect();
    ks.sort_unstable();
    ks.dedup();
    ks
}

/// Equal up to trailing whitespace on each line and blank lines at the end: a candidate that
/// differs from the reference only there is the reference.
pub fn exact_match(candidate: &str, reference: &str) -> bool {
    let norm = |s: &str| s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n").trim_end().to_string();
    norm(candidate) == norm(reference)
}

/// One row of the summary table.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GroupSummary {
    pub group: String,
    pub samples: usize,
    /// (k, mean pass@k over samples).
    pub pass_at: Vec<(usize, f64)>,
    /// Share of candidates that add no syntax error relative to the reference; `None` where
    /// anneal-grammars has no grammar for the language.
    pub parse_valid: Option<f64>,
    pub exact_match: f64,
    pub tokens_per_second: f64,
    pub forward_passes_per_sample: f64,
    /// Candidates that ran out of time, and that did not compile.
    pub timeouts: usize,
    pub compile_errors: usize,
}

/// A row per group (in order of first appearance) and, with more than one group, "all".
pub fn summarize(records: &[&Record]) -> Vec<GroupSummary> {
    let mut groups: BTreeMap<usize, (String, Vec<&Record>)> = BTreeMap::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for r in records {
        let next = index.len();
        let i = *index.entry(r.group.as_str()).or_insert(next);
        groups.entry(i).or_insert_with(|| (r.group.clone(), vec![])).1.push(r);
    }
    let mut rows: Vec<GroupSummary> = groups.into_values().map(|(g, rs)| summarize_group(g, &rs)).collect();
    if rows.len() > 1 {
        rows.push(summarize_group("all".into(), records));
    }
    rows
}

fn summarize_group(group: String, records: &[&Record]) -> GroupSummary {
    let n = records.iter().map(|r| r.candidates.len()).min().unwrap_or(0);
    let candidates: Vec<_> = records.iter().flat_map(|r| &r.candidates).collect();
    let share = |hits: usize, of: usize| if of == 0 { 0.0 } else { hits as f64 / of as f64 };
    let pass_at = reported_ks(n)
        .into_iter()
        .map(|k| {
            let total: f64 = records.iter().map(|r| pass_at_k(r.candidates.len(), r.passed(), k)).sum();
            (k, total / records.len().max(1) as f64)
        })
        .collect();
    let parsed: Vec<bool> = candidates.iter().filter_map(|c| c.parse_valid).collect();
    let seconds: f64 = candidates.iter().map(|c| c.model_seconds).sum();
    let tokens: usize = candidates.iter().map(|c| c.generated_tokens).sum();
    let count = |v: Verdict| candidates.iter().filter(|c| c.verdict == v).count();
    GroupSummary {
        group,
        samples: records.len(),
        pass_at,
        parse_valid: (!parsed.is_empty()).then(|| share(parsed.iter().filter(|&&p| p).count(), parsed.len())),
        exact_match: share(candidates.iter().filter(|c| c.exact_match).count(), candidates.len()),
        tokens_per_second: if seconds > 0.0 { tokens as f64 / seconds } else { 0.0 },
        forward_passes_per_sample: share(candidates.iter().map(|c| c.forward_passes).sum(), candidates.len()),
        timeouts: count(Verdict::Timeout),
        compile_errors: count(Verdict::CompileError),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Values worked by hand from 1 - C(n-c, k) / C(n, k).
    #[test]
    fn pass_at_k_matches_hand_computed_values() {
        assert!(close(pass_at_k(1, 1, 1), 1.0));
        assert!(close(pass_at_k(1, 0, 1), 0.0));
        assert!(close(pass_at_k(10, 3, 1), 0.3)); // 1 - 7/10
        assert!(close(pass_at_k(5, 2, 2), 0.7)); // 1 - C(3,2)/C(5,2) = 1 - 3/10
        assert!(close(pass_at_k(10, 1, 5), 0.5)); // 1 - C(9,5)/C(10,5) = 1 - 126/252
        assert!(close(pass_at_k(4, 2, 3), 1.0)); // n - c < k: every 3-subset holds a pass
        assert!(close(pass_at_k(20, 0, 10), 0.0));
        assert!(close(pass_at_k(6, 1, 3), 0.5)); // 1 - C(5,3)/C(6,3) = 1 - 10/20
                                                 // Large n: no overflow, and pass@1 is still c / n.
        assert!(close(pass_at_k(1000, 250, 1), 0.25));
    }

    #[test]
    fn reported_ks_stop_at_n() {
        assert_eq!(reported_ks(1), vec![1]);
        assert_eq!(reported_ks(3), vec![1, 3]);
        assert_eq!(reported_ks(10), vec![1, 5, 10]);
    }

    #[test]
    fn exact_match_ignores_trailing_whitespace_only() {
        assert!(exact_match("a = 1  \nb = 2\n\n", "a = 1\nb = 2"));
        assert!(!exact_match("a = 1\n b = 2", "a = 1\nb = 2"));
        assert!(!exact_match("a = 2", "a = 1"));
    }
}
