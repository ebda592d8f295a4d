//! GraphQL: the `Shop` type, `shop`, and the platform's `syncShop` / `adjustShopBalance`.
use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono_tz::Tz;
use entity::shop;

use super::service;
use crate::domain::shop::Policy;
use crate::graphql::reads::read_db;
use crate::{
    auth::{
        Role, RoleGuard,
        guards::{Throttle, viewer},
    },
    domain::money::Cny,
    error::AppError,
    state::AppState,
    validate,
};

/// A shop: its payout policy, balance and today's totals.
pub struct Shop(pub shop::Model);

/// A shop: its payout policy, balance and today's totals ("today" in the shop's time zone).
#[Object]
impl Shop {
    /// The marketplace's shop id: the `shop_id` claim of the shop's merchant tokens.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The shop's name as the platform synced it; buyers see it on account cards and notices.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The shop's balance (货款账户余额). ADMIN, CS_ADMIN and PLATFORM only; others get null
    /// with a FORBIDDEN error.
    #[graphql(guard = "RoleGuard::new(&[Role::Admin, Role::CsAdmin, Role::Platform])")]
    async fn balance(&self) -> Option<Cny> {
        Some(Cny::from(self.0.balance_fen))
    }

    /// A zero-fee-entry shop (0元入驻).
    async fn zero_entry(&self) -> bool {
        self.0.zero_entry
    }

    /// The shop paid its deposit; a zero-entry shop without one cannot pay from the balance
    /// (ZERO_ENTRY_NO_DEPOSIT).
    async fn deposit_paid(&self) -> bool {
        self.0.deposit_paid
    }

    /// The shop has unpaid bills: every payout is refused (SHOP_UNPAID_BILLS).
    async fn has_unpaid_bills(&self) -> bool {
        self.0.has_unpaid_bills
    }

    /// IANA name; "today" for this shop's caps and quotas.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }

    /// The most the shop may pay out per day, every funding kind together.
    async fn daily_cap(&self) -> Cny {
        Cny::from(self.0.daily_cap_fen)
    }

    /// The most the shop may pay out per day from its balance.
    async fn daily_balance_cap(&self) -> Cny {
        Cny::from(self.0.daily_balance_cap_fen)
    }

    /// The largest payout on an order of regular goods.
    async fn max_amount_regular(&self) -> Cny {
        Cny::from(self.0.max_amount_regular_fen)
    }

    /// The largest payout on an order of activity (promotion) goods.
    async fn max_amount_activity(&self) -> Cny {
        Cny::from(self.0.max_amount_activity_fen)
    }

    /// Payouts committed today, every funding kind: the sum SHOP_DAILY_CAP_REACHED counts.
    async fn paid_today(&self, ctx: &Context<'_>) -> Result<Cny> {
        Ok(service::paid_today(ctx.data::<AppState>()?.deps_on(read_db(ctx)?), &self.0, false).await?)
    }

    /// Balance-funded payouts committed today: the sum SHOP_DAILY_BALANCE_CAP_REACHED counts.
    async fn paid_from_balance_today(&self, ctx: &Context<'_>) -> Result<Cny> {
        Ok(service::paid_today(ctx.data::<AppState>()?.deps_on(read_db(ctx)?), &self.0, true).await?)
    }
}

/// A shop as the marketplace knows it. Null policy fields take the policy default.
#[derive(InputObject)]
pub struct ShopInput {
    /// The marketplace's shop id, as in its merchant tokens' `shop_id` (at most 64 characters,
    /// no spaces); it names the shop in later syncs.
    pub id: ID,
    /// The shop's name; non-blank, at most 200 characters.
    pub name: String,
    /// Used only when the shop is created (default 0.00); later balance changes go through
    /// adjustShopBalance.
    pub opening_balance: Option<Cny>,
    /// A zero-fee-entry shop (0元入驻): it cannot pay from the balance until its deposit is paid.
    pub zero_entry: bool,
    /// The shop paid its deposit (matters only for a zero-entry shop).
    pub deposit_paid: bool,
    /// While true, every payout is refused with SHOP_UNPAID_BILLS.
    pub has_unpaid_bills: bool,
    /// Null: the server's default (SMALLPAY_TIMEZONE).
    pub time_zone: Option<String>,
    /// Null: policy default 5000.00.
    pub daily_cap: Option<Cny>,
    /// Null: policy default 2000.00.
    pub daily_balance_cap: Option<Cny>,
    /// Null: policy default 200.00.
    pub max_amount_regular: Option<Cny>,
    /// Null: policy default 50.00.
    pub max_amount_activity: Option<Cny>,
}

