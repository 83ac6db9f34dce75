//! Syntax repair by search: small token edits near a syntax error, proposed from the parse and
//! the grammar, kept only when the parser accepts them.
//!
//! A small model is weak at naming the right token but can rank a short list of candidates that
//! the parser has already accepted; this module makes that list, the caller ranks it. For the
//! error a request points at it enumerates, near the error's tokens:
//!
//! - inserting one token in a gap between two tokens: the kind a MISSING node names, the
//!   grammar's literal tokens that its parse table allows after the token before the gap
//!   (tree-sitter's lookahead iterator; all its punctuation where the state is unknown), and
//!   what the caller's [`Suggest`] proposes there (the model's top choices at a mask);
//! - deleting one token;
//! - replacing one token by the same sources, plus close spellings of the grammar's keywords
//!   and of the identifiers already in the file (`retrun` → `return`);
//! - line edits: a line indented or dedented one level (Python), a quote closed where an
//!   unterminated string could end, a closing keyword (`end`, `fi`) on a line of its own.
//!
//! Each is applied and reparsed incrementally from the current tree. One that leaves no error
//! near the region and fewer errors in the file is a candidate; when no single edit does, the
//! edits that made most progress are expanded again, up to [`SearchLimits::max_edits`] deep.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::OnceLock;
use std::time::Instant;

use tree_sitter::{Node, Tree};

use crate::syntax_tree::TextEdit;
use crate::verify::{self, SyntaxError};
use crate::{Language, SyntaxTree};

/// Repairs of the first of several mistakes kept while the search looks for one of all.
const PARTIAL_KEPT: usize = 64;

/// Repairs of the first of several mistakes handed to the ranker.
const PARTIAL_RANKED: usize = 6;

/// Windows searched in one wide ERROR, one after another, while none finds a repair.
const MAX_WINDOWS: usize = 3;

/// Errors looked at in one file: more is not a file to repair token by token.
const ERROR_LIMIT: usize = 200;

/// Replace `range` of a text by `text`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Change {
    pub range: Range<usize>,
    pub text: String,
}

impl Change {
    /// The one replacement that turns `old` into `new`: their common start and end left out,
    /// cut at character boundaries.
    pub fn between(old: &str, new: &str) -> Change {
        let (a, b) = (old.as_bytes(), new.as_bytes());
        let mut prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let most = a.len().min(b.len()) - prefix;
        let mut suffix = a.iter().rev().zip(b.iter().rev()).take(most).take_while(|(x, y)| x == y).count();
        while !old.is_char_boundary(prefix) || !new.is_char_boundary(prefix) {
            prefix -= 1;
        }
        while !old.is_char_boundary(a.len() - suffix) || !new.is_char_boundary(b.len() - suffix) {
            suffix -= 1;
        }
        Change { range: prefix..a.len() - suffix, text: new[prefix..b.len() - suffix].to_string() }
    }

    pub fn apply(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + self.text.len());
        out.push_str(&text[..self.range.start]);
        out.push_str(&self.text);
        out.push_str(&text[self.range.end..]);
        out
    }
}

/// A repair the parser accepts.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Candidate {
    /// The repaired text's difference from the input, as one replacement of the input's bytes.
    pub change: Change,
    /// Token edits made (an insertion, deletion or replacement of one token, or a line's
    /// re-indent, counts one).
    pub edits: usize,
    /// How telling the sources of its tokens were (0 for a token a MISSING node named, 1 for a
    /// suggestion or close spelling, 2 for a token the parse table allows, 3 for any
    /// punctuation), summed over its edits: a ranker that can afford only some candidates takes
    /// the lowest.
    pub sources: usize,
    /// How large a change it is: each edit weighs 1, but deleting or inserting a word 2 and
    /// putting a word for punctuation or the reverse 3; typos rarely lose a whole word.
    pub weight: usize,
    /// What it does, for a title: `insert ':'`, `delete ')'`, `replace 'retrun' with 'return'`.
    pub description: String,
    /// Syntax errors left in the whole file.
    pub errors_after: usize,
}

/// How far a search may go.
#[derive(Clone, Debug)]
pub struct SearchLimits {
    /// Token edits in one repair (1 to 3).
    pub max_edits: usize,
    /// States expanded at each depth after the first.
    pub beam: usize,
    /// Reparses in all; the search stops with what it has.
    pub max_parses: usize,
    /// Stop at this instant with what has been found.
    pub deadline: Option<Instant>,
    /// Tokens around the error that edits may touch.
    pub window_tokens: usize,
}

impl Default for SearchLimits {
    fn default() -> Self {
        SearchLimits { max_edits: 3, beam: 4, max_parses: 3000, deadline: None, window_tokens: 40 }
    }
}

/// What a search found for one error.
#[derive(Clone, Debug, Default)]
pub struct SearchOutcome {
    /// The error searched; `None` when none touches the requested range.
    pub error: Option<SyntaxError>,
    /// Valid repairs with the fewest edits found, in document order of their changes.
    pub candidates: Vec<Candidate>,
    pub parses: usize,
    /// Stopped by a limit (parses, deadline) or the caller's cancellation before the search was
    /// done.
    pub cut_short: bool,
}

/// Proposals from outside the grammar (a model's top choices). Each site is a byte range of
/// `text`: empty for a gap where a token could be inserted, else a token that could be replaced.
/// Returns, per site, the texts it proposes (whitespace around them is trimmed).
pub trait Suggest {
    fn suggest(&mut self, text: &str, sites: &[Range<usize>]) -> Vec<Vec<String>>;
    /// Checked between reparses; true stops the search with what it has.
    fn cancelled(&mut self) -> bool {
        false
    }
}

/// Proposes nothing: the grammar alone.
pub struct NoSuggestions;

impl Suggest for NoSuggestions {
    fn suggest(&mut self, _: &str, sites: &[Range<usize>]) -> Vec<Vec<String>> {
        vec![vec![]; sites.len()]
    }
}

/// The literal tokens of a grammar (its anonymous, visible node kinds): punctuation and
/// keywords. Read from the grammar's tables, so no list is kept by hand per language.
struct Literals {
    punctuation: Vec<&'static str>,
    keywords: Vec<&'static str>,
}

fn literals(language: Language) -> &'static Literals {
    static ALL: OnceLock<Vec<Literals>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        Language::ALL
            .iter()
            .map(|l| {
                let ts = l.tree_sitter();
                let mut seen = HashSet::new();
                let (mut punctuation, mut keywords) = (vec![], vec![]);
                for id in 0..ts.node_kind_count() as u16 {
                    let Some(kind) = ts.node_kind_for_id(id) else { continue };
                    if ts.node_kind_is_named(id) || !ts.node_kind_is_visible(id) || !is_literal(kind) || !seen.insert(kind) {
                        continue;
                    }
                    if is_word(kind) {
                        keywords.push(kind);
                    } else {
                        punctuation.push(kind);
                    }
                }
                Literals { punctuation, keywords }
            })
            .collect()
    });
    &all[language as usize]
}

/// A token a user could type: printable ASCII, no white space, not longer than a keyword gets.
fn is_literal(kind: &str) -> bool {
    !kind.is_empty() && kind.len() <= 16 && kind.bytes().all(|b| b.is_ascii_graphic())
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// One state of the search: a text, its parse and the edits that made it.
#[derive(Clone)]
struct State {
    text: String,
    tree: Tree,
    errors: Vec<SyntaxError>,
    edits: usize,
    /// The sum of the edits' [`Source`]s: lower is likelier.
    sources: usize,
    /// The sum of the edits' weights (see [`weight`]).
    weight: usize,
    /// Where the last byte any edit wrote ends, in this text.
    edited_end: usize,
    steps: Vec<String>,
    /// The region the edits may touch, in this text's bytes.
    window: Range<usize>,
    /// Tokens in the window the parse could not place (see [`loose_count`]).
    loose: usize,
}

impl State {
    /// Errors touching the window.
    fn near(&self) -> usize {
        self.errors.iter().filter(|e| overlaps(&e.range, &self.window)).count()
    }

    /// Bytes the errors near the window cover: a smaller error is progress.
    fn near_bytes(&self) -> usize {
        self.errors.iter().filter(|e| overlaps(&e.range, &self.window)).map(|e| e.range.len().max(1)).sum()
    }

    /// The first error left in the window: where the next edit goes.
    fn first_near(&self) -> Option<&SyntaxError> {
        self.errors.iter().find(|e| overlaps(&e.range, &self.window))
    }

    /// How far the parse gets before its first error in the window: further is progress (the
    /// rest of the error is another mistake, or this one seen later).
    fn reach(&self) -> usize {
        self.first_near().map_or(usize::MAX, |e| e.range.start)
    }

    /// Whether the parse now gets past the edits: the first error left near the window starts,
    /// and the first token it could not place lies, after the line of the last edit (a mistake
    /// mended, the error left another one further on).
    fn mended_before_errors(&self) -> bool {
        let b = self.text.as_bytes();
        let line_end = b[self.edited_end.min(b.len())..].iter().position(|&c| c == b'\n').map_or(b.len(), |i| self.edited_end + i);
        let line_start = b[..self.edited_end.min(b.len())].iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
        // No token the parse could not place on the edited line.
        loose_count(&self.tree, &(line_start..line_end)) == 0
            || self.first_near().is_some_and(|e| e.range.start > self.edited_end && e.token.start > line_end)
    }

    /// Ordering for the beam: fewer errors, a parse that gets further, smaller errors.
    fn badness(&self) -> (usize, std::cmp::Reverse<usize>, usize, usize) {
        (self.errors.len(), std::cmp::Reverse(self.reach()), self.near_bytes(), self.sources)
    }
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start <= b.end && b.start <= a.end
}

/// A single edit to try: the change, what it is, and how many token edits it counts.
struct Edit {
    change: Change,
    what: String,
    source: Source,
    weight: usize,
}

/// An edit's weight: 1, or 2 for a word deleted or inserted (unless a MISSING node names it),
/// or 3 for a word put for punctuation or the reverse.
fn weight(removed: &str, inserted: &str, source: Source) -> usize {
    let (removed, inserted) = (removed.trim(), inserted.trim());
    match (removed.is_empty(), inserted.is_empty()) {
        (true, false) if is_word(inserted) && source != Source::Missing => 2,
        (false, true) if is_word(removed) => 2,
        (false, false) if is_word(removed) != is_word(inserted) => 3,
        _ => 1,
    }
}

/// Where an edit's token came from, most telling first: a caller that can score only some
/// candidates scores these first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    /// The kind a MISSING node names.
    Missing = 0,
    /// The caller's suggestion, or a close spelling of a word in the file.
    Suggested = 1,
    /// Allowed by the parse table there; deletions and line edits.
    Queries = 2,
    /// Any punctuation of the grammar (where the parse state is unknown).
    Any = 3,
}

