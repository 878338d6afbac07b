//! The deployment checklist's plain HTTP contract, kept so the original's clients and
//! scripts work unchanged: `POST /mcp/list-tools` -> `{"tools": [...]}` and
//! `POST /mcp/call-tool` with `{"tool", "arguments"}` -> `{"success": true, "count", "data",
//! "timestamp"}`, or `"success": false` with the one error schema and the right status.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::tools::{self, ToolError};
use crate::web::{ApiError, AppState, ErrorKind};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mcp/list-tools", post(list_tools))
        .route("/mcp/call-tool", post(call_tool))
}

async fn list_tools() -> Json<Value> {
    Json(json!({ "tools": tools::catalog() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallBody {
    tool: String,
    #[serde(default)]
    arguments: Option<serde_json::Map<String, Value>>,
}

fn failure(kind: ErrorKind, message: impl Into<String>) -> ApiError {
    ApiError::new(kind, message).with_field("success", Value::Bool(false))
}

impl From<ToolError> for ApiError {
    fn from(e: ToolError) -> Self {
        let kind = match e {
            ToolError::UnknownTool(_) | ToolError::NotFound(_) => ErrorKind::NotFound,
            ToolError::BadRequest(_) => ErrorKind::BadRequest,
            ToolError::NotReady(m) => {
                return ApiError::unavailable(m, crate::web::NOT_READY_RETRY_S)
                    .with_field("success", Value::Bool(false));
            }
            ToolError::Internal => ErrorKind::InternalServerError,
        };
        failure(kind, e.to_string())
    }
}

async fn call_tool(State(s): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let call: CallBody = serde_json::from_slice(&body).map_err(|e| {
        failure(
            ErrorKind::BadRequest,
            format!(r#"Invalid body: expected {{"tool": NAME, "arguments": {{...}}}} ({e})"#),
        )
    })?;
    let out = tools::call(&s.query, &call.tool, call.arguments.unwrap_or_default()).await?;
    let cursor = out.structured.get("next_cursor").cloned();
    let rows = out.into_rows();
    let mut answer = json!({
        "success": true,
        "tool": call.tool,
        "count": rows.len(),
        "data": rows,
        "timestamp": tools::answered_at(),
    });
    if let Some(cursor) = cursor {
        answer["next_cursor"] = cursor;
    }
    Ok(Json(answer))
}
