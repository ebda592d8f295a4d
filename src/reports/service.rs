//! The report use cases: reads only, confined to the caller's shop.
use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use entity::account;

use super::{
    repo,
    rules::{self, AccountDay, LimitsChange},
};
use crate::{
    accounts,
    auth::{Role, Viewer},
    db::Deps,
    error::{AppError, AppResult},
    quotas, shops,
};

/// Each account's days `from..=to` of the shop's time zone (rules.md "Reports"), by day then
/// account, days without activity left out. ADMIN reads every account (or `account_id`'s);
/// any other merchant role only its own (another account is `FORBIDDEN`).
pub async fn account_days(
    deps: Deps<'_>,
    viewer: &Viewer,
    from: NaiveDate,
    to: NaiveDate,
    account_id: Option<String>,
) -> AppResult<Vec<(account::Model, AccountDay)>> {
    let scope = viewer.shop_scope()?;
    let account = match (viewer.role, account_id) {
        (Role::Admin, asked) => asked,
        (_, Some(asked)) if asked != viewer.sub => {
            return Err(AppError::Forbidden("only ADMIN reads another account's report".into()));
        }
        _ => Some(viewer.sub.clone()),
    };
    let shop = shops::repo::find(deps.db, &scope).await?;
    let zone = shop.as_ref().map_or(deps.default_zone, |s| shops::service::zone(deps, s));
    let starts = rules::day_starts(zone, from, to)?;
    if shop.is_none() {
        return Ok(Vec::new());
    }
    let one = account.as_deref();
    let committed = repo::committed(deps.db, &scope, one, &starts).await?;
    let requests = repo::requests(deps.db, &scope, one, &starts).await?;
    let quota_used = repo::quota_used(deps.db, &scope, one, &starts).await?;
    let refunds = repo::refunds(deps.db, &scope, one, &starts).await?;
    let ids: Vec<String> = committed
        .iter()
        .map(|r| &r.account)
        .chain(requests.iter().map(|r| &r.account))
        .chain(quota_used.iter().chain(&refunds).map(|r| &r.account))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let end = starts.last().copied().unwrap_or_default();
    let changes: Vec<LimitsChange> = quotas::repo::changes_before(deps.db, &scope, &ids, end)
        .await?
        .into_iter()
        .map(|c| LimitsChange {
            account: c.account_id,
            at: c.at,
            limits: c.per_payout_limit_fen.zip(c.daily_limit_fen).map(|(p, d)| (p.0, d.0)),
        })
        .collect();
    let current: BTreeMap<String, (i64, i64)> = quotas::repo::list(deps.db, &scope)
        .await?
        .into_iter()
        .map(|q| (q.account_id, (q.per_payout_limit_fen.0, q.daily_limit_fen.0)))
        .collect();
    let days = rules::account_days(
        from,
        &starts,
        rules::Found { committed: &committed, requests: &requests, quota_used: &quota_used, refunds: &refunds },
        &changes,
        &current,
    );
    let accounts: BTreeMap<String, account::Model> =
        accounts::repo::find_many(deps.db, &scope, &ids).await?.into_iter().map(|a| (a.id.clone(), a)).collect();
    Ok(days.into_iter().filter_map(|d| Some((accounts.get(&d.account)?.clone(), d))).collect())
}
