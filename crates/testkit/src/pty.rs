//! A pseudo-terminal harness: runs a real program (typically the `portcullis` binary) in a
//! pty, feeds everything it writes through a `vt100` terminal emulator, and lets a test
//! type keys and read the resulting screen.
//!
//! ```no_run
//! use std::time::Duration;
//! use crate::pty::PtySession;
//!
//! let mut s = PtySession::spawn(
//!     std::path::Path::new("/bin/sh"),
//!     &["-c", "read x; echo \"got $x\""],
//!     std::path::Path::new("/tmp"),
//!     &[("PATH", "/usr/bin:/bin")],
//!     80,
//!     24,
//! )?;
//! s.send(b"abc\r")?;
//! s.wait_for("got abc", Duration::from_secs(5))?;
//! assert_eq!(s.wait_exit(Duration::from_secs(5))?, 0);
//! # anyhow::Ok(())
//! ```
//!
//! Output is read on a background thread (reading the pty master blocks). The only thing
//! the harness answers on its own is a cursor position query (`ESC [ 6 n`, sent by e.g.
//! crossterm at startup), which it answers with the emulated cursor position (`ESC [ 1 ; 1 R`
//! on a fresh screen) so the program does not hang waiting for a reply.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};

/// How often `wait_for` and `wait_exit` look again.
const POLL: Duration = Duration::from_millis(20);

/// The cursor position query ("Device Status Report 6").
const CPR_QUERY: &[u8] = b"\x1b[6n";

/// Scrollback kept by the emulator (not shown by [`PtySession::screen`]).
const SCROLLBACK: usize = 1000;

type Writer = Arc<Mutex<Box<dyn Write + Send>>>;

/// What the reader thread has seen so far.
struct Output {
    parser: vt100::Parser,
    raw: Vec<u8>,
    /// The reader hit end of file (or an error): every process holding the pty has gone.
    eof: bool,
}

/// A program running in a pseudo-terminal, with its screen emulated by `vt100`.
///
/// Dropping the session kills the program if it is still running.
pub struct PtySession {
    master: Box<dyn MasterPty + Send>,
    writer: Writer,
    child: Box<dyn Child + Send + Sync>,
    output: Arc<Mutex<Output>>,
    exit_code: Option<u32>,
    /// Detached on drop: a grandchild that keeps the pty open would keep it blocked.
    _reader: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn check_size(cols: u16, rows: u16) -> anyhow::Result<()> {
    if cols == 0 || rows == 0 {
        bail!("terminal size must be non-zero, got {cols}x{rows}");
    }
    Ok(())
}

fn pty_size(cols: u16, rows: u16) -> PtySize {
    PtySize {
        rows,
        cols,
        pixel_width: 0,
        pixel_height: 0,
    }
}

/// Feed `chunk` to the emulator, answering every cursor position query that completes in
/// it with the emulated cursor position at that point of the stream.
fn absorb(output: &Mutex<Output>, writer: &Writer, chunk: &[u8]) {
    let mut replies: Vec<Vec<u8>> = Vec::new();
    {
        let mut out = lock(output);
        // A query may straddle two reads: look at the last few bytes already seen too.
        let carry = out.raw.len().min(CPR_QUERY.len() - 1);
        let mut window = out.raw[out.raw.len() - carry..].to_vec();
        window.extend_from_slice(chunk);
        out.raw.extend_from_slice(chunk);

        let mut fed = 0; // bytes of `chunk` given to the parser so far
        let mut from = 0;
        while let Some(pos) = window[from..]
            .windows(CPR_QUERY.len())
            .position(|w| w == CPR_QUERY)
        {
            let end = from + pos + CPR_QUERY.len() - carry; // end of the query in `chunk`
            out.parser.process(&chunk[fed..end]);
            fed = end;
            let (row, col) = out.parser.screen().cursor_position();
            replies.push(format!("\x1b[{};{}R", row + 1, col + 1).into_bytes());
            from += pos + CPR_QUERY.len();
        }
        out.parser.process(&chunk[fed..]);
    }
    if !replies.is_empty() {
        let mut w = lock(writer);
        for reply in replies {
            // The program may already be gone; nothing useful to do about a failed reply.
            let _ = w.write_all(&reply);
        }
        let _ = w.flush();
    }
}

impl PtySession {
    /// Spawn `program` with `args` in `cwd` in a pty of `cols`×`rows`, with the environment
    /// cleared and then `env` set (also set `TERM=xterm-256color` unless `env` sets `TERM`).
    ///
    /// `program` should be an absolute path (there is no `PATH` unless `env` sets one), and
    /// `cwd` must be an existing directory.
    pub fn spawn(
        program: &Path,
        args: &[&str],
        cwd: &Path,
        env: &[(&str, &str)],
        cols: u16,
        rows: u16,
    ) -> anyhow::Result<PtySession> {
        check_size(cols, rows)?;
        // portable-pty silently falls back to $HOME for a missing cwd: refuse instead.
        if !cwd.is_dir() {
            bail!("cwd {} is not a directory", cwd.display());
        }

        let pair = native_pty_system()
            .openpty(pty_size(cols, rows))
            .context("opening a pty")?;

        let mut cmd = CommandBuilder::new(program);
        cmd.args(args);
        cmd.cwd(cwd);
        cmd.env_clear();
        if !env.iter().any(|(k, _)| *k == "TERM") {
            cmd.env("TERM", "xterm-256color");
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pair
            .slave
            .spawn_command(cmd)
            .with_context(|| format!("spawning {} in a pty", program.display()))?;
        // Only the child may hold the slave side, so the reader sees EOF once it is gone.
        drop(pair.slave);

        let master = pair.master;
        let mut reader = master
            .try_clone_reader()
            .context("cloning the pty reader")?;
        let writer: Writer = Arc::new(Mutex::new(
            master.take_writer().context("taking the pty writer")?,
        ));
        let output = Arc::new(Mutex::new(Output {
            parser: vt100::Parser::new(rows, cols, SCROLLBACK),
            raw: Vec::new(),
            eof: false,
        }));

        let thread_output = Arc::clone(&output);
        let thread_writer = Arc::clone(&writer);
        let reader_thread = std::thread::Builder::new()
            .name("pty-reader".into())
            .spawn(move || {
                let mut buf = [0u8; 8192];
                loop {
                    match reader.read(&mut buf) {
                        // Linux reports EIO on the master once the slave is closed.
                        Ok(0) | Err(_) => break,
                        Ok(n) => absorb(&thread_output, &thread_writer, &buf[..n]),
                    }
                }
                lock(&thread_output).eof = true;
            })
            .context("starting the pty reader thread")?;

        Ok(PtySession {
            master,
            writer,
            child,
            output,
            exit_code: None,
            _reader: reader_thread,
        })
    }

    /// Write raw bytes (keys) to the terminal, e.g. `b"a"`, `b"\r"` (Enter), `b"\x1b"` (Esc),
    /// `b"\x1b[B"` (Down).
    pub fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let mut w = lock(&self.writer);
        w.write_all(bytes).context("writing to the pty")?;
        w.flush().context("flushing the pty")?;
        Ok(())
    }