impl SyntaxTree {
    /// Lines starting in `range` whose indentation disagrees with the parse (see
    /// [`crate::nesting`]): of several repairs that parse, the one the author's indentation
    /// agrees with leaves fewest.
    pub fn misnested_lines(&self, text: &str, range: Range<usize>) -> usize {
        if self.language().is_none_or(Language::indentation_is_syntax) {
            return 0;
        }
        self.tree_for(text).map_or(0, |tree| crate::nesting::misnested_lines(&tree, text, range))
    }

    /// Tokens of `range` the parse could not place (under an ERROR) or had to invent
    /// (MISSING): with the count of errors, how far a text is from parsing.
    pub fn unplaced_tokens(&self, text: &str, range: Range<usize>) -> usize {
        self.tree_for(text).map_or(0, |tree| loose_count(&tree, &range))
    }

    /// Repairs the first syntax error that touches `target` (byte offsets of `text`, the text
    /// this tree describes); see the module's documentation. Without a language, or for a text
    /// with no error there, the outcome holds no candidates.
    pub fn repair_candidates(&self, text: &str, target: Range<usize>, limits: &SearchLimits, suggest: &mut dyn Suggest) -> SearchOutcome {
        let (Some(language), Some(tree)) = (self.language(), self.tree_for(text)) else {
            return SearchOutcome::default();
        };
        let tree = tree.into_owned();
        let errors = verify::errors(&tree, ERROR_LIMIT);
        let Some(error) = errors.iter().find(|e| overlaps(&e.range, &target)).cloned() else {
            return SearchOutcome::default();
        };
        let mut search = Search { language, limits, suggest, parses: 0, budget: limits.max_parses, cut_short: false, parser: None };
        // A large ERROR is searched where the caller points into it (a diagnostic's token, the
        // error's start for a whole file).
        let mut anchor = target.start.clamp(error.range.start, error.range.end);
        let mut found: Vec<Candidate> = vec![];
        let loose = loose_tokens(&tree, &error.range);
        for _ in 0..MAX_WINDOWS {
            let window = window(&tree, text, &error, anchor, limits.window_tokens);
            let start = State {
                text: text.to_string(),
                loose: loose_count(&tree, &window),
                tree: tree.clone(),
                errors: errors.clone(),
                edits: 0,
                sources: 0,
                weight: 0,
                edited_end: 0,
                steps: vec![],
                window: window.clone(),
            };
            let (candidates, complete) = search.run(start);
            if complete || found.is_empty() {
                found = candidates;
            }
            // An ERROR wider than the window (a function whose brace went astray) may hold its
            // mistake past the window: search again from the next token the parse could not
            // place there, with a budget of its own. A repair of all of it found there beats
            // one of the first of several mistakes found here.
            let next = loose.iter().copied().find(|&at| at > window.end);
            match next {
                Some(at) if !complete && search.limits.deadline.is_none_or(|d| Instant::now() < d) && !search.suggest.cancelled() => {
                    anchor = at;
                    search.budget = search.parses + limits.max_parses;
                }
                _ => break,
            }
        }
        // Several edits can land on the same text (`a  b` with a token inserted at either end
        // of the gap): keep one.
        let mut seen = HashSet::new();
        found.retain(|c| seen.insert(c.change.clone()));
        SearchOutcome { error: Some(error), candidates: found, parses: search.parses, cut_short: search.cut_short }
    }
}

struct Search<'a> {
    language: Language,
    limits: &'a SearchLimits,
    suggest: &'a mut dyn Suggest,
    parses: usize,
    /// Reparses allowed before the search stops: [`SearchLimits::max_parses`] a window.
    budget: usize,
    cut_short: bool,
    /// One parser for every reparse of the search.
    parser: Option<tree_sitter::Parser>,
}

