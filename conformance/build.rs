fn main() {
    // The spec is embedded with include_dir!; rebuild when any spec file changes.
    println!("cargo:rerun-if-changed=../spec");
}
