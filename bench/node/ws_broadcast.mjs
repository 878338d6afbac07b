// The WebSocket baseline of bench/ws.sh: the usual minimal broadcast server on npm's `ws`.
// It subscribes once to a madbus /ws (every line, the same topics and mode as the clients
// under test) and sends each message it receives to every connected client, so its clients
// get the same messages as madbus's own clients in the same run.
// Usage: node ws_broadcast.mjs UPSTREAM_URL KEY GROUP PORT LINE_IDS_JSON BATCHED(true|false)
import { WebSocket, WebSocketServer } from "ws";

const [upstreamUrl, key, group, port, lineIds, batched] = process.argv.slice(2);
const wss = new WebSocketServer({ host: "127.0.0.1", port: Number(port), perMessageDeflate: false });
wss.on("connection", (client) => {
  client.on("error", () => {});
  // Clients' subscribe messages need no answer here: every client gets everything.
  client.on("message", () => {});
});

const upstream = new WebSocket(upstreamUrl, {
  headers: { "x-api-key": key, "x-group-name": group },
  perMessageDeflate: false,
});
upstream.on("open", () => {
  upstream.send(JSON.stringify({
    action: "subscribe",
    line_ids: JSON.parse(lineIds),
    batched: batched === "true",
  }));
  console.log("ready");
});
upstream.on("message", (data, isBinary) => {
  for (const client of wss.clients) {
    if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
  }
});
upstream.on("close", () => process.exit(1));
upstream.on("error", (e) => { console.error(e.message); process.exit(1); });
