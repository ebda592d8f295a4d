//! Durable deadlines: rows of `scheduled_jobs`, each run once when due. A job is claimed and
//! run in one transaction: the claim is a compare-and-set of its status (`PENDING` → `DONE`),
//! so several instances never run one twice (on PostgreSQL the second claimer waits for the
//! first's commit, then finds nothing to claim), and a crash before the commit leaves the job
//! pending for the next run. A restart loses nothing: the deadlines live in the database.
//!
//! This module is what use cases call to schedule a deadline; [`runner`] runs them (wiring).
pub mod repo;
pub mod runner;

pub use crate::domain::vocab::JobKind;
pub use repo::{schedule, schedule_card};
