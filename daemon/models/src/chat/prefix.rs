//! Automatic prefix caching: the KV caches of finished sequences, kept so that
//! a new prompt that starts with the same tokens (the same system prompt, the
//! next turn of a conversation) copies their keys and values instead of
//! prefilling them again — llama-server's slot cache, vLLM's automatic prefix
//! caching.
//!
//! Each entry is one finished sequence's cache with the tokens it holds. A
//! lookup takes the entry sharing the longest prefix with the prompt and copies
//! that many positions (a copy is a memcpy, ~45 KiB per token for SmolLM2-135M,
//! where a prefill is the whole model's arithmetic). Entries are not shared
//! between themselves: two conversations with one system prompt hold it twice
//! (a radix tree of blocks would hold it once; the budget bounds both). An
//! entry that is a prefix of a newer one is dropped when the newer one comes.
//!
//! The owner bounds it in tokens ([`PrefixCache::shrink_to`]); eviction takes
//! the least recently used entry first.

use std::any::Any;

/// Cached KV caches of finished sequences, by the tokens they hold.
#[derive(Default)]
pub struct PrefixCache {
    entries: Vec<Entry>,
    /// Tokens held by all entries.
    held: usize,
    /// Ticks on every use, for least-recently-used order.
    clock: u64,
}

struct Entry {
    /// The tokens whose keys and values `cache` holds, position by position.
    tokens: Vec<u32>,
    cache: Box<dyn Any + Send>,
    used: u64,
}

impl std::fmt::Debug for PrefixCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefixCache")
            .field("entries", &self.entries.len())
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

/// Leading elements `a` and `b` share.
fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl PrefixCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tokens held (KV positions, summed over entries).
    pub fn held_tokens(&self) -> usize {
        self.held
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Evicts least recently used entries until at most `tokens` are held.
    pub fn shrink_to(&mut self, tokens: usize) {
        while self.held > tokens {
            let Some(oldest) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.used)
                .map(|(i, _)| i)
            else {
                break;
            };
            let gone = self.entries.swap_remove(oldest);
            self.held -= gone.tokens.len();
        }
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.held = 0;
    }

    /// The entry sharing the longest prefix with `prompt` (marked as used) and
    /// that prefix's length; `None` when no entry shares a first token.
    pub(crate) fn longest(&mut self, prompt: &[u32]) -> Option<(&(dyn Any + Send), usize)> {
        let (best, common) = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i, common_prefix(&e.tokens, prompt)))
            .max_by_key(|(_, common)| *common)?;
        if common == 0 {
            return None;
        }
        self.clock += 1;
        let entry = &mut self.entries[best];
        entry.used = self.clock;
        Some((&*entry.cache, common))
    }

    /// Keeps `cache`, which holds `tokens`, if it fits in `room` tokens
    /// (evicting the least recently used entries to make it fit). An entry it
    /// extends is replaced; if an entry already holds all of `tokens`, that one
    /// is marked as used instead.
    pub(crate) fn insert(&mut self, tokens: Vec<u32>, cache: Box<dyn Any + Send>, room: usize) {
        if tokens.is_empty() || tokens.len() > room {
            return;
        }
        self.clock += 1;
        if let Some(holder) = self
            .entries
            .iter_mut()
            .find(|e| e.tokens.starts_with(&tokens))
        {
            holder.used = self.clock;
            return;
        }
        let held = &mut self.held;
        self.entries.retain(|e| {
            let extended = tokens.starts_with(&e.tokens);
            if extended {
                *held -= e.tokens.len();
            }
            !extended
        });
        self.shrink_to(room - tokens.len());
        self.held += tokens.len();
        self.entries.push(Entry {
            tokens,
            cache,
            used: self.clock,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(cache: &mut PrefixCache, tokens: &[u32], room: usize) {
        cache.insert(tokens.to_vec(), Box::new(tokens.to_vec()), room);
    }

    /// The tokens of the entry `prompt` would reuse, and how many.
    fn lookup(cache: &mut PrefixCache, prompt: &[u32]) -> Option<(Vec<u32>, usize)> {
        cache.longest(prompt).map(|(c, n)| {
            (
                c.downcast_ref::<Vec<u32>>().expect("a test entry").clone(),
                n,
            )
        })
    }

    #[test]
    fn the_longest_shared_prefix_wins() {
        let mut cache = PrefixCache::new();
        insert(&mut cache, &[1, 2, 3, 4], 100);
        insert(&mut cache, &[1, 2, 9], 100);
        insert(&mut cache, &[7, 8], 100);
        assert_eq!(cache.held_tokens(), 9);
        assert_eq!(
            lookup(&mut cache, &[1, 2, 3, 5]),
            Some((vec![1, 2, 3, 4], 3))
        );
        assert_eq!(
            lookup(&mut cache, &[1, 2, 9, 9, 9]),
            Some((vec![1, 2, 9], 3))
        );
        assert_eq!(lookup(&mut cache, &[7]), Some((vec![7, 8], 1)));
        assert_eq!(lookup(&mut cache, &[5, 1, 2]), None);
        assert_eq!(lookup(&mut cache, &[]), None);
    }

    #[test]
    fn a_growing_conversation_keeps_one_entry() {
        let mut cache = PrefixCache::new();
        insert(&mut cache, &[1, 2, 3], 100);
        insert(&mut cache, &[1, 2, 3, 4, 5], 100);
        assert_eq!((cache.len(), cache.held_tokens()), (1, 5), "extended");
        insert(&mut cache, &[1, 2, 3, 4], 100);
        assert_eq!((cache.len(), cache.held_tokens()), (1, 5), "already held");
        insert(&mut cache, &[1, 2, 6], 100);
        assert_eq!((cache.len(), cache.held_tokens()), (2, 8), "a branch");
    }

    #[test]
    fn eviction_is_least_recently_used_within_the_room() {
        let mut cache = PrefixCache::new();
        insert(&mut cache, &[1; 4], 100);
        insert(&mut cache, &[2; 4], 100);
        insert(&mut cache, &[3; 4], 100);
        // [1…] is used again, so [2…] is now the oldest.
        assert!(lookup(&mut cache, &[1, 1]).is_some());
        insert(&mut cache, &[4; 4], 12);
        assert_eq!(cache.held_tokens(), 12);
        assert!(lookup(&mut cache, &[2]).is_none(), "evicted");
        for kept in [1, 3, 4] {
            assert!(lookup(&mut cache, &[kept]).is_some(), "{kept} kept");
        }
        // Too large for the room: nothing changes.
        insert(&mut cache, &[5; 13], 12);
        assert_eq!((cache.len(), cache.held_tokens()), (3, 12));
        cache.shrink_to(5);
        assert_eq!(cache.held_tokens(), 4);
        cache.shrink_to(0);
        assert!(cache.is_empty());
        assert_eq!(cache.held_tokens(), 0);
        insert(&mut cache, &[], 10);
        assert!(cache.is_empty(), "an empty sequence is not kept");
    }
}
