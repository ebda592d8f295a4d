//! GraphQL: `Order`, `PlatformCompensation`, `order`, `orders`, and the platform's
//! `syncOrder` / `recordPlatformCompensation`.
use std::collections::BTreeSet;

use async_graphql::{Context, ID, InputObject, Lookahead, Object, Result, SimpleObject, Value};
use chrono::{DateTime, Utc};
use entity::{order, platform_compensation};

use super::{repo, service};
use crate::graphql::reads::read_db;
use crate::{
    auth::{
        RoleGuard,
        guards::{Throttle, viewer},
    },
    clock::to_millis,
    domain::money::Cny,
    error::AppError,
    graphql::enums::PayoutType,
    graphql::{
        loaders::{self, CompensationsByOrder, PayoutsByOrder, RequestLoader},
        pagination::{self, CursorKind, ListConnection, PageArgs},
        plain::{Plain, optional, plain_object, scalar},
    },
    payouts::graphql::payout::Payout,
    state::AppState,
    validate,
};

const CURSOR_KIND: CursorKind = CursorKind::Order;

/// An order of the shop, as the marketplace synced it.
pub struct Order(pub order::Model);

plain_object!(Order, OrderFields);

/// `Order`'s resolvers (its plain fields are read by [`Plain`] as well).
struct OrderFields<'a>(&'a order::Model);

/// An order of the shop, as the marketplace synced it.
#[Object(name = "Order")]
impl OrderFields<'_> {
    /// The marketplace's order number (订单号), unique across shops.
    async fn order_sn(&self) -> &str {
        &self.0.order_sn
    }

    /// The buyer token's `sub`.
    async fn buyer_id(&self) -> ID {
        ID(self.0.buyer_id.clone())
    }

    /// The marketplace's id of the ordered goods.
    async fn goods_id(&self) -> &str {
        &self.0.goods_id
    }

    /// The goods' name, as synced.
    async fn goods_name(&self) -> &str {
        &self.0.goods_name
    }

    /// Goods in a promotion: the lower maximum payout applies.
    async fn activity_goods(&self) -> bool {
        self.0.activity_goods
    }

    /// What the buyer paid for the order, in yuan.
    async fn paid_amount(&self) -> Cny {
        Cny::from(self.0.paid_amount_fen)
    }

    /// When the group buy completed (成团); null: not grouped.
    async fn grouped_at(&self) -> Option<DateTime<Utc>> {
        self.0.grouped_at
    }

    /// The order was refunded; earlier payouts still count (seed §6 Q2).
    async fn refunded(&self) -> bool {
        self.0.refunded
    }

    /// The shop's payouts on this order, newest first.
    async fn payouts(&self, ctx: &Context<'_>) -> Result<Vec<Payout>> {
        let loader = ctx.data::<RequestLoader>()?;
        let found = loader.load_one(PayoutsByOrder(self.0.order_sn.clone())).await?;
        Ok(found.unwrap_or_default().into_iter().map(Payout).collect())
    }

    /// What the platform itself already paid the buyer for this order, oldest first.
    async fn platform_compensations(&self, ctx: &Context<'_>) -> Result<Vec<PlatformCompensation>> {
        let loader = ctx.data::<RequestLoader>()?;
        let found = loader.load_one(CompensationsByOrder(self.0.order_sn.clone())).await?;
        Ok(found.unwrap_or_default().into_iter().map(PlatformCompensation).collect())
    }
}

impl Order {
    /// Loads, in one query per relation, what an `Order` selection will ask of the orders
    /// `sns` into the request's loader cache (see `payouts::graphql::prefetch`). Every
    /// relation field of `Order` above has its line here.
    pub async fn prefetch(loader: &RequestLoader, selection: Lookahead<'_>, sns: &BTreeSet<String>) -> Result<()> {
        if selection.field("payouts").exists() {
            loaders::prefetch(loader, sns.iter().cloned().map(PayoutsByOrder)).await?;
        }
        if selection.field("platformCompensations").exists() {
            loaders::prefetch(loader, sns.iter().cloned().map(CompensationsByOrder)).await?;
        }
        Ok(())
    }
}

