//! cl100k-compatible token counts, computed without building the token list.
//!
//! Counting is two steps, as in every BPE tokenizer of this family: the text is cut into
//! pre-tokenization pieces by the cl100k pattern, then each piece is byte-pair encoded on its own.
//! Both steps are done here, and both give exactly what the reference tokenizer gives:
//!
//! - [`pieces`] cuts ASCII text with a hand-written scanner that follows the pattern's
//!   alternatives in order; whenever a decision depends on a non-ASCII character (whose Unicode
//!   letter/number/space class matters) it asks a regex splitter (`bpe-openai`'s, built with the
//!   cl100k pattern) for that one piece. Splitting is anchored piece by piece, so a piece cut from a
//!   suffix of the text is the piece the whole-text splitter would cut there. A word's end is
//!   found eight bytes at a time (`letters_end`), the commonest piece without a loop.
//! - Pieces are merged by the vocabulary's ranks, which `build.rs` embeds (the encoder of
//!   `bpe-openai` is not loaded at run time: its tables are ~25 MB). One- and two-byte pieces are
//!   answered from a 64 KiB table. A piece of 3 to 15 bytes is packed into one `u128` (read from the
//!   text with one load) and looked up in a small direct-mapped table per thread that stays in the
//!   core's cache (words repeat: the corpus's 12 M pieces hold fewer than 200 k distinct ones, and a
//!   few thousand make most of them); on a miss it is one token when it is in the vocabulary, else
//!   it is merged with every union packed too. Pieces of up to 128 bytes are merged on the stack,
//!   longer ones through a heap, and memoised per thread up to 64 bytes. Every merge starts from a
//!   table of the two-byte tokens' ranks.
//!
//! `kernel/tests/tokens.rs` checks the pieces against `bpe-openai`'s splitter and the counts
//! against its encoder on generated text, long pieces and the shared corpus.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// Builds the counter's tables (a few milliseconds, once per process) so the first count does not
/// wait.
pub fn warm_up() {
    let _ = (pair_ranks(), long_ranks(), splitter());
}

/// The cl100k_base vocabulary, written by `build.rs`: every token's bytes in rank order, each
/// after one length byte.
static VOCABULARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cl100k_vocabulary.bin"));

/// Every token of the vocabulary with its rank.
fn vocabulary() -> impl Iterator<Item = (&'static [u8], u32)> {
    let mut at = 0;
    (0u32..).map_while(move |rank| {
        let len = usize::from(*VOCABULARY.get(at)?);
        let bytes = &VOCABULARY[at + 1..at + 1 + len];
        at += 1 + len;
        Some((bytes, rank))
    })
}

/// Ranks of the vocabulary's tokens of more than 15 bytes (the shorter ones are in
/// [`short_ranks`]), to merge long pieces with.
fn long_ranks() -> &'static HashMap<&'static [u8], u32> {
    static RANKS: OnceLock<HashMap<&'static [u8], u32>> = OnceLock::new();
    RANKS.get_or_init(|| vocabulary().filter(|(bytes, _)| bytes.len() > MEMO_MAX_LEN).collect())
}

/// Rank of the token whose bytes are `bytes[start..end]`, if it is one.
#[inline]
fn rank_in(bytes: &[u8], start: usize, end: usize) -> Option<u32> {
    if end - start <= MEMO_MAX_LEN {
        short_ranks().get(&short_key(bytes, start, end - start)).copied()
    } else {
        long_ranks().get(&bytes[start..end]).copied()
    }
}

/// Pieces up to this long are merged with a scan for the lowest rank (their bounds fit a byte);
/// longer ones through a heap.
const SCAN_MERGE_MAX_LEN: usize = 128;

/// Token count of a piece of 16 to [`SCAN_MERGE_MAX_LEN`] bytes, merged as [`merge_count`] merges
/// short ones.
fn merge_scan(bytes: &[u8]) -> u32 {
    let pairs = pair_ranks();
    merge_parts::<{ SCAN_MERGE_MAX_LEN + 1 }>(
        bytes.len(),
        |i| pair_rank(pairs, bytes[i], bytes[i + 1]),
        |start, end| rank_in(bytes, start, end).unwrap_or(u32::MAX),
    )
}

