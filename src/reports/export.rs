//! `GET /exports/payouts.csv` (rules.md "Reports"): the history as a file. The history's
//! filters come as query parameters (`orderSn`, `goodsId`, `applicantId`, `deductedFrom`,
//! `deductedTo` as RFC 3339, `status` comma-separated, `type`), validated as `payouts(filter:)`
//! validates them; merchant roles, confined to their shop like the history.
//!
//! Every payout the filter selects, newest first, one row each, read in keyset pages of
//! [`PAGE`] through the history's own page query and written as each page arrives: the
//! server holds one page whatever the export's size. UTF-8 with a byte-order mark (so a
//! spreadsheet reads the Chinese text as UTF-8), quoted by the `csv` crate, times in the shop's
//! zone; a text cell that a spreadsheet would run as a formula is prefixed with `'`.
use std::borrow::Cow;

use async_graphql::ID;
use axum::{
    Json,
    body::{Body, Bytes},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use entity::payout;
use futures_util::Stream;
use serde::Deserialize;

use crate::{
    auth::{ShopScope, Viewer},
    domain::{money::Cny, vocab},
    error::{AppError, AppResult},
    graphql::enums,
    keyset::PageRequest,
    payouts::{
        graphql::inputs::PayoutFilter,
        repo::{HistoryFilter, history_page},
    },
    ratelimit::RateLimiter,
    shops,
    state::AppState,
};

/// Payouts read per statement.
pub const PAGE: u64 = 500;

/// Exports one account may start: a burst of 5, then one every 12 s (held per instance, like
/// the mutation limit). An export reads the whole history; this keeps one account from
/// running them back to back.
pub fn limiter() -> RateLimiter {
    RateLimiter::new(1.0 / 12.0, 5)
}

/// The query parameters: the history's filters.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportParams {
    pub order_sn: Option<String>,
    pub goods_id: Option<String>,
    pub applicant_id: Option<String>,
    pub deducted_from: Option<String>,
    pub deducted_to: Option<String>,
    /// Comma-separated statuses, e.g. `SUCCEEDED,FAILED`.
    pub status: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

fn instant(field: &str, value: Option<&str>) -> AppResult<Option<DateTime<Utc>>> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| AppError::bad_input(field, format!("`{field}` must be an RFC 3339 instant")))
        })
        .transpose()
}

fn named<T: Copy>(field: &str, all: &[T], name: impl Fn(T) -> &'static str, value: &str) -> AppResult<T> {
    all.iter()
        .copied()
        .find(|v| name(*v) == value.trim())
        .ok_or_else(|| AppError::bad_input(field, format!("`{field}` has no value `{}`", value.trim())))
}

impl ExportParams {
    /// The history filter, validated as the GraphQL `PayoutFilter` is.
    pub fn filter(self) -> AppResult<HistoryFilter> {
        let statuses = match self.status.as_deref().filter(|s| !s.trim().is_empty()) {
            None => None,
            Some(list) => Some(
                list.split(',')
                    .map(|s| named("status", vocab::PayoutStatus::ALL, vocab::PayoutStatus::as_str, s).map(Into::into))
                    .collect::<AppResult<Vec<enums::PayoutStatus>>>()?,
            ),
        };
        let kind = self
            .kind
            .as_deref()
            .map(|k| named("type", vocab::PayoutType::ALL, vocab::PayoutType::as_str, k).map(Into::into))
            .transpose()?;
        PayoutFilter {
            order_sn: self.order_sn,
            goods_id: self.goods_id,
            applicant_id: self.applicant_id.map(ID),
            deducted_from: instant("deductedFrom", self.deducted_from.as_deref())?,
            deducted_to: instant("deductedTo", self.deducted_to.as_deref())?,
            status: statuses,
            kind,
        }
        .validate()
    }
}

