"""Drives madbus with the official MCP Python SDK, for the Rust integration tests.

Reads a plan (JSON) on stdin:
  {"transport": "http", "url": ..., "headers": {...}, "mode": "auto" | "legacy" | "2026-07-28",
   "calls": [[tool, arguments], ...]}
  {"transport": "stdio", "command": ..., "args": [...], "env": {...}, "calls": [...]}
and prints one JSON report on stdout: the negotiated protocol version, the server's name,
every listed tool (as the SDK parsed it) and each call's result (or its JSON-RPC error). A failure to connect is
reported as {"connect_error": "..."}. Over HTTP, "statuses" lists every HTTP status the SDK
received, in order.
"""

import asyncio
import json
import sys

import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


async def session(client, calls):
    report = {
        "protocol_version": client.protocol_version,
        "server_name": client.server_info.name if client.server_info else None,
    }
    listed = await client.list_tools()
    report["tools"] = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed.tools]
    results = []
    for name, arguments in calls:
        try:
            r = await client.call_tool(name, arguments)
        except MCPError as e:
            results.append({"name": name, "rpc_error": {"code": e.code, "message": str(e)}})
            continue
        results.append(
            {
                "name": name,
                "is_error": bool(r.is_error),
                "structured": r.structured_content,
                "text": [c.text for c in r.content if c.type == "text"],
            }
        )
    report["calls"] = results
    return report


async def main():
    plan = json.load(sys.stdin)
    calls = plan.get("calls", [])
    statuses = []

    async def record(response):
        statuses.append(response.status_code)

    try:
        if plan["transport"] == "http":
            hooks = {"response": [record]}
            async with httpx2.AsyncClient(headers=plan.get("headers", {}), timeout=30, event_hooks=hooks) as hc:
                transport = streamable_http_client(plan["url"], http_client=hc)
                async with Client(transport, mode=plan.get("mode", "auto")) as client:
                    report = await session(client, calls)
        else:
            params = StdioServerParameters(command=plan["command"], args=plan["args"], env=plan.get("env"))
            async with Client(stdio_client(params), mode=plan.get("mode", "auto")) as client:
                report = await session(client, calls)
    except BaseException as e:  # noqa: BLE001 - reported to the test, which decides
        report = {"connect_error": repr(e)}
    report["statuses"] = statuses
    print(json.dumps(report))


asyncio.run(main())
