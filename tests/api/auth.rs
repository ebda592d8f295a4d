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
    EncodingKey::from_secret(app.config.jwt_secret_or_dev().as_bytes())
}

/// A token made of raw JSON texts, signed with the test secret: a member may appear twice,
/// as a forger writes it (a JSON serializer cannot).
fn raw_token(app: &TestApp, header: &str, claims: &str) -> String {
    use base64::Engine as _;
    let enc = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let message = format!("{}.{}", enc(header), enc(claims));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &secret(app), Algorithm::HS256).expect("sign");
    format!("{message}.{signature}")
}

/// `claims` as JSON text with `extra` (`"name":value` pairs) appended inside the object.
fn claims_text_with(claims: &Value, extra: &str) -> String {
    let text = claims.to_string();
    format!("{},{extra}}}", text.strip_suffix('}').expect("an object"))
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
            "issued in the future beyond the leeway",
            sign(&with(&|c| c["iat"] = json!(now + 120)), Algorithm::HS256, &key),
            "iat",
        ),
        ("a malformed iat", sign(&with(&|c| c["iat"] = json!("yesterday")), Algorithm::HS256, &key), "iat"),
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
        c["iat"] = json!(now + 30);
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
    // Of any JSON type: a numeric `jti` (some identity providers issue one) once refused the token.
    for (claim, value) in [
        ("scope", json!("openid profile")),
        ("azp", json!("web")),
        ("typ", json!("Bearer")),
        ("sid", json!("x")),
        ("jti", json!(1_234_567)),
        ("amr", json!(["pwd", "otp"])),
        ("auth_time", json!(1.5)),
        ("nonce", Value::Null),
        ("ext", json!({ "tenant": { "id": 7 } })),
    ] {
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

/// The review's forgery: `cs-1`'s claims with a second `role` member. serde_json keeps the last
/// one, so the token read as ADMIN; any duplicated member, in the claims or the header, at any
/// depth, now refuses the token, and the refused token provisions no account.
async fn a_member_named_twice_refuses_the_token(app: TestApp) {
    app.sync_shop("s1", "0", json!({})).await;
    let mut cs = claims(&app);
    cs["sub"] = json!("cs-1");
    let header = r#"{"alg":"HS256","typ":"JWT"}"#;
    let cases = [
        ("a second role", raw_token(&app, header, &claims_text_with(&cs, r#""role":"admin""#)), "role"),
        ("the same role twice", raw_token(&app, header, &claims_text_with(&cs, r#""role":"cs""#)), "role"),
        ("a second sub", raw_token(&app, header, &claims_text_with(&cs, r#""sub":"admin""#)), "sub"),
        (
            "a member twice in an unread claim's object",
            raw_token(&app, header, &claims_text_with(&cs, r#""ext":{"a":1,"a":2}"#)),
            "`a`",
        ),
        (
            "a header member twice",
            raw_token(&app, r#"{"alg":"HS256","typ":"JWT","typ":"JWT"}"#, &cs.to_string()),
            "typ",
        ),
    ];
    for (case, token, names) in cases {
        let (message, code) = message_and_code(&app, &token).await;
        assert_eq!(code, "UNAUTHENTICATED", "{case}: {message}");
        assert!(message.contains("more than once") && message.contains(names), "{case}: {message}");
    }
    // The same claims without the second member are a CS agent's.
    let honest = raw_token(&app, header, &cs.to_string());
    assert_eq!(app.ok(&honest, ME, json!({})).await["me"], json!({ "id": "cs-1", "role": "CS" }));
    // Only the honest token's account exists: no refusal provisioned one.
    let accounts = app.ok(&app.admin("s1"), "{ accounts { id role } }", json!({})).await["accounts"].clone();
    assert_eq!(accounts, json!([{ "id": "admin", "role": "ADMIN" }, { "id": "cs-1", "role": "CS" }]));
}

/// RFC 7515 §4.1.11: a header's `crit` lists extensions the recipient must understand, or
/// refuse the token. smallpay understands none.
#[tokio::test]
async fn a_critical_header_extension_refuses_the_token() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let claims = claims(&app).to_string();
    for header in [
        r#"{"alg":"HS256","typ":"JWT","crit":["b64"],"b64":false}"#,
        r#"{"alg":"HS256","typ":"JWT","crit":["https://idp.example/assurance"],"https://idp.example/assurance":2}"#,
        r#"{"alg":"HS256","typ":"JWT","crit":["exp"]}"#,
        r#"{"alg":"HS256","typ":"JWT","crit":[]}"#,
        r#"{"alg":"HS256","typ":"JWT","crit":"b64"}"#,
    ] {
        let (message, code) = message_and_code(&app, &raw_token(&app, header, &claims)).await;
        assert_eq!(code, "UNAUTHENTICATED", "{header}: {message}");
        assert!(message.contains("crit"), "{header}: {message}");
    }
    // Without `crit` the same token is accepted.
    let plain = raw_token(&app, r#"{"alg":"HS256","typ":"JWT","b64":false}"#, &claims);
    assert_eq!(app.ok(&plain, ME, json!({})).await["me"]["role"], "CS");
}

/// RFC 7235: the scheme of `Authorization` is case-insensitive — on `/graphql`, in a socket's
/// `connection_init`, and on `/metrics`.
async fn the_bearer_scheme_is_read_in_any_case(app: TestApp) {
    let token = app.token(Role::Cs, Some("s1"), "alice");
    let me = json!({ "query": ME });
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        for value in [format!("{scheme} {token}"), format!("{scheme}   {token}")] {
            let response = app.http.post(app.url("/graphql")).header("Authorization", value).json(&me);
            let response: Value = response.send().await.unwrap().json().await.unwrap();
            assert_eq!(response["data"]["me"]["role"], "CS", "{scheme}: {response}");
        }
        for protocol in ["graphql-transport-ws", "graphql-ws"] {
            let init = json!({ "Authorization": format!("{scheme} {token}") });
            let (_socket, first, close) = app.ws_init(protocol, init).await;
            assert_eq!(
                first.map(|f| f["type"].clone()),
                Some(json!("connection_ack")),
                "{scheme} {protocol} {close:?}"
            );
        }
    }
    // Another scheme, or the scheme alone, is still refused.
    for value in ["Basic abc", format!("Bearerx {token}").as_str(), "Bearer", "Bearer   "] {
        let response = app.http.post(app.url("/graphql")).header("Authorization", value).json(&me);
        let response: Value = response.send().await.unwrap().json().await.unwrap();
        assert_eq!(first_code(&response), "UNAUTHENTICATED", "{value}: {response}");
    }
}

#[tokio::test]
async fn the_metrics_token_takes_the_bearer_scheme_in_any_case() {
    let app = TestApp::try_spawn_with(Backend::Sqlite, |c| c.metrics_token = Some("m-secret".into())).await.unwrap();
    let status = |value: &'static str| {
        let request = app.http.get(app.url("/metrics")).header("Authorization", value);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    for value in ["Bearer m-secret", "bearer m-secret", "BEARER m-secret"] {
        assert_eq!(status(value).await, 200, "{value}");
    }
    for value in ["bearer m-secre", "Basic m-secret", "m-secret"] {
        assert_eq!(status(value).await, 401, "{value}");
    }
}

/// The history names an actor by a string (api.graphql: an account id, `buyer:<id>`, `system`
/// or `platform`): a merchant whose `sub` is one of the others' names is refused, so no shop
/// account can pose as the system, the platform or a buyer. Buyers' and the platform's own
/// subs are never shown bare, and are not constrained.
async fn a_merchant_cannot_take_another_actors_name(app: TestApp) {
    app.sync_shop("s1", "0", json!({})).await;
    for role in [Role::Cs, Role::Admin] {
        for sub in ["system", "platform", "buyer:b-1", "System", "PLATFORM", "Buyer:b-1"] {
            let (message, code) = message_and_code(&app, &app.token(role, Some("s1"), sub)).await;
            assert_eq!(code, "UNAUTHENTICATED", "{role:?} {sub}: {message}");
            assert!(message.contains("sub") && message.contains("reserved"), "{role:?} {sub}: {message}");
        }
    }
    for sub in ["system", "platform"] {
        let me = app.ok(&app.token(Role::Buyer, None, sub), ME, json!({})).await;
        assert_eq!(me["me"], json!({ "id": sub, "role": "BUYER" }));
    }
    // Names that only begin like the reserved ones are accounts like any other.
    for sub in ["systems", "platform-ops", "buyer-1"] {
        let me = app.ok(&app.token(Role::Cs, Some("s1"), sub), ME, json!({})).await;
        assert_eq!(me["me"]["id"], sub);
    }
    let accounts = app.ok(&app.admin("s1"), "{ accounts { id } }", json!({})).await["accounts"].clone();
    let ids: Vec<&str> = accounts.as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["admin", "buyer-1", "platform-ops", "systems"], "no refused token provisioned an account");
}

const HISTORY: &str = "query($id: ID!) { payout(id: $id) { history { to actor actorKind } } }";

/// `(to, actor, actorKind)` of each entry of a payout's history.
async fn history(app: &TestApp, token: &str, id: &Value) -> Vec<(String, String, String)> {
    let payout = app.ok(token, HISTORY, json!({ "id": id })).await["payout"].clone();
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    payout["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (text(&t["to"]), text(&t["actor"]), text(&t["actorKind"])))
        .collect()
}

fn entries(expected: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    expected.iter().map(|(to, actor, kind)| ((*to).to_owned(), (*actor).to_owned(), (*kind).to_owned())).collect()
}

/// Each history entry names its actor's kind, whoever recorded it: a merchant (creation and
/// approval), the platform (the channel's results), a buyer (a receiving account) and the system
/// (a deadline). The migration that added the kind fills it for entries already there — also
/// for an entry a merchant account called `system` or `buyer:…` made before such names were
/// refused: the step (a creation, an approval) says a merchant made it.
async fn each_history_entry_names_its_actors_kind(app: TestApp) {
    use migration::MigratorTrait as _;
    use sea_orm::ConnectionTrait as _;
    let (admin, cs, _) = crate::payouts::shop(&app, "100", json!({})).await;
    // A request the admin approves; the channel fails it (the buyer's id ends in `-invalid`),
    // the buyer submits an account, and it is paid.
    app.sync_order("O-1", "s1", json!({ "buyerId": "carol-invalid" })).await;
    let asked = app.create_payout(&cs, "O-1", "9.00", "REQUEST_APPROVAL", json!({ "approvalNote": "x" })).await;
    let request = asked["data"]["createPayout"]["id"].clone();
    app.ok(&admin, "mutation($id: ID!) { approvePayout(payoutId: $id) { id } }", json!({ "id": request })).await;
    let carol = app.token(Role::Buyer, None, "carol-invalid");
    let card = app.ok(&carol, "{ myAccountCards { id } }", json!({})).await["myAccountCards"][0]["id"].clone();
    let submit = "mutation($c: ID!) { submitReceivingAccount(cardId: $c,
      account: { kind: ALIPAY, accountNo: \"13800138000\", holderName: \"张三\" }) { id } }";
    app.ok(&carol, submit, json!({ "c": card })).await;
    // A scan payout not recharged within the hour: the system fails it.
    app.sync_order("O-2", "s1", json!({})).await;
    let scan = app.pay(&cs, "O-2", "1.00", "WECHAT_SCAN").await["id"].clone();
    app.advance(3600).await;

    let paid = entries(&[
        ("PENDING_APPROVAL", "cs-1", "MERCHANT"),
        ("PAYING", "admin", "MERCHANT"),
        ("FAILED", "platform", "PLATFORM"),
        ("PAYING", "buyer:carol-invalid", "BUYER"),
        ("SUCCEEDED", "platform", "PLATFORM"),
    ]);
    let failed = entries(&[("PENDING_RECHARGE", "cs-1", "MERCHANT"), ("RECHARGE_FAILED", "system", "SYSTEM")]);
    assert_eq!(history(&app, &admin, &request).await, paid);
    assert_eq!(history(&app, &admin, &scan).await, failed);

    // Entries as a merchant account called `system` (the scan payout's creation) and one
    // called `buyer:x` (the approval) recorded them before the kind existed.
    let id = |v: &Value| v.as_str().unwrap().parse::<i64>().unwrap();
    for planted in [
        format!(
            "UPDATE payout_transitions SET actor = 'system' WHERE payout_id = {} AND from_status IS NULL",
            id(&scan)
        ),
        format!(
            "UPDATE payout_transitions SET actor = 'buyer:x' WHERE payout_id = {} AND from_status = 'PENDING_APPROVAL'",
            id(&request)
        ),
    ] {
        app.state.db.execute_unprepared(&planted).await.unwrap();
    }
    // The migration undone (the column goes) and done again: every kind is filled as recorded.
    let since_it = migration::Migrator::migrations()
        .iter()
        .rev()
        .position(|m| m.name() == "m20261204_000001_transition_actor_kind")
        .expect("the migration is registered");
    migration::Migrator::down(&app.state.db, Some(since_it as u32 + 1)).await.unwrap();
    migration::Migrator::up(&app.state.db, None).await.unwrap();
    let mut paid = paid;
    paid[1].1 = "buyer:x".into();
    assert_eq!(history(&app, &admin, &request).await, paid);
    let mut failed = failed;
    failed[0].1 = "system".into();
    assert_eq!(history(&app, &admin, &scan).await, failed);
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

on_both_databases!(
    only_admins_and_cs_admins_see_the_balance,
    accounts_are_provisioned_from_token_claims,
    a_member_named_twice_refuses_the_token,
    the_bearer_scheme_is_read_in_any_case,
    a_merchant_cannot_take_another_actors_name,
    each_history_entry_names_its_actors_kind,
);
