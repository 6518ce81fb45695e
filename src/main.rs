//! The `qbwcd` binary: parses the command line and runs it.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    qbwcd::cli::main()
}
