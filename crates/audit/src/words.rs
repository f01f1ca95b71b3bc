//! The words of a post as the audit compares them: whitespace-separated, with punctuation apart
//! from letters and digits (`wheel.` is `wheel` and `.`), so that a generator's decoded output,
//! which its tokenizer spaces out, compares with the raw posts it learnt from.

/// The words of `text`: maximal runs of letters, digits and marks, and single punctuation or
/// symbol characters, in order.
pub fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for chunk in text.split_whitespace() {
        let mut start = 0;
        for (i, c) in chunk.char_indices() {
            if !is_word_char(c) {
                if start < i {
                    out.push(&chunk[start..i]);
                }
                out.push(&chunk[i..i + c.len_utf8()]);
                start = i + c.len_utf8();
            }
        }
        if start < chunk.len() {
            out.push(&chunk[start..]);
        }
    }
    out
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || !(c.is_ascii_punctuation() || is_symbol(c))
}

/// Non-ASCII punctuation and symbols that separate words (quotes, dashes, ellipses).
fn is_symbol(c: char) -> bool {
    matches!(
        c,
        '\u{2010}'..='\u{2027}' | '\u{2030}'..='\u{205E}' | '\u{00A1}'..='\u{00BF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_stands_apart() {
        assert_eq!(
            words("a clock as the front wheel."),
            ["a", "clock", "as", "the", "front", "wheel", "."]
        );
        assert_eq!(words("surfboard ."), ["surfboard", "."]);
        assert_eq!(words("@user don't…"), ["@", "user", "don", "'", "t", "…"]);
        assert_eq!(words("café 😍 #win"), ["café", "😍", "#", "win"]);
        assert!(words("  ").is_empty());
    }
}
