//! How many bytes of text a number of tokens can hold, so an input far
//! longer than a model takes is refused or cut before it is tokenized (the
//! tokenizer's work grows with the text, and cannot be stopped midway).

use tokenizers::Tokenizer;

/// Bytes of input text per token at most, with a margin. A token's vocabulary
/// string is at least as long as the input it covers (byte-level BPE writes
/// each input byte as one 1–2-byte character; WordPiece and SentencePiece
/// store the text itself, plus markers); the factor 2 covers normalizers
/// that shorten text (NFKC folds some 3-byte characters into 2 bytes).
pub(crate) fn bytes_per_token(tokenizer: &Tokenizer) -> usize {
    let longest = tokenizer
        .get_vocab(true)
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(1);
    2 * longest.max(1)
}

/// The longest prefix of `text` of at most `max` bytes, on a character boundary.
pub(crate) fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn cuts_on_character_boundaries() {
        assert_eq!(super::cut("héllo", 2), "h");
        assert_eq!(super::cut("héllo", 3), "hé");
        assert_eq!(super::cut("abc", 10), "abc");
    }
}