/// A text cell as written: one that starts like a formula (`=`, `+`, `-`, `@`, or a tab or
/// carriage return a spreadsheet skips before one) gets a leading `'`.
pub fn guarded(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

const COLUMNS: [&str; 16] = [
    "payout_id",
    "order_sn",
    "goods_id",
    "type",
    "amount",
    "status",
    "funding",
    "applicant",
    "approver",
    "created_at",
    "deducted_at",
    "succeeded_at",
    "closed_at",
    "refunded_at",
    "reason",
    "message",
];

/// The header row: the time columns name the zone their times are in.
fn header_row(zone: Tz) -> Vec<String> {
    COLUMNS.iter().map(|c| if c.ends_with("_at") { format!("{c} ({zone})") } else { (*c).to_owned() }).collect()
}

fn row(p: &payout::Model, zone: Tz) -> [String; 16] {
    let time = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
    };
    [
        p.id.to_string(),
        guarded(&p.order_sn).into_owned(),
        guarded(&p.goods_id).into_owned(),
        p.r#type.as_str().to_owned(),
        Cny::from(p.amount_fen).to_string(),
        p.status.as_str().to_owned(),
        p.funding.map(|f| f.as_str().to_owned()).unwrap_or_default(),
        guarded(&p.applicant_id).into_owned(),
        guarded(p.approver_id.as_deref().unwrap_or_default()).into_owned(),
        time(Some(p.created_at)),
        time(p.deducted_at),
        time(p.succeeded_at),
        time(p.closed_at),
        time(p.refunded_at),
        guarded(&p.reason).into_owned(),
        guarded(&p.message).into_owned(),
    ]
}

fn write<I: IntoIterator<Item = T>, T: AsRef<[u8]>>(out: &mut csv::Writer<Vec<u8>>, record: I) -> std::io::Result<()> {
    out.write_record(record).map_err(std::io::Error::other)
}

fn take(out: csv::Writer<Vec<u8>>) -> std::io::Result<Bytes> {
    out.into_inner().map(Bytes::from).map_err(|e| std::io::Error::other(e.to_string()))
}

/// The file's bytes, page by page: the byte-order mark and header first, then a chunk per page.
fn csv_chunks(
    state: AppState,
    account: String,
    scope: ShopScope,
    filter: HistoryFilter,
    zone: Tz,
) -> impl Stream<Item = std::io::Result<Bytes>> {
    async_stream::try_stream! {
        let mut out = csv::Writer::from_writer(Vec::from("\u{feff}".as_bytes()));
        write(&mut out, header_row(zone))?;
        yield take(out)?;
        let mut after = None;
        loop {
            let request = PageRequest::forward(PAGE, after);
            let db = state.reads_for(Some(&account));
            let page = match history_page(db, &scope, &filter, request, false).await {
                Ok(page) => Ok(page),
                // The standby failed under the export: the keyset goes on from the same row on
                // the primary.
                Err(e) if !std::ptr::eq(db, &state.db) => {
                    tracing::warn!(error = ?e, "an export's page failed on the standby: read again on the primary");
                    if let Some(replica) = &state.replica {
                        replica.failed();
                    }
                    history_page(&state.db, &scope, &filter, request, false).await
                }
                Err(e) => Err(e),
            }
            .map_err(|e| {
                tracing::warn!(error = ?e, "a payout export stopped: reading a page failed");
                std::io::Error::other("reading the history failed")
            })?;
            let mut out = csv::Writer::from_writer(Vec::with_capacity(64 * 1024));
            for p in &page.rows {
                write(&mut out, row(p, zone))?;
                after = Some(p.id);
            }
            yield take(out)?;
            if !page.has_next_page {
                break;
            }
        }
    }
}

/// The file name: `payouts-<shop>-<today in the shop's zone>.csv`, the shop id reduced to
/// characters safe in a header.
fn file_name(shop: &str, today: chrono::NaiveDate) -> String {
    let shop: String =
        shop.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    format!("payouts-{shop}-{}.csv", today.format("%Y-%m-%d"))
}

