//! `frontmatter::parse_simple` must give exactly what the YAML parser gives wherever it answers:
//! over every frontmatter block of the corpus, over generated near-misses, and on hand cases.

// The kernel is IO-free; this test reads the shared corpus as test data.
#![allow(clippy::disallowed_methods)]

mod common;

use serde_json::{Map, Value};
use sm_kernel::frontmatter::{parse_simple, split};

fn yaml(raw: &str) -> Option<Map<String, Value>> {
    match serde_saphyr::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn agree(raw: &str) -> bool {
    match parse_simple(raw) {
        None => false,
        Some(fast) => {
            assert_eq!(Some(&fast), yaml(raw).as_ref(), "fast path disagrees with the YAML parser on {raw:?}");
            // Key order too (the JSON output keeps it).
            let keys: Vec<&String> = fast.keys().collect();
            let parsed = yaml(raw).unwrap_or_default();
            assert_eq!(keys, parsed.keys().collect::<Vec<_>>(), "{raw:?}");
            true
        }
    }
}

#[test]
fn the_fast_path_equals_the_yaml_parser_over_the_corpus() {
    let Some(files) = common::corpus_markdown_files() else {
        eprintln!("skipped: ../shared/corpora is not beside the repository");
        return;
    };
    let (mut blocks, mut fast) = (0, 0);
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        if let Some(raw) = split(&text).raw_frontmatter {
            blocks += 1;
            fast += usize::from(agree(raw));
        }
    }
    // Most real frontmatter takes the fast path (the rest goes to the parser).
    assert!(fast * 2 > blocks, "{fast} of {blocks} blocks took the fast path");
}

#[test]
fn generated_near_misses_agree_or_fall_back() {
    let keys = ["name", "description", "tools", "model", "on", "Yes", "x-y", "_k", "a b", "name"];
    let values = [
        "",
        " ",
        " plain words",
        " Plain: colon",
        " a #hash",
        " ends:",
        " true",
        " False",
        " null",
        " ~",
        " 12",
        " 1.5",
        " .inf",
        " v1.2",
        " 'single'",
        " 'it''s'",
        " \"double\"",
        " \"esc\\n\"",
        " [a, b]",
        " []",
        " [a, [b]]",
        " [Bash(git:*), Read]",
        " [\"q\", 'r']",
        " {a: b}",
        " *anchor",
        " &a x",
        " !tag x",
        " |",
        " >",
        " -dash",
        " é accent",
        " ñ",
        " tab\there",
        " trailing   ",
        "\tv",
        "value",
        " x\u{a0}y",
        " Ÿes",
        " NaN",
        " no",
        " N",
        " y",
        " Off",
        " [on, off]",
        " [y]",
        " [a,b]",
        " [ a , b ]",
        " [a,]",
        " 'x' y",
    ];
    let follow =
        ["", "\n- a\n- b", "\n  - a\n  - b", "\n  - a\n    - b", "\n  sub: v", "\n  - 'q'\n  - x: y", "\n- on"];
    let mut state = 0x2545_f491_u64;
    let mut checked = 0;
    for _ in 0..6000 {
        let mut raw = String::new();
        for _ in 0..(1 + state % 4) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let k = keys[(state % keys.len() as u64) as usize];
            let v = values[((state >> 8) % values.len() as u64) as usize];
            let f = follow[((state >> 20) % follow.len() as u64) as usize];
            let f = if v.is_empty() { f } else { "" };
            raw.push_str(&format!("{k}:{v}{f}\n"));
        }
        checked += usize::from(agree(&raw));
    }
    assert!(checked > 300, "only {checked} generated blocks took the fast path");
}

#[test]
fn hand_cases() {
    assert!(agree("name: code-reviewer\ndescription: Reviews code, carefully.\n"));
    assert!(agree("tools: [Read, Grep, Glob]\nmodel: sonnet\n"));
    assert!(agree("allowed-tools:\n  - Read\n  - Write\nempty:\n"));
    assert!(agree("description: \"Use when: quoted\"\n"));
    for refused in ["a: b: c\n", "a: 1\n", "a: yes\n", "a: b\na: c\n", "# comment\na: b\n", "a: b # c\n", "a: |\n  x\n"]
    {
        assert!(parse_simple(refused).is_none(), "{refused:?} must go to the YAML parser");
    }
}