/// Byte-pair merging of a piece of `len` bytes (2 ≤ `len` < `N`), on the stack: start from single
/// bytes and merge, while any can be, the adjacent pair whose union is the lowest-ranked token
/// (the leftmost on a tie). `first(i)` ranks bytes `i` and `i + 1`, `rank(start, end)` any union
/// (`u32::MAX`: not a token). Returns the number of parts left.
#[inline]
fn merge_parts<const N: usize>(len: usize, first: impl Fn(usize) -> u32, rank: impl Fn(usize, usize) -> u32) -> u32 {
    // Part `i` is bytes `bounds[i]..bounds[i + 1]`; `pair[i]` ranks the union of parts `i` and `i + 1`.
    let mut bounds = [0u8; N];
    for (i, b) in bounds.iter_mut().enumerate().take(len + 1) {
        *b = i as u8;
    }
    let mut pair = [u32::MAX; N];
    for (i, p) in pair.iter_mut().enumerate().take(len - 1) {
        *p = first(i);
    }
    let union = |bounds: &[u8], i: usize| rank(usize::from(bounds[i]), usize::from(bounds[i + 2]));
    let mut parts = len;
    loop {
        let (best, low) = lowest(&pair[..parts - 1]);
        if low == u32::MAX {
            return parts as u32;
        }
        // Parts `best` and `best + 1` become one.
        bounds.copy_within(best + 2..=parts, best + 1);
        pair.copy_within(best + 1..parts - 1, best);
        parts -= 1;
        if parts == 1 {
            return 1;
        }
        if best + 1 < parts {
            pair[best] = union(&bounds, best);
        }
        if best > 0 {
            pair[best - 1] = union(&bounds, best - 1);
        }
    }
}

/// Token count of a piece of more than 15 bytes: up to [`SCAN_MERGE_MAX_LEN`] by [`merge_scan`],
/// longer ones with the candidate unions in a heap, where each merge costs a logarithm instead of a
/// pass over the piece: a piece of thousands of bytes (a long rule of `=`, a run of box-drawing
/// characters) is counted in time proportional to its length.
fn merge_long(bytes: &[u8]) -> u32 {
    use std::cmp::Reverse;
    let n = bytes.len();
    if n <= SCAN_MERGE_MAX_LEN {
        return merge_scan(bytes);
    }
    // Parts are linked by their start: `next[s]` is where the part starting at `s` ends.
    let mut next: Vec<usize> = (1..=n).collect();
    let mut prev: Vec<usize> = (0..n).map(|s| s.wrapping_sub(1)).collect();
    let mut alive = vec![true; n];
    // Candidate unions: (rank, start, length); stale once the parts around `start` changed.
    let mut heap: std::collections::BinaryHeap<Reverse<(u32, usize, usize)>> = (0..n - 1)
        .map(|s| (pair_rank(pair_ranks(), bytes[s], bytes[s + 1]), s))
        .filter(|&(rank, _)| rank != u32::MAX)
        .map(|(rank, s)| Reverse((rank, s, 2)))
        .collect();
    let mut parts = n;
    while let Some(Reverse((_, start, len))) = heap.pop() {
        if !alive[start] || next[start] >= n || next[next[start]] - start != len {
            continue;
        }
        let mid = next[start];
        let end = next[mid];
        alive[mid] = false;
        next[start] = end;
        if end < n {
            prev[end] = start;
        }
        parts -= 1;
        if end < n
            && let Some(rank) = rank_in(bytes, start, next[end])
        {
            heap.push(Reverse((rank, start, next[end] - start)));
        }
        if start > 0 {
            let before = prev[start];
            if let Some(rank) = rank_in(bytes, before, end) {
                heap.push(Reverse((rank, before, end - before)));
            }
        }
    }
    parts as u32
}

/// The cl100k pre-tokenization pattern as `bpe-openai` runs it: the pattern's `\s+(?!\S)` (no
/// look-ahead in the regex engine) becomes `\s+$` in the first pattern and a second pattern
/// `\s+\s` whose last character is dropped from the match; the third is the plain `\s+`.
const CL100K_PATTERNS: [(&str, bool); 3] = [
    (
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+$",
        false,
    ),
    ("\\s+\\s", true),
    ("\\s+", false),
];

