//! The `skill-map` binary: the long alias of `sm`.
fn main() -> std::process::ExitCode {
    sm_cli::main_entry()
}
