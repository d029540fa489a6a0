//! Stop sequences, found as text arrives: one Knuth–Morris–Pratt matcher per
//! stop, fed each new byte once, so a token costs the same whatever the
//! stops' lengths (the naive scan re-read up to a stop's length of text,
//! and tried every prefix of every stop, for each token).

/// The stop sequences of one sequence, and how far each is matched.
#[derive(Debug, Clone, Default)]
pub(super) struct StopScan {
    stops: Vec<Matcher>,
}

#[derive(Debug, Clone)]
struct Matcher {
    pattern: Box<[u8]>,
    /// `fallback[i]`: the longest proper prefix of `pattern[..=i]` that is
    /// also its suffix.
    fallback: Box<[usize]>,
    /// Bytes of `pattern` that end the text so far.
    matched: usize,
}

impl Matcher {
    fn new(pattern: &str) -> Self {
        let p = pattern.as_bytes();
        let mut fallback = vec![0; p.len()];
        let mut k = 0;
        for i in 1..p.len() {
            while k > 0 && p[i] != p[k] {
                k = fallback[k - 1];
            }
            if p[i] == p[k] {
                k += 1;
            }
            fallback[i] = k;
        }
        Self {
            pattern: p.into(),
            fallback: fallback.into(),
            matched: 0,
        }
    }

    /// Feeds one byte; true when the whole pattern now ends the text.
    fn feed(&mut self, b: u8) -> bool {
        while self.matched > 0 && self.pattern[self.matched] != b {
            self.matched = self.fallback[self.matched - 1];
        }
        if self.pattern[self.matched] == b {
            self.matched += 1;
        }
        if self.matched == self.pattern.len() {
            self.matched = self.fallback[self.matched - 1];
            return true;
        }
        false
    }
}

impl StopScan {
    /// Matchers for `stops` (empty ones never match).
    pub(super) fn new(stops: &[String]) -> Self {
        Self {
            stops: stops
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| Matcher::new(s))
                .collect(),
        }
    }

    /// Feeds `piece`, the text's bytes from `offset` on. Returns where the
    /// earliest-starting stop that ends in `piece` starts (the text is cut
    /// there), if one does.
    pub(super) fn feed(&mut self, piece: &[u8], offset: usize) -> Option<usize> {
        let mut found: Option<usize> = None;
        for m in &mut self.stops {
            let len = m.pattern.len();
            if let Some(end) = piece.iter().position(|&b| m.feed(b)) {
                let start = (offset + end + 1).saturating_sub(len);
                found = Some(found.map_or(start, |f| f.min(start)));
            }
        }
        found
    }

    /// Bytes at the end of the text that could still become a stop
    /// sequence (held back from the client until they cannot).
    pub(super) fn pending(&self) -> usize {
        self.stops.iter().map(|m| m.matched).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The definitions: where the earliest-starting first match of any stop
    /// ending in `text[from..]` starts, and the longest suffix of `text`
    /// that is a proper prefix of a stop.
    fn naive(text: &str, from: usize, stops: &[String]) -> (Option<usize>, usize) {
        let found = stops
            .iter()
            .filter_map(|s| {
                (0..=text.len().saturating_sub(s.len()))
                    .find(|&i| text.as_bytes()[i..].starts_with(s.as_bytes()) && i + s.len() > from)
            })
            .min();
        let pending = stops
            .iter()
            .map(|s| {
                (1..s.len())
                    .rev()
                    .find(|&n| text.as_bytes().ends_with(&s.as_bytes()[..n]))
                    .unwrap_or(0)
            })
            .max()
            .unwrap_or(0);
        (found, pending)
    }

    #[test]
    fn agrees_with_the_definitions_on_random_text_fed_in_random_pieces() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let alphabet = ["a", "b", "ab", "é", "\n"];
        let word = |rng: &mut rand::rngs::StdRng, n: usize| -> String {
            (0..n)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect()
        };
        for _ in 0..2000 {
            let stops: Vec<String> = (0..rng.random_range(1..=4))
                .map(|_| {
                    let n = rng.random_range(1..6);
                    word(&mut rng, n)
                })
                .collect();
            let mut scan = StopScan::new(&stops);
            let mut text = String::new();
            loop {
                let n = rng.random_range(1..4);
                let piece = word(&mut rng, n);
                let from = text.len();
                text.push_str(&piece);
                let got = scan.feed(piece.as_bytes(), from);
                let (want, pending) = naive(&text, from, &stops);
                assert_eq!(got, want, "{stops:?} in {text:?}");
                if got.is_some() || text.len() > 40 {
                    break;
                }
                assert_eq!(scan.pending(), pending, "{stops:?} after {text:?}");
            }
        }
    }

    #[test]
    fn a_long_stop_of_repeats_is_found_where_it_starts() {
        let stop = "a".repeat(256);
        let mut scan = StopScan::new(std::slice::from_ref(&stop));
        let mut text = String::from("b");
        scan.feed(b"b", 0);
        for i in 0..255 {
            text.push('a');
            assert_eq!(scan.feed(b"a", text.len() - 1), None);
            assert_eq!(scan.pending(), i + 1);
        }
        assert_eq!(scan.feed(b"a", text.len()), Some(1));
    }
}
