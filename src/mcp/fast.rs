//! The stateless fast path of `POST /mcp`: a plain 2026-07-28 `tools/list` or `tools/call`
//! is answered here, with rmcp's own message types and post-processing, instead of rmcp
//! building a service, a task and a cancellation tree for it (half of such a request's cost
//! in the profile). Only the common, well-formed shape is taken; anything unusual (another
//! method or version, an `Origin`, an unknown tool, a task, parameters in headers, duplicate
//! or encoded headers) goes to rmcp, which stays the reference: a test sends the same
//! requests both ways and compares the answers byte for byte.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    CallToolRequestParams, JsonRpcVersion2_0, PaginatedRequestParams, ProtocolVersion, RequestId,
    RequestMetaObject, ServerJsonRpcMessage, ServerResult,
};

use super::server::{to_mcp, tools_list};
use super::tools;
use crate::query::Query;

/// A request the fast path answers.
#[derive(Debug)]
pub enum Plain {
    ListTools(RequestId),
    CallTool(RequestId, CallToolRequestParams),
}

/// Which `Host` values `/mcp` accepts, the way rmcp decides it (an empty list: any).
#[derive(Debug, Clone)]
pub struct Hosts(Vec<(String, Option<u16>)>);

impl Hosts {
    pub fn new(allowed: &[String], any: bool) -> Self {
        if any {
            return Self(Vec::new());
        }
        Self(allowed.iter().filter_map(|a| authority(a.trim())).collect())
    }

    fn allow(&self, host: &str) -> bool {
        let Some((host, port)) = authority(host) else {
            return false;
        };
        self.0.is_empty()
            || (self.0.iter()).any(|(h, p)| *h == host && p.is_none_or(|p| Some(p) == port))
    }
}

fn authority(s: &str) -> Option<(String, Option<u16>)> {
    let a = axum::http::uri::Authority::try_from(s).ok()?;
    let host = a.host().trim_matches(['[', ']']).to_ascii_lowercase();
    Some((host, a.port_u16()))
}

/// The one value of header `name`, if it has exactly one and it is text.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    values
        .next()
        .is_none()
        .then(|| first.to_str().ok())
        .flatten()
}

/// `Accept` names both JSON and event streams, with no parameters (no weights to weigh).
fn accepts_both(headers: &HeaderMap) -> bool {
    let Some(accept) = single(headers, header::ACCEPT.as_str()) else {
        return false;
    };
    let (mut json, mut sse) = (false, false);
    for item in accept.split(',').map(str::trim) {
        if item.contains(';') {
            return false;
        }
        json |= item.eq_ignore_ascii_case("application/json");
        sse |= item.eq_ignore_ascii_case("text/event-stream");
    }
    json && sse
}

/// The request, when it is one the fast path answers exactly as rmcp would.
pub fn plain(parts: &Parts, body: &[u8], hosts: &Hosts) -> Option<Plain> {
    let h = &parts.headers;
    let version = ProtocolVersion::V_2026_07_28;
    let usual_headers = single(h, header::HOST.as_str()).is_some_and(|host| hosts.allow(host))
        && !h.contains_key(header::ORIGIN)
        && !h.contains_key("mcp-session-id")
        && accepts_both(h)
        && single(h, "mcp-protocol-version") == Some(version.as_str())
        && !h.keys().any(|k| k.as_str().starts_with("mcp-param-"));
    if !usual_headers {
        return None;
    }
    let known_meta = |meta: &Option<RequestMetaObject>| {
        meta.as_ref().is_some_and(|meta| {
            meta.protocol_version().as_ref() == Some(&version)
                && meta.missing_required_keys(&version).is_empty()
        })
    };
    match single(h, "mcp-method")? {
        "tools/list" => {
            let request: Envelope<PaginatedRequestParams> = parse(body, "tools/list")?;
            let params = request.params.unwrap_or_default();
            (known_meta(&params.meta) && params.cursor.is_none())
                .then_some(Plain::ListTools(request.id))
        }
        "tools/call" => {
            let request: Envelope<CallToolRequestParams> = parse(body, "tools/call")?;
            let params = request.params?;
            (known_meta(&params.meta)
                && single(h, "mcp-name") == Some(params.name.as_ref())
                && params.input_responses.is_none()
                && params.request_state.is_none()
                && tools::find(&params.name).is_some())
            .then_some(Plain::CallTool(request.id, params))
        }
        _ => None,
    }
}

/// A JSON-RPC request parsed straight into its method's parameters. rmcp's
/// `ClientJsonRpcMessage` goes through serde's untagged and flattened buffering, which was
/// an eighth of an MCP request's CPU time. It is rmcp's own types, and stricter: any other
/// field, or anything that does not parse, goes to rmcp.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<P> {
    #[expect(dead_code, reason = "checked by its type")]
    jsonrpc: JsonRpcVersion2_0,
    id: RequestId,
    method: String,
    params: Option<P>,
}

fn parse<P: serde::de::DeserializeOwned>(body: &[u8], method: &str) -> Option<Envelope<P>> {
    serde_json::from_slice::<Envelope<P>>(body)
        .ok()
        .filter(|e| e.method == method)
}

/// The answer rmcp gives a stateless 2026-07-28 request: the result with its cache hints
/// filled in, as one JSON-RPC response.
pub async fn answer(query: &Query, request: Plain) -> Response {
    let (id, result) = match request {
        Plain::ListTools(id) => (id, Ok(ServerResult::ListToolsResult(tools_list()))),
        Plain::CallTool(id, params) => {
            let arguments = params.arguments.unwrap_or_default();
            let outcome = tools::call(query, &params.name, arguments).await;
            (id, to_mcp(outcome).map(ServerResult::from))
        }
    };
    let message = match result {
        Ok(mut result) => {
            result.fill_missing_cache_hints();
            ServerJsonRpcMessage::response(result, id)
        }
        // Only an unknown tool is a protocol error, and those go to rmcp.
        Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
    };
    match serde_json::to_vec(&message) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            Body::from(body),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise an MCP answer");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
