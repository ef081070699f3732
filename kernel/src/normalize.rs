//! Trigger and name normalisation: the one function used wherever a trigger or a name is compared.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// NFD, strip combining marks, lowercase, runs of `-`, `_` and whitespace → one space, trim.
///
/// `Hacer-Review` → `hacer review`; `Clúster` → `cluster`; `/MyCommand` → `/mycommand`.
pub fn normalize_trigger(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    normalize_trigger_into(&mut out, input);
    out
}

/// Appends `input`, normalised, to `out`, which must hold normalised text (or nothing): `out` ends
/// as [`normalize_trigger`] of its text followed by `input` would. `"/"` then a name gives the
/// name's `/trigger` in one allocation.
pub fn normalize_trigger_into(out: &mut String, input: &str) {
    if input.is_ascii() { normalize_ascii(out, input) } else { normalize_unicode(out, input) }
}

/// [`normalize_trigger_into`] for ASCII text, where NFD changes nothing and there are no marks:
/// the common case, without the decomposition iterator.
fn normalize_ascii(out: &mut String, input: &str) {
    // `fold` byte by byte: the same separators (`char::is_whitespace` on ASCII includes the
    // vertical tab, which `u8::is_ascii_whitespace` does not) and ASCII lowercase.
    out.reserve(input.len());
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
}

fn normalize_unicode(out: &mut String, input: &str) {
    fold(out, input.nfd().filter(|c| !is_combining_mark(*c)), input.len())
}

/// Appends `chars`, lowercased, to `out`, folding runs of `-`, `_` and whitespace into one inner
/// space.
fn fold(out: &mut String, chars: impl Iterator<Item = char>, capacity: usize) {
    out.reserve(capacity);
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
}

#[cfg(test)]
mod tests {
    use super::{normalize_trigger, normalize_trigger_into};

    #[test]
    fn appends_to_a_prefix_as_if_joined() {
        for name in ["Clúster", "-Deploy", "  a__b ", "\u{301}x", ""] {
            let mut out = "/".to_owned();
            normalize_trigger_into(&mut out, name);
            assert_eq!(out, normalize_trigger(&format!("/{name}")), "{name:?}");
        }
    }

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
                let alphabet = b" -_\t\x0b\x0caZ09/:@.!";
                s.push(char::from(alphabet[(crate::xorshift(&mut seed) % alphabet.len() as u64) as usize]));
            }
            cases.push(s);
        }
        for case in cases {
            assert!(case.is_ascii());
            let (mut ascii, mut unicode) = (String::new(), String::new());
            super::normalize_ascii(&mut ascii, &case);
            super::normalize_unicode(&mut unicode, &case);
            assert_eq!(ascii, unicode, "{case:?}");
            // Appending to a prefix equals normalising the joined text.
            let mut prefixed = "/".to_owned();
            normalize_trigger_into(&mut prefixed, &case);
            assert_eq!(prefixed, normalize_trigger(&format!("/{case}")), "{case:?}");
        }
    }
}
