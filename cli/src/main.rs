//! The `sm` binary.
fn main() -> std::process::ExitCode {
    sm_cli::main_entry()
}
