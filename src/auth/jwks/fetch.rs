//! Fetching the key set: the HTTP(S) client and one GET of the set, bounded in time and size.
use std::{sync::Arc, time::Duration};

use http_body_util::{BodyExt as _, Empty, LengthLimitError, Limited};
use hyper::{
    Uri,
    body::Bytes,
    header::{ACCEPT, CACHE_CONTROL, CONTENT_LENGTH, USER_AGENT},
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

use super::keys::KeySet;

/// The longest a fetch may take, connection and body included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest key set accepted, in bytes (a real one is a few KiB).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
#[error("fetching the key set from {url}: {reason}")]
pub struct FetchError {
    pub url: String,
    pub reason: String,
}

pub(super) type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// An HTTP(S) client: rustls with ring, the system's trust roots (Mozilla's when the system
/// has none, e.g. in a bare container). No redirects are followed, no proxy is used.
pub(super) fn http_client() -> Result<HttpClient, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = match hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider.clone()) {
        Ok(tls) => tls,
        Err(e) => {
            tracing::warn!("JWKS: no system trust roots ({e}); using the Mozilla roots built in");
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_webpki_roots(provider)
                .map_err(|e| format!("cannot set up TLS ({e})"))?
        }
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(FETCH_TIMEOUT));
    let connector = tls.https_or_http().enable_http1().wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// One GET, bounded in time and size.
pub(super) async fn fetch(client: &HttpClient, url: &Uri) -> Result<(KeySet, Vec<String>, Option<String>), String> {
    tokio::time::timeout(FETCH_TIMEOUT, fetch_unbounded(client, url))
        .await
        .map_err(|_| format!("no complete answer within {} s", FETCH_TIMEOUT.as_secs()))?
}

async fn fetch_unbounded(client: &HttpClient, url: &Uri) -> Result<(KeySet, Vec<String>, Option<String>), String> {
    let too_large = || format!("the answer is larger than {MAX_BODY_BYTES} bytes");
    let request = hyper::Request::get(url.clone())
        .header(ACCEPT, "application/jwk-set+json, application/json")
        .header(USER_AGENT, concat!("smallpay/", env!("CARGO_PKG_VERSION")))
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| error_chain(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("it answered HTTP {status}"));
    }
    let header = |name| response.headers().get(name).and_then(|v: &hyper::header::HeaderValue| v.to_str().ok());
    if header(CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok()).is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let cache_control = header(CACHE_CONTROL).map(str::to_owned);
    let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| if e.downcast_ref::<LengthLimitError>().is_some() { too_large() } else { error_chain(&*e) })?;
    let (set, reasons) = KeySet::parse(&body.to_bytes())?;
    if set.is_empty() {
        return Err(format!("the key set holds no usable key ({})", reasons.join("; ")));
    }
    Ok((set, reasons, cache_control))
}

/// An error with its causes ("client error (Connect)" alone says little).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
