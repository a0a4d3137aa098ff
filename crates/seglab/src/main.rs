fn main() -> std::process::ExitCode {
    seglab::cli::main()
}
