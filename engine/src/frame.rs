//! Where a block's canvas is cut from its context. Blocks are whole lines: they start after a
//! line break and end with one. But a byte-level BPE joins a line break to the indentation
//! that follows it (`"\n    "` is one token), so a cut at the line break shows the model a
//! split it never saw in training: a line break alone, then bare indentation. A model that
//! scores each token against its context takes that indentation for a mistake and "repairs"
//! it. Framing moves the line breaks across the cut instead — the ones ending the text before
//! go to the front of the block, the block's own last ones to the front of the text after —
//! so the same bytes are tokenized as they would be in one piece.

/// A block and its context, cut where the tokenizer would cut.
#[derive(Debug, PartialEq, Eq)]
pub struct Framed<'a> {
    pub before: &'a str,
    pub block: String,
    pub after: String,
    /// The line breaks moved to the block's front, and from its end.
    lead: &'a str,
    trail: &'a str,
}

pub fn frame<'a>(before: &'a str, block: &'a str, after: &str) -> Framed<'a> {
    let lead = &before[before.trim_end_matches(['\n', '\r']).len()..];
    let trail = &block[block.trim_end_matches(['\n', '\r']).len()..];
    let body = &block[..block.len() - trail.len()];
    Framed { before: &before[..before.len() - lead.len()], block: format!("{lead}{body}"), after: format!("{trail}{after}"), lead, trail }
}

impl Framed<'_> {
    /// The block's new text from what the model wrote in the frame: the line breaks it was
    /// lent at the front are handed back, and the ones it lent the text after are restored,
    /// so the block still starts and ends as blocks do (a model that dropped one leaves the
    /// text around it as it was).
    pub fn unframe(&self, written: &str) -> String {
        let body = written.strip_prefix(self.lead).unwrap_or_else(|| written.trim_start_matches(['\n', '\r']));
        let body = body.trim_end_matches(['\n', '\r']);
        format!("{body}{}", self.trail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_move_to_the_side_the_tokenizer_joins_them_to() {
        let f = frame("def f():\n", "    x = 1\n", "    return x\n");
        assert_eq!((f.before, f.block.as_str(), f.after.as_str()), ("def f():", "\n    x = 1", "\n    return x\n"));
        assert_eq!(format!("{}{}{}", f.before, f.block, f.after), "def f():\n    x = 1\n    return x\n", "the same bytes");
    }

    #[test]
    fn blank_lines_and_crlf_move_whole() {
        let f = frame("a\r\n\r\n", "b\r\n", "c");
        assert_eq!((f.before, f.block.as_str(), f.after.as_str()), ("a", "\r\n\r\nb", "\r\nc"));
        assert_eq!(f.unframe("\r\n\r\nB"), "B\r\n");
    }

    #[test]
    fn unframe_restores_the_block_shape_whatever_the_model_did_at_its_ends() {
        let f = frame("x\n", "y\n", "z\n");
        assert_eq!(f.unframe("\ny2"), "y2\n");
        assert_eq!(f.unframe("y2"), "y2\n", "a dropped leading break takes nothing else");
        assert_eq!(f.unframe("\ny2\n\n"), "y2\n", "breaks written at the end are the text after's");
    }

    #[test]
    fn a_block_at_the_start_or_end_of_the_file_frames_what_it_has() {
        let f = frame("", "first\n", "");
        assert_eq!((f.before, f.block.as_str(), f.after.as_str()), ("", "first", "\n"));
        assert_eq!(f.unframe("first"), "first\n");
        let g = frame("x\n", "last", "");
        assert_eq!((g.block.as_str(), g.after.as_str()), ("\nlast", ""));
        assert_eq!(g.unframe("\nlast"), "last");
    }
}
