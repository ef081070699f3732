//! Content hashes.

use sha2::{Digest, Sha256};

/// sha256 hex of `text` with CRLF normalised to LF, so a file hashes the same on every OS.
pub fn content_hash(text: &str) -> String {
    let mut hasher = Sha256::new();
    if memchr::memchr(b'\r', text.as_bytes()).is_some() {
        hasher.update(text.replace("\r\n", "\n").as_bytes());
    } else {
        hasher.update(text.as_bytes());
    }
    hex(&hasher.finalize())
}

/// Lower-case hex of `bytes` (digests, fingerprints).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// The 32 bytes of a sha256 digest written as [`hex`] writes it (either case); `None` for
/// anything else.
pub(crate) fn digest_of_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let nibble = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{content_hash, digest_of_hex, hex};

    #[test]
    fn crlf_and_lf_hash_alike() {
        assert_eq!(content_hash("a\r\nb\r\n"), content_hash("a\nb\n"));
        assert_eq!(content_hash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn hex_digests_read_back() {
        let digest: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(digest_of_hex(&hex(&digest)), Some(digest));
        assert_eq!(digest_of_hex(&hex(&digest).to_uppercase()), Some(digest));
        assert_eq!(digest_of_hex(&hex(&digest[..31])), None, "too short");
        assert_eq!(digest_of_hex(&"zz".repeat(32)), None, "not hex");
    }
}
