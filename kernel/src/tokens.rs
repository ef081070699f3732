//! cl100k-compatible token counts.

/// Number of cl100k_base tokens in `text` (special tokens are counted as plain text).
pub fn count_tokens(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    tiktoken_rs::cl100k_base_singleton().encode_ordinary(text).len() as u64
}