/// The regex splitter, for the pieces a non-ASCII character decides. It carries a byte-level
/// encoder of 256 tokens only because `bpe-openai` builds its splitter with one; it never encodes.
fn splitter() -> &'static bpe_openai::Tokenizer {
    static SPLITTER: OnceLock<bpe_openai::Tokenizer> = OnceLock::new();
    SPLITTER.get_or_init(|| {
        let bytes =
            bpe_openai::byte_pair_encoding::BytePairEncoding::from_dictionary((0..=255u8).map(|b| vec![b]), None);
        bpe_openai::Tokenizer::new_lookahead(bytes, &CL100K_PATTERNS, false).expect("the cl100k pattern compiles")
    })
}

/// Rank of every two-byte token, indexed by the two bytes (`u32::MAX`: not a token): a two-byte
/// piece (one token or two) and the first round of every merge cost one array read each instead of
/// a hash lookup.
fn pair_ranks() -> &'static [u32] {
    static PAIRS: OnceLock<Vec<u32>> = OnceLock::new();
    PAIRS.get_or_init(|| {
        let ranks = short_ranks();
        (0..=u16::MAX)
            .map(|pair| memo_key(&pair.to_be_bytes()).and_then(|k| ranks.get(&k).copied()).unwrap_or(u32::MAX))
            .collect()
    })
}

#[inline]
fn pair_rank(pairs: &[u32], a: u8, b: u8) -> u32 {
    pairs[usize::from(a) << 8 | usize::from(b)]
}

/// Every token of the vocabulary short enough to be memoised, under its key, with its rank (its
/// id: cl100k merges the pair whose merged token has the lowest id first). A piece equal to one of
/// them is one token; other short pieces are merged with [`merge_count`]. Shared by all threads.
fn short_ranks() -> &'static HashMap<u128, u32, BuildHasherDefault<KeyHasher>> {
    static RANKS: OnceLock<HashMap<u128, u32, BuildHasherDefault<KeyHasher>>> = OnceLock::new();
    RANKS.get_or_init(|| vocabulary().filter_map(|(bytes, rank)| Some((memo_key(bytes)?, rank))).collect())
}

/// Token count of the piece of 3 to 15 bytes whose key is `key`, by [`merge_parts`]. Every union
/// is at most 15 bytes, so each rank is one lookup of a key cut from `key` with shifts.
fn merge_count(key: u128, ranks: &HashMap<u128, u32, BuildHasherDefault<KeyHasher>>) -> u32 {
    let (pairs, bytes) = (pair_ranks(), key.to_le_bytes());
    let len = usize::from(bytes[15]);
    let word = key & low_bytes(len);
    merge_parts::<16>(
        len,
        |i| pair_rank(pairs, bytes[i], bytes[i + 1]),
        |start, end| {
            let n = end - start;
            let sub = (word >> (8 * start)) & low_bytes(n) | (n as u128) << 120;
            ranks.get(&sub).copied().unwrap_or(u32::MAX)
        },
    )
}

/// The position and value of the lowest of `ranks` (not empty), the leftmost on a tie.
#[inline]
fn lowest(ranks: &[u32]) -> (usize, u32) {
    let mut at = 0;
    for (i, &r) in ranks.iter().enumerate().skip(1) {
        if r < ranks[at] {
            at = i;
        }
    }
    (at, ranks[at])
}

/// The low `n` bytes (n ≤ 15) of a `u128`.
#[inline]
fn low_bytes(n: usize) -> u128 {
    (1u128 << (8 * n)) - 1
}

/// Number of cl100k_base tokens in `text` (special tokens are counted as plain text).
pub fn count_tokens(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    let all = text.as_bytes();
    MEMO.with(|memo| {
        let memo = &mut *memo.borrow_mut();
        let pairs = pair_ranks();
        let mut total = 0u64;
        let mut at = 0;
        while at < all.len() {
            let end = piece_end(text, at);
            let bytes = &all[at..end];
            let count = match *bytes {
                // Every byte is a token; two bytes are one token or two.
                [_] => 1,
                [a, b] => 1 + u32::from(pair_rank(pairs, a, b) == u32::MAX),
                _ if bytes.len() <= MEMO_MAX_LEN => memo.short_count(short_key(all, at, bytes.len())),
                _ => memo.long_count(bytes),
            };
            total += u64::from(count);
            at = end;
        }
        total
    })
}

