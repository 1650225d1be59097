//! What the test servers (Jira, GitHub, chat) share: serving on a background thread with its
//! own tokio runtime, stopped when dropped.

use std::future::Future;
use std::thread::JoinHandle;
use std::time::Duration;

/// A server running on its own thread. Dropping it stops serving, drops the runtime (which
/// cancels every connection task, hanging ones included, and closes their sockets) and joins
/// the thread.
pub struct Background {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Serve on a thread `<name>-<port>` with a two-worker runtime (`<name>-worker`): `serve`
    /// gets the listener and returns the future that serves it. Returns once it is listening.
    pub fn start<F, Fut>(
        name: &str,
        listener: std::net::TcpListener,
        serve: F,
    ) -> std::io::Result<Background>
    where
        F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let worker = format!("{name}-worker");
        let thread = std::thread::Builder::new()
            .name(format!("{name}-{port}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name(worker)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let serving = serve(listener);
                    let _ = ready_tx.send(Ok(()));
                    tokio::select! {
                        _ = serving => {}
                        _ = stop_rx => {}
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(200));
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Background {
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::Error::other(
                "the server thread exited while starting",
            )),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
