//! The baselines measured in the same run: what the machine does without smallpay's work.
//! Raw single-row INSERT + COMMIT transactions through a pool made like the server's (same
//! `db::connect`, same write gate); and a bare axum handler returning a body of a given size,
//! in a process of its own (`smallpay-bench --bare-server BYTES`).
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::load::{Outcome, micros};

/// `conns` workers, each committing one single-row INSERT per transaction, for `duration`.
pub async fn raw_inserts(url: &str, conns: usize, duration: Duration) -> Outcome {
    let db = smallpay::db::connect(url, smallpay::config::SqliteSynchronous::Full).await.expect("connect");
    let backend = db.get_database_backend();
    let create = match backend {
        DbBackend::Postgres => {
            "CREATE TABLE IF NOT EXISTS bench_scratch (id BIGSERIAL PRIMARY KEY, shop_id VARCHAR(64) NOT NULL, amount_fen BIGINT NOT NULL, at TIMESTAMPTZ NOT NULL)"
        }
        _ => {
            "CREATE TABLE IF NOT EXISTS bench_scratch (id INTEGER PRIMARY KEY AUTOINCREMENT, shop_id VARCHAR(64) NOT NULL, amount_fen BIGINT NOT NULL, at TEXT NOT NULL)"
        }
    };
    db.execute_unprepared(create).await.expect("scratch table");
    let insert = match backend {
        DbBackend::Postgres => "INSERT INTO bench_scratch (shop_id, amount_fen, at) VALUES ($1, $2, $3)",
        _ => "INSERT INTO bench_scratch (shop_id, amount_fen, at) VALUES (?, ?, ?)",
    };
    let db = Arc::new(db);
    let gate = Arc::new(smallpay::db::WriteGate::new(&db));
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for w in 0..conns {
        let (db, gate) = (db.clone(), gate.clone());
        workers.push(tokio::spawn(async move {
            let mut out = Outcome::default();
            while Instant::now() < deadline {
                let t = Instant::now();
                let result = async {
                    let _turn = gate.enter().await;
                    let tx = smallpay::db::begin_write(&db).await?;
                    let at: sea_orm::Value = match backend {
                        DbBackend::Postgres => chrono::Utc::now().into(),
                        _ => chrono::Utc::now().to_rfc3339().into(),
                    };
                    tx.execute_raw(Statement::from_sql_and_values(
                        backend,
                        insert,
                        [format!("shop-{w}").into(), 100_i64.into(), at],
                    ))
                    .await?;
                    tx.commit().await
                }
                .await;
                out.lat.push(micros(t.elapsed()));
                out.requests += 1;
                if let Err(e) = result {
                    out.error(format!("insert: {e}"));
                }
            }
            out
        }));
    }
    let total = Outcome::gather(workers, started).await;
    let _ = db.execute_unprepared("DROP TABLE bench_scratch").await;
    total
}

/// The hidden `--bare-server BYTES`: answers every request with a JSON body of `bytes` bytes
/// shaped like a GraphQL answer, and prints `listening on URL` like smallpay does.
pub fn bare_server(bytes: usize) -> std::process::ExitCode {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let frame = "{\"data\":{\"bench\":\"\"}}".len();
        let body: axum::body::Bytes =
            format!("{{\"data\":{{\"bench\":\"{}\"}}}}", "x".repeat(bytes.saturating_sub(frame))).into();
        // The request's body is read (as a GraphQL server would), so the connection stays alive.
        let app = axum::Router::new().fallback(move |_request: axum::body::Bytes| {
            let body = body.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], body) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("listening on http://{}", listener.local_addr().expect("addr"));
        axum::serve(listener, app).await.expect("serve");
    });
    std::process::ExitCode::SUCCESS
}
