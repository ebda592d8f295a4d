//! Content negotiation: the media types `/graphql` answers with and the one `Accept` picks.
use axum::http::{HeaderMap, HeaderValue, header::ACCEPT};

/// A media type `/graphql` answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `application/graphql-response+json`: status codes tell request errors apart.
    GraphqlResponse,
    /// `application/json`: 200 for every well-formed GraphQL request, as before the
    /// specification's watershed.
    Json,
    /// GraphiQL's page (a `GET` only).
    Html,
}

impl Media {
    fn essence(self) -> (&'static str, &'static str) {
        match self {
            Media::GraphqlResponse => ("application", "graphql-response+json"),
            Media::Json => ("application", "json"),
            Media::Html => ("text", "html"),
        }
    }

    pub(super) fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Media::GraphqlResponse => "application/graphql-response+json",
            Media::Json => "application/json",
            Media::Html => "text/html; charset=utf-8",
        })
    }
}

/// The media type to answer with, of `offers`: the one `Accept` gives the highest quality,
/// each judged by the most specific range that matches it (RFC 9110 §12.5.1). At equal
/// quality a range that names the type beats a wildcard; among types matched alike,
/// `application/graphql-response+json` is preferred when named, `application/json` when only a
/// wildcard matched (as the specification asks of `*/*`). No `Accept`, or none that reads as
/// a media range: `application/json`. `None`: `Accept` allows none of `offers` (406).
pub fn negotiate(headers: &HeaderMap, offers: &[Media]) -> Option<Media> {
    let ranges: Vec<(mime::Mime, u16)> = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter(|r| !r.trim().is_empty())
        .filter_map(|r| {
            let range: mime::Mime = r.trim().parse().ok()?;
            let quality = range.get_param("q").map_or(Some(1000), |q| quality(q.as_str()))?;
            Some((range, quality))
        })
        .collect();
    if ranges.is_empty() {
        return offers.contains(&Media::Json).then_some(Media::Json);
    }
    let judged = offers.iter().filter_map(|&offer| {
        let (kind, sub) = offer.essence();
        let (specificity, q) = ranges
            .iter()
            .filter_map(|(range, q)| {
                // `essence_str`, not `subtype`: mime reads `+json` as a suffix apart.
                let (t, s) = range.essence_str().split_once('/')?;
                let specificity = match (t, s) {
                    (t, s) if t.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(sub) => 2,
                    (t, "*") if t.eq_ignore_ascii_case(kind) => 1,
                    ("*", "*") => 0,
                    _ => return None,
                };
                Some((specificity, *q))
            })
            .max_by_key(|(specificity, _)| *specificity)?;
        let preference = match (offer, specificity) {
            (Media::GraphqlResponse, 2) | (Media::Json, 0 | 1) => 2,
            (Media::Json, _) | (Media::GraphqlResponse, _) => 1,
            (Media::Html, _) => 0,
        };
        (q > 0).then_some((q, specificity, preference, offer))
    });
    judged.max_by_key(|&(q, specificity, preference, _)| (q, specificity, preference)).map(|(.., offer)| offer)
}

/// A `q` parameter in thousandths (`0` to `1` with up to three decimals); `None` when it is
/// not one.
fn quality(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    const ALL: &[Media] = &[Media::GraphqlResponse, Media::Json, Media::Html];

    #[test]
    fn accept_picks_the_answers_media_type() {
        let cases: &[(&str, &[Media], Option<Media>, &str)] = &[
            ("application/json", ALL, Some(Media::Json), "only JSON"),
            ("application/graphql-response+json", ALL, Some(Media::GraphqlResponse), "only the new type"),
            ("application/graphql-response+json, application/json", ALL, Some(Media::GraphqlResponse), "both named"),
            ("application/graphql-response+json;q=0.9, application/json", ALL, Some(Media::Json), "by quality"),
            ("*/*", ALL, Some(Media::Json), "the specification: */* is application/json"),
            ("application/*", ALL, Some(Media::Json), "a type wildcard alike"),
            ("", ALL, Some(Media::Json), "empty: as if missing"),
            (
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                ALL,
                Some(Media::Html),
                "a browser's navigation",
            ),
            (
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                &[Media::GraphqlResponse, Media::Json],
                Some(Media::Json),
                "a browser with GraphiQL off",
            ),
            ("application/json, text/plain, */*", ALL, Some(Media::Json), "axios"),
            ("text/html", &[Media::GraphqlResponse, Media::Json], None, "html only, GraphiQL off: 406"),
            ("text/plain", ALL, None, "nothing offered"),
            ("application/json;q=0", ALL, None, "refused by q=0"),
            ("application/json;q=0, */*", ALL, Some(Media::GraphqlResponse), "q=0 excludes a type a wildcard allows"),
            ("application/json; charset=utf-8", ALL, Some(Media::Json), "parameters"),
            ("application/json;q=2", ALL, Some(Media::Json), "a q out of range is not read: as if missing"),
            ("text/html;q=2, text/plain", ALL, None, "the readable ranges decide"),
        ];
        for (header, offers, expected, why) in cases {
            assert_eq!(negotiate(&accept(header), offers), *expected, "{why}: {header:?}");
        }
        assert_eq!(negotiate(&HeaderMap::new(), ALL), Some(Media::Json), "no Accept");
    }

    #[test]
    fn quality_reads_up_to_three_decimals() {
        let cases =
            [("1", Some(1000)), ("1.000", Some(1000)), ("0.5", Some(500)), ("0.123", Some(123)), ("0", Some(0))];
        for (text, expected) in cases {
            assert_eq!(quality(text), expected, "{text}");
        }
        for bad in ["1.5", "0.1234", "2", "x", "-1", ".5"] {
            assert_eq!(quality(bad), None, "{bad}");
        }
    }
}