    /// The current screen as text, one line per row (every row, so as many lines as the
    /// terminal is tall), trailing spaces trimmed.
    pub fn screen(&self) -> String {
        let out = lock(&self.output);
        let screen = out.parser.screen();
        let (_, cols) = screen.size();
        screen
            .rows(0, cols)
            .map(|row| row.trim_end().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Wait until the screen contains `needle` (polling the reader output every ~20 ms), up
    /// to `timeout`, and return that screen; `Err` with the current screen in the message if
    /// it never does.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return Ok(screen);
            }
            if Instant::now() >= deadline {
                let eof = if lock(&self.output).eof {
                    " (the program has closed the terminal)"
                } else {
                    ""
                };
                bail!(
                    "timed out after {timeout:?} waiting for {needle:?} on the screen{eof}; \
                     screen was:\n{screen}"
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Resize the pty (the program gets `SIGWINCH`) and the emulated screen.
    pub fn resize(&mut self, cols: u16, rows: u16) -> anyhow::Result<()> {
        check_size(cols, rows)?;
        // Parser first, so output drawn for the new size lands on a screen of that size.
        lock(&self.output).parser.set_size(rows, cols);
        self.master
            .resize(pty_size(cols, rows))
            .context("resizing the pty")?;
        Ok(())
    }

    /// Wait for the child to exit, up to `timeout`, returning its exit code; kill it and
    /// `Err` if it does not.
    ///
    /// After the exit it also waits briefly for the reader to drain what the program wrote
    /// last, so [`screen`](Self::screen) and [`raw_output`](Self::raw_output) are complete.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<u32> {
        if let Some(code) = self.exit_code {
            return Ok(code);
        }
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().context("polling the child")? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(anyhow!(
                    "the program did not exit within {timeout:?} and was killed; screen was:\n{}",
                    self.screen()
                ));
            }
            std::thread::sleep(POLL);
        };
        let code = status.exit_code();
        self.exit_code = Some(code);

        // A background grandchild may keep the pty open: do not wait on it for long.
        let drain_deadline = Instant::now() + Duration::from_millis(500);
        while !lock(&self.output).eof && Instant::now() < drain_deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(code)
    }