/// Token counts a stored scan holds, under the text they were counted on: a node's frontmatter or
/// body, by its [`content_hash`](crate::hashing::content_hash) and byte length. A full scan with a
/// database looks a text up here before counting it; the counts are exact, not estimates.
///
/// The content hash folds CRLF line ends to LF, and a text with CRLF counts differently from the
/// same text with LF. So a count is only given for a text without `\r`, and only when hash and
/// length both match: a stored text of that hash and length has no CRLF either, so it is the same
/// text.
#[derive(Default)]
pub struct KnownTokens(HashMap<([u8; 32], u64), u64>);

impl KnownTokens {
    /// Records that the text of content hash `hash` (64 hex digits) and `bytes` bytes counts
    /// `tokens`; a malformed hash is ignored.
    pub fn insert(&mut self, hash: &str, bytes: u64, tokens: u64) {
        if let Some(digest) = crate::hashing::digest_of_hex(hash) {
            self.0.insert((digest, bytes), tokens);
        }
    }

    /// The stored count of `text`, whose content hash is `hash`, if it is known.
    pub fn count(&self, text: &str, hash: &str) -> Option<u64> {
        if self.0.is_empty() || memchr::memchr(b'\r', text.as_bytes()).is_some() {
            return None;
        }
        self.0.get(&(crate::hashing::digest_of_hex(hash)?, text.len() as u64)).copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for KnownTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KnownTokens({} texts)", self.0.len())
    }
}

/// The cl100k pre-tokenization pieces of `text`, in order; they concatenate to `text`.
pub fn pieces(text: &str) -> Pieces<'_> {
    Pieces { text, at: 0 }
}

/// Iterator returned by [`pieces`].
pub struct Pieces<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.at >= self.text.len() {
            return None;
        }
        let start = self.at;
        self.at = piece_end(self.text, start);
        Some(&self.text[start..self.at])
    }
}

/// Where the piece that starts at `start` (< `text.len()`, a character boundary) ends.
#[inline]
fn piece_end(text: &str, start: usize) -> usize {
    match ascii_piece(text.as_bytes(), start) {
        // An ASCII piece holds ASCII bytes only, so it ends on a character boundary.
        Some(len) => start + len.max(1),
        None => {
            let rest = &text[start..];
            let len = splitter().split(rest).next().map_or(rest.len(), str::len);
            // A piece is never empty; guard the loop all the same.
            let mut end = start + len.max(1);
            while !text.is_char_boundary(end) {
                end += 1;
            }
            end
        }
    }
}

/// Short pieces are memoised under their bytes packed into one integer (length in the top byte).
const MEMO_MAX_LEN: usize = 15;

fn memo_key(bytes: &[u8]) -> Option<u128> {
    if bytes.len() > MEMO_MAX_LEN {
        return None;
    }
    let mut key = [0u8; 16];
    key[..bytes.len()].copy_from_slice(bytes);
    key[15] = bytes.len() as u8;
    Some(u128::from_le_bytes(key))
}

/// [`memo_key`] of the `len` bytes (at most 15) at `at` in `all`, read with one 16-byte load
/// when `all` has 16 bytes from there (a key assembled byte by byte on the stack and read back at
/// once stalls the load).
#[inline]
fn short_key(all: &[u8], at: usize, len: usize) -> u128 {
    match all.get(at..at + 16) {
        Some(window) => {
            let word = u128::from_le_bytes(window.try_into().expect("16 bytes"));
            word & low_bytes(len) | (len as u128) << 120
        }
        None => memo_key(&all[at..at + len]).expect("a short piece"),
    }
}

/// Multiply-xor hasher for the memo's `u128` keys.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u128(&mut self, v: u128) {
        let mixed = (v as u64) ^ ((v >> 64) as u64).rotate_left(29);
        self.0 = (mixed ^ (mixed >> 31)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 ^= self.0 >> 29;
    }
}

