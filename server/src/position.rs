//! Conversion between the engine's UTF-8 byte offsets and a client's (line, character)
//! positions, in the position encoding negotiated at `initialize`.
//!
//! The only place in Anneal that counts UTF-16 code units. Lines end at `\n`, `\r\n` or `\r`
//! (LSP's definition; ropey is built without Unicode line breaks to match). Positions are
//! clamped the way the LSP specification asks: a character past the end of its line means the
//! end of the line, a line past the end of the document means the end of the document, and a
//! character inside a multi-unit code point snaps back to that code point's start.

use ropey::Rope;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
    Utf32,
}

impl Encoding {
    /// Chooses from the client's offer: UTF-8 is Anneal's native unit, so it wins when offered;
    /// UTF-16 is the protocol's default when the client offers nothing we know.
    pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Encoding {
        let offered: Vec<&str> = offered.into_iter().collect();
        for (name, enc) in [("utf-8", Encoding::Utf8), ("utf-16", Encoding::Utf16), ("utf-32", Encoding::Utf32)] {
            if offered.contains(&name) {
                return enc;
            }
        }
        Encoding::Utf16
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf16 => "utf-16",
            Encoding::Utf32 => "utf-32",
        }
    }

    fn units(self, c: char) -> usize {
        match self {
            Encoding::Utf8 => c.len_utf8(),
            Encoding::Utf16 => c.len_utf16(),
            Encoding::Utf32 => 1,
        }
    }
}

/// A client position: zero-based line and character in the client's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: u32,
    pub character: u32,
}

/// Byte offset of the end of `line`'s content (before its line terminator).
fn line_content_end(rope: &Rope, line: usize) -> usize {
    let start = rope.line_to_byte(line);
    let slice = rope.line(line);
    let mut len = slice.len_bytes();
    let n = slice.len_chars();
    let last = |k: usize| if n >= k { Some(slice.char(n - k)) } else { None };
    match (last(2), last(1)) {
        (Some('\r'), Some('\n')) => len -= 2,
        (_, Some('\n' | '\r')) => len -= 1,
        _ => {}
    }
    start + len
}

/// The byte offset of `pos`, clamped into the document.
pub fn to_offset(rope: &Rope, pos: Position, enc: Encoding) -> usize {
    let line = pos.line as usize;
    if line >= rope.len_lines() {
        return rope.len_bytes();
    }
    let start = rope.line_to_byte(line);
    let end = line_content_end(rope, line);
    let mut offset = start;
    let mut units = 0usize;
    for c in rope.byte_slice(start..end).chars() {
        let next = units + enc.units(c);
        if next > pos.character as usize {
            break;
        }
        units = next;
        offset += c.len_utf8();
    }
    offset
}

/// The client position of byte `offset` (clamped to the document; snapped to a char start).
pub fn to_position(rope: &Rope, offset: usize, enc: Encoding) -> Position {
    let mut offset = offset.min(rope.len_bytes());
    while offset > 0 && rope.try_byte_to_char(offset).map(|c| rope.char_to_byte(c) != offset).unwrap_or(true) {
        offset -= 1;
    }
    let line = rope.byte_to_line(offset);
    let start = rope.line_to_byte(line);
    let character: usize = rope.byte_slice(start..offset).chars().map(|c| enc.units(c)).sum();
    Position { line: line as u32, character: character as u32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(line: u32, character: u32) -> Position {
        Position { line, character }
    }

    #[test]
    fn negotiation_prefers_utf8_and_defaults_to_utf16() {
        assert_eq!(Encoding::negotiate(["utf-16", "utf-8"]), Encoding::Utf8);
        assert_eq!(Encoding::negotiate(["utf-32"]), Encoding::Utf32);
        assert_eq!(Encoding::negotiate([]), Encoding::Utf16);
        assert_eq!(Encoding::negotiate(["latin-1"]), Encoding::Utf16);
    }

    #[test]
    fn astral_characters_count_per_encoding() {
        let rope = Rope::from_str("a😀b\n");
        assert_eq!(to_offset(&rope, p(0, 3), Encoding::Utf16), 5); // before b
        assert_eq!(to_offset(&rope, p(0, 2), Encoding::Utf32), 5);
        assert_eq!(to_offset(&rope, p(0, 5), Encoding::Utf8), 5);
        assert_eq!(to_position(&rope, 5, Encoding::Utf16), p(0, 3));
        // Inside the surrogate pair: snap back to the emoji's start.
        assert_eq!(to_offset(&rope, p(0, 2), Encoding::Utf16), 1);
    }

    #[test]
    fn clamps_past_line_and_document_ends() {
        let rope = Rope::from_str("ab\r\ncd\n");
        assert_eq!(to_offset(&rope, p(0, 99), Encoding::Utf16), 2, "before the CRLF");
        assert_eq!(to_offset(&rope, p(1, 1), Encoding::Utf16), 5);
        assert_eq!(to_offset(&rope, p(2, 0), Encoding::Utf16), 7);
        assert_eq!(to_offset(&rope, p(9, 9), Encoding::Utf16), 7);
        assert_eq!(to_position(&rope, 99, Encoding::Utf16), p(2, 0));
    }

    #[test]
    fn lone_carriage_return_ends_a_line() {
        let rope = Rope::from_str("a\rb");
        assert_eq!(to_offset(&rope, p(1, 0), Encoding::Utf16), 2);
    }

    /// Reference: walk the text char by char, as a client would.
    fn reference_positions(text: &str, enc: Encoding) -> Vec<(usize, Position)> {
        let mut out = vec![];
        let (mut line, mut ch) = (0u32, 0u32);
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            out.push((i, p(line, ch)));
            if c == '\n' || (c == '\r' && chars.peek().map(|x| x.1) != Some('\n')) {
                line += 1;
                ch = 0;
            } else if c != '\r' {
                ch += enc.units(c) as u32;
            }
        }
        out.push((text.len(), p(line, ch)));
        out
    }

    proptest! {
        #[test]
        fn round_trips_every_char_boundary(text in "[a-zé😀\t \r\n]{0,40}") {
            let rope = Rope::from_str(&text);
            for enc in [Encoding::Utf8, Encoding::Utf16, Encoding::Utf32] {
                for (offset, pos) in reference_positions(&text, enc) {
                    // A CR of a CRLF pair has no position of its own; skip the offset between them.
                    if offset > 0 && text.as_bytes()[offset - 1] == b'\r' && text.as_bytes().get(offset) == Some(&b'\n') {
                        continue;
                    }
                    prop_assert_eq!(to_position(&rope, offset, enc), pos, "offset {} {:?}", offset, enc);
                    prop_assert_eq!(to_offset(&rope, pos, enc), offset, "pos {:?} {:?}", pos, enc);
                }
            }
        }
    }
}