impl Search<'_> {
    fn out_of_budget(&mut self) -> bool {
        let over = self.parses >= self.budget || self.limits.deadline.is_some_and(|d| Instant::now() >= d) || self.suggest.cancelled();
        self.cut_short |= over;
        over
    }

    /// Breadth first by edit count: the candidates of the smallest depth that has any.
    /// The candidates, and whether they repair all of the error (else they mend the first of
    /// its mistakes).
    fn run(&mut self, start: State) -> (Vec<Candidate>, bool) {
        let original = start.text.clone();
        let start_errors = start.errors.len();
        let start_loose = start.loose;
        let mut partial: Vec<State> = vec![];
        // States with fewer errors in the file and fewer tokens the parse cannot place, though
        // the edited line still holds another mistake: offered only when nothing else is (two
        // or three mistakes on one line leave no state that gets past its edits, and the
        // search runs out of budget before it mends them all at once).
        let mut fewer_errors: Vec<State> = vec![];
        let mut frontier = vec![start];
        for _depth in 0..self.limits.max_edits.clamp(1, 3) {
            let mut solved = vec![];
            let mut progress: Vec<State> = vec![];
            for state in &frontier {
                let edits = self.edits(state);
                for edit in edits {
                    if self.out_of_budget() {
                        break;
                    }
                    let Some(next) = self.apply(state, &edit) else { continue };
                    let fewer = next.errors.len() < state.errors.len();
                    if next.near() == 0 && fewer && (next.edits == 1 || compact(&original, &next.text)) {
                        solved.push(next);
                        continue;
                    }
                    // The parse now gets past every edit and places more of the tokens: this
                    // mistake is mended and what is left is another one (an error can split
                    // in two when a mistake inside it is mended).
                    if next.errors.len() <= start_errors + 1
                        && next.loose < start_loose
                        && next.mended_before_errors()
                        && partial.len() < PARTIAL_KEPT
                    {
                        partial.push(next.clone());
                    } else if next.errors.len() < start_errors && next.loose < start_loose && fewer_errors.len() < PARTIAL_KEPT {
                        fewer_errors.push(next.clone());
                    }
                    if next.badness() < state.badness() {
                        progress.push(next);
                    }
                }
            }
            if !solved.is_empty() {
                return (solved.into_iter().map(|s| candidate(&original, s)).collect(), true);
            }
            if self.cut_short {
                break;
            }
            progress.sort_by_key(State::badness);
            progress.truncate(self.limits.beam);
            if progress.is_empty() {
                break;
            }
            frontier = progress;
        }
        // No edit mends everything near the error (two mistakes on a line, one of them deeper
        // than the search): the caller gets the edits that mend the first, fewest edits first,
        // and searches again from there.
        // Of those, the ones that leave the fewest tokens the parse cannot place: mending a
        // mistake puts back the tokens it threw off, an edit that only moves the error does not.
        if partial.is_empty() {
            partial = fewer_errors;
        }
        let fewest = partial.iter().map(|s| s.edits).min().unwrap_or(0);
        partial.retain(|s| s.edits == fewest);
        partial.sort_by_key(|s| (s.loose, s.sources));
        partial.truncate(PARTIAL_RANKED);
        (partial.into_iter().map(|s| candidate(&original, s)).collect(), false)
    }

    /// Applies one edit and reparses incrementally; `None` when the parse ran out of time.
    fn apply(&mut self, state: &State, edit: &Edit) -> Option<State> {
        self.parses += 1;
        let Change { range, text: inserted } = &edit.change;
        let edit_ts = TextEdit::replace(&state.text, range.clone(), inserted);
        let text = edit.change.apply(&state.text);
        let mut old = state.tree.clone();
        old.edit(&edit_ts.to_tree_sitter());
        let parser = match &mut self.parser {
            Some(parser) => parser,
            None => self.parser.insert(self.language.parser()?),
        };
        let tree = crate::language::parse_within_budget(parser, &mut |at, _| &text.as_bytes()[at.min(text.len())..], Some(&old))?;
        // Text that lands in a comment (`//`, `#` typed over a token) silences an error rather
        // than repairing it.
        if !inserted.is_empty() && in_comment(&tree, range.start..range.start + inserted.len()) {
            return None;
        }
        // Nor may an edit turn the code after it into a comment (`*/` deleted before it).
        let after = range.start + inserted.len();
        if after < text.len() && in_comment(&tree, after..after + 1) && !in_comment(&state.tree, range.end..range.end + 1) {
            return None;
        }
        if !lexed_as_typed(&tree, &text, range.start, inserted)
            || (swallows(&state.tree, &tree, range, inserted.len())
                && !quotes_one_literal(&tree, &state.text[range.clone()], inserted, range.start))
        {
            return None;
        }
        let errors = verify::errors(&tree, ERROR_LIMIT);
        let delta = inserted.len() as isize - range.len() as isize;
        let end = (state.window.end as isize + delta).max(state.window.start as isize) as usize;
        let mut steps = state.steps.clone();
        steps.push(edit.what.clone());
        let window = state.window.start.min(range.start)..end.max(range.start + inserted.len()).min(text.len());
        Some(State {
            loose: loose_count(&tree, &window),
            window,
            text,
            tree,
            errors,
            edits: state.edits + 1,
            sources: state.sources + edit.source as usize,
            weight: state.weight + edit.weight,
            edited_end: if state.edited_end >= range.end {
                (state.edited_end as isize + delta) as usize
            } else {
                range.start + inserted.len()
            }
            .max(range.start + inserted.len()),
            steps,
        })
    }

    /// The single edits to try from `state`, cheapest sources first.
    fn edits(&mut self, state: &State) -> Vec<Edit> {
        let text = state.text.as_str();
        let lits = literals(self.language);
        let ts = self.language.tree_sitter();
        // Edits go around the first error left in the window (the window itself can be wide:
        // one ERROR node may hold two mistakes).
        let focus = match state.first_near() {
            Some(error) => window(&state.tree, text, error, error.range.start.max(state.window.start), self.limits.window_tokens),
            None => return vec![],
        };
        let leaves = leaves_in(&state.tree, text, &focus);
        // Where the parse state is unknown (inside an ERROR), any punctuation could go: those
        // the code around already uses, which is nearly always the one a typo lost.
        let nearby = leaves_in(&state.tree, text, &(focus.start.saturating_sub(8 << 10)..focus.end + (8 << 10)));
        let used: HashSet<&str> = nearby.iter().map(|l| &text[l.range.clone()]).collect();
        let mut any: Vec<&'static str> = lits.punctuation.iter().copied().filter(|p| used.contains(p)).collect();
        if any.is_empty() {
            any = lits.punctuation.clone();
        }
        let missing: Vec<&str> = state
            .errors
            .iter()
            .filter(|e| overlaps(&e.range, &focus))
            .filter_map(|e| e.missing.as_deref())
            .filter(|k| is_literal(k))
            .collect();

        // Sites for outside suggestions: every gap and every token.
        let mut sites: Vec<Range<usize>> = vec![];
        for leaf in &leaves {
            sites.push(leaf.range.start..leaf.range.start);
            sites.push(leaf.range.clone());
        }
        if let Some(last) = leaves.last() {
            sites.push(last.range.end..last.range.end);
        }
        let suggested = self.suggest.suggest(text, &sites);
        let suggested_at = |site: &Range<usize>| -> Vec<String> {
            sites.iter().position(|s| s == site).map(|i| suggested.get(i).cloned().unwrap_or_default()).unwrap_or_default()
        };

        let mut out = vec![];
        let mut seen: HashSet<Change> = HashSet::new();
        let mut push = |out: &mut Vec<Edit>, change: Change, what: String, source: Source| {
            if change.range.end <= text.len()
                && text.is_char_boundary(change.range.start)
                && text.is_char_boundary(change.range.end)
                && seen.insert(change.clone())
                && text[change.range.clone()] != change.text
            {
                let weight = weight(&text[change.range.clone()], &change.text, source);
                out.push(Edit { change, what, source, weight });
            }
        };
        let tagged = |tokens: &[&str], source: Source| tokens.iter().map(|t| (t.to_string(), source)).collect::<Vec<_>>();
        // The tokens the parse table allows after `leaf` (None when it does not know).
        let allowed_after = |leaf: Option<&Leaf>| -> Option<Vec<&'static str>> {
            let state = leaf?.next_state;
            if state == 0 {
                return None;
            }
            let it = ts.lookahead_iterator(state)?;
            let allowed: Vec<&'static str> = it
                .filter(|&id| !ts.node_kind_is_named(id) && ts.node_kind_is_visible(id))
                .filter_map(|id| ts.node_kind_for_id(id))
                .filter(|k| is_literal(k))
                .collect();
            (!allowed.is_empty()).then_some(allowed)
        };

        // Insertions, gap by gap (before each token, and after the last).
        for i in 0..=leaves.len() {
            let before = i.checked_sub(1).map(|j| &leaves[j]);
            let gap_start = before.map_or(leaves.first().map_or(focus.start, |l| l.range.start), |l| l.range.end);
            let gap_end = leaves.get(i).map_or(gap_start, |l| l.range.start).max(gap_start);
            let mut tokens = tagged(&missing, Source::Missing);
            match allowed_after(before) {
                Some(allowed) => tokens.extend(tagged(&allowed, Source::Queries)),
                None => tokens.extend(tagged(&any, Source::Any)),
            }
            let site = leaves.get(i).map_or(gap_start..gap_start, |l| l.range.start..l.range.start);
            tokens.extend(suggested_at(&site).into_iter().map(|t| (t, Source::Suggested)));
            for (token, source) in dedup(tokens) {
                for at in attach_points(text, gap_start, gap_end, &token) {
                    let inserted = spaced(text, at..at, &token);
                    push(&mut out, Change { range: at..at, text: inserted }, format!("insert '{token}'"), source);
                }
            }
        }
        // Deletions.
        for leaf in leaves.iter().filter(|l| l.typo_sized) {
            let r = leaf.range.clone();
            let what = format!("delete '{}'", &text[r.clone()]);
            push(&mut out, Change { range: r.clone(), text: String::new() }, what.clone(), Source::Queries);
            let b = text.as_bytes();
            if r.start > 0 && b[r.start - 1] == b' ' && (r.end == b.len() || b[r.end] == b' ' || b[r.end] == b'\n') {
                push(&mut out, Change { range: r.start - 1..r.end, text: String::new() }, what, Source::Queries);
            }
        }
        // Replacements.
        let words = identifiers(text, &leaves);
        for (i, leaf) in leaves.iter().enumerate().filter(|(_, l)| l.typo_sized) {
            let old = &text[leaf.range.clone()];
            let mut tokens = tagged(&missing, Source::Missing);
            match allowed_after(i.checked_sub(1).map(|j| &leaves[j])) {
                Some(allowed) => tokens.extend(tagged(&allowed, Source::Queries)),
                None if !is_word(old) => tokens.extend(tagged(&any, Source::Any)),
                None => {}
            }
            // A keyword is respelt into another by one slip at most (`fi` for `if`): two
            // would turn `def` into `undef` and silence a block that lost its `end`.
            let keyword = lits.keywords.contains(&old);
            let spelt_alike = |w: &str| close_spelling(old, w) && (!keyword || distance(old.as_bytes(), w.as_bytes()) <= 1);
            if is_word(old) {
                let close = |w: &str| w != old && spelt_alike(w);
                tokens.extend(lits.keywords.iter().filter(|k| close(k)).map(|k| (k.to_string(), Source::Suggested)));
                tokens.extend(words.iter().filter(|w| close(w)).map(|w| (w.clone(), Source::Suggested)));
            }
            tokens.extend(suggested_at(&leaf.range).into_iter().map(|t| (t, Source::Suggested)));
            for (token, source) in dedup(tokens) {
                // A word typed for punctuation or the reverse is no typo: only where a MISSING
                // node asks for it (the model's choices at a mask would put a quote for a word
                // and make a string of the rest of the line).
                if token == old || (is_word(&token) != is_word(old) && source != Source::Missing) {
                    continue;
                }
                // Nor is a quote typed for a longer token (`"` for `-W` opens a string
                // that swallows the rest of the line).
                if matches!(token.as_str(), "\"" | "'" | "`") && old.chars().count() > 1 {
                    continue;
                }
                // A word for a word is a misspelling mended only when the two are spelt
                // alike: the model's choice of another word there (`end` for `definition`)
                // is a rewrite, which can close a block where nothing was lost.
                if is_word(old) && is_word(&token) && source != Source::Missing && !spelt_alike(&token) {
                    continue;
                }
                let replaced = spaced(text, leaf.range.clone(), &token);
                push(&mut out, Change { range: leaf.range.clone(), text: replaced }, format!("replace '{old}' with '{token}'"), source);
            }
        }
        // Two neighbouring tokens swapped (`)]` for `])`): one edit.
        for pair in leaves.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let (ta, tb) = (&text[a.range.clone()], &text[b.range.clone()]);
            if a.range.end == b.range.start && ta != tb && !(is_word(ta) && is_word(tb)) {
                push(
                    &mut out,
                    Change { range: a.range.start..b.range.end, text: format!("{tb}{ta}") },
                    format!("swap '{ta}' and '{tb}'"),
                    Source::Queries,
                );
            }
        }
        // A punctuation token swapped with the punctuation written after it, which the broken
        // text lexes otherwise (Bash's `;]]` reads as `;` and two words `]`).
        for a in &leaves {
            let ta = &text[a.range.clone()];
            let run = text[a.range.end..].bytes().take_while(|c| c.is_ascii_punctuation() && !b"\"'`#".contains(c)).count().min(3);
            let tb = &text[a.range.end..a.range.end + run];
            if is_word(ta) || run == 0 || ta == tb || leaves.iter().any(|l| l.range == (a.range.end..a.range.end + run)) {
                continue;
            }
            push(
                &mut out,
                Change { range: a.range.start..a.range.end + run, text: format!("{tb}{ta}") },
                format!("swap '{ta}' and '{tb}'"),
                Source::Queries,
            );
        }
        // Line edits.
        for line in lines_in(text, &focus) {
            line_edits(text, line, self.language, &mut |change, what| push(&mut out, change, what, Source::Queries));
        }
        if self.language == Language::Python {
            docstring_ends(text, &focus, &mut |change, what| push(&mut out, change, what, Source::Queries));
        }
        let error = state.first_near().map(|e| e.range.clone()).unwrap_or(focus.clone());
        for (line, quote) in open_string_lines(text, &state.tree, &error) {
            quote_insertions(text, line, quote, &mut |change, what| push(&mut out, change, what, Source::Queries));
        }
        let closers = closers(lits, &missing);
        // Where indentation says a block's closer was lost: as telling as a MISSING node (and
        // first, so that the same edit proposed below keeps this source).
        owed_closers(text, &state.tree, &error, &closers, &mut |change, what| push(&mut out, change, what, Source::Missing));
        closing_lines(text, &focus, &error, &leaves, &closers, &mut |change, what| push(&mut out, change, what, Source::Queries));
        // Likelier sources first, so that a search cut short has tried them.
        out.sort_by_key(|e| e.source);
        out
    }
}

