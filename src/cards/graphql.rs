//! GraphQL: `AccountCard`, `BuyerNotification`, the buyer's `myAccountCards`,
//! `myNotifications` and `submitReceivingAccount`, and the merchant's `resendAccountCard`.
use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use entity::{account_card, buyer_notification};

use super::{repo, service};
use crate::graphql::reads::read_db;
use crate::{
    auth::{
        Role, RoleGuard,
        guards::{Throttle, viewer},
    },
    domain::{
        card::{self as rules, ReceivingAccount},
        money::Cny,
    },
    error::AppError,
    graphql::{
        enums::{AccountCardStatus, NotificationChannel, NotificationKind, PayoutType, ReceivingAccountKind},
        loaders::{PayoutById, RequestLoader, ShopById},
    },
    payouts::graphql::payout_id,
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

/// A card asking the buyer for a receiving account after a transfer failed for the buyer's
/// account (BUYER_ACCOUNT). The buyer sees it in myAccountCards, the shop on Payout.accountCard.
#[Object]
impl AccountCard {
    /// Pass it as `cardId` to submitReceivingAccount.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The failed payout the card is for.
    async fn payout_id(&self) -> ID {
        ID(self.0.payout_id.to_string())
    }

    /// The order of that payout.
    async fn order_sn(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.payout(ctx).await?.order_sn)
    }

    /// The paying shop's name (its id if the shop is unknown).
    async fn shop_name(&self, ctx: &Context<'_>) -> Result<String> {
        let shop = ctx.data::<RequestLoader>()?.load_one(ShopById(self.0.shop_id.clone())).await?;
        Ok(shop.map_or_else(|| self.0.shop_id.clone(), |s| s.name))
    }

    /// The payout's amount, in yuan.
    async fn amount(&self, ctx: &Context<'_>) -> Result<Cny> {
        Ok(Cny::from(self.payout(ctx).await?.amount_fen))
    }

    /// What the payout compensates.
    #[graphql(name = "type")]
    async fn kind(&self, ctx: &Context<'_>) -> Result<PayoutType> {
        Ok(self.payout(ctx).await?.r#type.into())
    }

    /// OPEN until the buyer submits an account, the card expires or a new card replaces it.
    async fn status(&self) -> AccountCardStatus {
        self.0.status.into()
    }

    /// When the card was sent (UTC).
    async fn sent_at(&self) -> DateTime<Utc> {
        self.0.sent_at
    }

    /// 72 h after it was sent.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }

    /// Set once submitted.
    async fn account_kind(&self) -> Option<ReceivingAccountKind> {
        self.0.account_kind.map(Into::into)
    }

    /// e.g. "138****0000" or "**** 1234"; never the full number.
    async fn account_masked(&self) -> Option<&str> {
        self.0.account_masked.as_deref()
    }

    /// When the buyer submitted the account (UTC), which retried the transfer; set once
    /// submitted. (An addition to the contract's AccountCard.)
    async fn submitted_at(&self) -> Option<DateTime<Utc>> {
        self.0.submitted_at
    }
}

/// A notice to the buyer about a payout.
pub struct BuyerNotification(pub buyer_notification::Model);

/// A notice to the buyer about one of its payouts.
#[Object]
impl BuyerNotification {
    /// The notice's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The payout it is about.
    async fn payout_id(&self) -> ID {
        ID(self.0.payout_id.to_string())
    }

    /// What happened: the transfer succeeded, it failed, or an account card was sent.
    async fn kind(&self) -> NotificationKind {
        self.0.kind.into()
    }

    /// Success: IN_APP and WECHAT; failure: IN_APP.
    async fn channels(&self) -> Vec<NotificationChannel> {
        self.0.channels.list().into_iter().map(Into::into).collect()
    }

    /// Success: "商家补偿转账通知".
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// The notice's text (Chinese): shop, amount, type and order; on success also the
    /// merchant's message.
    async fn body(&self) -> &str {
        &self.0.body
    }

    /// When it happened (UTC): the transfer result, or the card being sent.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
}

/// Where the failed transfer is retried to; only a masked number is ever shown back.
#[derive(InputObject)]
pub struct ReceivingAccountInput {
    /// An Alipay account or a bank card.
    pub kind: ReceivingAccountKind,
    /// Alipay: a mobile number or an e-mail address; bank card: 16–19 digits (Luhn).
    pub account_no: String,
    /// The account holder's name; non-blank, at most 50 characters.
    pub holder_name: String,
}

impl ReceivingAccountInput {
    fn validate(self) -> Result<ReceivingAccount, AppError> {
        let kind = self.kind.into();
        Ok(ReceivingAccount {
            kind,
            number: rules::normalise(kind, &self.account_no)
                .map_err(|invalid| AppError::bad_input("accountNo", invalid.0))?,
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
        Ok(service::of_buyer(state.deps_on(read_db(ctx)?), &viewer(ctx)?.sub)
            .await?
            .into_iter()
            .map(AccountCard)
            .collect())
    }

    /// The caller's notices, newest first. BUYER.
    #[graphql(guard = "RoleGuard::new(&[Role::Buyer])")]
    async fn my_notifications(&self, ctx: &Context<'_>) -> Result<Vec<BuyerNotification>> {
        Ok(repo::notices_of_buyer(read_db(ctx)?, &viewer(ctx)?.sub).await?.into_iter().map(BuyerNotification).collect())
    }
}

#[derive(Default)]
pub struct CardsMutation;

#[Object]
impl CardsMutation {
    /// Sends the payout's buyer a new account card (the old open one expires). Only while the
    /// payout is FAILED for the buyer's account. Merchant roles.
    #[graphql(guard = "RoleGuard::merchant().and(Throttle)", complexity = 25)]
    async fn resend_account_card(&self, ctx: &Context<'_>, payout_id: ID) -> Result<AccountCard> {
        let state = ctx.data::<AppState>()?;
        let id = self::payout_id(&payout_id)?;
        Ok(AccountCard(service::resend(state.deps(), viewer(ctx)?, id).await?))
    }

    /// Submits a receiving account on the caller's own open card; the transfer is retried at
    /// once. Only the masked number is ever shown back. BUYER.
    #[graphql(guard = "RoleGuard::new(&[Role::Buyer]).and(Throttle)", complexity = 25)]
    async fn submit_receiving_account(
        &self,
        ctx: &Context<'_>,
        card_id: ID,
        account: ReceivingAccountInput,
    ) -> Result<AccountCard> {
        let state = ctx.data::<AppState>()?;
        let id = self::card_id(&card_id)?;
        let account = account.validate()?;
        Ok(AccountCard(service::submit(state.deps(), state.payments(), viewer(ctx)?, id, account).await?))
    }
}
