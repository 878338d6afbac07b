"""The baseline of bench/mcp.sh: a minimal MCP server built with the official Python SDK
(`mcp` 2.3, MCPServer, stateless JSON Streamable HTTP) answering the same
query_bus_position (latest) from the same SQLite file madbus wrote.

Usage: python bench/mcp_baseline.py DB_FILE PORT
"""

import sqlite3
import sys
from datetime import datetime, timezone

from mcp.server.mcpserver import MCPServer

db_file, port = sys.argv[1], int(sys.argv[2])
app = MCPServer("baseline")
conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, check_same_thread=False)


@app.tool()
def query_bus_position(bus_id: str) -> dict:
    """Latest position of a bus."""
    row = conn.execute(
        "SELECT bus_id, line_id, t, latitude, longitude, speed_kmh, direction, passenger_count,"
        " next_stop_id, distance_to_next_stop_m, at_stop"
        " FROM bus_positions WHERE bus_id = ? ORDER BY t DESC LIMIT 1",
        (bus_id,),
    ).fetchone()
    if row is None:
        raise ValueError(f"Bus {bus_id} not found")
    when = datetime.fromtimestamp(row[2] / 1000, tz=timezone.utc)
    return {
        "bus_id": row[0],
        "line_id": row[1],
        "time": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{row[2] % 1000:03d}Z",
        "latitude": row[3],
        "longitude": row[4],
        "speed": row[5],
        "direction": row[6],
        "passenger_count": row[7],
        "next_stop_id": row[8],
        "distance_to_next_stop": row[9],
        "at_stop": bool(row[10]),
    }


app.run(transport="streamable-http", host="127.0.0.1", port=port, json_response=True, stateless_http=True)
