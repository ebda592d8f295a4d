//! JWT verification and role guards, through the API.
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use smallpay::auth::Role;

use crate::{
    helpers::{Backend, TestApp, first_code},
    on_both_databases,
};

const ME: &str = "{ me { id role } }";

/// Claims as JSON, valid unless changed by the caller.
fn claims(app: &TestApp) -> Value {
    let now = Utc::now().timestamp();
    json!({
        "sub": "alice", "role": "cs", "shop_id": "s1", "iss": app.config.jwt_issuer,
        "aud": app.config.jwt_audience, "exp": now + 600, "iat": now,
    })
}

fn sign(claims: &Value, alg: Algorithm, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).expect("encode")
}

fn secret(app: &TestApp) -> EncodingKey {
    EncodingKey::from_secret(app.config.jwt_secret.as_deref().expect("test secret").as_bytes())
}

async fn message_and_code(app: &TestApp, token: &str) -> (String, String) {
    let response = app.gql(Some(token), ME, json!({})).await;
    (response["errors"][0]["message"].as_str().unwrap_or_default().to_owned(), first_code(&response))
}

#[tokio::test]
async fn every_jwt_failure_is_unauthenticated_and_says_why() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = secret(&app);
    let now = Utc::now().timestamp();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims(&app);
        change(&mut c);
        c
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("expired beyond the leeway", sign(&with(&|c| c["exp"] = json!(now - 61)), Algorithm::HS256, &key), "exp"),
        (
            "not yet valid beyond the leeway",
            sign(&with(&|c| c["nbf"] = json!(now + 120)), Algorithm::HS256, &key),
            "nbf",
        ),
        ("wrong issuer", sign(&with(&|c| c["iss"] = json!("someone-else")), Algorithm::HS256, &key), "iss"),
        ("wrong audience", sign(&with(&|c| c["aud"] = json!("another-api")), Algorithm::HS256, &key), "aud"),
        (
            "bad signature",
            sign(&claims(&app), Algorithm::HS256, &EncodingKey::from_secret(b"not-the-secret-not-the-secret-xx")),
            "signature",
        ),
        ("another algorithm", sign(&claims(&app), Algorithm::HS384, &key), "algorithm"),
        (
            "missing sub",
            sign(&with(&|c| drop(c.as_object_mut().unwrap().remove("sub"))), Algorithm::HS256, &key),
            "sub",
        ),
        (
            "missing role",
            sign(&with(&|c| drop(c.as_object_mut().unwrap().remove("role"))), Algorithm::HS256, &key),
            "role",
        ),
        (
            "missing exp",
            sign(&with(&|c| drop(c.as_object_mut().unwrap().remove("exp"))), Algorithm::HS256, &key),
            "exp",
        ),
        (
            "a misspelt shop claim",
            sign(
                &with(&|c| {
                    c["shopId"] = c["shop_id"].clone();
                    drop(c.as_object_mut().unwrap().remove("shop_id"));
                }),
                Algorithm::HS256,
                &key,
            ),
            "shop_id",
        ),
        ("a claim it reads, malformed", sign(&with(&|c| c["name"] = json!(42)), Algorithm::HS256, &key), "claims"),
        (
            "a lifetime beyond SMALLPAY_JWT_MAX_LIFETIME",
            sign(&with(&|c| c["exp"] = json!(Utc::now().timestamp() + 30 * 86400)), Algorithm::HS256, &key),
            "lifetime",
        ),
        ("unknown role", sign(&with(&|c| c["role"] = json!("root")), Algorithm::HS256, &key), "role"),
        (
            "merchant without shop_id",
            sign(&with(&|c| drop(c.as_object_mut().unwrap().remove("shop_id"))), Algorithm::HS256, &key),
            "shop_id",
        ),
        ("alg none", none_token(&claims(&app)), "none"),
        ("garbage", "not.a.jwt".to_owned(), "JWT"),
    ];
    for (case, token, says) in cases {
        let (message, code) = message_and_code(&app, &token).await;
        assert_eq!(code, "UNAUTHENTICATED", "{case}");
        assert!(message.contains(says), "{case}: message {message:?} should mention {says:?}");
    }
    // Not a Bearer header at all.
    let response = app.http.post(app.url("/graphql")).header("Authorization", "Basic abc").json(&json!({"query": ME}));
    let response: Value = response.send().await.unwrap().json().await.unwrap();
    assert_eq!(first_code(&response), "UNAUTHENTICATED");
    // No token: the field refuses.
    assert_eq!(app.code(None, ME, json!({})).await, "UNAUTHENTICATED");
}

