"""WebSocket clients for bench/soak.sh: N clients subscribed to every line for the run,
each reconnecting if dropped; prints one JSON line of totals at the end."""
import asyncio, json, sys, time

import websockets

URL, KEY, GROUP, CLIENTS, SECONDS = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
# Every line of the built-in network (data/lines.yaml).
LINES = ["L1", "L2", "L3", "L27", "L46", "L82", "L61", "L45", "L132"]
totals = {"clients": CLIENTS, "messages": 0, "events": 0, "connects": 0, "drops": 0, "errors": 0}


async def client(deadline):
    headers = {"x-api-key": KEY, "x-group-name": GROUP}
    while time.monotonic() < deadline:
        try:
            async with websockets.connect(URL, additional_headers=headers, max_size=2**22) as ws:
                totals["connects"] += 1
                await ws.send(json.dumps({"action": "subscribe",
                                          "line_ids": LINES,
                                          "topics": ["positions", "arrivals", "people", "sensors"]}))
                while time.monotonic() < deadline:
                    try:
                        msg = await asyncio.wait_for(ws.recv(), timeout=max(0.1, deadline - time.monotonic()))
                    except asyncio.TimeoutError:
                        break
                    totals["messages"] += 1
                    if '"type":"bus.' in msg or '"type":"people.' in msg or '"type":"sensor.' in msg:
                        totals["events"] += 1
                    elif '"type":"error"' in msg:
                        totals["errors"] += 1
                return
        except websockets.ConnectionClosed:
            totals["drops"] += 1
        except (OSError, websockets.InvalidStatus, websockets.InvalidHandshake):
            totals["errors"] += 1
            await asyncio.sleep(1)


async def main():
    deadline = time.monotonic() + SECONDS
    await asyncio.gather(*(client(deadline) for _ in range(CLIENTS)))
    print(json.dumps(totals))


asyncio.run(main())
