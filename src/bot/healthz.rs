//! `GET /healthz`: the bot's jobs as JSON, 200 while every job's last run succeeded, 503 once
//! one has failed since. Served with hyper (HTTP/1.1), which the HTTP clients already bring.

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Health;

/// Answer one request.
fn answer(health: &Health, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, body) = if req.uri().path() != "/healthz" {
        (
            StatusCode::NOT_FOUND,
            serde_json::json!({ "error": "not found" }),
        )
    } else {
        let jobs = health.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let ok = jobs.values().all(|j| j.last_error_at <= j.last_ok);
        let status = if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (status, serde_json::json!({ "ok": ok, "jobs": jobs }))
    };
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Serve `/healthz` on `listener` until `stop` changes.
pub async fn serve(listener: TcpListener, health: Health, mut stop: watch::Receiver<bool>) {
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = conn else { continue };
        let health = health.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let resp = answer(&health, &req);
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
