// mimalloc: the server allocates many small, short-lived objects per request on several
// threads, where it measured clearly faster than the system allocator (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    madbus::cli::main()
}