#[tokio::test]
async fn time_claims_have_sixty_seconds_of_leeway() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = secret(&app);
    // Tokens are judged by the wall clock. The claims are set just before the request; an
    // answer that took longer than 25 s (a stalled machine: the 30 s margin could be gone) is
    // not judged but tried again.
    loop {
        let started = std::time::Instant::now();
        let now = Utc::now().timestamp();
        let mut c = claims(&app);
        c["exp"] = json!(now - 30);
        c["nbf"] = json!(now + 30);
        let response = app.gql(Some(&sign(&c, Algorithm::HS256, &key)), ME, json!({})).await;
        if started.elapsed() > std::time::Duration::from_secs(25) {
            continue;
        }
        assert_eq!(response["data"]["me"]["id"], "alice", "{response}");
        break;
    }
}

fn none_token(claims: &Value) -> String {
    use base64::Engine;
    let enc = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.", enc(&json!({"alg": "none", "typ": "JWT"})), enc(claims))
}

async fn public_key_server(public: &str) -> TestApp {
    let pem = std::fs::read_to_string(format!("{}/tests/fixtures/{public}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    TestApp::try_spawn_with(Backend::Sqlite, |c| {
        c.jwt_secret = None;
        c.jwt_public_key = Some(pem);
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn rs256_and_es256_with_a_public_key_and_no_key_confusion() {
    for (public, private, alg) in [
        ("rsa_public.pem", "rsa_private.pem", Algorithm::RS256),
        ("ec_public.pem", "ec_private.pem", Algorithm::ES256),
        ("ec384_public.pem", "ec384_private.pem", Algorithm::ES384),
    ] {
        let app = public_key_server(public).await;
        let private_pem = std::fs::read(format!("{}/tests/fixtures/{private}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&private_pem).unwrap(),
            _ => EncodingKey::from_ec_pem(&private_pem).unwrap(),
        };
        let c = claims(&app);
        let data = app.ok(&sign(&c, alg, &key), ME, json!({})).await;
        assert_eq!(data["me"]["role"], "CS", "{alg:?}");
        // The public key used as an HMAC secret: the classic confusion attack.
        let public_pem = std::fs::read(format!("{}/tests/fixtures/{public}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let forged = sign(&c, Algorithm::HS256, &EncodingKey::from_secret(&public_pem));
        let (message, code) = message_and_code(&app, &forged).await;
        assert_eq!(code, "UNAUTHENTICATED");
        assert!(message.contains("algorithm"), "{message}");
    }
}

#[tokio::test]
async fn an_identity_providers_extra_claims_are_ignored() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut c = claims(&app);
    for (claim, value) in
        [("scope", json!("openid profile")), ("azp", json!("web")), ("typ", json!("Bearer")), ("sid", json!("x"))]
    {
        c[claim] = value;
    }
    let data = app.ok(&sign(&c, Algorithm::HS256, &secret(&app)), ME, json!({})).await;
    assert_eq!(data["me"]["role"], "CS");
}

#[tokio::test]
async fn claims_may_sit_in_an_identity_providers_namespace() {
    let ns = "https://smallpay.example/claims";
    let app = TestApp::try_spawn_with(Backend::Sqlite, |c| c.jwt_claims_namespace = Some(ns.into())).await.unwrap();
    let mut c = claims(&app);
    let inner = json!({ "role": c["role"].clone(), "shop_id": c["shop_id"].clone(), "name": "Amy" });
    for claim in ["role", "shop_id", "name"] {
        c.as_object_mut().unwrap().remove(claim);
    }
    c[ns] = inner;
    let data = app.ok(&sign(&c, Algorithm::HS256, &secret(&app)), "{ me { id name role } }", json!({})).await;
    assert_eq!((data["me"]["role"].clone(), data["me"]["name"].clone()), (json!("CS"), json!("Amy")));
}

#[test]
fn weak_or_unknown_public_keys_are_refused_at_start_up() {
    let read =
        |name: &str| std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut config = smallpay::config::Config::defaults();
    config.jwt_public_key = Some(read("rsa1024_public.pem"));
    let refused = smallpay::auth::JwtKeys::from_config(&config).err().expect("a 1024-bit key is refused");
    assert!(refused.to_string().contains("2048"), "{refused}");
    config.jwt_public_key = Some(read("ec384_public.pem"));
    assert_eq!(smallpay::auth::JwtKeys::from_config(&config).unwrap().algorithm(), Algorithm::ES384);
    config.jwt_public_key = Some("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n".into());
    assert!(smallpay::auth::JwtKeys::from_config(&config).is_err());
}

/// Shop.balance beside the other fields (every field's roles: `roles.rs`).
async fn only_admins_and_cs_admins_see_the_balance(app: TestApp) {
    app.sync_shop("s1", "10.00", json!({})).await;
    app.ok(
        &app.platform(),
        "mutation { adjustShopBalance(shopId: \"s1\", amount: \"1.00\", reference: \"g-1\") { id } }",
        json!({}),
    )
    .await;
    // Shop.balance: ADMIN, CS_ADMIN and PLATFORM only; others get null and FORBIDDEN. (The
    // platform's adjustShopBalance above added 1.00.)
    for role in &[Role::Admin, Role::CsAdmin, Role::Cs, Role::Staff] {
        let response = app.gql(Some(&app.token(*role, Some("s1"), "x")), "{ shop { name balance } }", json!({})).await;
        let visible = matches!(role, Role::Admin | Role::CsAdmin);
        assert_eq!(response["data"]["shop"]["name"], "Shop s1");
        if visible {
            assert_eq!(response["data"]["shop"]["balance"], "11.00", "{role:?}");
        } else {
            assert_eq!(response["data"]["shop"]["balance"], Value::Null, "{role:?}");
            assert_eq!(first_code(&response), "FORBIDDEN", "{role:?}");
        }
    }
    let platform_view = app
        .ok(
            &app.platform(),
            "mutation { adjustShopBalance(shopId: \"s1\", amount: \"0.50\", reference: \"r\") { balance } }",
            json!({}),
        )
        .await;
    assert_eq!(platform_view["adjustShopBalance"]["balance"], "11.50");
}

async fn accounts_are_provisioned_from_token_claims(app: TestApp) {
    app.sync_shop("s1", "0", json!({})).await;
    let admin = app.admin("s1");
    // Before anyone else signs in, only the admin exists.
    let data = app.ok(&admin, "{ accounts { id name role } }", json!({})).await;
    assert_eq!(data["accounts"], json!([{ "id": "admin", "name": "admin name", "role": "ADMIN" }]));
    // A CS agent's first request creates its account; a new name or role in a later token
    // updates it.
    app.ok(&app.token(Role::Cs, Some("s1"), "bob"), "{ me { id } }", json!({})).await;
    let renamed = app.keys.claims(Role::Staff, Some("s1"), "bob", Some("Bob B."), std::time::Duration::from_secs(60));
    app.ok(&app.keys.sign(&renamed).unwrap(), "{ me { id name role } }", json!({})).await;
    let data = app.ok(&admin, "{ accounts { id name role } }", json!({})).await;
    assert_eq!(data["accounts"][1], json!({ "id": "bob", "name": "Bob B.", "role": "STAFF" }));
    // A buyer and the platform are not accounts of a shop.
    let me = app.ok(&app.token(Role::Buyer, None, "buyer-7"), "{ me { id role shop { id } } }", json!({})).await;
    assert_eq!(me["me"], json!({ "id": "buyer-7", "role": "BUYER", "shop": null }));
    assert_eq!(app.ok(&admin, "{ accounts { id } }", json!({})).await["accounts"].as_array().unwrap().len(), 2);
}

on_both_databases!(only_admins_and_cs_admins_see_the_balance, accounts_are_provisioned_from_token_claims);