impl ShopInput {
    fn validate(self, default_tz: Tz) -> Result<service::ShopSpec, AppError> {
        let time_zone = match validate::optional_text("timeZone", self.time_zone.as_deref(), 64)? {
            None => default_tz,
            Some(name) => name
                .parse::<Tz>()
                .map_err(|_| AppError::bad_input("timeZone", format!("`{name}` is not an IANA time zone")))?,
        };
        let cap = |field: &str, v: Option<Cny>| v.map(|c| validate::non_negative(field, c)).transpose();
        let max = |field: &str, v: Option<Cny>| v.map(|c| validate::positive(field, c)).transpose();
        Ok(service::ShopSpec {
            id: validate::id("id", &self.id)?,
            name: validate::text("name", &self.name, 200)?,
            opening_balance: validate::non_negative("openingBalance", self.opening_balance.unwrap_or(Cny::ZERO))?,
            zero_entry: self.zero_entry,
            deposit_paid: self.deposit_paid,
            has_unpaid_bills: self.has_unpaid_bills,
            time_zone,
            policy: Policy::with_defaults(
                cap("dailyCap", self.daily_cap)?,
                cap("dailyBalanceCap", self.daily_balance_cap)?,
                max("maxAmountRegular", self.max_amount_regular)?,
                max("maxAmountActivity", self.max_amount_activity)?,
            ),
        })
    }
}

#[derive(Default)]
pub struct ShopQuery;

#[Object]
impl ShopQuery {
    /// The caller's shop. Merchant roles.
    #[graphql(guard = "RoleGuard::merchant()")]
    async fn shop(&self, ctx: &Context<'_>) -> Result<Shop> {
        let scope = viewer(ctx)?.shop_scope()?;
        let shop = super::repo::find(read_db(ctx)?, &scope)
            .await?
            .ok_or_else(|| AppError::not_found(format!("shop {}", scope.id())))?;
        Ok(Shop(shop))
    }
}

#[derive(Default)]
pub struct ShopMutation;

#[Object]
impl ShopMutation {
    /// Creates or updates a shop (idempotent). PLATFORM.
    #[graphql(guard = "RoleGuard::platform().and(Throttle)")]
    async fn sync_shop(&self, ctx: &Context<'_>, input: ShopInput) -> Result<Shop> {
        let state = ctx.data::<AppState>()?;
        let spec = input.validate(state.config.timezone)?;
        Ok(Shop(service::sync(state.deps(), spec).await?))
    }

    /// Moves a shop's balance by a signed amount; idempotent on `reference`. Refused with
    /// INSUFFICIENT_BALANCE if the balance would go below zero. PLATFORM.
    #[graphql(guard = "RoleGuard::platform().and(Throttle)")]
    async fn adjust_shop_balance(
        &self,
        ctx: &Context<'_>,
        shop_id: ID,
        amount: Cny,
        reference: String,
    ) -> Result<Shop> {
        let state = ctx.data::<AppState>()?;
        let shop_id = validate::id("shopId", &shop_id)?;
        let reference = validate::text("reference", &reference, 128)?;
        if amount == Cny::ZERO {
            return Err(AppError::bad_input("amount", "`amount` must not be zero").into());
        }
        Ok(Shop(service::adjust_balance(state.deps(), &shop_id, amount, &reference).await?))
    }
}
