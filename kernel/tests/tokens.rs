//! The fast cl100k counter must agree with the regex-based tokenizer piece for piece.

// The kernel is IO-free; this test reads the shared corpus as test data.
#![allow(clippy::disallowed_methods)]

mod common;

use sm_kernel::tokens::{count_tokens, pieces};

fn reference_pieces(text: &str) -> Vec<&str> {
    bpe_openai::cl100k_base().split(text).collect()
}

fn assert_same(text: &str, what: &str) {
    let ours: Vec<&str> = pieces(text).collect();
    let theirs = reference_pieces(text);
    if ours != theirs {
        let at = ours.iter().zip(&theirs).position(|(a, b)| a != b).unwrap_or(ours.len().min(theirs.len()));
        panic!(
            "{what}: pieces differ at #{at}: ours {:?}, reference {:?}",
            &ours[at..(at + 3).min(ours.len())],
            &theirs[at..(at + 3).min(theirs.len())]
        );
    }
    assert_eq!(count_tokens(text), bpe_openai::cl100k_base().count(text) as u64, "{what}: count");
}

#[test]
fn known_counts() {
    assert_eq!(count_tokens(""), 0);
    assert_eq!(count_tokens("hello world"), 2);
    assert_eq!(count_tokens("Hello, world!"), 4);
    assert_eq!(pieces("Hello, world!").collect::<Vec<_>>(), ["Hello", ",", " world", "!"]);
    assert_eq!(pieces("it's  done\n\n  ok").collect::<Vec<_>>(), ["it", "'s", " ", " done", "\n\n", " ", " ok"]);
}

#[test]
fn edge_cases_match_the_regex_splitter() {
    let cases = [
        "'S 'T 'RE 'Ve 'mM 'LL 'd 're 'r 'l 'v 'x '",
        "'ſ 'ﬅ 'ré 'lé 'vé",
        "1234567 12ab 1² ²³ 42\u{663}",
        "  \n\t \r\n  x \u{a0}y\u{2003}\u{2003}z \u{85}",
        "(((foo ((( \n\n ))) !!\r\n\r\n",
        "trailing spaces   ",
        "\t\tindent\n    code();\n",
        "naïve café résumé — “quoted” ‘single’ 東京 こんにちは",
        "emoji 👍🏽 test 😀😀 ok",
        "a\u{301}b\u{301} combining",
        "x  ",
        " ",
        "\n",
        "'",
    ];
    for case in cases {
        assert_same(case, &format!("{case:?}"));
    }
}

#[test]
fn long_pieces_match_the_reference_encoder() {
    // Pieces over 15 bytes are merged through a heap, over 64 bytes without a memo.
    let letters: String = (0..400u32).map(|i| char::from(b'a' + (i * 7 % 26) as u8)).collect();
    let cases = [
        "=".repeat(3000),
        "-".repeat(17),
        "─".repeat(700),
        format!(" {letters}"),
        letters[..40].to_owned(),
        "ThisIsAVeryLongIdentifierWithoutAnySpacesAtAll".repeat(3),
        "!@#$%^&*()_+{}|:<>?~".repeat(9),
        "\n".repeat(300),
        " ".repeat(100) + "x",
        "9".repeat(50),
    ];
    for case in &cases {
        assert_same(case, &format!("{:?}…", case.chars().take(12).collect::<String>()));
    }
}

/// Deterministic xorshift, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn generated_text_matches_the_regex_splitter() {
    let alphabet: Vec<&str> = vec![
        "a", "Z", "q", "é", "ß", "ſ", "東", "0", "7", "²", "٣", " ", "  ", "\t", "\n", "\r\n", "\u{a0}", "\u{3000}",
        "'", "'s", "'ll", "'re", "(", ")", "-", "#", "`", "*", "/", "😀", "\u{301}", ".", ",", ":", "\u{b}", "\u{c}",
        "\u{85}", "\u{2028}", "Ⅻ",
    ];
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for round in 0..3000 {
        let len = (rng.next() % 40) as usize;
        let text: String = (0..len).map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize]).collect();
        assert_same(&text, &format!("round {round}: {text:?}"));
    }
}

#[test]
fn shared_corpus_sample_matches_the_regex_splitter() {
    let Some(files) = common::corpus_markdown_files() else {
        eprintln!("skipped: ../shared/corpora is not beside the repository");
        return;
    };
    let mut checked = 0usize;
    for path in files.iter().step_by(13) {
        let Ok(text) = std::fs::read_to_string(path) else { continue };
        assert_same(&text, &path.display().to_string());
        checked += 1;
    }
    assert!(checked > 100, "only {checked} corpus files checked");
}

#[test]
fn known_tokens_are_given_only_for_the_text_they_were_counted_on() {
    use sm_kernel::hashing::content_hash;
    use sm_kernel::tokens::KnownTokens;
    let text = "one\ntwo\n";
    let hash = content_hash(text);
    let mut known = KnownTokens::default();
    known.insert(&hash, text.len() as u64, 99);
    assert_eq!(known.count(text, &hash), Some(99));
    // CRLF line ends hash alike but count differently: another length, no count.
    let crlf = "one\r\ntwo\r\n";
    assert_eq!(content_hash(crlf), hash);
    assert_eq!(known.count(crlf, &hash), None);
    // Same hash and length, CRLF elsewhere: a text holding `\r` is never looked up.
    let (stored, now) = ("one\r\ntwo\n", "one\ntwo\r\n");
    assert_eq!((content_hash(stored), stored.len()), (content_hash(now), now.len()));
    known.insert(&content_hash(stored), stored.len() as u64, 7);
    assert_eq!(known.count(now, &content_hash(now)), None);
    // A malformed hash is ignored.
    known.insert("not a hash", 3, 1);
    assert_eq!(known.len(), 2);
}