/// A compensation the platform paid the buyer itself (e.g. a shipping-fee refund by
/// platform customer service): shown as a duplicate before a merchant pays.
pub struct PlatformCompensation(pub platform_compensation::Model);

/// A compensation the platform paid the buyer itself (e.g. a shipping-fee refund by platform
/// customer service): shown as a duplicate before a merchant pays.
#[Object]
impl PlatformCompensation {
    /// The record's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The order it was paid on.
    async fn order_sn(&self) -> &str {
        &self.0.order_sn
    }

    /// What it compensated.
    #[graphql(name = "type")]
    async fn kind(&self) -> PayoutType {
        self.0.r#type.into()
    }

    /// What the platform paid the buyer, in yuan.
    async fn amount(&self) -> Cny {
        Cny::from(self.0.amount_fen)
    }

    /// When the platform paid it (UTC): the input's `at`, or the recording time without one.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
}

/// A page of the shop's orders, newest synced first.
pub type OrderConnection = ListConnection<Order, OrderListFields>;

/// `OrderConnection`'s fields beside `edges` and `pageInfo`.
#[derive(SimpleObject)]
pub struct OrderListFields {
    /// Orders matching the filter, over all pages.
    pub total_count: i32,
}

/// Every field narrows the list; all given fields must match.
#[derive(InputObject, Default)]
pub struct OrderFilter {
    /// Only the order with exactly this number.
    pub order_sn: Option<String>,
    /// Only orders of exactly this goods id.
    pub goods_id: Option<String>,
    /// Only grouped (成团) orders.
    pub grouped_only: Option<bool>,
}

impl OrderFilter {
    fn validate(self) -> Result<repo::OrderFilter, AppError> {
        Ok(repo::OrderFilter {
            order_sn: self.order_sn.as_deref().map(|s| validate::id("orderSn", s)).transpose()?,
            goods_id: self.goods_id.as_deref().map(|s| validate::id("goodsId", s)).transpose()?,
            grouped_only: self.grouped_only.unwrap_or(false),
        })
    }
}

/// An order as the marketplace knows it; a sync overwrites every field (but a null `refunded`).
#[derive(InputObject)]
pub struct OrderInput {
    /// The marketplace's order number, unique across shops (at most 64 characters, no spaces);
    /// it names the order in later syncs.
    pub order_sn: String,
    /// The order's shop: synced before (else NOT_FOUND); an order never moves to another shop.
    pub shop_id: ID,
    /// The buyer token's `sub` (at most 128 characters): who gets the payouts, notices and cards.
    pub buyer_id: ID,
    /// The marketplace's goods id (at most 64 characters, no spaces).
    pub goods_id: String,
    /// Non-blank, at most 200 characters.
    pub goods_name: String,
    /// Goods in a promotion: payouts on the order are capped at the shop's maxAmountActivity.
    pub activity_goods: bool,
    /// What the buyer paid, in yuan; zero or more.
    pub paid_amount: Cny,
    /// When the group buy completed (成团); null: not grouped, and payouts are refused
    /// (ORDER_NOT_GROUPED).
    pub grouped_at: Option<DateTime<Utc>>,
    /// Null: unchanged (false for a new order).
    pub refunded: Option<bool>,
}

impl OrderInput {
    fn validate(self) -> Result<service::OrderSpec, AppError> {
        Ok(service::OrderSpec {
            order_sn: validate::id("orderSn", &self.order_sn)?,
            shop_id: validate::id("shopId", &self.shop_id)?,
            buyer_id: validate::text("buyerId", &self.buyer_id, 128)?,
            goods_id: validate::id("goodsId", &self.goods_id)?,
            goods_name: validate::text("goodsName", &self.goods_name, 200)?,
            activity_goods: self.activity_goods,
            paid_amount: validate::non_negative("paidAmount", self.paid_amount)?,
            grouped_at: self.grouped_at.map(to_millis),
            refunded: self.refunded,
        })
    }
}