/// Each token once, with its likeliest source.
fn dedup(tokens: Vec<(String, Source)>) -> Vec<(String, Source)> {
    let mut best: Vec<(String, Source)> = vec![];
    for (token, source) in tokens {
        let token = token.trim().to_string();
        if token.is_empty() || token.contains('\n') {
            continue;
        }
        match best.iter_mut().find(|(t, _)| *t == token) {
            Some(entry) => entry.1 = entry.1.min(source),
            None => best.push((token, source)),
        }
    }
    best
}

/// Where in a gap of white space a token can go: against the token before it, and, for a word
/// or an opening bracket or quote, against the token after it unless a line break lies between
/// (a closing `)` or a separator belongs to what precedes it).
fn attach_points(text: &str, start: usize, end: usize, token: &str) -> Vec<usize> {
    let opens = is_word(token) || token.ends_with(['(', '[', '{', '"', '\'']);
    if start == end || !opens || text[start..end].contains('\n') {
        vec![start]
    } else {
        vec![start, end]
    }
}

/// `token` as it replaces `range` of `text`: a word is kept apart from the words around it by a
/// space.
fn spaced(text: &str, range: Range<usize>, token: &str) -> String {
    let b = text.as_bytes();
    let (first, last) = (token.as_bytes()[0], token.as_bytes()[token.len() - 1]);
    let mut out = String::new();
    if range.start > 0 && is_word_byte(b[range.start - 1]) && is_word_byte(first) {
        out.push(' ');
    }
    out.push_str(token);
    if range.end < b.len() && is_word_byte(b[range.end]) && is_word_byte(last) {
        out.push(' ');
    }
    out
}

/// A misspelling of `right`: within one edit (two for words of five letters or more),
/// counting a swap of neighbours as one.
fn close_spelling(wrong: &str, right: &str) -> bool {
    let allowed = if right.len() >= 5 { 2 } else { 1 };
    right.len() >= 2 && wrong.len().abs_diff(right.len()) <= allowed && distance(wrong.as_bytes(), right.as_bytes()) <= allowed
}

/// Optimal string alignment distance (Levenshtein with adjacent transpositions).
fn distance(a: &[u8], b: &[u8]) -> usize {
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[n][m]
}

/// The words of the file near enough to matter: identifiers of the lines around the window
/// would do, but a misspelt name is usually defined further up, so the whole file is read
/// (up to 256 KiB before the window).
fn identifiers(text: &str, leaves: &[Leaf]) -> Vec<String> {
    let Some(first) = leaves.first() else { return vec![] };
    let from = first.range.start.saturating_sub(256 << 10);
    let mut from = from;
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let mut seen = HashSet::new();
    text[from..]
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.len() >= 3 && !w.as_bytes()[0].is_ascii_digit())
        .filter(|w| seen.insert(*w))
        .map(str::to_string)
        .collect()
}

/// A token of the parse: where it is, and the parse state after it.
struct Leaf {
    range: Range<usize>,
    next_state: u16,
    /// A token a typo could have made or broken, which an edit may delete or replace: not a
    /// comment nor a string's text, nor longer than a word gets.
    typo_sized: bool,
}

/// The tokens (leaves that are not zero-width) around the window: those of its lines and the
/// line before, at most `limit` in all, most of them from the start of the window (where an
/// error is usually detected late, not early).
fn leaves_in(tree: &Tree, text: &str, window: &Range<usize>) -> Vec<Leaf> {
    leaves_nodes(tree, window).into_iter().map(|node| leaf(node, text)).collect()
}

/// The non-empty leaves of `tree` that touch `window`, in document order.
fn leaves_nodes<'t>(tree: &'t Tree, window: &Range<usize>) -> Vec<Node<'t>> {
    let mut out = vec![];
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        if node.end_byte() < window.start || node.start_byte() > window.end {
            continue;
        }
        if node.child_count() == 0 {
            if node.end_byte() > node.start_byte() && !node.is_missing() {
                out.push(node);
            }
            continue;
        }
        let mut cursor = node.walk();
        let children: Vec<Node> = node.children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
    out
}

/// Tokens in `range` that the parse could not place (leaves under an ERROR) and tokens it had
/// to invent (MISSING): how much of the text an error throws off. Mending one of several
/// mistakes inside one ERROR leaves the error but fewer of these.
fn loose_count(tree: &Tree, range: &Range<usize>) -> usize {
    let mut count = 0;
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        if node.end_byte() < range.start || node.start_byte() > range.end {
            continue;
        }
        if node.child_count() == 0 {
            count += usize::from(node.is_missing() || unplaced(node));
            continue;
        }
        if !node.has_error() {
            continue;
        }
        let mut cursor = node.walk();
        stack.extend(node.children(&mut cursor));
    }
    count
}

/// Where the tokens that the parse could not place in a larger node start (leaves whose parent
/// is an ERROR), in `range`, in document order.
fn loose_tokens(tree: &Tree, range: &Range<usize>) -> Vec<usize> {
    leaves_nodes(tree, range).into_iter().filter(|&n| unplaced(n) && n.start_byte() >= range.start).map(|n| n.start_byte()).collect()
}

/// A token the parse could not place in a larger node: a leaf directly under an ERROR.
fn unplaced(node: Node) -> bool {
    node.parent().is_some_and(|p| p.is_error())
}

fn leaf(node: Node, text: &str) -> Leaf {
    let kind = node.kind();
    Leaf {
        typo_sized: node.byte_range().len() <= 32
            && !kind.contains("comment")
            && !kind.contains("string_content")
            && !kind.contains("string_fragment")
            && !is_quoted(&text[node.byte_range()]),
        range: node.byte_range(),
        next_state: if node.has_error() || unplaced(node) { 0 } else { node.next_parse_state() },
    }
}

/// A whole quoted literal in one token, longer than a pair of quotes (Bash's `'{0..7}'`,
/// Rust's `'a'`): no typo makes or breaks one as a unit. Replaced by a `)`, it scored well with
/// the model and made a repair eight lexemes from the input.
fn is_quoted(token: &str) -> bool {
    let b = token.as_bytes();
    b.len() >= 3 && matches!(b[0], b'"' | b'\'' | b'`') && b[b.len() - 1] == b[0]
}

/// The window of an error: its lines and the line before, cut to about `tokens` tokens (an
/// ERROR node can cover the rest of the file): the first of them from the line before the
/// error, and a few around its end.
fn window(tree: &Tree, text: &str, error: &SyntaxError, anchor: usize, tokens: usize) -> Range<usize> {
    let b = text.as_bytes();
    let line_start = |at: usize| b[..at.min(b.len())].iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
    let line_end = |at: usize| b[at.min(b.len())..].iter().position(|&c| c == b'\n').map_or(b.len(), |i| at + i);
    let start = line_start(line_start(anchor).saturating_sub(1));
    let end = line_end(error.range.end);
    let all = leaves_in(tree, text, &(start..end));
    if all.len() <= tokens {
        return start..end;
    }
    // Too many (a long line before, an ERROR that runs on): a quarter of them before the
    // error's start, the rest after it.
    let at = all.iter().position(|l| l.range.end > anchor).unwrap_or(all.len() - 1);
    let first = at.saturating_sub(tokens / 4);
    let last = (first + tokens).min(all.len()) - 1;
    all[first].range.start..all[last].range.end
}