    /// All raw bytes the program wrote so far (to check e.g. that the terminal was restored:
    /// leaving the alternate screen `"\x1b[?1049l"`, showing the cursor `"\x1b[?25h"`).
    pub fn raw_output(&self) -> Vec<u8> {
        lock(&self.output).raw.clone()
    }
}

impl Drop for PtySession {
    /// Kill the child if it is still running (and reap it).
    fn drop(&mut self) {
        if self.exit_code.is_none() {
            if let Ok(None) = self.child.try_wait() {
                let _ = self.child.kill();
            }
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SH: &str = "/bin/sh";
    const SECS: Duration = Duration::from_secs(5);
    const ENV: &[(&str, &str)] = &[("PATH", "/usr/bin:/bin")];

    fn sh(script: &str, cols: u16, rows: u16) -> PtySession {
        PtySession::spawn(
            Path::new(SH),
            &["-c", script],
            Path::new("/"),
            ENV,
            cols,
            rows,
        )
        .expect("spawn sh")
    }

    #[test]
    fn echo_and_read_a_line() {
        let mut s = sh(r#"printf "hello\n"; read x; echo "got $x""#, 80, 24);
        s.wait_for("hello", SECS).unwrap();
        assert!(!s.screen().contains("got"));
        s.send(b"abc\r").unwrap();
        let screen = s.wait_for("got abc", SECS).unwrap();
        assert_eq!(s.wait_exit(SECS).unwrap(), 0);
        // One line per row, trailing spaces trimmed; the tty echoed the typed line.
        let lines: Vec<&str> = screen.lines().collect();
        assert_eq!(&lines[..3], &["hello", "abc", "got abc"]);
        assert_eq!(s.screen().split('\n').count(), 24);
        assert!(s.raw_output().windows(7).any(|w| w == b"got abc"));
    }

    #[test]
    fn exit_code_and_environment() {
        let mut s = sh(
            r#"echo "term=$TERM foo=$FOO home=${HOME-unset}"; exit 7"#,
            80,
            24,
        );
        // Environment was cleared (no HOME) and TERM defaulted.
        s.wait_for("term=xterm-256color foo= home=unset", SECS)
            .unwrap();
        assert_eq!(s.wait_exit(SECS).unwrap(), 7);

        let mut s = PtySession::spawn(
            Path::new(SH),
            &["-c", r#"echo "term=$TERM foo=$FOO cwd=$(pwd)""#],
            Path::new("/usr"),
            &[("PATH", "/usr/bin:/bin"), ("TERM", "dumb"), ("FOO", "bar")],
            80,
            24,
        )
        .unwrap();
        s.wait_for("term=dumb foo=bar cwd=/usr", SECS).unwrap();
        assert_eq!(s.wait_exit(SECS).unwrap(), 0);
    }

    #[test]
    fn resize_is_seen_by_the_program() {
        let mut s = sh("stty size; read x; stty size; read x", 80, 24);
        s.wait_for("24 80", SECS).unwrap();
        s.resize(100, 30).unwrap();
        s.send(b"\r").unwrap();
        s.wait_for("30 100", SECS).unwrap();
        assert_eq!(s.screen().split('\n').count(), 30);
        s.send(b"\r").unwrap();
        assert_eq!(s.wait_exit(SECS).unwrap(), 0);
    }

    #[test]
    fn cursor_position_query_is_answered() {
        // Ask for the cursor position after moving it to row 3, column 5; read the raw
        // reply (terminated by 'R') with the tty in raw mode and print it readably.
        let script = r#"stty raw -echo; printf '\033[3;5H\033[6n'; r=$(dd bs=1 count=6 2>/dev/null); stty sane; printf '\nreply=%s\n' "$(printf '%s' "$r" | tr '\033' E)""#;
        let mut s = sh(script, 80, 24);
        s.wait_for("reply=E[3;5R", SECS).unwrap();
        assert_eq!(s.wait_exit(SECS).unwrap(), 0);
    }

    #[test]
    fn cursor_position_query_split_across_reads() {
        let out = Mutex::new(Output {
            parser: vt100::Parser::new(24, 80, 0),
            raw: Vec::new(),
            eof: false,
        });
        let sink: Arc<Mutex<Vec<u8>>> = Arc::new(Mutex::new(Vec::new()));
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                lock(&self.0).extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let writer: Writer = Arc::new(Mutex::new(Box::new(Sink(Arc::clone(&sink)))));
        absorb(&out, &writer, b"ab\x1b[");
        assert!(lock(&sink).is_empty());
        absorb(&out, &writer, b"6nxyz\x1b[6n");
        assert_eq!(lock(&sink).as_slice(), b"\x1b[1;3R\x1b[1;6R");
        assert_eq!(lock(&out).raw, b"ab\x1b[6nxyz\x1b[6n");
    }

    #[test]
    fn timeouts_report_the_screen_and_kill() {
        let mut s = sh("echo waiting; sleep 30", 80, 24);
        s.wait_for("waiting", SECS).unwrap();
        let err = s
            .wait_for("never", Duration::from_millis(100))
            .unwrap_err()
            .to_string();
        assert!(err.contains("never") && err.contains("waiting"), "{err}");
        let started = Instant::now();
        let err = s.wait_exit(Duration::from_millis(200)).unwrap_err();
        assert!(err.to_string().contains("killed"), "{err}");
        assert!(started.elapsed() < SECS);
        assert!(s.child.try_wait().unwrap().is_some(), "child still alive");
    }

    #[test]
    fn spawn_errors() {
        assert!(PtySession::spawn(
            Path::new("/nonexistent/prog"),
            &[],
            Path::new("/"),
            ENV,
            80,
            24
        )
        .is_err());
        assert!(
            PtySession::spawn(Path::new(SH), &[], Path::new("/nonexistent"), ENV, 80, 24).is_err()
        );
        assert!(PtySession::spawn(Path::new(SH), &[], Path::new("/"), ENV, 0, 24).is_err());
    }
}
