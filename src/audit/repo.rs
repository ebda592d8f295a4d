//! The audit's queries: the shops to audit, then one shop's rows at a time (never the whole
//! database at once). Read-only.
use entity::{
    account, account_card, commit_bucket, ledger_entry, payout, payout_transition, quota, scheduled_job, shop,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Query};

use super::checks::ShopBooks;
use crate::{auth::ShopScope, domain::vocab::AccountCardStatus, error::AppResult};

/// The ids of the shops to audit, in order: every shop, or only the scope's.
pub async fn shop_ids(db: &impl ConnectionTrait, only: Option<&ShopScope>) -> AppResult<Vec<String>> {
    let mut query = shop::Entity::find().select_only().column(shop::Column::Id).order_by_asc(shop::Column::Id);
    if let Some(scope) = only {
        query = query.filter(shop::Column::Id.eq(scope.id()));
    }
    Ok(query.into_tuple().all(db).await?)
}

/// Everything the checks read about one shop (`None` if it does not exist).
pub async fn books(db: &impl ConnectionTrait, shop_id: &str) -> AppResult<Option<ShopBooks>> {
    let Some(shop) = shop::Entity::find_by_id(shop_id.to_owned()).one(db).await? else {
        return Ok(None);
    };
    let entries = ledger_entry::Entity::find()
        .filter(ledger_entry::Column::ShopId.eq(shop_id))
        .order_by_asc(ledger_entry::Column::Id)
        .all(db)
        .await?;
    let payouts = payout::Entity::find()
        .filter(payout::Column::ShopId.eq(shop_id))
        .order_by_asc(payout::Column::Id)
        .all(db)
        .await?;
    let transitions = payout_transition::Entity::find()
        .filter(payout_transition::Column::ShopId.eq(shop_id))
        .order_by_asc(payout_transition::Column::Id)
        .all(db)
        .await?;
    let open_cards = account_card::Entity::find()
        .filter(account_card::Column::ShopId.eq(shop_id))
        .filter(account_card::Column::Status.eq(AccountCardStatus::Open))
        .order_by_asc(account_card::Column::Id)
        .all(db)
        .await?;
    let shop_payouts = Query::select()
        .column(payout::Column::Id)
        .from(payout::Entity)
        .and_where(payout::Column::ShopId.eq(shop_id))
        .to_owned();
    let mut jobs = scheduled_job::Entity::find()
        .filter(scheduled_job::Column::PayoutId.in_subquery(shop_payouts))
        .order_by_asc(scheduled_job::Column::Id)
        .all(db)
        .await?;
    if !open_cards.is_empty() {
        let card_jobs = scheduled_job::Entity::find()
            .filter(scheduled_job::Column::CardId.is_in(open_cards.iter().map(|c| c.id)))
            .order_by_asc(scheduled_job::Column::Id)
            .all(db)
            .await?;
        jobs.extend(card_jobs.into_iter().filter(|j| j.payout_id.is_none()));
    }
    let quotas = quota::Entity::find()
        .filter(quota::Column::ShopId.eq(shop_id))
        .order_by_asc(quota::Column::AccountId)
        .all(db)
        .await?;
    let accounts = account::Entity::find()
        .filter(account::Column::ShopId.eq(shop_id))
        .order_by_asc(account::Column::Id)
        .all(db)
        .await?;
    let buckets = commit_bucket::Entity::find()
        .filter(commit_bucket::Column::ShopId.eq(shop_id))
        .order_by_asc(commit_bucket::Column::AccountId)
        .order_by_asc(commit_bucket::Column::Bucket)
        .all(db)
        .await?;
    Ok(Some(ShopBooks { shop, entries, payouts, transitions, jobs, open_cards, quotas, accounts, buckets }))
}