/// The lines a window covers, as byte ranges without their line breaks.
fn lines_in(text: &str, window: &Range<usize>) -> Vec<Range<usize>> {
    let b = text.as_bytes();
    let mut at = b[..window.start.min(b.len())].iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
    let mut out = vec![];
    while at <= window.end && at < b.len() {
        let end = b[at..].iter().position(|&c| c == b'\n').map_or(b.len(), |i| at + i);
        out.push(at..end);
        at = end + 1;
    }
    out
}

/// The file's indentation step: the most common increase of leading spaces between
/// consecutive lines, four when there is none, a tab for tab-indented files.
fn indent_unit(text: &str) -> String {
    let mut counts = [0usize; 9];
    let mut previous = 0;
    for line in text.lines().take(2000).filter(|l| !l.trim().is_empty()) {
        if line.starts_with('\t') {
            return "\t".into();
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent > previous && indent - previous <= 8 {
            counts[indent - previous] += 1;
        }
        previous = indent;
    }
    let best = (1..=8).max_by_key(|&i| counts[i]).filter(|&i| counts[i] > 0).unwrap_or(4);
    " ".repeat(best)
}

/// Edits of one line: one level more or less of indentation where indentation is syntax, and
/// a quote closed where an unterminated string on it could end.
fn line_edits(text: &str, line: Range<usize>, language: Language, push: &mut dyn FnMut(Change, String)) {
    let content = &text[line.clone()];
    if content.trim().is_empty() {
        return;
    }
    if language == Language::Python {
        let unit = indent_unit(text);
        push(Change { range: line.start..line.start, text: unit.clone() }, "indent the line".into());
        if content.starts_with(&unit) {
            push(Change { range: line.start..line.start + unit.len(), text: String::new() }, "dedent the line".into());
        }
    }
    // A quote added to a run of quotes: `""` closing a `"""` docstring.
    for quote in ['"', '\'', '`'] {
        let b = content.as_bytes();
        for (i, &c) in b.iter().enumerate() {
            if c == quote as u8 && (i + 1 == b.len() || b[i + 1] != c) && i > 0 && b[i - 1] == c {
                push(
                    Change { range: line.start + i + 1..line.start + i + 1, text: quote.to_string() },
                    format!("close the string with {quote}"),
                );
            }
        }
    }
    for quote in ['"', '\'', '`'] {
        let positions: Vec<usize> =
            content.char_indices().filter(|&(i, c)| c == quote && (i == 0 || content.as_bytes()[i - 1] != b'\\')).map(|(i, _)| i).collect();
        if positions.len().is_multiple_of(2) {
            continue;
        }
        let open = *positions.last().expect("odd count");
        // Where the string could end: before a closing bracket or separator, or at the end of
        // the line (before trailing white space).
        let trimmed = content.trim_end().len();
        let mut ends: Vec<usize> =
            content[open + 1..trimmed].char_indices().filter(|&(_, c)| ")]},;:".contains(c)).map(|(i, _)| open + 1 + i).collect();
        ends.push(trimmed);
        for end in ends {
            push(Change { range: line.start + end..line.start + end, text: quote.to_string() }, format!("close the string with {quote}"));
        }
    }
}

/// Lines a docstring may span between its two ends.
const DOCSTRING_LINES: usize = 200;

/// A docstring that lost a quote at both ends: a line of the window that opens with two quotes
/// and prose after them (`"" Return the...`: an empty string, then words), and the next line
/// that ends in two quotes, each given its third in one edit. Neither quote alone mends it:
/// the first opens a string that runs to the end of the file, the second one that runs from
/// the closing line. Python only: the other languages here have no triple-quoted strings.
fn docstring_ends(text: &str, window: &Range<usize>, push: &mut dyn FnMut(Change, String)) {
    for line in lines_in(text, window) {
        let content = &text[line.clone()];
        let body = content.trim_start();
        for (pair, triple) in [("\"\"", "\"\"\""), ("''", "'''")] {
            let Some(rest) = body.strip_prefix(pair) else { continue };
            if rest.starts_with(&pair[..1]) || rest.trim().is_empty() {
                continue;
            }
            let open = line.start + (content.len() - body.len()) + 2;
            // The lines after this one, up to DOCSTRING_LINES, read as they are reached.
            let closing = text[line.end..]
                .split_inclusive('\n')
                .skip(1)
                .take(DOCSTRING_LINES)
                .scan(line.end + 1, |at, l| {
                    let start = *at;
                    *at += l.len();
                    Some(start..start + l.trim_end().len())
                })
                .find(|l| text[l.clone()].ends_with(pair) && !text[l.clone()].ends_with(triple));
            if let Some(l) = closing {
                let q = &pair[..1];
                push(
                    Change { range: open..l.end, text: format!("{q}{}{q}", &text[open..l.end]) },
                    format!("restore the docstring's {triple} at both ends"),
                );
            }
        }
    }
}

/// Whether an edit only added quotes (`removed` is `inserted` less some quote characters) and
/// its text is now one string literal: it closed a literal at both ends, which makes tokens of
/// the text inside one token by design, not by swallowing the code after it.
fn quotes_one_literal(tree: &Tree, removed: &str, inserted: &str, at: usize) -> bool {
    let stripped: String = inserted.chars().filter(|c| !matches!(c, '"' | '\'')).collect();
    let was: String = removed.chars().filter(|c| !matches!(c, '"' | '\'')).collect();
    if stripped != was || inserted.len() <= removed.len() {
        return false;
    }
    let Some(node) = tree.root_node().descendant_for_byte_range(at, at + inserted.len()) else { return false };
    // The literal holds the edit and starts at most two quotes before it.
    node.kind() == "string" && node.end_byte() >= at + inserted.len() && at.saturating_sub(node.start_byte()) <= 2
}

/// Lines where a string opens and runs on past the line's end, nearest to `error` first, a
/// few: a quote lost on such a line (the closing one, or the opening one so that the closing
/// one opens a string) is noticed by the parse only where the swallowed code ends, lines
/// later. A quote token whose next quote of the same kind is on a later line, or a one-token
/// string (Bash's `'...'`) holding a line break.
fn open_string_lines(text: &str, tree: &Tree, error: &Range<usize>) -> Vec<(Range<usize>, char)> {
    const LOOK_BACK: usize = 32 << 10;
    let leaves = leaves_nodes(tree, &(error.start.saturating_sub(LOOK_BACK)..error.end));
    let quote_of = |n: &Node| text[n.byte_range()].chars().next().filter(|c| matches!(c, '"' | '\'' | '`'));
    let mut out: Vec<(Range<usize>, char)> = vec![];
    for (i, leaf) in leaves.iter().enumerate() {
        let Some(quote) = quote_of(leaf) else { continue };
        // The closing quote of a string the parse placed opens nothing.
        if leaf.parent().is_some_and(|p| p.kind().contains("string") && p.start_byte() < leaf.start_byte()) {
            continue;
        }
        let own = &text[leaf.byte_range()];
        let runs_on = if own.len() == quote.len_utf8() {
            let close = leaves[i + 1..].iter().find(|n| text[n.byte_range()] == *own).map_or(text.len(), |n| n.start_byte());
            text[leaf.end_byte()..close].contains('\n')
        } else {
            own.contains('\n')
        };
        if !runs_on || leaf.start_byte() >= error.end {
            continue;
        }
        let line = lines_in(text, &(leaf.start_byte()..leaf.start_byte()))[0].clone();
        if !out.iter().any(|(l, q)| *l == line && *q == quote) {
            out.push((line, quote));
        }
    }
    out.sort_by_key(|(line, _)| line.start.abs_diff(error.start));
    out.truncate(3);
    out
}

/// `quote` inserted where a string on `line` could have opened or closed: at the start of each
/// word (after indentation, a space, a bracket, `=` or `,`), before a closing bracket or
/// separator, and at the line's end.
fn quote_insertions(text: &str, line: Range<usize>, quote: char, push: &mut dyn FnMut(Change, String)) {
    let content = &text[line.clone()];
    let b = content.as_bytes();
    let trimmed = content.trim_end().len();
    let mut sites: Vec<usize> = (0..trimmed)
        .filter(|&i| {
            let c = b[i];
            let prev = if i == 0 { b' ' } else { b[i - 1] };
            (!c.is_ascii_whitespace() && b" \t([{,=".contains(&prev) && c != quote as u8) || (i > 0 && b")]},;:".contains(&c))
        })
        .collect();
    sites.push(trimmed);
    for at in sites.into_iter().take(40) {
        push(Change { range: line.start + at..line.start + at, text: quote.to_string() }, format!("insert '{quote}'"));
    }
}

/// A closing keyword or bracket on a line of its own (`end`, `fi`, `done`, `}`): after each
/// line of the window, indented as that line's block opener would be. Tokens come from the
/// MISSING nodes and the parse table's lookahead after the line's last token, closers only
/// (keywords the grammar allows there that open nothing), so no list is kept per language.
fn closing_lines(
    text: &str,
    window: &Range<usize>,
    error: &Range<usize>,
    leaves: &[Leaf],
    closers: &[&str],
    push: &mut dyn FnMut(Change, String),
) {
    if closers.is_empty() {
        return;
    }
    let b = text.as_bytes();
    let lines = lines_in(text, window);
    let unit = indent_unit(text);
    let mut indents: Vec<String> = vec![];
    for line in &lines {
        let content = &text[line.clone()];
        let indent = &content[..content.len() - content.trim_start().len()];
        if !indents.iter().any(|i| i == indent) && !content.trim().is_empty() {
            indents.push(indent.to_string());
        }
    }
    for line in &lines {
        if line.end >= b.len() && !text.ends_with('\n') {
            continue;
        }
        let at = line.end + 1;
        // Only after a line whose last token ends it (not inside a multi-line token).
        if !leaves.iter().any(|l| l.range.end <= line.end && l.range.end > line.start) {
            continue;
        }
        for indent in indents.iter().flat_map(|i| [i.clone(), i.strip_suffix(unit.as_str()).unwrap_or("").to_string()]) {
            for closer in closers {
                push(Change { range: at..at, text: format!("{indent}{closer}\n") }, format!("insert '{closer}' on a line of its own"));
            }
        }
    }
    // A block left open far from where the parse noticed it: across the whole error, a blank
    // line kept its indentation when its closer was deleted, and a closer is owed where the
    // indentation drops. At most a few hundred lines are looked at.
    let lines = lines_in(text, error);
    let indent_of = |l: &Range<usize>| text[l.clone()].len() - text[l.clone()].trim_start().len();
    let mut sites = 0;
    for (i, line) in lines.iter().enumerate().take(400) {
        let content = &text[line.clone()];
        let next = lines[i + 1..].iter().find(|l| !text[(*l).clone()].trim().is_empty());
        if content.trim().is_empty() && !content.is_empty() {
            for closer in closers {
                push(Change { range: line.end..line.end, text: closer.to_string() }, format!("insert '{closer}' on a line of its own"));
            }
            sites += 1;
        } else if let Some(next) = next.filter(|n| !content.trim().is_empty() && indent_of(n) < indent_of(line)) {
            let indent = &text[next.start..next.start + indent_of(next)];
            for closer in closers {
                push(
                    Change { range: line.end + 1..line.end + 1, text: format!("{indent}{closer}\n") },
                    format!("insert '{closer}' on a line of its own"),
                );
            }
            sites += 1;
        }
        if sites >= 40 {
            break;
        }
    }
}

/// The block closers of a grammar that go on a line of their own: `end`, `fi`, `done`, `esac`,
/// `}` (those it has, or a MISSING node names).
fn closers(lits: &Literals, missing: &[&str]) -> Vec<&'static str> {
    ["end", "fi", "done", "esac", "}"]
        .into_iter()
        .filter(|k| lits.keywords.contains(k) || lits.punctuation.contains(k) || missing.contains(k))
        .collect()
}

