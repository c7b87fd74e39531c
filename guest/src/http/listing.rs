//! `GET /kvs?prefix=&limit=&cursor=`: keys in pages.

use super::Response;
use crate::cursor;
use crate::envelope::{Code, ErrorReply};
use crate::storage::Storage;

/// Keys per page when the client does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// Answers `{"keys":[...],"next_cursor":"..."|null}`; 400 on a limit that is
/// not a positive number or a cursor this server did not issue.
pub fn list(store: &impl Storage, query: &str) -> Response {
    match parse_query(query).and_then(|q| {
        store
            .list(&q.prefix, q.cursor.as_deref(), q.limit)
            .map_err(ErrorReply::from)
    }) {
        Ok(page) => Response::json(
            200,
            &serde_json::json!({
                "keys": page.keys,
                "next_cursor": page.next_cursor.as_deref().map(cursor::encode),
            }),
        ),
        Err(reply) => Response::error(reply),
    }
}

struct ListQuery {
    prefix: String,
    cursor: Option<String>,
    limit: u32,
}

fn parse_query(query: &str) -> Result<ListQuery, ErrorReply> {
    let mut parsed = ListQuery {
        prefix: String::new(),
        cursor: None,
        limit: DEFAULT_PAGE_SIZE,
    };
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode_component(raw).map_err(|reason| {
            ErrorReply::new(
                Code::InvalidUrl,
                format!("Error invalid URL: query parameter {name} is malformed: {reason}"),
            )
        })?;
        match name {
            "prefix" => parsed.prefix = value,
            "limit" => {
                parsed.limit = crate::storage::parse_page_limit(&value).ok_or_else(|| {
                    ErrorReply::new(
                        Code::ArgumentException,
                        format!("Error bad limit {value:?}: expected a positive integer"),
                    )
                })?;
            }
            "cursor" if value.is_empty() => parsed.cursor = None,
            "cursor" => {
                parsed.cursor = Some(cursor::decode(&value).ok_or_else(|| {
                    ErrorReply::new(
                        Code::ArgumentException,
                        "Error bad cursor: pass back the next_cursor of a previous page",
                    )
                })?);
            }
            _ => {}
        }
    }
    Ok(parsed)
}

/// Decodes one `application/x-www-form-urlencoded` component.
fn decode_component(raw: &str) -> Result<String, &'static str> {
    super::percent_decode(&raw.replace('+', " "))
}
