//! Writes the cl100k_base vocabulary for `src/tokens.rs` to embed: every token's bytes, in rank
//! order, each after one length byte. At run time the token counter then builds only the small
//! tables it uses, instead of loading `bpe-openai`'s whole encoder (~25 MB resident, ~20 ms).

// A build script writes its output: the kernel's no-IO rule is about the library.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let bpe = &bpe_openai::cl100k_base().bpe;
    let mut vocabulary = Vec::new();
    for rank in 0..bpe.num_tokens() as u32 {
        let bytes = bpe.token_bytes(rank);
        vocabulary.push(u8::try_from(bytes.len()).expect("a cl100k token is at most 255 bytes"));
        vocabulary.extend_from_slice(bytes);
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("cl100k_vocabulary.bin"), vocabulary).expect("OUT_DIR is writable");
}