/// A refusal before the file starts: the status and a GraphQL-shaped body with the code.
fn refused(error: &AppError) -> Response {
    let status = match error {
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::BadUserInput { .. } => StatusCode::BAD_REQUEST,
        AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        AppError::Unavailable | AppError::Contention => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if let AppError::Internal(why) = error {
        tracing::error!(why, "a payout export failed");
    }
    let body =
        serde_json::json!({ "errors": [{ "message": error.message(), "extensions": { "code": error.code() } }] });
    (status, Json(body)).into_response()
}

/// Answers the export: `viewer` is the bearer token's caller (none without a token),
/// `params` the query string as parsed.
pub async fn payouts_csv(
    state: &AppState,
    viewer: AppResult<Option<Viewer>>,
    params: AppResult<ExportParams>,
) -> Response {
    match start(state, viewer, params).await {
        Ok(response) => response,
        Err(e) => refused(&e),
    }
}

async fn start(
    state: &AppState,
    viewer: AppResult<Option<Viewer>>,
    params: AppResult<ExportParams>,
) -> AppResult<Response> {
    let viewer = viewer?.ok_or_else(|| AppError::Unauthenticated("send `Authorization: Bearer <jwt>`".into()))?;
    let scope = viewer.shop_scope()?;
    state.exports.take(&viewer.account_key()).map_err(|wait| {
        AppError::RateLimited(format!("too many exports from this account; retry in {} s", wait.as_secs().max(1)))
    })?;
    let filter = params?.filter()?;
    let shop = shops::repo::find(&state.db, &scope).await?;
    let zone = shop.as_ref().map_or(state.config.timezone, |s| shops::service::zone(state.deps(), s));
    let account = viewer.account_key();
    metrics::counter!(
        "exports_total",
        "database" => if std::ptr::eq(state.reads_for(Some(&account)), &state.db) { "primary" } else { "standby" }
    )
    .increment(1);
    let today = state.clock.now().with_timezone(&zone).date_naive();
    let disposition = format!("attachment; filename=\"{}\"", file_name(scope.id(), today));
    let body = Body::from_stream(csv_chunks(state.clone(), account, scope, filter, zone));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(|_| AppError::Internal("an unsendable file name".into()))?,
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_that_starts_like_a_formula_is_quoted_out() {
        for (text, written) in [
            ("=SUM(A1)", "'=SUM(A1)"),
            ("+86 138", "'+86 138"),
            ("-5", "'-5"),
            ("@me", "'@me"),
            ("\tx", "'\tx"),
            ("\r=1", "'\r=1"),
            ("运费补偿", "运费补偿"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(guarded(text), written, "{text:?}");
        }
    }

    #[test]
    fn the_file_name_is_safe_in_a_header() {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap_or_default();
        assert_eq!(file_name("s1", day), "payouts-s1-2026-12-04.csv");
        assert_eq!(file_name("a\"b/c d", day), "payouts-a_b_c_d-2026-12-04.csv");
    }

    #[test]
    fn the_parameters_are_the_historys_filters() {
        let params = ExportParams {
            status: Some("SUCCEEDED, FAILED".into()),
            kind: Some("OTHER".into()),
            deducted_from: Some("2026-11-24T10:00:00+08:00".into()),
            ..Default::default()
        };
        let filter = params.filter().unwrap_or_default();
        assert_eq!(filter.statuses, [vocab::PayoutStatus::Succeeded, vocab::PayoutStatus::Failed]);
        assert_eq!(filter.kind, Some(vocab::PayoutType::Other));
        assert_eq!(filter.deducted_from.map(|t| t.to_rfc3339()), Some("2026-11-24T02:00:00+00:00".into()));
        for bad in [
            ExportParams { status: Some("PAID".into()), ..Default::default() },
            ExportParams { kind: Some("other".into()), ..Default::default() },
            ExportParams { deducted_to: Some("yesterday".into()), ..Default::default() },
            ExportParams { order_sn: Some("  ".into()), ..Default::default() },
        ] {
            assert!(params_refused(bad), "refused");
        }
    }

    fn params_refused(params: ExportParams) -> bool {
        matches!(params.filter(), Err(AppError::BadUserInput { .. }))
    }
}
