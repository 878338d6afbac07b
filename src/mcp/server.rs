//! The MCP server handler (rmcp): the tool catalogue and dispatcher of [`super::tools`]
//! over the query layer. The same handler serves Streamable HTTP at `/mcp` and stdio.

use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
    Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use super::tools::{self, ToolError};
use crate::query::Query;

/// How long a client may cache the tool list: it never changes while a server runs.
const TOOLS_TTL_MS: u64 = 3_600_000;

const INSTRUCTIONS: &str = "madbus simulates Madrid's city buses and records them as time \
    series. Call list_lines first to learn the line, stop and bus ids. Times are RFC 3339 UTC \
    (or epoch milliseconds); the current values are the default, a past value needs \
    `timestamp`, and history comes a page at a time from query_time_range.";

/// What `initialize` and `server/discover` say about madbus.
pub fn server_config() -> ServerConfig {
    ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
        .with_server_info(
            Implementation::new("madbus", env!("CARGO_PKG_VERSION"))
                .with_title("madbus: Madrid bus data"),
        )
        .with_instructions(INSTRUCTIONS)
}

/// `tools/list`'s answer: every tool, cacheable for an hour by anyone.
pub fn tools_list() -> ListToolsResult {
    ListToolsResult::with_all_items(tools::catalog().to_vec())
        .with_ttl_ms(TOOLS_TTL_MS)
        .with_cache_scope(CacheScope::Public)
}

/// The tools of this madbus, answered from its query layer.
#[derive(Clone)]
pub struct McpServer {
    query: Query,
}

impl McpServer {
    pub fn new(query: Query) -> Self {
        Self { query }
    }
}

/// A tool's outcome as MCP sees it: data or a tool error (`isError`) the model can read; an
/// unknown tool is a JSON-RPC error.
pub fn to_mcp(result: Result<tools::ToolOutput, ToolError>) -> Result<CallToolResponse, ErrorData> {
    match result {
        Ok(out) => Ok(CallToolResult::structured(out.structured).into()),
        Err(e @ ToolError::UnknownTool(_)) => Err(ErrorData::invalid_params(e.to_string(), None)),
        Err(e) => Ok(CallToolResult::error(vec![ContentBlock::text(e.to_string())]).into()),
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        server_config()
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(tools_list())
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools::find(name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments.unwrap_or_default();
        to_mcp(tools::call(&self.query, &request.name, arguments).await)
    }
}
