//! `GET /kvs?prefix=&limit=&cursor=`: keys in pages.

use super::Response;
use crate::envelope::{Code, ErrorReply};
use crate::paging::{self, PageRequest};
use crate::storage::Storage;

/// Answers `{"keys":[...],"next_cursor":"..."|null}`; 400 on a limit that is
/// not a positive number or a cursor this server did not issue.
pub fn list(store: &impl Storage, query: &str) -> Response {
    match parse_query(query).and_then(|page| page.fetch(store).map_err(ErrorReply::from)) {
        Ok(page) => Response::json(
            200,
            &serde_json::json!({
                "keys": page.keys,
                "next_cursor": page.next_cursor.as_deref().map(paging::encode),
            }),
        ),
        Err(reply) => Response::error(reply),
    }
}

fn parse_query(query: &str) -> Result<PageRequest, ErrorReply> {
    let mut page = PageRequest::default();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode_component(raw).map_err(|reason| {
            ErrorReply::new(
                Code::InvalidUrl,
                format!("Error invalid URL: query parameter {name} is malformed: {reason}"),
            )
        })?;
        match name {
            "prefix" => page.prefix = value,
            "limit" => page.set_limit(&value).map_err(|_| {
                ErrorReply::new(
                    Code::ArgumentException,
                    format!("Error bad limit {value:?}: expected a positive integer"),
                )
            })?,
            "cursor" => page.set_cursor(&value).map_err(|_| {
                ErrorReply::new(
                    Code::ArgumentException,
                    "Error bad cursor: pass back the next_cursor of a previous page",
                )
            })?,
            _ => {}
        }
    }
    Ok(page)
}

/// Decodes one `application/x-www-form-urlencoded` component.
fn decode_component(raw: &str) -> Result<String, &'static str> {
    super::percent_decode(&raw.replace('+', " "))
}
