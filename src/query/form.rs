//! The three query forms every time-series endpoint takes, parsed from the query string:
//! `mode=latest` (or a bare `latest`), `timestamp=T` (as-of), `from=T&to=T[&limit][&cursor]`.

use crate::store::Cursor;
use crate::time::Millis;

/// Rows per page when `limit` is not given, and the most a page may hold.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1_000;

/// The JSON Schema of `limit`, from the same bounds the parser checks: the OpenAPI
/// document and the MCP tool schema both use it.
pub fn limit_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT,
        "description": format!("Rows per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"),
    })
}

#[derive(Debug, Clone, PartialEq)]
pub enum QueryForm {
    Latest,
    AsOf(Millis),
    Range {
        from: Millis,
        to: Millis,
        limit: usize,
        cursor: Option<Cursor>,
    },
}

/// A query string that does not make a valid form; the message names the parameter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FormError(pub String);

impl QueryForm {
    /// Parses a raw (percent-encoded) query string, as a request's URI carries it.
    pub fn from_query(query: &str) -> Result<Self, FormError> {
        let pairs: Vec<_> = form_urlencoded::parse(query.as_bytes()).collect();
        Self::parse(&pairs)
    }

    /// Parses the query pairs; parameters of other concerns (`api_key`, ...) are ignored.
    pub fn parse<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Result<Self, FormError> {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.as_ref() == name)
                .map(|(_, v)| v.as_ref())
        };
        let latest = match get("mode") {
            Some("latest") => true,
            Some(other) => {
                return Err(FormError(format!(
                    "Invalid mode {other:?}: the only mode is `latest`"
                )));
            }
            None => get("latest").is_some(),
        };
        let timestamp = get("timestamp");
        let range = get("from").is_some() || get("to").is_some();
        let given = usize::from(latest) + usize::from(timestamp.is_some()) + usize::from(range);
        if given > 1 {
            return Err(FormError(
                "Give only one query form: mode=latest, timestamp=T, or from=T&to=T".into(),
            ));
        }
        if latest {
            return Ok(QueryForm::Latest);
        }
        if let Some(t) = timestamp {
            return Self::as_of("timestamp", t);
        }
        if !range {
            return Err(FormError(
                "Missing query form: give mode=latest, timestamp=T (as-of), or from=T&to=T (range)"
                    .into(),
            ));
        }
        let from = get("from").ok_or_else(|| missing("from"))?;
        let to = get("to").ok_or_else(|| missing("to"))?;
        Self::range(("from", from), ("to", to), get("limit"), get("cursor"))
    }

    /// The as-of form at `value`; messages call it `name`.
    pub fn as_of(name: &str, value: &str) -> Result<Self, FormError> {
        Ok(QueryForm::AsOf(time_param(name, value)?))
    }

    /// The range form; `from` and `to` are (name, value) so that messages use the caller's
    /// parameter names. The start must be before the end.
    pub fn range(
        from: (&str, &str),
        to: (&str, &str),
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Self, FormError> {
        let (from_name, to_name) = (from.0, to.0);
        let (from, to) = (time_param(from.0, from.1)?, time_param(to.0, to.1)?);
        if from >= to {
            return Err(FormError(format!(
                "Invalid range: {from_name} ({from}) is not before {to_name} ({to})"
            )));
        }
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    FormError(format!(
                        "Invalid limit {s:?}: a whole number from 1 to {MAX_LIMIT}"
                    ))
                })?,
        };
        let cursor = cursor
            .map(|c| {
                Cursor::decode(c).ok_or_else(|| {
                    FormError("Invalid cursor: pass the next_cursor of the previous page".into())
                })
            })
            .transpose()?;
        Ok(QueryForm::Range {
            from,
            to,
            limit,
            cursor,
        })
    }
}

fn missing(name: &str) -> FormError {
    FormError(format!(
        "Missing parameter `{name}` of the range form from=T&to=T"
    ))
}

fn time_param(name: &str, value: &str) -> Result<Millis, FormError> {
    Millis::parse(value).map_err(|e| FormError(format!("Invalid `{name}`: {e}")))
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_limit_schema_is_what_the_parser_takes() {
        let schema = jsonschema::validator_for(&limit_schema()).unwrap();
        for n in [-1i64, 0, 1, 2, 999, 1000, 1001] {
            let text = n.to_string();
            let parsed = QueryForm::range(("from", "1"), ("to", "2"), Some(&text), None).is_ok();
            assert_eq!(schema.is_valid(&serde_json::json!(n)), parsed, "limit {n}");
        }
    }
    use super::*;

    fn parse(q: &str) -> Result<QueryForm, FormError> {
        QueryForm::from_query(q)
    }

    #[test]
    fn forms() {
        assert_eq!(parse("mode=latest"), Ok(QueryForm::Latest));
        assert_eq!(parse("latest"), Ok(QueryForm::Latest));
        assert_eq!(parse("timestamp=1000"), Ok(QueryForm::AsOf(Millis(1000))));
        // Names and values are compared decoded.
        assert_eq!(parse("mode=lat%65st"), Ok(QueryForm::Latest));
        assert_eq!(
            parse("timestamp=1970-01-01T00%3A00%3A01Z"),
            Ok(QueryForm::AsOf(Millis(1000)))
        );
        assert_eq!(
            parse("from=1000&to=2000&limit=5"),
            Ok(QueryForm::Range {
                from: Millis(1000),
                to: Millis(2000),
                limit: 5,
                cursor: None
            })
        );
        for (q, needle) in [
            ("", "Missing query form"),
            ("mode=earliest", "Invalid mode"),
            ("timestamp=yesterday", "Invalid `timestamp`"),
            ("from=1000", "Missing parameter `to`"),
            (
                "from=3000&to=2000",
                "from (1970-01-01T00:00:03.000Z) is not before to",
            ),
            ("from=2000&to=2000", "is not before"),
            ("from=1&to=2&limit=0", "Invalid limit"),
            ("from=1&to=2&limit=5000", "Invalid limit"),
            ("from=1&to=2&cursor=xyz", "Invalid cursor"),
            ("latest&timestamp=1", "only one query form"),
        ] {
            let e = parse(q).unwrap_err();
            assert!(e.0.contains(needle), "{q}: {e}");
        }
    }
}
