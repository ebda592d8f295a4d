//! Setting and clearing quotas; reading them with today's usage.
use entity::{account, quota};

use super::repo;
use crate::{
    accounts,
    auth::{Role, ShopScope},
    db::{self, Deps},
    domain::money::Cny,
    error::{AppError, AppResult},
    shops,
};

/// A quota with its account and today's usage.
#[derive(Debug, Clone)]
pub struct QuotaView {
    pub quota: quota::Model,
    pub account: account::Model,
    pub used_today: Cny,
}

impl QuotaView {
    pub fn remaining_today(&self) -> Cny {
        let left = Cny::from(self.quota.daily_limit_fen) - self.used_today;
        if left.is_negative() { Cny::ZERO } else { left }
    }
}

async fn views(deps: Deps<'_>, scope: &ShopScope, quotas: Vec<quota::Model>) -> AppResult<Vec<QuotaView>> {
    let Some(shop) = shops::repo::find(deps.db, scope).await? else {
        return Ok(Vec::new());
    };
    let (from, to) = shops::service::today(deps, &shop);
    let ids: Vec<String> = quotas.iter().map(|q| q.account_id.clone()).collect();
    let used = crate::payouts::totals::quota_used(deps.db, scope, &ids, from, to).await?;
    let accounts = accounts::repo::find_many(deps.db, scope, &ids).await?;
    Ok(quotas
        .into_iter()
        .filter_map(|q| {
            let account = accounts.iter().find(|a| a.id == q.account_id)?.clone();
            let used_today = Cny::from_fen(used.get(&q.account_id).copied().unwrap_or(0));
            Some(QuotaView { quota: q, account, used_today })
        })
        .collect())
}

/// Every quota of the shop, by account id.
pub async fn list(deps: Deps<'_>, scope: &ShopScope) -> AppResult<Vec<QuotaView>> {
    let quotas = repo::list(deps.db, scope).await?;
    views(deps, scope, quotas).await
}

/// One account's quota, if it has one.
pub async fn of_account(deps: Deps<'_>, scope: &ShopScope, account_id: &str) -> AppResult<Option<QuotaView>> {
    let quotas = repo::find(deps.db, scope, account_id).await?.into_iter().collect();
    Ok(views(deps, scope, quotas).await?.pop())
}

/// Sets an account's limits (positive; per-payout ≤ daily). The account must exist and not
/// be an admin (an admin pays under the shop caps only); its row is locked while the quota
/// is written, so that an account turning ADMIN meanwhile (`accounts::service::provision`,
/// which deletes its quota) either waits for this or is seen as ADMIN here.
pub async fn set(
    deps: Deps<'_>,
    scope: &ShopScope,
    admin: &str,
    account_id: &str,
    per_payout: Cny,
    daily: Cny,
) -> AppResult<QuotaView> {
    if per_payout > daily {
        return Err(AppError::bad_input("perPayoutLimit", "`perPayoutLimit` must not exceed `dailyLimit`"));
    }
    deps.write(|| async {
        let tx = db::begin_write(deps.db).await?;
        let account = accounts::repo::find_for_update(&tx, scope, account_id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("account {account_id}")))?;
        if account.role == Role::Admin {
            return Err(AppError::bad_input("accountId", "an admin has no quota"));
        }
        let now = deps.clock.now();
        repo::upsert(
            &tx,
            quota::Model {
                shop_id: scope.id().to_owned(),
                account_id: account_id.to_owned(),
                per_payout_limit_fen: per_payout.into(),
                daily_limit_fen: daily.into(),
                set_by: admin.to_owned(),
                updated_at: now,
            },
        )
        .await?;
        repo::record_change(&tx, scope, account_id, now, Some((per_payout.into(), daily.into())), admin).await?;
        tx.commit().await?;
        Ok(())
    })
    .await?;
    if let Some(view) = of_account(deps, scope, account_id).await? {
        return Ok(view);
    }
    // Gone between the commit and this read: the account turned ADMIN meanwhile (its quota
    // goes with the promotion), or an admin cleared it.
    let promoted = accounts::repo::find(deps.db, scope, account_id).await?.is_some_and(|a| a.role == Role::Admin);
    if promoted {
        Err(AppError::bad_input("accountId", "an admin has no quota"))
    } else {
        Err(AppError::InvalidState("the quota was cleared while it was being set".into()))
    }
}

/// Removes an account's quota (a CS or STAFF account then cannot pay from the balance), and
/// records the change in the same transaction when there was one.
pub async fn clear(deps: Deps<'_>, scope: &ShopScope, admin: &str, account_id: &str) -> AppResult<account::Model> {
    deps.write(|| async {
        let tx = db::begin_write(deps.db).await?;
        let account = accounts::repo::find(&tx, scope, account_id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("account {account_id}")))?;
        if repo::delete(&tx, scope, account_id).await? {
            repo::record_change(&tx, scope, account_id, deps.clock.now(), None, admin).await?;
        }
        tx.commit().await?;
        Ok(account)
    })
    .await
}
