//! Demo data for development: two shops, their staff, orders in every shape the rules care
//! about, a platform compensation, a quota and payouts in several statuses. Idempotent:
//! loading twice changes nothing.
use chrono::{Months, TimeDelta};
use chrono_tz::Tz;

use crate::{
    accounts,
    auth::{Role, ShopScope, Viewer},
    domain::money::Cny,
    domain::{
        shop::Policy,
        vocab::{FundingChoice, PayoutType},
    },
    error::AppResult,
    orders::service::{self as orders, CompensationSpec, OrderSpec},
    payouts::{self, service::NewPayout},
    quotas,
    shops::service::{self as shops, ShopSpec},
    state::AppState,
};

pub const DEMO_SHOP: &str = "demo-shop";
pub const OTHER_SHOP: &str = "other-shop";

/// (sub, name, role) of the demo shop's staff.
pub const STAFF: &[(&str, &str, Role)] = &[
    ("admin", "王店长", Role::Admin),
    ("cs-admin", "客服主管 李娜", Role::CsAdmin),
    ("cs-1", "客服 小张", Role::Cs),
    ("staff-1", "运营 小刘", Role::Staff),
];

pub const DEMO_BUYER: &str = "buyer-1";

/// Whether the database has no shop yet.
pub async fn is_empty(state: &AppState) -> AppResult<bool> {
    Ok(crate::shops::repo::count_all(&state.db).await? == 0)
}

pub async fn load(state: &AppState) -> AppResult<()> {
    let tz: Tz = state.config.timezone;
    let shop = |id: &str, name: &str, opening: i64| ShopSpec {
        id: id.to_owned(),
        name: name.to_owned(),
        opening_balance: Cny::from_fen(opening),
        zero_entry: false,
        deposit_paid: true,
        has_unpaid_bills: false,
        time_zone: tz,
        policy: Policy::with_defaults(None, None, None, None),
    };
    shops::sync(state.deps(), shop(DEMO_SHOP, "小而美旗舰店", 1000_00)).await?;
    shops::sync(state.deps(), shop(OTHER_SHOP, "隔壁杂货铺", 500_00)).await?;

    let now = state.clock.now();
    let scope = ShopScope::platform(DEMO_SHOP);
    for (sub, name, role) in STAFF {
        accounts::repo::upsert(&state.db, &scope, sub, name, *role, now).await?;
    }

    let order =
        |sn: &str, shop: &str, buyer: &str, goods: &str, activity: bool, grouped: Option<TimeDelta>| OrderSpec {
            order_sn: sn.to_owned(),
            shop_id: shop.to_owned(),
            buyer_id: buyer.to_owned(),
            goods_id: goods.to_owned(),
            goods_name: format!("商品 {goods}"),
            activity_goods: activity,
            paid_amount: Cny::from_fen(89_90),
            grouped_at: grouped.map(|ago| now - ago),
            refunded: None,
        };
    let day = TimeDelta::days(1);
    let specs = [
        order("DEMO-0001", DEMO_SHOP, DEMO_BUYER, "G-100", false, Some(day * 2)),
        order("DEMO-0002", DEMO_SHOP, DEMO_BUYER, "G-200", true, Some(day * 10)),
        order("DEMO-0003", DEMO_SHOP, "buyer-2", "G-100", false, None),
        order("DEMO-0004", DEMO_SHOP, "buyer-2", "G-300", false, Some(now - (now - Months::new(5)))),
        order("DEMO-0005", DEMO_SHOP, "buyer-3", "G-300", false, Some(now - (now - Months::new(13)))),
        order("DEMO-0006", DEMO_SHOP, "buyer-invalid", "G-100", false, Some(day)),
        order("OTHER-0001", OTHER_SHOP, DEMO_BUYER, "X-1", false, Some(day)),
    ];
    for spec in specs {
        orders::sync(state.deps(), spec).await?;
    }
    orders::record_compensation(
        state.deps(),
        CompensationSpec {
            order_sn: "DEMO-0001".to_owned(),
            kind: PayoutType::ShippingFee,
            amount: Cny::from_fen(8_00),
            at: None,
            reference: Some("DEMO-PC-0001".to_owned()),
        },
    )
    .await?;
    payouts(state).await
}

/// A quota for the CS agent and payouts in several statuses, once (when the demo shop has
/// none yet).
async fn payouts(state: &AppState) -> AppResult<()> {
    if payouts::repo::count_in_shop(&state.db, &ShopScope::platform(DEMO_SHOP)).await? > 0 {
        return Ok(());
    }
    let scope = ShopScope::platform(DEMO_SHOP);
    quotas::service::set(state.deps(), &scope, "admin", "cs-1", Cny::from_fen(50_00), Cny::from_fen(200_00)).await?;
    let staff = |sub: &str| {
        let (sub, name, role) = STAFF.iter().find(|s| s.0 == sub).copied().unwrap_or(STAFF[0]);
        Viewer { sub: sub.to_owned(), role, shop_id: Some(DEMO_SHOP.to_owned()), name: name.to_owned() }
    };
    let payout = |order: &str, kind: PayoutType, fen: i64, funding: FundingChoice, note: Option<&str>| NewPayout {
        order_sn: order.to_owned(),
        kind,
        amount: Cny::from_fen(fen),
        reason: "演示：商品与描述不符".to_owned(),
        message: "亲，给您补偿一点心意，请查收".to_owned(),
        funding,
        approval_note: note.map(str::to_owned),
        idempotency_key: None,
    };
    let plan = [
        ("admin", payout("DEMO-0001", PayoutType::ShippingFee, 8_00, FundingChoice::Balance, None)),
        ("cs-1", payout("DEMO-0002", PayoutType::PriceDifference, 5_00, FundingChoice::WechatScan, None)),
        (
            "staff-1",
            payout("DEMO-0004", PayoutType::Other, 12_00, FundingChoice::RequestApproval, Some("没有额度，请店长审批")),
        ),
        ("admin", payout("DEMO-0006", PayoutType::ShippingFee, 3_00, FundingChoice::Balance, None)),
    ];
    for (sub, input) in plan {
        payouts::service::create(state.deps(), state.payments(), &staff(sub), input).await?;
    }
    Ok(())
}
