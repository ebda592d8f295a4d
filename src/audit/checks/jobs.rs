//! JOBS: every waiting status has the job that ends the wait.
use super::books::*;

/// `JOBS`: every status that waits for something has the job that will end the wait.
///
/// | status | needs | kind if not |
/// |---|---|---|
/// | `PAYING` | a `DELIVER` job of any status (the transfer was handed to the channel durably) | `MISSING_DELIVER_JOB` |
/// | `PENDING_APPROVAL` | a pending `APPROVAL_EXPIRY` job | `MISSING_APPROVAL_EXPIRY_JOB` |
/// | `PENDING_RECHARGE` | a pending `RECHARGE_DEADLINE` job | `MISSING_RECHARGE_DEADLINE_JOB` |
/// | `PAYING`, `FAILED` | a pending or done `CLOSE` job | `MISSING_CLOSE_JOB` |
/// | `CLOSED`, refund `PENDING` | a pending `REFUND` job | `MISSING_REFUND_JOB` |
/// | an `OPEN` account card | a pending `CARD_EXPIRY` job | `MISSING_CARD_EXPIRY_JOB` |
///
/// "Pending" because a job runs in the transaction that ends the wait: a done job beside a
/// status still waiting for it ended nothing, and a job parked as `FAILED` never will. (A
/// done `CLOSE` is accepted, as the audit's brief asks.)
pub(super) fn jobs(b: &ShopBooks, f: &mut Findings) {
    let shop = &b.shop.id;
    let mut of_payout: HashMap<i64, Vec<&scheduled_job::Model>> = HashMap::new();
    let mut of_card: HashMap<i64, Vec<&scheduled_job::Model>> = HashMap::new();
    for j in &b.jobs {
        if let Some(id) = j.payout_id {
            of_payout.entry(id).or_default().push(j);
        }
        if let Some(id) = j.card_id {
            of_card.entry(id).or_default().push(j);
        }
    }
    let has = |jobs: Option<&Vec<&scheduled_job::Model>>, kind: JobKind, statuses: &[JobStatus]| {
        jobs.is_some_and(|js| {
            js.iter().any(|j| j.kind == kind && (statuses.is_empty() || statuses.contains(&j.status)))
        })
    };
    let found = |jobs: Option<&Vec<&scheduled_job::Model>>, kind: JobKind| {
        let seen: Vec<&str> = jobs
            .map(|js| js.iter().filter(|j| j.kind == kind).map(|j| j.status.as_str()).collect())
            .unwrap_or_default();
        if seen.is_empty() { "none".to_owned() } else { seen.join(", ") }
    };
    const PENDING: &[JobStatus] = &[JobStatus::Pending];
    const ANY: &[JobStatus] = &[];
    let mut waiting = 0;
    for p in &b.payouts {
        let jobs = of_payout.get(&p.id);
        let mut needs: Vec<(JobKind, &[JobStatus], Kind, &str)> = Vec::new();
        match p.status {
            PayoutStatus::PendingApproval => {
                needs.push((JobKind::ApprovalExpiry, PENDING, Kind::MissingApprovalExpiryJob, "pending"));
            }
            PayoutStatus::PendingRecharge => {
                needs.push((JobKind::RechargeDeadline, PENDING, Kind::MissingRechargeDeadlineJob, "pending"));
            }
            PayoutStatus::Paying => {
                needs.push((JobKind::Deliver, ANY, Kind::MissingDeliverJob, "any"));
                needs.push((
                    JobKind::Close,
                    &[JobStatus::Pending, JobStatus::Done],
                    Kind::MissingCloseJob,
                    "pending or done",
                ));
            }
            PayoutStatus::Failed => {
                needs.push((
                    JobKind::Close,
                    &[JobStatus::Pending, JobStatus::Done],
                    Kind::MissingCloseJob,
                    "pending or done",
                ));
            }
            PayoutStatus::Closed if p.refund_status == RefundStatus::Pending => {
                needs.push((JobKind::Refund, PENDING, Kind::MissingRefundJob, "pending"));
            }
            _ => {}
        }
        if !needs.is_empty() {
            waiting += 1;
        }
        for (kind, statuses, violation, wanted) in needs {
            if !has(jobs, kind, statuses) {
                let refund = if p.status == PayoutStatus::Closed {
                    format!(" (refund {})", p.refund_status)
                } else {
                    String::new()
                };
                f.push(
                    Violation::new(
                        violation,
                        shop,
                        format!(
                            "shop {shop}: payout {} (order {}) is {}{refund} but has no {kind} job ({wanted}); found: {}",
                            p.id,
                            p.order_sn,
                            p.status,
                            found(jobs, kind)
                        ),
                    )
                    .payout(p.id)
                    .order(&p.order_sn),
                );
            }
        }
    }
    for card in b.open_cards.iter().filter(|c| c.status == AccountCardStatus::Open) {
        waiting += 1;
        let jobs = of_card.get(&card.id);
        if !has(jobs, JobKind::CardExpiry, PENDING) {
            f.push(
                Violation::new(
                    Kind::MissingCardExpiryJob,
                    shop,
                    format!(
                        "shop {shop}: account card {} of payout {} is OPEN but has no CARD_EXPIRY job (pending); found: {}",
                        card.id,
                        card.payout_id,
                        found(jobs, JobKind::CardExpiry)
                    ),
                )
                .payout(card.payout_id),
            );
        }
    }
    f.count(AuditCheck::Jobs, waiting);
}
