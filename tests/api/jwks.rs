//! Tokens verified with an identity provider's key set (`SMALLPAY_JWT_JWKS_URL`), against a
//! key-set server run by the test: its answer can be swapped and its fetches are counted.
//!
//! SQLite only: the key set lives in the process, nothing here reads or writes the database in
//! a way that differs between backends (the server's `{ me }` does not touch it).
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::IntoResponse,
};
use chrono::Utc;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header,
    jwk::{Jwk, KeyAlgorithm},
};
use serde_json::{Value, json};
use smallpay::app::App;

use crate::helpers::{Backend, TestApp, first_code, test_config};

const ME: &str = "{ me { id role } }";

/// What the key-set server answers, and when it was asked.
struct Answer {
    status: StatusCode,
    body: String,
    cache_control: Option<&'static str>,
}

#[derive(Clone)]
struct KeyServerState {
    answer: Arc<Mutex<Answer>>,
    hits: Arc<Mutex<Vec<Instant>>>,
}

/// A tiny JWKS endpoint on 127.0.0.1.
struct KeyServer {
    addr: SocketAddr,
    state: KeyServerState,
    task: tokio::task::JoinHandle<()>,
}

impl KeyServer {
    async fn start(keys: Vec<Value>) -> KeyServer {
        let state = KeyServerState {
            answer: Arc::new(Mutex::new(Answer {
                status: StatusCode::OK,
                body: json!({ "keys": keys }).to_string(),
                cache_control: None,
            })),
            hits: Arc::default(),
        };
        async fn serve(State(state): State<KeyServerState>) -> impl IntoResponse {
            state.hits.lock().unwrap().push(Instant::now());
            let answer = state.answer.lock().unwrap();
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Some(value) = answer.cache_control {
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
            }
            (answer.status, headers, answer.body.clone())
        }
        let router = axum::Router::new().route("/jwks.json", axum::routing::get(serve)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        KeyServer { addr, state, task }
    }

    fn url(&self) -> String {
        format!("http://{}/jwks.json", self.addr)
    }

    fn serve_keys(&self, keys: Vec<Value>) {
        self.answer(StatusCode::OK, json!({ "keys": keys }).to_string());
    }

    fn answer(&self, status: StatusCode, body: String) {
        let mut answer = self.state.answer.lock().unwrap();
        answer.status = status;
        answer.body = body;
    }

    fn cache_control(&self, value: &'static str) {
        self.state.answer.lock().unwrap().cache_control = Some(value);
    }

    fn hits(&self) -> Vec<Instant> {
        self.state.hits.lock().unwrap().clone()
    }

    /// Waits (at most 10 s) until the server has been asked at least `n` times.
    async fn wait_for_hits(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.hits().len() < n {
            assert!(Instant::now() < deadline, "the key set was fetched {} times, expected {n}", self.hits().len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for KeyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A signing key of the test's identity provider, and its public JWK.
struct Signer {
    kid: &'static str,
    alg: Algorithm,
    key: EncodingKey,
}

impl Signer {
    fn new(kid: &'static str, private_pem: &str, alg: Algorithm) -> Signer {
        let pem = fixture(private_pem);
        let key = match alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pem).unwrap(),
            _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
        };
        Signer { kid, alg, key }
    }

    /// The public JWK, with `alg` (as most identity providers publish it) or without.
    fn jwk(&self, with_alg: bool) -> Value {
        let mut jwk = Jwk::from_encoding_key(&self.key, self.alg).unwrap();
        jwk.common.key_id = Some(self.kid.to_owned());
        jwk.common.key_algorithm = with_alg.then(|| KeyAlgorithm::from(self.alg));
        let mut value = serde_json::to_value(jwk).unwrap();
        value["use"] = json!("sig");
        value
    }

    fn sign(&self, app: &TestApp) -> String {
        self.sign_as(app, self.alg, Some(self.kid))
    }

    fn sign_as(&self, app: &TestApp, alg: Algorithm, kid: Option<&str>) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &claims(app), &self.key).unwrap()
    }

    /// A token of raw JSON texts (a member may appear twice), signed with this key.
    fn sign_raw(&self, header: &str, claims: &str) -> String {
        use base64::Engine as _;
        let enc = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        let message = format!("{}.{}", enc(header), enc(claims));
        format!("{message}.{}", jsonwebtoken::crypto::sign(message.as_bytes(), &self.key, self.alg).unwrap())
    }
}

fn claims(app: &TestApp) -> Value {
    let now = Utc::now().timestamp();
    json!({
        "sub": "alice", "role": "cs", "shop_id": "s1", "iss": app.config.jwt_issuer,
        "aud": app.config.jwt_audience, "exp": now + 600, "iat": now,
    })
}

/// The public half of the 1024-bit fixture, as a JWK.
fn short_rsa_jwk(kid: &str) -> Value {
    let key = DecodingKey::from_rsa_pem(&fixture("rsa1024_public.pem")).unwrap();
    let mut value = serde_json::to_value(Jwk::from_decoding_key(&key, Some(Algorithm::RS256)).unwrap()).unwrap();
    value["kid"] = json!(kid);
    value
}

async fn jwks_app(server: &KeyServer, min_interval: Duration) -> TestApp {
    TestApp::try_spawn_with(Backend::Sqlite, |c| {
        c.jwt_secret = None;
        c.jwt_jwks_url = Some(server.url());
        c.jwt_jwks_min_interval = min_interval;
    })
    .await
    .unwrap()
}

async fn accepted(app: &TestApp, token: &str) -> bool {
    let response = app.gql(Some(token), ME, json!({})).await;
    response["data"]["me"]["role"] == "CS"
}

/// The refusal's message; it must be UNAUTHENTICATED.
async fn refusal(app: &TestApp, token: &str) -> String {
    let response = app.gql(Some(token), ME, json!({})).await;
    assert_eq!(first_code(&response), "UNAUTHENTICATED", "{response}");
    response["errors"][0]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn tokens_signed_by_a_key_of_the_set_are_accepted_and_others_refused_with_the_reason() {
    let rsa = Signer::new("rsa", "rsa_private.pem", Algorithm::RS256);
    let ec = Signer::new("ec", "ec_private.pem", Algorithm::ES256);
    let ec384 = Signer::new("ec384", "ec384_private.pem", Algorithm::ES384);
    // An RSA key published without `alg` (as some providers do): RS256, RS384 or RS512.
    let bare = Signer::new("bare", "rsa2_private.pem", Algorithm::RS512);
    let server =
        KeyServer::start(vec![rsa.jwk(true), ec.jwk(true), ec384.jwk(false), bare.jwk(false), short_rsa_jwk("short")])
            .await;
    let app = jwks_app(&server, Duration::from_secs(30)).await;
    assert_eq!(server.hits().len(), 1, "fetched once at start-up");
    for signer in [&rsa, &ec, &ec384, &bare] {
        assert!(accepted(&app, &signer.sign(&app)).await, "{}", signer.kid);
    }
    let cases = [
        // The 1024-bit key was skipped: a token naming it is refused, saying why.
        ("a too-short RSA key", rsa.sign_as(&app, Algorithm::RS256, Some("short")), "1024-bit"),
        // The public key as an HMAC secret: the classic confusion, refused before any lookup.
        (
            "HS256 with the public key",
            jsonwebtoken::encode(
                &Header { kid: Some("rsa".into()), ..Header::new(Algorithm::HS256) },
                &claims(&app),
                &EncodingKey::from_secret(&fixture("rsa_public.pem")),
            )
            .unwrap(),
            "algorithm HS256 is not accepted",
        ),
        ("another algorithm than the key's", rsa.sign_as(&app, Algorithm::RS384, Some("rsa")), "expected RS256"),
        ("an RSA algorithm with an EC key", rsa.sign_as(&app, Algorithm::RS256, Some("ec")), "expected ES256"),
        ("no kid while the set holds several keys", rsa.sign_as(&app, Algorithm::RS256, None), "kid"),
        ("a key of the set, someone else's signature", bare.sign_as(&app, Algorithm::RS256, Some("rsa")), "signature"),
        // RFC 7515 §4.1.11: an extension marked critical that the server does not implement.
        (
            "a critical extension",
            jsonwebtoken::encode(
                &Header { kid: Some("rsa".into()), crit: Some(vec!["b64".into()]), ..Header::new(Algorithm::RS256) },
                &claims(&app),
                &rsa.key,
            )
            .unwrap(),
            "crit",
        ),
        // Which key would a second kid pick? Neither: a member named twice refuses the token.
        (
            "a kid named twice",
            rsa.sign_raw(r#"{"alg":"RS256","kid":"rsa","kid":"ec"}"#, &claims(&app).to_string()),
            "`kid` appears more than once",
        ),
        (
            "a role named twice",
            rsa.sign_raw(
                r#"{"alg":"RS256","kid":"rsa"}"#,
                &claims(&app).to_string().replacen(r#""role":"cs""#, r#""role":"cs","role":"admin""#, 1),
            ),
            "`role` appears more than once",
        ),
    ];
    for (case, token, says) in cases {
        let message = refusal(&app, &token).await;
        assert!(message.contains(says), "{case}: {message:?} should say {says:?}");
    }
    assert_eq!(server.hits().len(), 1, "none of those is a reason to fetch the set again");
}

#[tokio::test]
async fn a_token_without_kid_is_taken_when_the_set_holds_one_key() {
    let rsa = Signer::new("only", "rsa_private.pem", Algorithm::RS256);
    let server = KeyServer::start(vec![rsa.jwk(true), short_rsa_jwk("short")]).await;
    let app = jwks_app(&server, Duration::from_secs(30)).await;
    assert!(accepted(&app, &rsa.sign_as(&app, Algorithm::RS256, None)).await);
}

#[tokio::test]
async fn a_rotated_key_is_taken_after_an_early_fetch_and_the_removed_one_refused() {
    let old = Signer::new("2026-old", "rsa_private.pem", Algorithm::RS256);
    let new = Signer::new("2026-new", "rsa2_private.pem", Algorithm::RS256);
    let server = KeyServer::start(vec![old.jwk(true)]).await;
    let app = jwks_app(&server, Duration::from_secs(1)).await;
    assert!(accepted(&app, &old.sign(&app)).await);

    // The identity provider rotates: the new key replaces the old one.
    server.serve_keys(vec![new.jwk(true)]);
    let message = refusal(&app, &new.sign(&app)).await;
    assert!(message.contains("not in the identity provider's key set"), "{message}");
    // That unknown kid asked for an early fetch (not sooner than 1 s after the last): the
    // token is accepted once it is done.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !accepted(&app, &new.sign(&app)).await {
        assert!(Instant::now() < deadline, "the new key was never fetched");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Start-up and one early fetch (tokens refused while it ran may ask for one more, a
    // second later).
    assert!((2..=3).contains(&server.hits().len()), "{} fetches", server.hits().len());
    let message = refusal(&app, &old.sign(&app)).await;
    assert!(message.contains("not in the identity provider's key set"), "the old key is gone: {message}");
}

/// A token with any header and a signature that is not one.
fn unsigned(header: &Value, claims: &Value) -> String {
    use base64::Engine;
    let enc = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{}", enc(header), enc(claims), enc(&json!("not a signature")))
}

#[tokio::test]
async fn a_flood_of_unknown_kids_fetches_at_most_once_per_interval() {
    let rsa = Signer::new("rsa", "rsa_private.pem", Algorithm::RS256);
    let server = KeyServer::start(vec![rsa.jwk(true)]).await;
    let interval = Duration::from_secs(1);
    let app = Arc::new(jwks_app(&server, interval).await);
    let flood = Duration::from_millis(2500);
    let started = Instant::now();
    let mut senders = Vec::new();
    for sender in 0..4 {
        let app = app.clone();
        senders.push(tokio::spawn(async move {
            let mut sent = 0;
            while started.elapsed() < flood {
                // As an attacker would: a made-up kid and signature (no key can check it).
                let token =
                    unsigned(&json!({"alg": "RS256", "kid": format!("garbage-{sender}-{sent}")}), &claims(&app));
                let message = refusal(&app, &token).await;
                assert!(message.contains("kid"), "{message}");
                sent += 1;
            }
            sent
        }));
    }
    let mut sent = 0;
    for sender in senders {
        sent += sender.await.unwrap();
    }
    // Let a fetch asked for at the end happen.
    tokio::time::sleep(interval + Duration::from_millis(300)).await;
    let hits = server.hits();
    let window = started.elapsed().as_secs_f64();
    assert!(sent > 20, "the flood sent {sent} tokens");
    assert!(hits.len() >= 2, "the unknown kids asked for an early fetch");
    assert!(
        hits.len() - 1 <= 1 + (window / interval.as_secs_f64()) as usize,
        "{} fetches for {sent} unknown kids in {window:.1} s",
        hits.len() - 1
    );
    // Wall time on purpose: the refresher's pace is real seconds (an identity provider's
    // max-age and its rate limit), not business time, so the test clock does not drive it. A
    // lower bound on the gap is safe on a loaded machine: load can only delay a fetch.
    for pair in hits.windows(2) {
        assert!(pair[1] - pair[0] >= interval.mul_f64(0.95), "two fetches {:?} apart", pair[1] - pair[0]);
    }
    // And the service kept verifying the set's real key meanwhile.
    assert!(accepted(&app, &rsa.sign(&app)).await);
}

#[tokio::test]
async fn a_failing_key_server_keeps_the_last_good_set() {
    let rsa = Signer::new("rsa", "rsa_private.pem", Algorithm::RS256);
    let next = Signer::new("next", "ec_private.pem", Algorithm::ES256);
    let server = KeyServer::start(vec![rsa.jwk(true)]).await;
    let app = jwks_app(&server, Duration::from_secs(1)).await;
    let cache = app.state.keys.jwks().expect("verifying with a JWKS").clone();
    let token = rsa.sign(&app);
    assert!(accepted(&app, &token).await);

    // Down: the early fetch an unknown kid asks for fails; the set in use stays.
    server.answer(StatusCode::INTERNAL_SERVER_ERROR, "oops".into());
    refusal(&app, &next.sign(&app)).await;
    server.wait_for_hits(2).await;
    assert!(accepted(&app, &token).await, "still verified after a failed fetch");

    // Whatever goes wrong with an answer, the last good set stays.
    let too_big = format!("{{\"keys\": [], \"padding\": \"{}\"}}", "x".repeat(300 * 1024));
    let broken: [(StatusCode, String, &str); 5] = [
        (StatusCode::INTERNAL_SERVER_ERROR, "oops".into(), "500"),
        (StatusCode::OK, "<html>not json</html>".into(), "not JSON"),
        (StatusCode::OK, too_big, "larger than"),
        (StatusCode::OK, json!({ "keys": [short_rsa_jwk("short")] }).to_string(), "no usable key"),
        (StatusCode::OK, json!({ "keys": [] }).to_string(), "no usable key"),
    ];
    for (status, body, says) in broken {
        server.answer(status, body);
        let error = cache.refresh_now().await.expect_err(says).to_string();
        assert!(error.contains(says) && error.contains(&server.url()), "{error}");
        assert!(accepted(&app, &token).await, "after {says}");
    }

    // Back, with a rotated set: it is taken.
    server.serve_keys(vec![next.jwk(true)]);
    assert_eq!(cache.refresh_now().await.unwrap(), 1);
    assert!(accepted(&app, &next.sign(&app)).await);
    assert!(!accepted(&app, &token).await);
}

#[tokio::test]
async fn the_set_is_fetched_again_as_its_max_age_says_and_the_refresher_stops_with_the_server() {
    let rsa = Signer::new("rsa", "rsa_private.pem", Algorithm::RS256);
    let server = KeyServer::start(vec![rsa.jwk(true)]).await;
    server.cache_control("public, max-age=1");
    let mut app = jwks_app(&server, Duration::from_secs(1)).await;
    server.wait_for_hits(3).await;
    // A graceful restart: the first server's refresher stops, the new one takes over. Were
    // both running, fetches would come closer together than the max-age.
    app.restart().await;
    let restarted = server.hits().len();
    server.wait_for_hits(restarted + 3).await;
    let hits = server.hits();
    // A lower bound on real time (see the flood test): load can only delay a fetch.
    for pair in hits[restarted - 1..].windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(950), "two fetches {:?} apart", pair[1] - pair[0]);
    }
    assert!(accepted(&app, &rsa.sign(&app)).await);
}

#[tokio::test]
async fn start_up_fails_clearly_without_a_usable_key_set() {
    // Nothing listens there.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let short = KeyServer::start(vec![short_rsa_jwk("short")]).await;
    for (url, says) in
        [(format!("http://{closed}/jwks.json"), "onnect"), (short.url(), "1024-bit"), ("ftp://idp/".into(), "http(s)")]
    {
        let mut config = test_config();
        config.database_url = "sqlite::memory:".into();
        config.jwt_secret = None;
        config.jwt_jwks_url = Some(url.clone());
        let error = App::build(config).await.err().expect("start-up refused").to_string();
        assert!(error.contains("SMALLPAY_JWT_JWKS_URL") && error.contains(says), "{url}: {error}");
    }
}
