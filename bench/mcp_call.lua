-- wrk script: tools/call query_bus_position (latest) as a stateless 2026-07-28 request.
-- Environment: MADBUS_KEY, MADBUS_GROUP (sent as the gateway headers; ignored by the baseline).
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query_bus_position",'
  .. '"arguments":{"bus_id":"B001"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
  .. '"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},'
  .. '"io.modelcontextprotocol/clientCapabilities":{}}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "query_bus_position"
wrk.headers["x-api-key"] = os.getenv("MADBUS_KEY") or ""
wrk.headers["x-group-name"] = os.getenv("MADBUS_GROUP") or ""