/// A compensation the platform already paid the buyer for an order.
#[derive(InputObject)]
pub struct PlatformCompensationInput {
    /// An order already synced (else NOT_FOUND).
    pub order_sn: String,
    /// What it compensated.
    #[graphql(name = "type")]
    pub kind: PayoutType,
    /// What the platform paid, in yuan; positive.
    pub amount: Cny,
    /// When the platform paid it; null: now.
    pub at: Option<DateTime<Utc>>,
    /// The platform's own id for it: a repeated reference returns the same record (the same
    /// reference with another order, type, amount or time is `IDEMPOTENCY_KEY_REUSED`);
    /// without one every call records a new compensation.
    pub reference: Option<String>,
}

#[derive(Default)]
pub struct OrdersQuery;

#[Object]
impl OrdersQuery {
    /// One order of the caller's shop; null when there is none (another shop's included).
    /// Merchant roles.
    #[graphql(guard = "RoleGuard::merchant()")]
    async fn order(&self, ctx: &Context<'_>, order_sn: String) -> Result<Option<Order>> {
        let scope = viewer(ctx)?.shop_scope()?;
        let sn = validate::id("orderSn", &order_sn)?;
        Ok(repo::find_in_shop(read_db(ctx)?, &scope, &sn).await?.map(Order))
    }

    /// The shop's orders, newest synced first, cursor-paged both ways: `first`/`after`
    /// forward, `last`/`before` backward (each ≤ 100; 20 without either). Merchant roles.
    #[graphql(guard = "RoleGuard::merchant()", complexity = "pagination::cost(first, last, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        filter: Option<OrderFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<OrderConnection> {
        let scope = viewer(ctx)?.shop_scope()?;
        let filter = filter.unwrap_or_default().validate()?;
        let request =
            PageArgs { first, after: after.as_deref(), last, before: before.as_deref() }.parse(CURSOR_KIND)?;
        let page =
            repo::page(read_db(ctx)?, &scope, &filter, request, pagination::wants_far_side(ctx, request)).await?;
        // COUNT(*) only when someone reads it.
        let total = if ctx.look_ahead().field("totalCount").exists() {
            repo::count(read_db(ctx)?, &scope, &filter).await?
        } else {
            0
        };
        let fields = OrderListFields { total_count: i32::try_from(total).unwrap_or(i32::MAX) };
        Ok(pagination::connection(page, CURSOR_KIND, |o| o.id, Order, fields))
    }
}

#[derive(Default)]
pub struct OrdersMutation;

#[Object]
impl OrdersMutation {
    /// Creates or updates an order (idempotent). PLATFORM.
    #[graphql(guard = "RoleGuard::platform().and(Throttle)")]
    async fn sync_order(&self, ctx: &Context<'_>, input: OrderInput) -> Result<Order> {
        let state = ctx.data::<AppState>()?;
        Ok(Order(service::sync(state.deps(), input.validate()?).await?))
    }

    /// Records a compensation the platform paid on an order: idempotent on `reference` when
    /// one is given, a new record on every call without one. PLATFORM.
    #[graphql(guard = "RoleGuard::platform().and(Throttle)")]
    async fn record_platform_compensation(
        &self,
        ctx: &Context<'_>,
        input: PlatformCompensationInput,
    ) -> Result<PlatformCompensation> {
        let state = ctx.data::<AppState>()?;
        let spec = service::CompensationSpec {
            order_sn: validate::id("orderSn", &input.order_sn)?,
            kind: input.kind.into(),
            amount: validate::positive("amount", input.amount)?,
            at: input.at.map(to_millis),
            reference: input.reference.as_deref().map(|r| validate::id("reference", r)).transpose()?,
        };
        Ok(PlatformCompensation(service::record_compensation(state.deps(), spec).await?))
    }
}

impl Plain for OrderFields<'_> {
    fn plain(&self, name: &str) -> Option<Value> {
        let o = self.0;
        Some(match name {
            "orderSn" => Value::String(o.order_sn.clone()),
            "buyerId" => Value::String(o.buyer_id.clone()),
            "goodsId" => Value::String(o.goods_id.clone()),
            "goodsName" => Value::String(o.goods_name.clone()),
            "activityGoods" => Value::Boolean(o.activity_goods),
            "paidAmount" => scalar(&Cny::from(o.paid_amount_fen)),
            "groupedAt" => optional(o.grouped_at, |at| scalar(&at)),
            "refunded" => Value::Boolean(o.refunded),
            _ => return None,
        })
    }
}
