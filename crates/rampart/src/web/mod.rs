//! `[admin]`: the HTTP listener with `/metrics` (Prometheus) and the
//! dashboard at `/`, served by the supervisor (axum, on its runtime).
//!
//! - `GET /metrics`: [`metrics::render`].
//! - `GET /`: the dashboard (askama templates in `templates/`, rendered
//!   here; the page's script only fetches `GET /live`, the same view
//!   rendered again, once a second, and posts the buttons).
//! - `POST /action` (form: `kind`, `target`, `action`, `weight`,
//!   `shutdown_sessions`, `follow`): the operator's commands, as `rampart
//!   server|vrrp|frontend` runs them. Server and frontend commands follow
//!   to the `[admin] peer` as the config says, except those with
//!   `follow=no`: a peer node sent them (see `crate::peer`).
//!   Nothing changes state on a GET. A POST is refused when its `Origin`
//!   (or `Sec-Fetch-Site`) says it comes from another site, and needs the
//!   `[admin] token` as `Authorization: Bearer` when one is set; without a
//!   token, only clients on loopback may change state.
//!
//! The supervisor runs VRRP, so the listener is bounded: at most
//! [`MAX_IN_FLIGHT`] requests at once (the rest get 503 at once), bodies
//! of at most [`MAX_BODY`] bytes.

mod dashboard;
pub mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use rampart_config::AdminHttp;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::control::{Asker, Request, Stats};
use crate::peer::{Action as ActionForm, Follow};

/// Requests served at once.
pub const MAX_IN_FLIGHT: usize = 16;
/// Longest request body (a form of four short fields).
pub const MAX_BODY: usize = 4096;

#[derive(Clone)]
struct App {
    requests: mpsc::Sender<Request>,
    token: Option<Arc<str>>,
    slots: Arc<Semaphore>,
    host: Arc<str>,
}

/// The running listener; dropping it stops serving.
pub struct AdminServer {
    pub cfg: AdminHttp,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `cfg.listen` and serves until the returned handle is dropped.
pub fn start(cfg: &AdminHttp, requests: mpsc::Sender<Request>) -> Result<AdminServer> {
    let listener = std::net::TcpListener::bind(cfg.listen)
        .with_context(|| format!("[admin] cannot listen on {}", cfg.listen))?;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "this node".into());
    let app = App {
        requests,
        token: cfg.token.as_deref().map(Arc::from),
        slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        host: host.into(),
    };
    let router = Router::new()
        .route("/", get(index))
        .route("/live", get(live))
        .route("/metrics", get(metrics_page))
        .route("/action", post(action))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app);
    let task = tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, service).await {
            tracing::error!("[admin] listener failed: {e}");
        }
    });
    tracing::info!(
        "[admin] serving /metrics and the dashboard on http://{}",
        cfg.listen
    );
    Ok(AdminServer {
        cfg: cfg.clone(),
        task,
    })
}

/// Asks the supervisor for everything the pages show.
async fn stats(app: &App) -> Result<Stats, Response> {
    let Ok(_slot) = app.slots.try_acquire() else {
        return Err((StatusCode::SERVICE_UNAVAILABLE, "busy\n").into_response());
    };
    let (tx, rx) = oneshot::channel();
    let gone = || (StatusCode::SERVICE_UNAVAILABLE, "the node is stopping\n").into_response();
    app.requests
        .send(Request::Stats(tx))
        .await
        .map_err(|_| gone())?;
    rx.await.map_err(|_| gone())
}

async fn metrics_page(State(app): State<App>) -> Response {
    let st = match stats(&app).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match metrics::render(&st) {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the metrics\n",
        )
            .into_response(),
    }
}

async fn index(State(app): State<App>) -> Response {
    match stats(&app).await {
        Ok(st) => page(dashboard::page(&st, &app.host, app.token.is_some())),
        Err(r) => r,
    }
}

async fn live(State(app): State<App>) -> Response {
    match stats(&app).await {
        Ok(st) => page(dashboard::live(&st)),
        Err(r) => r,
    }
}

fn page(rendered: Result<String, askama::Error>) -> Response {
    match rendered {
        Ok(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!("dashboard template: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot render the page\n",
            )
                .into_response()
        }
    }
}

fn reply(status: StatusCode, key: &str, text: String) -> Response {
    let body = serde_json::json!({ key: text });
    (status, axum::Json(body)).into_response()
}

/// Why a state-changing request is refused, if it is.
fn refusal(app: &App, peer: SocketAddr, headers: &HeaderMap) -> Option<(StatusCode, String)> {
    let text = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    // A browser says where a request comes from: another site's page must
    // not drive this one (CSRF).
    if let Some(origin) = text("origin") {
        let same = text("host").is_some_and(|host| {
            origin == format!("http://{host}") || origin == format!("https://{host}")
        });
        if !same {
            return Some((
                StatusCode::FORBIDDEN,
                format!("cross-origin request from {origin} refused"),
            ));
        }
    }
    if let Some(site) = text("sec-fetch-site")
        && site != "same-origin"
        && site != "none"
    {
        return Some((StatusCode::FORBIDDEN, format!("{site} request refused")));
    }
    match &app.token {
        Some(token) => {
            let given = text("authorization").and_then(|a| a.strip_prefix("Bearer "));
            match given {
                Some(g) if constant_time_eq(g.as_bytes(), token.as_bytes()) => None,
                _ => Some((
                    StatusCode::UNAUTHORIZED,
                    "this needs the [admin] token (Authorization: Bearer TOKEN)".into(),
                )),
            }
        }
        None if peer.ip().is_loopback() => None,
        None => Some((
            StatusCode::FORBIDDEN,
            "changes are allowed from loopback only; set [admin] token to allow them from other hosts".into(),
        )),
    }
}

