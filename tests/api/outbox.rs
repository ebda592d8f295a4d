//! PostgreSQL's outbox without a global lock: writers of different shops do not wait for each
//! other, and an event committed late by a slow transaction is still delivered, in its shop's
//! order (the publisher reads up to the oldest running transaction; see `events::repo`).
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde_json::json;

use crate::helpers::{Backend, TestApp};

const STATUS: &str = "subscription($a: ID) { payoutStatusChanged(afterEventId: $a) { id payoutId to note } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_writer_neither_blocks_other_shops_nor_loses_its_event_postgres() {
    let Some(app) = TestApp::try_spawn(Backend::Postgres).await else { return };
    for shop in ["sa", "sb"] {
        app.sync_shop(shop, "1000", json!({})).await;
    }
    app.sync_order("A-1", "sa", json!({})).await;
    for n in 1..=3 {
        app.sync_order(&format!("B-{n}"), "sb", json!({})).await;
    }
    let paid = app.pay(&app.admin("sa"), "A-1", "1.00", "BALANCE").await;
    let payout: i64 = paid["id"].as_str().unwrap().parse().unwrap();
    // Everything shop sa has so far, to resume after (no race with the subscription's start).
    let history = app
        .ok(&app.admin("sa"), "query($id: ID!) { payout(id: $id) { history { id } } }", json!({ "id": paid["id"] }))
        .await;
    let last = history["payout"]["history"].as_array().unwrap().last().unwrap()["id"].clone();
    let mut sa = app.subscribe("graphql-transport-ws", &app.admin("sa"), STATUS, json!({ "a": last })).await;
    let mut sb = app.subscribe("graphql-transport-ws", &app.admin("sb"), STATUS, json!({})).await;

    // A slow writer of shop sa, the way `db::begin_shop_write` starts one: its event id is
    // taken now, before shop sb's, and committed after them.
    let slow = app.state.db.begin().await.unwrap();
    slow.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock(hashtextextended('sa', 7270414))",
    ))
    .await
    .unwrap();
    let row = slow
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO payout_transitions (payout_id, shop_id, order_sn, applicant_id, from_status, to_status, at, actor, note) \
             SELECT id, shop_id, order_sn, applicant_id, status, status, now(), 'test', 'slow writer' FROM payouts WHERE id = $1 \
             RETURNING id",
            [payout.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    let slow_id: i64 = row.try_get("", "id").unwrap();

    // Shop sb's writers do not wait for it (with one global lock they would, until it ends).
    for n in 1..=3 {
        let created = tokio::time::timeout(
            Duration::from_secs(10),
            app.pay(&app.admin("sb"), &format!("B-{n}"), "1.00", "BALANCE"),
        )
        .await
        .expect("shop sb's payouts are not held up by shop sa's transaction");
        let id: i64 = created["id"].as_str().unwrap().parse().unwrap();
        assert!(id > 0);
    }
    slow.commit().await.unwrap();

    // The late event reaches shop sa's subscriber, although events with larger ids (shop sb's)
    // committed before it.
    let event = sa.next().await.expect("the slow writer's event");
    let event = &event["payoutStatusChanged"];
    assert_eq!(event["id"], json!(slow_id.to_string()), "{event}");
    assert_eq!(event["note"], "slow writer");
    // Shop sb's subscriber gets its three payouts' events, in order, each once.
    let mut ids = Vec::new();
    while ids.len() < 6 {
        let e = sb.next().await.expect("an event of shop sb");
        ids.push(e["payoutStatusChanged"]["id"].as_str().unwrap().parse::<i64>().unwrap());
    }
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(ids, sorted, "shop sb's events in id order, once each");
    assert!(ids.iter().all(|id| *id > slow_id));
}
