//! The `portcullis` binary: everything lives in the library.

/// mimalloc for Rust and, through its `override` feature, for the C code linked in (libgit2,
/// SQLite): glibc's malloc spent a quarter of a cold `verify` consolidating free chunks.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    #[cfg(target_os = "linux")]
    no_transparent_huge_pages();
    portcullis::cli::main()
}

/// mimalloc asks for transparent huge pages for its arenas, and where the system grants them on
/// request (`madvise`, the usual setting) every first touch of a 2 MiB region zeroes all of it.
/// For a command that runs for a fraction of a second that is pure cost: a cold `verify` of a
/// large repository spent a third of its time zeroing pages, at a 110 MB peak against 69 MB
/// without them (`MIMALLOC_ALLOW_THP=0` does the same from the environment). Children (git)
/// inherit the setting, which only changes how their memory is backed. mimalloc is also built
/// without that request (its `no_thp` feature, in Cargo.toml): it sets up its first arena before
/// `main` runs, and a warm `verify` still zeroed huge pages there (0.3 ms of 12). What this call
/// still covers is a system that grants huge pages unasked (`always`).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn no_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments and changes only whether this
    // process's memory may be backed by huge pages; a refusal (old kernel) changes nothing.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