/// Piece counts already computed by this thread.
///
/// Short pieces go first to `front`, a direct-mapped table small enough to stay in the core's
/// cache (the commonest pieces of any text are a few thousand words and punctuation runs), then to
/// the shared vocabulary set and `short`, which are megabytes and cost a cache miss each. Longer
/// pieces (identifiers, paths, URL parts) are memoised under their bytes.
struct Memo {
    /// Entry: the piece's key with its count in the top four bits (a key's top byte is its
    /// length, at most 15, and so is the count of a piece of at most 15 bytes); 0 is empty.
    front: Box<[u128]>,
    long: HashMap<Box<[u8]>, u32>,
}

const FRONT_BITS: u32 = 14;
const COUNT_SHIFT: u32 = 124;

impl Default for Memo {
    fn default() -> Self {
        Memo { front: vec![0; 1 << FRONT_BITS].into_boxed_slice(), long: HashMap::default() }
    }
}

impl Memo {
    /// Count of the piece of 3 to 15 bytes whose key is `key`.
    #[inline]
    fn short_count(&mut self, key: u128) -> u32 {
        let slot = (front_hash(key) >> (64 - FRONT_BITS)) as usize;
        let entry = self.front[slot];
        if entry & !(0xF << COUNT_SHIFT) == key {
            return (entry >> COUNT_SHIFT) as u32;
        }
        let ranks = short_ranks();
        let n = if ranks.contains_key(&key) { 1 } else { merge_count(key, ranks) };
        self.front[slot] = key | u128::from(n) << COUNT_SHIFT;
        n
    }

    /// Count of a piece of more than 15 bytes.
    fn long_count(&mut self, bytes: &[u8]) -> u32 {
        if bytes.len() > LONG_MEMO_MAX_LEN {
            return merge_long(bytes);
        }
        if let Some(&n) = self.long.get(bytes) {
            return n;
        }
        let n = merge_long(bytes);
        if self.long.len() < LONG_MEMO_CAPACITY {
            self.long.insert(bytes.into(), n);
        }
        n
    }
}

#[inline]
fn front_hash(key: u128) -> u64 {
    let mixed = (key as u64) ^ ((key >> 64) as u64).rotate_left(29);
    mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

const LONG_MEMO_MAX_LEN: usize = 64;
const LONG_MEMO_CAPACITY: usize = 1 << 16;

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Digit,
    /// `\t`, vertical tab, form feed, space.
    Space,
    /// `\r`, `\n`.
    Newline,
    Other,
    NonAscii,
    End,
}

#[inline]
fn class(t: &[u8], j: usize) -> Class {
    match t.get(j) {
        None => Class::End,
        Some(&b) => CLASSES[usize::from(b)],
    }
}

/// The class of every byte.
static CLASSES: [Class; 256] = {
    let mut table = [Class::Other; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            b'a'..=b'z' | b'A'..=b'Z' => Class::Letter,
            b'0'..=b'9' => Class::Digit,
            b'\r' | b'\n' => Class::Newline,
            b'\t' | 0x0B | 0x0C | b' ' => Class::Space,
            0x80.. => Class::NonAscii,
            _ => Class::Other,
        };
        b += 1;
    }
    table
};

/// End of the run of bytes of class `want` from `j`, or `None` when a non-ASCII byte is met
/// (its class would decide whether the run goes on).
#[inline]
fn run_end(t: &[u8], mut j: usize, want: impl Fn(Class) -> bool) -> Option<usize> {
    loop {
        let c = class(t, j);
        if c == Class::NonAscii {
            return None;
        }
        if !want(c) {
            return Some(j);
        }
        j += 1;
    }
}

