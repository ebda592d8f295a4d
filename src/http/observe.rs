//! What every request passes through before its handler: the client's address (the TCP peer,
//! or what a trusted proxy forwards), the request id (tower-http's `SetRequestId` and
//! `PropagateRequestId`), the request's span (tower-http's `Trace`: its log lines and its trace
//! span) and the HTTP metrics.

use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower_http::{
    classify::{ServerErrorsAsFailures, SharedClassifier},
    trace::{MakeSpan, OnResponse, TraceLayer},
};
use tracing::{Span, field::Empty};

use super::server::Server;
use crate::config::{Config, ForwardedHeader};

/// The address a request comes from: the TCP peer's, or the one a trusted proxy forwards (see
/// [`client_address`]). Absent when the router is served without the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub IpAddr);

/// The request id's header, on requests (a client's own id is kept when it is a short token)
/// and on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The client's address: the TCP peer, unless the peer is a trusted proxy — then the address
/// the proxies forwarded, read from the right: each trusted hop names the one before it, and
/// the first address that is not a trusted proxy is the client. What lies further left was
/// written by the client itself and is not believed; an entry that is not an address
/// (`unknown`, an obfuscated name) stops the walk at the hop that wrote it.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, config: &Config) -> IpAddr {
    let trusted = |ip: IpAddr| config.trusted_proxies.iter().any(|net| net.contains(&ip.to_canonical()));
    if !trusted(peer) {
        return peer;
    }
    let (name, parse): (&str, fn(&str) -> Option<IpAddr>) = match config.forwarded_header {
        ForwardedHeader::XForwardedFor => ("x-forwarded-for", parse_forwarded_address),
        ForwardedHeader::Forwarded => ("forwarded", forwarded_for),
    };
    // Several header lines are one list, in order.
    let entries: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        if !trusted(client) {
            break;
        }
        match parse(entry) {
            Some(ip) => client = ip,
            None => break,
        }
    }
    client
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or
/// `[2001:db8::1]:4711`.
fn parse_forwarded_address(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| text.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// The `for=` of one RFC 7239 `Forwarded` element (`for=192.0.2.60;proto=http`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim().eq_ignore_ascii_case("for").then(|| parse_forwarded_address(value)).flatten()
    })
}

/// Whether a client's (or a proxy's) `x-request-id` is kept: 1–64 characters of letters,
/// digits and `-_.:`. Any other is dropped by [`identify`], and tower-http's `SetRequestId`
/// gives the request a new UUID.
fn usable_request_id(value: &HeaderValue) -> bool {
    let b = value.as_bytes();
    !b.is_empty() && b.len() <= 64 && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
}

/// The first thing a request passes: resolves the client's address ([`ClientAddr`], the span's
/// `client`) and drops an `x-request-id` that is not [usable](usable_request_id).
pub(super) async fn identify(State(server): State<Server>, mut request: Request, next: Next) -> Response {
    if request.headers().get_all(&REQUEST_ID).iter().any(|v| !usable_request_id(v)) {
        request.headers_mut().remove(&REQUEST_ID);
    }
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    if let Some(peer) = peer {
        let client = ClientAddr(client_address(peer, request.headers(), &server.state.config));
        request.extensions_mut().insert(client);
    }
    next.run(request).await
}

/// tower-http's trace layer with the request's span ([`RequestSpan`]) and its one closing line
/// ([`Finished`]); nothing logged at the start, and a 5xx is the closing line's `warn`, not a
/// second line.
pub(super) type Trace = TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan, (), Finished, (), (), ()>;

/// The trace layer; `quiet` for the probes (`/healthz`, `/readyz`, `/metrics`), whose closing
/// line is `debug`.
pub(super) fn trace(quiet: bool) -> Trace {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_request(())
        .on_response(Finished { quiet })
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

/// The request's span, for its log lines and its trace: the request id (set by then), method,
/// path and client, the fields the GraphQL handler fills in (account, shop, operation, code),
/// and the trace id when a trace is exported (continued from a W3C `traceparent`).
#[derive(Clone, Copy, Debug)]
pub(super) struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &axum::http::Request<B>) -> Span {
        let id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
        let client = request.extensions().get::<ClientAddr>().map(|c| tracing::field::display(c.0));
        let path = request.uri().path();
        let span = tracing::info_span!(
            "request",
            request_id = id,
            method = %request.method(),
            path = %path,
            client,
            account = Empty,
            shop = Empty,
            operation = Empty,
            code = Empty,
            trace_id = Empty,
            otel.name = format!("{} {path}", request.method()),
            otel.kind = "server",
        );
        if let Some(trace) = crate::telemetry::continue_trace(&span, request.headers()) {
            span.record("trace_id", trace.as_str());
        }
        span
    }
}

