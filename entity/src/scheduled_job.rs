//! A durable deadline: run `kind` for `payout_id` once `due_at` has passed.
use sea_orm::entity::prelude::*;

use crate::vocab::{JobKind, JobStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scheduled_jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: JobKind,
    pub payout_id: Option<i64>,
    pub card_id: Option<i64>,
    pub due_at: DateTimeUtc,
    pub status: JobStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub done_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
