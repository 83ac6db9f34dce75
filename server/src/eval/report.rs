//! The summary of a run as a Markdown table, with what was skipped and how candidates ran.

use std::collections::BTreeMap;
use std::fmt;

use super::exec::Limits;
use super::metrics::GroupSummary;

pub struct Report {
    pub rows: Vec<GroupSummary>,
    /// Samples not run, by reason (a missing toolchain).
    pub skipped: BTreeMap<String, usize>,
    /// Benchmark rows that could not become samples, with why.
    pub unusable: Vec<String>,
    pub network_isolated: bool,
    pub limits: Limits,
}

fn percent(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ks: Vec<usize> = self
            .rows
            .iter()
            .flat_map(|r| r.pass_at.iter().map(|(k, _)| *k))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let pass_heads: String = ks.iter().map(|k| format!(" pass@{k} |")).collect();
        writeln!(
            f,
            "| group | samples |{pass_heads} parse-valid | exact match | tokens/s | forward passes / sample | timeouts | compile errors |"
        )?;
        writeln!(f, "|---|---|{}---|---|---|---|---|---|", "---|".repeat(ks.len()))?;
        for r in &self.rows {
            let passes: String = ks
                .iter()
                .map(|k| r.pass_at.iter().find(|(kk, _)| kk == k).map_or(" — |".to_string(), |(_, p)| format!(" {} |", percent(*p))))
                .collect();
            writeln!(
                f,
                "| {} | {} |{passes} {} | {} | {:.0} | {:.1} | {} | {} |",
                r.group,
                r.samples,
                r.parse_valid.map_or("—".to_string(), percent),
                percent(r.exact_match),
                r.tokens_per_second,
                r.forward_passes_per_sample,
                r.timeouts,
                r.compile_errors
            )?;
        }
        if self.rows.is_empty() {
            writeln!(f, "| (no samples ran) | 0 | | | | | | | |")?;
        }
        writeln!(f)?;
        for (why, n) in &self.skipped {
            writeln!(f, "skipped: {n} samples ({why})")?;
        }
        if !self.unusable.is_empty() {
            let shown: Vec<&str> = self.unusable.iter().take(3).map(String::as_str).collect();
            writeln!(
                f,
                "unusable rows: {} ({}{})",
                self.unusable.len(),
                shown.join("; "),
                if self.unusable.len() > 3 { "; …" } else { "" }
            )?;
        }
        writeln!(
            f,
            "candidates ran with {:.0} s and {} MiB each, network {}",
            self.limits.wall.as_secs_f64(),
            self.limits.memory_mb,
            if self.network_isolated { "isolated (unshare -rn)" } else { "NOT isolated (unshare -rn unavailable)" }
        )
    }
}
