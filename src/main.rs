fn main() -> std::process::ExitCode {
    testarena::cli::main()
}