/// The request's closing line, in its span: status and duration (`warn` for a 5xx, `debug` for
/// a quiet route, `info` otherwise).
#[derive(Clone, Copy, Debug)]
pub(super) struct Finished {
    quiet: bool,
}

impl<B> OnResponse<B> for Finished {
    fn on_response(self, response: &axum::http::Response<B>, latency: Duration, _span: &Span) {
        // Whole microseconds in milliseconds: printed as e.g. 2.634.
        let duration_ms = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX) as f64 / 1000.0;
        let status = response.status().as_u16();
        if status >= 500 {
            tracing::warn!(status, duration_ms, "request finished");
        } else if self.quiet {
            tracing::debug!(status, duration_ms, "request finished");
        } else {
            tracing::info!(status, duration_ms, "request finished");
        }
    }
}

/// The process-wide Prometheus recorder (installed once; every app in the process shares it).
pub(super) fn prometheus() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. by an embedding program).
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub(super) async fn record_metrics(request: Request, next: Next) -> Response {
    let path = match request.uri().path() {
        p @ ("/graphql" | "/graphql/ws" | "/healthz" | "/readyz" | "/metrics") => p.to_owned(),
        _ => "other".to_owned(),
    };
    // A fixed set of labels: a client cannot add series by inventing methods or paths.
    let method = match *request.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "path" => path.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "path" => path).record(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(trusted: &[&str], header: ForwardedHeader) -> Config {
        let mut config = Config::defaults();
        config.trusted_proxies = trusted.iter().map(|t| crate::config::parse_net(t).unwrap()).collect();
        config.forwarded_header = header;
        config
    }

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_forwarded_address_is_believed_only_from_a_trusted_proxy() {
        let xff = ForwardedHeader::XForwardedFor;
        let none = config(&[], xff);
        let proxies = config(&["10.0.0.0/8"], xff);
        let spoofed = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(client_address(ip("198.51.100.1"), &spoofed, &none), ip("198.51.100.1"), "no proxy trusted");
        assert_eq!(client_address(ip("198.51.100.1"), &spoofed, &proxies), ip("198.51.100.1"), "not a proxy");
        assert_eq!(client_address(ip("10.0.0.5"), &spoofed, &proxies), ip("203.0.113.9"));
        // The client's own claims are further left: the right-most untrusted entry is the client.
        let chain = headers("x-forwarded-for", &["1.2.3.4, 203.0.113.9", "10.0.0.7"]);
        assert_eq!(client_address(ip("10.0.0.5"), &chain, &proxies), ip("203.0.113.9"));
        let ported = headers("x-forwarded-for", &["[2001:db8::1]:4711"]);
        assert_eq!(client_address(ip("10.0.0.5"), &ported, &proxies), ip("2001:db8::1"));
        let unknown = headers("x-forwarded-for", &["203.0.113.9, unknown"]);
        assert_eq!(client_address(ip("10.0.0.5"), &unknown, &proxies), ip("10.0.0.5"), "the walk stops at `unknown`");
        let all_trusted = headers("x-forwarded-for", &["10.1.1.1"]);
        assert_eq!(client_address(ip("10.0.0.5"), &all_trusted, &proxies), ip("10.1.1.1"));
        assert_eq!(client_address(ip("10.0.0.5"), &HeaderMap::new(), &proxies), ip("10.0.0.5"), "no header");
        assert_eq!(
            client_address(ip("::ffff:10.0.0.5"), &spoofed, &proxies),
            ip("203.0.113.9"),
            "a proxy's IPv4 address mapped into IPv6"
        );
    }

    #[test]
    fn the_configured_header_is_the_only_one_read() {
        let forwarded = config(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let mut both = headers("forwarded", &[r#"for=1.2.3.4, for="[2001:db8:cafe::17]:4711";proto=https"#]);
        both.append("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        assert_eq!(client_address(ip("10.0.0.5"), &both, &forwarded), ip("2001:db8:cafe::17"));
        let xff = config(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        assert_eq!(client_address(ip("10.0.0.5"), &both, &xff), ip("203.0.113.9"));
        let obfuscated = headers("forwarded", &["for=_hidden;by=10.0.0.5"]);
        assert_eq!(client_address(ip("10.0.0.5"), &obfuscated, &forwarded), ip("10.0.0.5"));
    }
}