/// End of the run of ASCII letters from `j`, or `None` when a non-ASCII character follows it (it
/// may be a letter that goes on with the run).
///
/// Eight bytes at a time: most words end within the first eight, without a branch per letter
/// (the loop's exit, at a different length each word, was mispredicted each time).
#[inline]
fn letters_end(t: &[u8], mut j: usize) -> Option<usize> {
    while let Some(chunk) = t.get(j..j + 8) {
        let letters = leading_letters(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        j += letters;
        if letters < 8 {
            return (t[j] < 0x80).then_some(j);
        }
    }
    while j < t.len() && t[j].is_ascii_alphabetic() {
        j += 1;
    }
    if t.get(j).is_some_and(|&b| b >= 0x80) { None } else { Some(j) }
}

/// How many of the eight bytes of `w`, from its lowest, are ASCII letters before the first that
/// is not (8 when all are).
#[inline]
fn leading_letters(w: u64) -> usize {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    // Lower case (a non-letter may become another non-letter, never a letter), without the
    // high bit: adding to each byte then cannot carry into the next.
    let low = (w | (0x20 * ONES)) & !HIGH;
    let at_least_a = low + (0x80 - u64::from(b'a')) * ONES;
    let past_z = low + (0x80 - u64::from(b'z') - 1) * ONES;
    // A letter's high bit: at least `a`, not past `z`, and not a byte that had its high bit set.
    let letters = at_least_a & !past_z & !w & HIGH;
    ((!letters & HIGH).trailing_zeros() / 8) as usize
}

/// Length of the cl100k piece starting at `i`, or `None` when a non-ASCII character decides it.
///
/// The pattern's alternatives, tried in order at `i`:
/// 1. `'s 't 're 've 'm 'll 'd` (any case);
/// 2. one optional character that is not a newline, letter or number, then letters;
/// 3. one to three numbers;
/// 4. an optional space, then characters that are not space, letter or number, then newlines;
/// 5. spaces up to and including the last newline among them;
/// 6. spaces not followed by a non-space (so a run before a word gives its last space to the word);
/// 7. spaces.
fn ascii_piece(t: &[u8], i: usize) -> Option<usize> {
    // The commonest pieces first (alternative 2): a word, or a space and a word.
    let word = match t[i] {
        b'a'..=b'z' | b'A'..=b'Z' => Some(i),
        b' ' if t.get(i + 1).is_some_and(u8::is_ascii_alphabetic) => Some(i + 1),
        _ => None,
    };
    if let Some(j) = word {
        return Some(letters_end(t, j)? - i);
    }
    let lower = |k: usize| t.get(i + k).map(u8::to_ascii_lowercase);
    if t[i] == b'\'' {
        match (lower(1), lower(2)) {
            (Some(b's' | b't' | b'm' | b'd'), _) => return Some(2),
            (Some(b'r' | b'v'), Some(b'e')) | (Some(b'l'), Some(b'l')) => return Some(3),
            // Case folding reaches beyond ASCII (`ſ` folds to `s`).
            (Some(0x80..), _) | (Some(b'r' | b'v' | b'l'), Some(0x80..)) => return None,
            _ => {}
        }
    }
    let first = class(t, i);
    match first {
        Class::NonAscii | Class::End => return None,
        Class::Letter => return Some(letters_end(t, i)? - i),
        Class::Digit => {
            let mut j = i;
            while j < i + 3 {
                match class(t, j) {
                    Class::Digit => j += 1,
                    Class::NonAscii => return None,
                    _ => break,
                }
            }
            return Some(j - i);
        }
        Class::Space | Class::Newline | Class::Other => {}
    }
    let second = class(t, i + 1);
    if first != Class::Newline {
        match second {
            Class::NonAscii => return None,
            Class::Letter => return Some(letters_end(t, i + 1)? - i),
            _ => {}
        }
    }
    let symbols_from = match (first, t[i], second) {
        (Class::Other, _, _) => Some(i),
        (_, b' ', Class::Other) => Some(i + 1),
        _ => None,
    };
    if let Some(s) = symbols_from {
        let end = run_end(t, s, |c| c == Class::Other)?;
        let end = run_end(t, end, |c| c == Class::Newline)?;
        return Some(end - i);
    }
    let end = run_end(t, i, |c| c == Class::Space || c == Class::Newline)?;
    if let Some(last_newline) = (i..end).rev().find(|&k| class(t, k) == Class::Newline) {
        return Some(last_newline + 1 - i);
    }
    if end == t.len() || end - i == 1 {
        return Some(end - i);
    }
    Some(end - i - 1)
}

#[cfg(test)]
mod tests {
    use super::leading_letters;

    #[test]
    fn leading_letters_stops_at_the_first_byte_that_is_not_an_ascii_letter() {
        for value in 0..=255u8 {
            for at in 0..8 {
                let mut bytes = *b"abcXYZqr";
                bytes[at] = value;
                let expected = if value.is_ascii_alphabetic() { 8 } else { at };
                assert_eq!(leading_letters(u64::from_le_bytes(bytes)), expected, "byte {value:#04x} at {at}");
            }
        }
    }
}