/// Words that go on with a block rather than close it, when they start a line indented as its
/// opener: `else`, `rescue`, `when`…, and a line that continues an expression.
const CONTINUATIONS: [&str; 16] =
    ["else", "elsif", "elif", "rescue", "ensure", "when", "in", "then", "do", "catch", "finally", "except", ")", "]", ".", "&&"];

/// Sites where indentation owes a closer: a block's closer lost (`end`, `fi` or `}` deleted
/// with its line, or misspelt) is noticed by the parse only where the text runs out, far from
/// where it was. Indentation says where: before the first line after a block's opener that is
/// indented no deeper than the opener and neither closes nor continues the block. Openers are
/// the lines followed by a deeper one, from the start of the top-level node around the error
/// to its end; a correct block never owes one, so the sites are few. Each site gets the
/// closer inserted at the opener's indentation, after the block's last line, and a word there
/// spelt close to a closer gets it respelt.
fn owed_closers(text: &str, tree: &Tree, error: &Range<usize>, closers: &[&str], push: &mut dyn FnMut(Change, String)) {
    const MAX_SITES: usize = 8;
    if closers.is_empty() {
        return;
    }
    let root = tree.root_node();
    let mut cursor = root.walk();
    let top = root.children(&mut cursor).find(|c| c.start_byte() <= error.start && error.start <= c.end_byte());
    let Some(top) = top else { return };
    let span = top.start_byte()..top.end_byte().max(error.end).min(text.len());
    let lines = lines_in(text, &span);
    // (indent, first word) of each line; None for a blank one.
    let shape: Vec<Option<(usize, &str)>> = lines
        .iter()
        .map(|l| {
            let content = &text[l.clone()];
            let body = content.trim_start();
            let first = body.split(|c: char| c.is_whitespace() || c == ';' || c == '(').next().unwrap_or("");
            (!body.is_empty()).then_some((content.len() - body.len(), first))
        })
        .collect();
    let next_filled = |from: usize| (from..lines.len()).find(|&i| shape[i].is_some());
    let mut sites = 0;
    for opener in 0..lines.len() {
        let Some((indent, _)) = shape[opener] else { continue };
        let Some(body) = next_filled(opener + 1) else { break };
        if shape[body].is_none_or(|(i, _)| i <= indent) {
            continue;
        }
        // The first line back at the opener's depth that neither continues nor closes it; a
        // closer or continuation less indented belongs to an outer block.
        let mut owed = None;
        let mut at = body;
        while let Some(k) = next_filled(at + 1) {
            at = k;
            let (i, word) = shape[k].expect("filled");
            if i > indent {
                continue;
            }
            // `end.compact`, `});`, `fi;`: the token starts the line's first word.
            let starts =
                |c: &str| word.strip_prefix(c).is_some_and(|rest| !is_word(c) || !rest.starts_with(|x: char| is_word_byte(x as u8)));
            let closes = closers.iter().any(|c| starts(c));
            let continues = CONTINUATIONS.iter().any(|c| starts(c));
            if i == indent && continues {
                continue;
            }
            if !(i == indent && closes) {
                owed = Some(k);
            }
            break;
        }
        let Some(k) = owed else { continue };
        let (_, word) = shape[k].expect("filled");
        let last = (opener..k).rev().find(|&i| shape[i].is_some()).expect("the opener is filled");
        let at = (lines[last].end + 1).min(text.len());
        let pad = &text[lines[opener].start..lines[opener].start + indent];
        for closer in closers {
            let inserted = if at == text.len() && !text.ends_with('\n') { format!("\n{pad}{closer}") } else { format!("{pad}{closer}\n") };
            push(Change { range: at..at, text: inserted }, format!("insert '{closer}' on a line of its own"));
            if shape[k].is_some_and(|(i, _)| i == indent) && is_word(word) && close_spelling(word, closer) {
                let start = lines[k].start + shape[k].expect("filled").0;
                push(Change { range: start..start + word.len(), text: closer.to_string() }, format!("replace '{word}' with '{closer}'"));
            }
        }
        sites += 1;
        if sites >= MAX_SITES {
            break;
        }
    }
}

/// A search result as a change of the original text: the smallest replacement that turns it
/// into the state's text.
/// Lines one repair of several edits may span: the edits that mend one typo lie together (a
/// swapped pair, a doubled token and its neighbour); edits lines apart that make a file parse
/// (an `end` near the top and a `.` further down) close blocks early or join lines, and
/// silence the error instead of mending it.
const MAX_REPAIR_LINES: usize = 3;

/// Whether the edits that turned `original` into `repaired` lie within [`MAX_REPAIR_LINES`].
fn compact(original: &str, repaired: &str) -> bool {
    let change = Change::between(original, repaired);
    let lines = |t: &str| t.bytes().filter(|&b| b == b'\n').count();
    lines(&original[change.range.clone()]).max(lines(&change.text)) < MAX_REPAIR_LINES
}

