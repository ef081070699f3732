//! Trigger and name normalisation: the one function used wherever a trigger or a name is compared.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// NFD, strip combining marks, lowercase, runs of `-`, `_` and whitespace → one space, trim.
///
/// `Hacer-Review` → `hacer review`; `Clúster` → `cluster`; `/MyCommand` → `/mycommand`.
pub fn normalize_trigger(input: &str) -> String {
    if input.is_ascii() { normalize_ascii(input) } else { normalize_unicode(input) }
}

/// [`normalize_trigger`] for ASCII text, where NFD changes nothing and there are no marks: the
/// common case, without the decomposition iterator.
fn normalize_ascii(input: &str) -> String {
    // `fold` byte by byte: the same separators (`char::is_whitespace` on ASCII includes the
    // vertical tab, which `u8::is_ascii_whitespace` does not) and ASCII lowercase.
    let mut out = String::with_capacity(input.len());
    let mut pending_space = false;
    for b in input.bytes() {
        if matches!(b, b'-' | b'_' | b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
            pending_space = true;
            continue;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        out.push(char::from(b.to_ascii_lowercase()));
    }
    out
}

fn normalize_unicode(input: &str) -> String {
    fold(input.nfd().filter(|c| !is_combining_mark(*c)), input.len())
}

/// Lowercases `chars`, folding runs of `-`, `_` and whitespace into one inner space.
fn fold(chars: impl Iterator<Item = char>, capacity: usize) -> String {
    let mut out = String::with_capacity(capacity);
    let mut pending_space = false;
    for c in chars {
        if c == '-' || c == '_' || c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize_trigger;

    #[test]
    fn folds_case_marks_and_separators() {
        assert_eq!(normalize_trigger("Hacer Review"), "hacer review");
        assert_eq!(normalize_trigger("hacer-review"), "hacer review");
        assert_eq!(normalize_trigger("  hacer__ -review "), "hacer review");
        assert_eq!(normalize_trigger("Clúster"), "cluster");
        assert_eq!(normalize_trigger("/MyCommand"), "/mycommand");
        assert_eq!(normalize_trigger("skill-map:explore"), "skill map:explore");
        assert_eq!(normalize_trigger("a\u{00a0}b"), "a b");
    }

    /// The ASCII path gives what the general one gives, on every ASCII character in every
    /// position that matters (leading, inner, doubled, trailing) and on pseudo-random strings.
    #[test]
    fn the_ascii_path_equals_the_unicode_path() {
        let mut cases: Vec<String> = Vec::new();
        for b in 0u8..128 {
            let c = char::from(b);
            cases.extend([
                format!("{c}"),
                format!("{c}a{c}"),
                format!("a{c}{c}b"),
                format!("Ab{c}"),
                format!("{c}-_ X"),
            ]);
        }
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..5000 {
            let len = (seed % 12) as usize;
            let mut s = String::new();
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let alphabet = b" -_\t\x0b\x0caZ09/:@.!";
                s.push(char::from(alphabet[(seed % alphabet.len() as u64) as usize]));
            }
            cases.push(s);
        }
        for case in cases {
            assert!(case.is_ascii());
            assert_eq!(super::normalize_ascii(&case), super::normalize_unicode(&case), "{case:?}");
        }
    }
}
