fn main() -> std::process::ExitCode {
    madbus::cli::main()
}
