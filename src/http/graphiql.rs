//! GraphiQL, served by the binary: the page (a browser's `GET /graphql`, whose `Accept` prefers
//! `text/html`: `graphql::negotiate`), and GraphiQL's JavaScript and CSS
//! with their peers (vendored from the npm registry into `assets/graphiql/` by
//! `scripts/vendor-graphiql.sh`, embedded here) under `/graphiql/assets/<content hash>/…`,
//! cacheable for a year. The page's Content-Security-Policy lets it load and connect to its
//! own origin only (fonts and icons are `data:` URLs inside the CSS), so it works without
//! internet access and behind a strict proxy. In development the page carries tokens for the
//! demo accounts; in production it never carries one.
use std::sync::{Arc, OnceLock};

use axum::{
    extract::Path,
    http::{
        HeaderMap, HeaderValue, StatusCode,
        header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS},
    },
    response::{IntoResponse, Response},
};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// One demo account the page offers (development only).
#[derive(Debug, Clone, Serialize)]
pub struct DemoAccount {
    pub role: String,
    pub sub: String,
    pub token: String,
}

/// Mints the demo accounts' tokens when a page is served, so a page opened later still gets
/// fresh ones. `main.rs` sets it in development; unset, the page carries no token.
pub type DemoTokens = Arc<dyn Fn() -> Vec<DemoAccount> + Send + Sync>;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "graphiql.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/graphiql/graphiql.min.js"),
    },
    Asset {
        name: "graphiql.min.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/graphiql/graphiql.min.css"),
    },
    Asset {
        name: "react.production.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/graphiql/react.production.min.js"),
    },
    Asset {
        name: "react-dom.production.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    },
    Asset {
        name: "graphql-ws.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/graphiql/graphql-ws.min.js"),
    },
    Asset {
        name: "page.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/page/graphiql.js"),
    },
    Asset {
        name: "page.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/page/graphiql.css"),
    },
];

/// The first 16 hex digits of the SHA-256 of every asset: part of their paths, so a new build
/// gets new URLs and the old ones may be cached forever.
pub fn assets_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut hash = Sha256::new();
        for asset in ASSETS {
            hash.update(asset.name.as_bytes());
            hash.update(asset.body);
        }
        let digest = hash.finalize();
        hex::encode(&digest[..8])
    })
}

/// `GET /graphiql/assets/{version}/{name}`.
pub async fn asset(Path((version, name)): Path<(String, String)>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name).filter(|_| version == assets_version()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
            (CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        asset.body,
    )
        .into_response()
}

/// The first query the page shows: the README's.
const FIRST_QUERY: &str = "# smallpay: run with the ▶ button (Ctrl-Enter). The Headers tab carries the token.
{
  me { id name role }
  shop { name balance dailyCap paidToday }
  orders(first: 5) {
    totalCount
    edges { node { orderSn goodsName groupedAt platformCompensations { type amount } } }
    pageInfo { hasNextPage endCursor }
  }
}
";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PageConfig<'a> {
    endpoint: &'a str,
    subscription_endpoint: &'a str,
    default_query: &'a str,
    accounts: Vec<DemoAccount>,
}

/// The page: `accounts` are offered in the role bar (the first one preselected).
pub fn page(headers: &HeaderMap, accounts: Vec<DemoAccount>) -> Response {
    let config =
        PageConfig { endpoint: "/graphql", subscription_endpoint: "/graphql/ws", default_query: FIRST_QUERY, accounts };
    // JSON inside <script type="application/json">: `<` escaped, so no `</script>` can end it.
    let config = serde_json::to_string(&config).unwrap_or_else(|_| "{}".to_owned()).replace('<', "\\u003c");
    let v = assets_version();
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>smallpay · GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/graphiql/assets/{v}/graphiql.min.css">
<link rel="stylesheet" href="/graphiql/assets/{v}/page.css">
<script type="application/json" id="smallpay-graphiql-config">{config}</script>
</head>
<body>
<div id="smallpay-bar"></div>
<div id="graphiql">Loading GraphiQL…</div>
<script src="/graphiql/assets/{v}/react.production.min.js"></script>
<script src="/graphiql/assets/{v}/react-dom.production.min.js"></script>
<script src="/graphiql/assets/{v}/graphql-ws.min.js"></script>
<script src="/graphiql/assets/{v}/graphiql.min.js"></script>
<script src="/graphiql/assets/{v}/page.js"></script>
</body>
</html>
"#
    );
    let csp = content_security_policy(headers.get(HOST).and_then(|h| h.to_str().ok()));
    let mut response = (
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            // The page may carry development tokens: never stored by a cache.
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        ],
        html,
    )
        .into_response();
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        response.headers_mut().insert(CONTENT_SECURITY_POLICY, csp);
    }
    response.headers_mut().insert("x-frame-options", HeaderValue::from_static("DENY"));
    response
}

/// Only the page's own origin: scripts, styles and fetches from `'self'`, the subscription
/// socket on the same host (`'self'` covers `ws:`/`wss:` in CSP 3 browsers; older ones need the
/// host spelt out), fonts and images also as `data:` (GraphiQL's CSS embeds them). Inline
/// styles are allowed: GraphiQL's dialogs insert `<style>` elements (without it they log CSP
/// violations and lose their scroll lock); inline scripts are not.
pub fn content_security_policy(host: Option<&str>) -> String {
    // A Host header is echoed only when it is a plain host[:port].
    let host = host.filter(|h| {
        !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    });
    let sockets = host.map(|h| format!(" ws://{h} wss://{h}")).unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         font-src 'self' data:; connect-src 'self'{sockets}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_embedded_and_the_version_is_stable() {
        assert!(ASSETS.iter().all(|a| a.body.len() > 100), "an asset is missing or empty");
        assert_eq!(assets_version().len(), 16);
        assert_eq!(assets_version(), assets_version());
    }

    #[test]
    fn the_policy_names_only_the_own_host() {
        let csp = content_security_policy(Some("127.0.0.1:8080"));
        assert!(csp.contains("connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;"), "{csp}");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        let odd = content_security_policy(Some("evil.example; script-src *"));
        assert!(odd.contains("connect-src 'self';") && !odd.contains("evil"), "{odd}");
    }

    #[tokio::test]
    async fn the_config_cannot_close_its_script_element() {
        let accounts =
            vec![DemoAccount { role: "admin".into(), sub: "</script><script>x()".into(), token: "t".into() }];
        let response = page(&HeaderMap::new(), accounts);
        let csp = response.headers().get(CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(csp.starts_with("default-src 'none'"));
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(html.matches("</script>").count(), 6, "five scripts and the config: {html}");
        assert!(html.contains(r"\u003c/script>\u003cscript>x()"));
    }
}
