//! The `mailtls` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    mailtls::cli::main()
}