/// Compares without stopping at the first difference, so the time taken
/// says nothing about how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn action(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Some((status, why)) = refusal(&app, peer, &headers) {
        tracing::warn!(
            "[admin] refused {} {} {} from {peer}: {why}",
            form.kind,
            form.action,
            form.target
        );
        return reply(status, "error", why);
    }
    let Ok(_slot) = app.slots.try_acquire() else {
        return reply(StatusCode::SERVICE_UNAVAILABLE, "error", "busy".into());
    };
    // A peer node passing on its operator's command: apply it here only.
    let (who, follow) = match form.follow.as_deref() {
        None => (Asker::Http(peer), Follow::Default),
        Some(crate::peer::FOLLOWED) => (Asker::Peer(peer), Follow::Local),
        Some(other) => {
            let why = format!("follow={other}: the only value is follow=no (sent by a peer node)");
            return reply(StatusCode::BAD_REQUEST, "error", why);
        }
    };
    let (tx, rx) = oneshot::channel();
    let request = match form.kind.as_str() {
        "server" => {
            let mut words = vec![form.action.as_str(), form.target.as_str()];
            if form.action == "weight" {
                words.push(form.weight.as_deref().unwrap_or(""));
            }
            if form.shutdown_sessions.as_deref() == Some("yes") {
                words.push("--shutdown-sessions");
            }
            match crate::admin::ServerCommand::parse(&words) {
                Ok(cmd) => Request::Server(cmd, follow, who, tx),
                Err(e) => return reply(StatusCode::BAD_REQUEST, "error", e),
            }
        }
        "vrrp" if matches!(form.action.as_str(), "resign" | "resume") => {
            Request::Vrrp(form.action == "resign", Some(form.target.clone()), who, tx)
        }
        "frontend" if matches!(form.action.as_str(), "disable" | "enable") => Request::Frontend(
            form.action == "enable",
            form.target.clone(),
            follow,
            who,
            tx,
        ),
        _ => {
            return reply(
                StatusCode::BAD_REQUEST,
                "error",
                format!("unknown action {} {}", form.kind, form.action),
            );
        }
    };
    if app.requests.send(request).await.is_err() {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "error",
            "the node is stopping".into(),
        );
    }
    match rx.await {
        Ok(Ok(changed)) => reply(StatusCode::OK, "changed", changed),
        Ok(Err(e)) => reply(StatusCode::BAD_REQUEST, "error", e),
        Err(_) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "error",
            "the node is stopping".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(token: Option<&str>) -> App {
        App {
            requests: mpsc::channel(1).0,
            token: token.map(Arc::from),
            slots: Arc::new(Semaphore::new(1)),
            host: "n".into(),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap_or_else(|_| panic!("{v}")));
        }
        h
    }

    #[test]
    fn posts_need_the_same_origin_and_loopback_or_the_token() {
        let lo: SocketAddr = "127.0.0.1:5000".parse().unwrap_or_else(|e| panic!("{e}"));
        let far: SocketAddr = "192.0.2.9:5000".parse().unwrap_or_else(|e| panic!("{e}"));
        let same = headers(&[
            ("host", "127.0.0.1:9180"),
            ("origin", "http://127.0.0.1:9180"),
        ]);
        let cross = headers(&[
            ("host", "127.0.0.1:9180"),
            ("origin", "http://evil.example"),
        ]);
        let site = headers(&[("host", "127.0.0.1:9180"), ("sec-fetch-site", "cross-site")]);
        let open = app(None);
        assert_eq!(refusal(&open, lo, &same), None);
        assert_eq!(refusal(&open, lo, &HeaderMap::new()), None);
        assert_eq!(
            refusal(&open, lo, &cross).map(|r| r.0),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            refusal(&open, lo, &site).map(|r| r.0),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            refusal(&open, far, &same).map(|r| r.0),
            Some(StatusCode::FORBIDDEN)
        );
        let locked = app(Some("0123456789abcdef"));
        assert_eq!(
            refusal(&locked, lo, &same).map(|r| r.0),
            Some(StatusCode::UNAUTHORIZED)
        );
        // What a peer node sends ([admin] peer): another host, no Origin
        // nor Sec-Fetch-Site (not a browser), the shared token.
        let bearer = headers(&[("authorization", "Bearer 0123456789abcdef")]);
        assert_eq!(refusal(&locked, far, &bearer), None);
        let wrong = headers(&[("authorization", "Bearer 0123456789abcdeX")]);
        assert_eq!(
            refusal(&locked, far, &wrong).map(|r| r.0),
            Some(StatusCode::UNAUTHORIZED)
        );
    }
}
