//! Trigger and name normalisation: the one function used wherever a trigger or a name is compared.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// NFD, strip combining marks, lowercase, runs of `-`, `_` and whitespace → one space, trim.
///
/// `Hacer-Review` → `hacer review`; `Clúster` → `cluster`; `/MyCommand` → `/mycommand`.
pub fn normalize_trigger(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut pending_space = false;
    for c in input.nfd().filter(|c| !is_combining_mark(*c)) {
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
}
