//! GraphQL: `AccountCard`, `BuyerNotification`, the buyer's `myAccountCards`,
//! `myNotifications` and `submitReceivingAccount`, and the merchant's `resendAccountCard`.
use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use entity::{account_card, buyer_notification};

use super::{
    notify,
    rules::{self, AccountKind},
    service,
};
use crate::{
    auth::{Role, RoleGuard, guards::viewer},
    error::AppError,
    graphql::loaders::{PayoutById, RequestLoader, ShopById},
    money::Cny,
    payouts::{
        graphql::{parse as stored, payout_id},
        types::{AccountCardStatus, NotificationChannel, NotificationKind, PayoutType, ReceivingAccountKind},
    },
    state::AppState,
    validate,
};

/// A card asking the buyer for a receiving account after a failed transfer.
pub struct AccountCard(pub account_card::Model);

impl AccountCard {
    async fn payout(&self, ctx: &Context<'_>) -> Result<entity::payout::Model> {
        let found = ctx.data::<RequestLoader>()?.load_one(PayoutById(self.0.payout_id)).await?;
        found.ok_or_else(|| AppError::Internal(format!("payout of card {} missing", self.0.id)).into())
    }
}

#[Object]
impl AccountCard {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn payout_id(&self) -> ID {
        ID(self.0.payout_id.to_string())
    }

    async fn order_sn(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.payout(ctx).await?.order_sn)
    }

    async fn shop_name(&self, ctx: &Context<'_>) -> Result<String> {
        let shop = ctx.data::<RequestLoader>()?.load_one(ShopById(self.0.shop_id.clone())).await?;
        Ok(shop.map_or_else(|| self.0.shop_id.clone(), |s| s.name))
    }

    async fn amount(&self, ctx: &Context<'_>) -> Result<Cny> {
        Ok(Cny::from_fen(self.payout(ctx).await?.amount_fen))
    }

    #[graphql(name = "type")]
    async fn kind(&self, ctx: &Context<'_>) -> Result<PayoutType> {
        stored(&self.payout(ctx).await?.r#type, PayoutType::parse)
    }

    async fn status(&self) -> Result<AccountCardStatus> {
        stored(&self.0.status, AccountCardStatus::parse)
    }

    async fn sent_at(&self) -> DateTime<Utc> {
        self.0.sent_at
    }

    /// 72 h after it was sent.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }

    /// Set once submitted.
    async fn account_kind(&self) -> Result<Option<ReceivingAccountKind>> {
        self.0.account_kind.as_deref().map(|k| stored(k, ReceivingAccountKind::parse)).transpose()
    }

    /// e.g. "138****0000" or "**** 1234"; never the full number.
    async fn account_masked(&self) -> Option<&str> {
        self.0.account_masked.as_deref()
    }
}

/// A notice to the buyer about a payout.
pub struct BuyerNotification(pub buyer_notification::Model);

#[Object]
impl BuyerNotification {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn payout_id(&self) -> ID {
        ID(self.0.payout_id.to_string())
    }

    async fn kind(&self) -> Result<NotificationKind> {
        stored(&self.0.kind, NotificationKind::parse)
    }

    /// Success: IN_APP and WECHAT; failure: IN_APP.
    async fn channels(&self) -> Result<Vec<NotificationChannel>> {
        self.0.channels.split(',').map(|c| stored(c, NotificationChannel::parse)).collect()
    }

    /// Success: "商家补偿转账通知".
    async fn title(&self) -> &str {
        &self.0.title
    }

    async fn body(&self) -> &str {
        &self.0.body
    }

    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
}

#[derive(InputObject)]
pub struct ReceivingAccountInput {
    pub kind: ReceivingAccountKind,
    /// Alipay: a mobile number or an e-mail address; bank card: 16–19 digits (Luhn).
    pub account_no: String,
    pub holder_name: String,
}

impl ReceivingAccountInput {
    fn validate(self) -> Result<service::ReceivingAccount, AppError> {
        let kind = match self.kind {
            ReceivingAccountKind::Alipay => AccountKind::Alipay,
            ReceivingAccountKind::BankCard => AccountKind::BankCard,
        };
        Ok(service::ReceivingAccount {
            kind,
            number: rules::normalise(kind, &self.account_no)?,
            holder: validate::text("holderName", &self.holder_name, 50)?,
        })
    }
}

fn card_id(id: &ID) -> Result<i64, AppError> {
    id.trim().parse().map_err(|_| AppError::not_found(format!("account card {}", id.as_str())))
}

#[derive(Default)]
pub struct CardsQuery;

#[Object]
impl CardsQuery {
    /// The caller's account cards, newest first. BUYER.
    #[graphql(guard = "RoleGuard::new(&[Role::Buyer])")]
    async fn my_account_cards(&self, ctx: &Context<'_>) -> Result<Vec<AccountCard>> {
        let state = ctx.data::<AppState>()?;
        Ok(service::of_buyer(state.ctx(), &viewer(ctx)?.sub).await?.into_iter().map(AccountCard).collect())
    }

    /// The caller's notices, newest first. BUYER.
    #[graphql(guard = "RoleGuard::new(&[Role::Buyer])")]
    async fn my_notifications(&self, ctx: &Context<'_>) -> Result<Vec<BuyerNotification>> {
        let state = ctx.data::<AppState>()?;
        Ok(notify::of_buyer(&state.db, &viewer(ctx)?.sub).await?.into_iter().map(BuyerNotification).collect())
    }
}

#[derive(Default)]
pub struct CardsMutation;

#[Object]
impl CardsMutation {
    /// Sends the payout's buyer a new account card (the old open one expires). Only while the
    /// payout is FAILED for the buyer's account. Merchant roles.
    #[graphql(guard = "RoleGuard::merchant()")]
    async fn resend_account_card(&self, ctx: &Context<'_>, payout_id: ID) -> Result<AccountCard> {
        let state = ctx.data::<AppState>()?;
        let id = self::payout_id(&payout_id)?;
        Ok(AccountCard(service::resend(state.ctx(), viewer(ctx)?, id).await?))
    }

    /// Submits a receiving account on the caller's own open card; the transfer is retried at
    /// once. Only the masked number is ever shown back. BUYER.
    #[graphql(guard = "RoleGuard::new(&[Role::Buyer])")]
    async fn submit_receiving_account(
        &self,
        ctx: &Context<'_>,
        card_id: ID,
        account: ReceivingAccountInput,
    ) -> Result<AccountCard> {
        let state = ctx.data::<AppState>()?;
        let id = self::card_id(&card_id)?;
        let account = account.validate()?;
        Ok(AccountCard(service::submit(state.ctx(), state.channel(), &state.sealer, viewer(ctx)?, id, account).await?))
    }
}