fn candidate(original: &str, state: State) -> Candidate {
    Candidate {
        change: Change::between(original, &state.text),
        edits: state.edits,
        sources: state.sources,
        weight: state.weight,
        description: state.steps.join(" and "),
        errors_after: state.errors.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repair(text: &str, language: Language) -> Vec<String> {
        candidates(text, language).iter().map(|c| c.change.apply(text)).collect()
    }

    fn candidates(text: &str, language: Language) -> Vec<Candidate> {
        candidates_with(text, language, &mut NoSuggestions)
    }

    fn candidates_with(text: &str, language: Language, suggest: &mut dyn Suggest) -> Vec<Candidate> {
        let tree = SyntaxTree::new(text, Some(language));
        tree.repair_candidates(text, 0..text.len(), &SearchLimits::default(), suggest).candidates
    }

    /// A model that proposes one token everywhere.
    struct Proposes(&'static str);

    impl Suggest for Proposes {
        fn suggest(&mut self, _: &str, sites: &[Range<usize>]) -> Vec<Vec<String>> {
            vec![vec![self.0.to_string()]; sites.len()]
        }
    }

    /// The candidate that turns `text` into `want`, if the search found it.
    fn restoring(text: &str, want: &str, language: Language) -> Candidate {
        let found = candidates(text, language);
        let descriptions: Vec<&str> = found.iter().map(|c| c.description.as_str()).collect();
        found.iter().find(|c| c.change.apply(text) == want).unwrap_or_else(|| panic!("not among {descriptions:#?}")).clone()
    }

    /// A lost `)` after a single-quoted word list: the list is one token in Bash's grammar,
    /// and replacing it by the `)` parsed and scored well with the model.
    #[test]
    fn a_whole_quoted_token_is_neither_deleted_nor_replaced() {
        let original = "f() {\n    COMPREPLY=($(compgen -W '{0..7}' -- \"$cur\"))\n    return\n}\n";
        let broken = original.replacen("\"))", "\")", 1);
        restoring(&broken, original, Language::Bash);
        let list = broken.find("'{0..7}'").unwrap();
        for c in candidates(&broken, Language::Bash) {
            assert!(c.change.range.end <= list || c.change.range.start >= list + 8, "{} touches the list", c.description);
        }
    }

    #[test]
    fn literals_come_from_the_grammar() {
        let python = literals(Language::Python);
        for p in [":", ")", ",", "="] {
            assert!(python.punctuation.contains(&p), "{p}");
        }
        for k in ["return", "def", "for", "in"] {
            assert!(python.keywords.contains(&k), "{k}");
        }
        assert!(literals(Language::Ruby).keywords.contains(&"end"));
        assert!(literals(Language::Bash).keywords.contains(&"fi"));
    }

    #[test]
    fn the_change_between_two_texts_is_their_difference_at_character_boundaries() {
        for (old, new) in [("abc", "abc"), ("a(b", "a(b)"), ("x = 1", "x = 2"), ("é", "è"), ("😀a", "😀"), ("", "x")] {
            let change = Change::between(old, new);
            assert_eq!(change.apply(old), new, "{old:?} → {new:?}");
            assert!(change.range.len() + change.text.len() <= old.len().max(new.len()) + 4);
        }
        assert_eq!(Change::between("a(b", "a(b)"), Change { range: 3..3, text: ")".into() });
    }

    #[test]
    fn spelling_distance() {
        assert!(close_spelling("retrun", "return"));
        assert!(close_spelling("pritn", "print"));
        assert!(!close_spelling("x", "y"));
        assert!(!close_spelling("values", "return"));
        assert_eq!(distance(b"ab", b"ba"), 1);
    }

    #[test]
    fn a_missing_colon_is_restored() {
        let broken = "def f(values):\n    for v in values\n        print(v)\n";
        let fixed = "def f(values):\n    for v in values:\n        print(v)\n";
        let found = repair(broken, Language::Python);
        assert!(found.iter().any(|f| f == fixed), "{found:#?}");
    }

    #[test]
    fn every_candidate_parses_and_the_clean_text_offers_none() {
        for (broken, language) in [
            ("fn main() {\n    let x = add(1, 2;\n}\n", Language::Rust),
            ("def f(x):\n    retrun x\n", Language::Python),
            ("x = [1, 2\ny = 3\n", Language::Python),
            ("function f(a) {\n  return a +;\n}\n", Language::JavaScript),
            ("if true; then\n  echo hi\n", Language::Bash),
        ] {
            let found = repair(broken, language);
            assert!(!found.is_empty(), "{language}: nothing for {broken:?}");
            for fixed in &found {
                assert_eq!(crate::syntax_errors(fixed, 0..fixed.len(), language), 0, "{fixed:?}");
            }
        }
        assert!(repair("def f(x):\n    return x\n", Language::Python).is_empty());
    }

    #[test]
    fn no_repair_turns_code_into_a_comment() {
        let broken = "fn f() {\n    /* note */ let v: Vec<i32)> = vec![];\n}\n";
        let found = repair(broken, Language::Rust);
        assert!(!found.is_empty());
        assert!(found.iter().all(|f| f.contains("*/")), "{found:#?}");
    }

    #[test]
    fn a_mistake_past_the_first_window_of_a_wide_error_is_found() {
        // tree-sitter wraps the whole function in one ERROR that starts at `fn`, more than a
        // window's tokens before the swapped `{)`.
        let fixed = "fn all_prefixes(string: String) -> Vec<String>{\n\n\n   let mut res:Vec<String> = vec![];\n   let mut res_str:String = String::new();\n\nfor c in string.chars(){\n    res_str.push(c);\n    res.push(res_str.clone());\n}\nreturn res;\n}\n";
        let broken = fixed.replace("chars(){", "chars({)");
        let found = repair(&broken, Language::Rust);
        assert!(found.iter().any(|f| f == fixed), "{found:#?}");
    }

    #[test]
    fn the_first_of_several_mistakes_in_one_error_is_mended_alone() {
        // Three mistakes in one ERROR: no three-edit repair is within the search's budget, but
        // mending the first puts back most of the tokens the parse could not place.
        let text = "from typing import List, Tuple\n\n\ndef sum_product(numbers: List[int)] -> Tuple[int, int]:\n    sum_value = 0\n    prod_value = 1\n\n    for n in numbers\n        sum_value += n\n        prod_value *= n\n    retrun sum_value, prod_value\n";
        let found = repair(text, Language::Python);
        let first_mended = text.replace("List[int)]", "List[int])");
        assert!(found.contains(&first_mended), "{found:#?}");
    }

    #[test]
    fn a_closer_lost_far_from_the_end_is_put_back_where_indentation_owes_it() {
        // The parse notices the lost `end` only at the end of the file, where inserting one
        // parses too: indentation's site must weigh no more than that one (a MISSING node's).
        let methods: String = (0..40).map(|i| format!("  def g{i}\n    {i}\n  end\n\n")).collect();
        let ruby = format!("class A\n  def f\n    1\n  end\n\nclass B\n{methods}end\n");
        let restored = format!("class A\n  def f\n    1\n  end\nend\n\nclass B\n{methods}end\n");
        let placed = restoring(&ruby, &restored, Language::Ruby);
        let lightest = candidates(&ruby, Language::Ruby).iter().map(|c| c.weight).min();
        assert_eq!(Some(placed.weight), lightest, "{placed:?}");
        let bash = "f() {\n  if [ -n \"$1\" ]; then\n    echo a\n  echo b\n}\n\ng() {\n  echo c\n}\n";
        let restored = "f() {\n  if [ -n \"$1\" ]; then\n    echo a\n  fi\n  echo b\n}\n\ng() {\n  echo c\n}\n";
        assert_eq!(restoring(bash, restored, Language::Bash).weight, 1);
        // A misspelt closer is respelt where it stands.
        let ruby = "class A\n  def f\n    1\n  edn\nend\n\nclass B\nend\n";
        restoring(ruby, &ruby.replace("edn", "end"), Language::Ruby);
    }

    #[test]
    fn a_lost_quote_is_put_back_on_the_line_where_the_string_ran_on() {
        // The closing quote lost: the parse notices only at the next quote, lines later.
        let body = "  x = y + 1\n".repeat(30);
        let ruby = format!("def f\n  raise \"Failed to reduce.\"\n{body}  x = \"a\"\nend\n");
        restoring(&ruby.replacen(".\"", ".", 1), &ruby, Language::Ruby);
        let ruby = "def solve(f, x)\n  n = 0\n  begin\n    dn = 1\n    while dn > 0\n      if n > 10\n        raise \"Failed to converge.\"\n      end\n      n += 1\n      dn = step(f, x)\n    end\n  end while(dn >= 1)\n  puts \"done #{n}\"\nend\n";
        restoring(&ruby.replacen(".\"", ".", 1), ruby, Language::Ruby);
        // The opening quote lost: the closing one opens a string instead.
        let body = "  echo $x $y\n".repeat(30);
        let bash = format!("f() {{\n  c=$(compgen -u -- \"$cur\")\n{body}  echo \"$c\"\n}}\n");
        restoring(&bash.replacen("\"$cur", "$cur", 1), &bash, Language::Bash);
        // A quote the model proposes for a longer token is no typo: it opens a string of the
        // rest of the line.
        let bash = "_d() {\n    R=($(compgen -W '${o:-$(_p \"$1\")}' -- \"$cur\"))\n} &&\n    complete -F _d d\n";
        let broken = bash.replacen("\"$cur", "$cur", 1);
        let found = candidates_with(&broken, Language::Bash, &mut Proposes("\""));
        let texts: Vec<String> = found.iter().map(|c| c.change.apply(&broken)).collect();
        assert!(texts.iter().any(|t| t == bash) && texts.iter().all(|t| t.contains("-W")), "{texts:#?}");
    }

    /// Three doubled tokens on two lines: no state gets past its edit (the line still holds
    /// another mistake) and mending all three at once is deeper than the budget. The search
    /// offers the edits that leave fewer errors, for the caller's next round.
    #[test]
    fn of_several_mistakes_on_one_line_one_is_mended_when_all_are_too_deep() {
        let original = "vector<float> get_positive(vector<float> l){\n    vector<float> out={};\n    for (int i=0;i<l.size();i++)\n        if (l[i]>0) out.push_back(l[i]);\n    return out;\n}\n";
        let broken = original.replace("int i=0", "int i==0").replace("size()", "size(()").replace("(l[i]>0)", "(l[i]>0))");
        let tree = SyntaxTree::new(&broken, Some(Language::Cpp));
        let before = tree.errors(&broken, 1000).len();
        let found = candidates(&broken, Language::Cpp);
        assert!(!found.is_empty(), "no candidate for {before} errors");
        assert!(found.iter().all(|c| c.errors_after < before), "{found:#?}");
        let mended: Vec<String> = found.iter().map(|c| c.change.apply(&broken)).collect();
        let one_back = |t: &String| {
            [("int i==0", "int i=0"), ("size(()", "size()"), ("(l[i]>0))", "(l[i]>0)")].iter().any(|(b, o)| *t == broken.replacen(b, o, 1))
        };
        assert!(mended.iter().any(one_back), "{mended:#?}");
    }

    /// A docstring that lost a quote at both ends reads as two empty strings around prose:
    /// neither quote alone mends it (one opens a string that runs to the end of the file).
    #[test]
    fn a_docstring_that_lost_a_quote_at_both_ends_gets_both_back() {
        let original = "def below_zero(ops: List[int]) -> bool:\n    \"\"\" You're given a list of deposits.\n    >>> below_zero([1, 2])\n    False\n    \"\"\"\n    balance = 0\n    return False\n";
        let broken = original.replacen("\"\"\" You", "\"\" You", 1).replacen("    \"\"\"\n", "    \"\"\n", 1);
        assert_eq!(broken.matches("\"\"\"").count(), 0);
        restoring(&broken, original, Language::Python);
    }

    #[test]
    fn the_line_where_a_string_runs_on_is_found_before_the_error() {
        let body = "  x = y + 1\n".repeat(30);
        let broken = format!("def f\n  a = \"one\"\n  raise \"Failed\n{body}  x = \"a\"\nend\n");
        let tree = Language::Ruby.parse(&broken).unwrap();
        let error = verify::errors(&tree, ERROR_LIMIT)[0].range.clone();
        let lines = open_string_lines(&broken, &tree, &error);
        let raise = broken.find("  raise").unwrap();
        assert!(lines.iter().any(|(line, quote)| line.start == raise && *quote == '"'), "{lines:?}");
        // The closed string on the line before is not one.
        assert!(lines.iter().all(|(line, _)| line.start != broken.find("  a =").unwrap()), "{lines:?}");
    }

    #[test]
    fn typed_tokens_may_not_open_a_literal_that_swallows_code() {
        // `%` before `{` is a Ruby percent string: it would make the line parse as a string.
        let broken = "specs.each |{s| puts s }\nx = 1\n";
        let found = repair(broken, Language::Ruby);
        assert!(found.iter().all(|f| !f.contains('%')), "{found:#?}");
        // Nor may a quote make a string of the lines after it.
        let broken = "def f\n  x = [1, 2\n  y = 3\nend\n";
        let found = repair(broken, Language::Ruby);
        assert!(found.iter().all(|f| !f.contains('"')), "{found:#?}");
        // Nor a heredoc of the rest of the file.
        let broken = "_bind()\n{\n    local cur\n    if [[ $cur == -* ;]] then\n        echo a\n    fi\n}\n";
        let found = repair(broken, Language::Bash);
        assert!(found.iter().all(|f| !f.contains("<<")), "{found:#?}");
        // Nor may a word the model proposes glue to its neighbour: `un` before `def` makes
        // `undef`, and the block that lost its `end` opens nothing.
        let broken = "class A\n  def run\n    x = 1\n\n  def b\n    2\n  end\nend\n";
        let found = candidates_with(broken, Language::Ruby, &mut Proposes("un"));
        assert!(found.iter().any(|c| c.change.apply(broken).contains("  end\n\n  def b")), "{found:#?}");
        assert!(found.iter().all(|c| !c.change.apply(broken).contains("undef")), "{found:#?}");
    }

    #[test]
    fn the_edits_of_one_repair_lie_together() {
        let original = "class A\n  def f\n    x\n  end\n  def g\n    y\n  end\nend\n";
        // Two edits on one line, or on neighbouring lines: one typo's repair.
        assert!(compact(original, &original.replace("    x\n  end", "    x)\n  end)")));
        // An `end` near the top and a `.` far below: not one typo's.
        let far = original.replacen("def f", "def f end", 1).replacen("    y", "    y.", 1);
        assert!(!compact(original, &far));
    }

    #[test]
    fn the_model_may_not_put_a_word_for_a_word_spelt_otherwise() {
        let broken = "class A\n  def run\n    definition.validate\n\n  def b\n    2\n  end\nend\n";
        let found = candidates_with(broken, Language::Ruby, &mut Proposes("end"));
        assert!(!found.is_empty() && found.iter().all(|c| c.change.apply(broken).contains("definition")), "{found:#?}");
    }

    #[test]
    fn a_separator_swapped_into_a_bracket_is_swapped_back() {
        let bash = "f() {\n    if [[ $cur == -* ]]; then\n        echo a\n    fi\n}\n";
        restoring(&bash.replace("]];", ";]]"), bash, Language::Bash);
    }

    #[test]
    fn misspelt_keywords_are_respelt() {
        let found = repair("def f(x):\n    retrun x\n", Language::Python);
        assert!(found.iter().any(|f| f == "def f(x):\n    return x\n"), "{found:#?}");
    }
}

/// Whether the token an edit typed at `at` (its text `inserted`, spaces around it allowed) is
/// lexed as typed. An operator typed before a bracket can start a literal instead (Ruby's `%`
/// before `{` opens a `%{...}` string) and a quote can open a string that runs over lines:
/// both silence an error by swallowing code, as a comment does, rather than repair it.
fn lexed_as_typed(tree: &Tree, text: &str, at: usize, inserted: &str) -> bool {
    let token = inserted.trim();
    if token.is_empty() {
        return true;
    }
    let start = at + (inserted.len() - inserted.trim_start().len());
    let Some(leaf) = tree.root_node().descendant_for_byte_range(start, start + token.len()) else { return true };
    if is_word(token) {
        // Nor may a word glue to its neighbour (`un` before `def` makes `undef`).
        return leaf.child_count() > 0 || leaf.byte_range() == (start..start + token.len());
    }
    let quote = matches!(token, "\"" | "'" | "`");
    if !quote {
        // Typed as one token, lexed as one: a literal of its own, or joined to its
        // neighbour in a longer literal (`=` beside `=`), never inside a named token.
        return leaf.child_count() > 0 || !leaf.is_named() && text[leaf.byte_range()] == *leaf.kind() || leaf.kind() == token;
    }
    // A quote added to a run of quotes (`""` closing a `"""` docstring) is exempt.
    let b = text.as_bytes();
    if (start > 0 && b[start - 1] == token.as_bytes()[0]) || b.get(start + 1) == Some(&token.as_bytes()[0]) {
        return true;
    }
    let mut node = Some(leaf);
    while let Some(n) = node {
        if n.kind().contains("string") && !n.kind().contains("content") && !n.kind().contains("fragment") {
            return !text[n.byte_range()].contains('\n');
        }
        if n.is_error() {
            break;
        }
        node = n.parent();
    }
    true
}

/// Bytes after an edit whose tokens are counted by [`swallows`].
const SWALLOW_REACH: usize = 1024;

/// Whether an edit of `range` (by `inserted` bytes) makes a literal of the code after it: a
/// heredoc, a `%w(` word list, a backtick command or a `${` expansion that runs on for lines
/// holds a handful of tokens where the code held dozens. Such an edit silences an error far
/// from where it was made rather than mending it (as a comment would); a repair changes the
/// count of tokens by the few it types or deletes, and closing a string raises it.
fn swallows(old: &Tree, new: &Tree, range: &Range<usize>, inserted: usize) -> bool {
    // Tokens an edit may take away besides those it deletes: a doubled token merged back.
    const SLACK: usize = 3;
    let count = |tree: &Tree, span: Range<usize>| leaves_nodes(tree, &span).iter().filter(|n| n.start_byte() >= span.start).count();
    let before = count(old, range.start..range.end + SWALLOW_REACH);
    let after = count(new, range.start..range.start + inserted + SWALLOW_REACH);
    after + SLACK < before
}

/// Whether any part of `range` is inside a comment of `tree`.
fn in_comment(tree: &Tree, range: Range<usize>) -> bool {
    let Some(mut node) = tree.root_node().descendant_for_byte_range(range.start, range.end) else { return false };
    loop {
        if node.kind().contains("comment") {
            return true;
        }
        if node.child_count() > 0 {
            // The smallest node holding the range has children: look at those it overlaps.
            let mut cursor = node.walk();
            if node.children(&mut cursor).any(|c| c.start_byte() < range.end && range.start < c.end_byte() && c.kind().contains("comment"))
            {
                return true;
            }
        }
        match node.parent() {
            Some(parent) => node = parent,
            None => return false,
        }
    }
}

/// A token of a parse, for tools that break code on purpose (`anneal eval syntax-repair`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub range: Range<usize>,
    /// The node kind (`identifier`, `:`, `string_end`).
    pub kind: String,
    /// A literal of the grammar (punctuation, keyword) rather than a named token.
    pub literal: bool,
    /// The kind of its parent (`string`, `block`).
    pub parent: String,
}

/// The tokens of `text` (none without a tree), in document order.
pub fn tokens(text: &str, language: Language) -> Vec<Token> {
    let Some(tree) = language.parse(text) else { return vec![] };
    let mut out = vec![];
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        if node.child_count() == 0 {
            if node.end_byte() > node.start_byte() {
                let parent = node.parent().map_or(String::new(), |p| p.kind().to_string());
                out.push(Token { range: node.byte_range(), kind: node.kind().to_string(), literal: !node.is_named(), parent });
            }
            continue;
        }
        let mut cursor = node.walk();
        let children: Vec<Node> = node.children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
    out
}
