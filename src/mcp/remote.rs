//! `madbus mcp --remote URL`: a stdio MCP server whose tools are a remote madbus's, reached
//! over Streamable HTTP with the gateway headers. A desktop assistant gets the remote data
//! without learning about keys or headers.

use std::collections::HashMap;

use anyhow::Context;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ListToolsResult,
    PaginatedRequestParams, ResultType, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RunningService, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ErrorData, RoleClient, RoleServer, ServerHandler, ServiceExt};

use super::server::server_config;

/// The remote madbus's tools.
pub struct RemoteTools {
    client: RunningService<RoleClient, ()>,
}

/// The MCP endpoint of a madbus at `base` (its root, or its `/mcp` already).
pub fn endpoint(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/mcp") {
        base.to_string()
    } else {
        format!("{base}/mcp")
    }
}

impl RemoteTools {
    /// Connects to the madbus at `base` with a key of `group`.
    pub async fn connect(base: &str, api_key: &str, group: &str) -> anyhow::Result<Self> {
        let header = |name: &'static str, value: &str| -> anyhow::Result<_> {
            let value = HeaderValue::from_str(value)
                .with_context(|| format!("{name} must be printable ASCII"))?;
            Ok((HeaderName::from_static(name), value))
        };
        let headers = HashMap::from([
            header("x-api-key", api_key)?,
            header("x-group-name", group)?,
        ]);
        let url = endpoint(base);
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(url.clone()).custom_headers(headers),
        );
        let client = ()
            .serve(transport)
            .await
            .with_context(|| format!("cannot connect to the MCP server at {url}"))?;
        Ok(Self { client })
    }

    /// The remote's tools (also a check that the key is accepted).
    pub async fn tools(&self) -> anyhow::Result<Vec<Tool>> {
        Ok(self.client.list_all_tools().await?)
    }

    /// Calls tool `name` of the remote.
    pub async fn call(
        &self,
        name: &str,
        arguments: serde_json::Value,
    ) -> anyhow::Result<CallToolResult> {
        let mut params = CallToolRequestParams::new(name.to_string());
        if let serde_json::Value::Object(map) = arguments {
            params = params.with_arguments(map);
        }
        Ok(self.client.call_tool(params).await?)
    }

    /// The protocol revision negotiated with the remote.
    pub fn protocol_version(&self) -> String {
        self.client
            .peer_info()
            .map(|info| info.protocol_version.to_string())
            .unwrap_or_else(|| "unknown".into())
    }
}

fn forward(e: ServiceError) -> ErrorData {
    match e {
        ServiceError::McpError(e) => e,
        other => ErrorData::internal_error(format!("the remote madbus failed: {other}"), None),
    }
}

impl ServerHandler for RemoteTools {
    fn get_info(&self) -> ServerConfig {
        server_config()
    }

    // Results are remade rather than passed through: the remote may have answered in an
    // older protocol revision than the one our own client negotiated.
    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let remote = self.client.list_tools(request).await.map_err(forward)?;
        let mut result = ListToolsResult::with_all_items(remote.tools);
        result.next_cursor = remote.next_cursor;
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        match self.client.call_tool_once(request).await.map_err(forward)? {
            CallToolResponse::Complete(mut result) => {
                result.result_type = Some(ResultType::COMPLETE);
                Ok(result.into())
            }
            other => Ok(other),
        }
    }
}
