//! The `portcullis` binary: everything lives in the library.

/// mimalloc for Rust and, through its `override` feature, for the C code linked in (libgit2,
/// SQLite): glibc's malloc spent a quarter of a cold `verify` consolidating free chunks.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    portcullis::cli::main()
}
