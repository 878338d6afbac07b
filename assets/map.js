// madbus live map. The lines come from /lines/{id} (GeoJSON), the stops show how many people
// wait, and the buses move live from the WebSocket feed, coloured by occupancy. The key and
// group stay in this browser's localStorage. No map tiles unless the server names a tile
// URL (--map-tiles): the page works with no internet at all.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const PALETTE = ["#e63946", "#457b9d", "#2a9d8f", "#f4a261", "#6a4c93", "#1982c4", "#8ac926", "#ff595e", "#6d597a"];
  const TOPICS = ["positions", "arrivals", "people"];

  // Everything on the map, also for tests and the curious (window.madbus).
  const state = { lines: new Map(), stops: new Map(), buses: new Map(), capacity: new Map(), ws: null, retries: 0 };
  window.madbus = state;

  const map = L.map("map").setView([40.4168, -3.7038], 13);
  const layers = L.layerGroup().addTo(map);
  fetch("/map-config.json")
    .then((r) => r.json())
    .then((cfg) => {
      if (cfg.tile_url) {
        L.tileLayer(cfg.tile_url, { attribution: cfg.tile_attribution || "", maxZoom: 19 }).addTo(map);
      }
    })
    .catch(() => {});

  const credentials = () => ({ key: localStorage.getItem("madbus.key"), group: localStorage.getItem("madbus.group") });

  function setStatus(text, kind) {
    const s = $("status");
    s.textContent = text;
    s.className = kind || "";
  }

  async function api(path) {
    const { key, group } = credentials();
    const r = await fetch(path, { headers: { "x-api-key": key, "x-group-name": group } });
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      throw new Error(`${r.status}: ${body.message || r.statusText}`);
    }
    return r.json();
  }

  function occupancyColor(passengers, capacity) {
    const share = capacity ? passengers / capacity : 0;
    return share < 0.4 ? "#2a9d8f" : share < 0.75 ? "#e9c46a" : "#e76f51";
  }

  // A popup body from rows of [label, value], as text nodes (names come from a file).
  function table(title, rows) {
    const div = document.createElement("div");
    div.className = "popup";
    const h = document.createElement("b");
    h.textContent = title;
    div.appendChild(h);
    const t = document.createElement("table");
    for (const [label, value] of rows) {
      const tr = t.insertRow();
      tr.insertCell().textContent = label;
      tr.insertCell().textContent = value;
    }
    div.appendChild(t);
    return div;
  }

  async function showBus(id, marker) {
    const p = marker.last || {};
    try {
      const s = await api(`/sensors/bus/${encodeURIComponent(id)}?mode=latest`);
      marker
        .bindPopup(
          table(`Bus ${id} (line ${p.line_id})`, [
            ["passengers", `${p.passenger_count} / ${state.capacity.get(id) || "?"}`],
            ["speed", `${p.speed} km/h`],
            ["next stop", `${p.next_stop_id} (${Math.round(p.distance_to_next_stop)} m)`],
            ["temperature", `${s.temperature} °C`],
            ["humidity", `${s.humidity} %`],
            ["CO2", `${s.co2_level} ppm`],
            ["doors", s.door_status],
            ["at", s.time],
          ]),
        )
        .openPopup();
    } catch (e) {
      setStatus(`sensors of ${id}: ${e.message}`, "error");
    }
  }

  async function showStop(id, marker) {
    const stop = state.stops.get(id);
    try {
      const s = await api(`/sensors/stop/${encodeURIComponent(id)}?mode=latest`);
      marker
        .bindPopup(
          table(`${stop.name} (${id})`, [
            ["waiting", String(stop.count ?? "?")],
            ["temperature", `${s.temperature} °C`],
            ["humidity", `${s.humidity} %`],
            ["at", s.time],
          ]),
        )
        .openPopup();
    } catch (e) {
      setStatus(`sensors of ${id}: ${e.message}`, "error");
    }
  }

  function setCount(stopId, count) {
    const stop = state.stops.get(stopId);
    if (!stop) return;
    stop.count = count;
    stop.marker.setTooltipContent(String(count));
  }

  function placeBus(p) {
    const color = occupancyColor(p.passenger_count, state.capacity.get(p.bus_id));
    let m = state.buses.get(p.bus_id);
    if (!m) {
      m = L.circleMarker([p.latitude, p.longitude], {
        radius: 7, weight: 2, color: "#000", fillColor: color, fillOpacity: 0.9, className: `bus bus-${p.bus_id}`,
      }).addTo(layers);
      m.on("click", () => showBus(p.bus_id, m));
      state.buses.set(p.bus_id, m);
    } else {
      m.setLatLng([p.latitude, p.longitude]);
      m.setStyle({ fillColor: color });
    }
    m.last = p;
  }

  function connect(lineIds) {
    const { key, group } = credentials();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({ api_key: key, group_name: group });
    const ws = new WebSocket(`${scheme}//${location.host}/ws?${query}`);
    state.ws = ws;
    ws.onopen = () => {
      state.retries = 0;
      ws.send(JSON.stringify({ action: "subscribe", line_ids: lineIds, topics: TOPICS }));
    };
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      switch (m.type) {
        case "ack":
          setStatus(`live: ${m.line_ids.length} lines`, "live");
          break;
        case "snapshot":
          m.buses.forEach(placeBus);
          break;
        case "bus.position.updated":
          placeBus(m.data);
          break;
        case "people.count.updated":
          setCount(m.data.stop_id, m.data.count);
          break;
        case "bus.arrival":
          setCount(m.data.stop_id, m.data.waiting_after);
          break;
        case "lagged":
        case "error":
          setStatus(m.message, "error");
          break;
      }
    };
    ws.onclose = (e) => {
      if (state.ws !== ws) return;
      const wait = Math.min(30000, 1000 * 2 ** state.retries++);
      setStatus(`disconnected (${e.code}); retrying in ${wait / 1000} s`, "error");
      setTimeout(() => state.ws === ws && connect(lineIds), wait);
    };
  }

  async function start() {
    if (state.ws) {
      const old = state.ws;
      state.ws = null;
      old.close();
    }
    layers.clearLayers();
    state.lines.clear();
    state.stops.clear();
    state.buses.clear();
    setStatus("loading the network…");
    try {
      const [lines, buses] = await Promise.all([api("/lines"), api("/buses")]);
      buses.forEach((b) => state.capacity.set(b.bus_id, b.capacity));
      const details = await Promise.all(lines.map((l) => api(`/lines/${encodeURIComponent(l.line_id)}`)));
      const bounds = L.latLngBounds([]);
      details.forEach((line, i) => {
        const color = line.color || PALETTE[i % PALETTE.length];
        const points = line.geometry.geometry.coordinates.map(([lon, lat]) => [lat, lon]);
        const path = L.polyline(points, { color, weight: 4, opacity: 0.8, className: "line" })
          .bindTooltip(`${line.line_id}: ${line.name}`)
          .addTo(layers);
        state.lines.set(line.line_id, path);
        points.forEach((p) => bounds.extend(p));
        for (const s of line.stops) {
          if (state.stops.has(s.stop_id)) continue;
          const marker = L.circleMarker([s.latitude, s.longitude], {
            radius: 5, weight: 2, color: "#1d3557", fillColor: "#fff", fillOpacity: 1, className: "stop",
          })
            .bindTooltip("", { permanent: true, direction: "top", className: "stop-label", offset: [0, -4] })
            .addTo(layers);
          marker.on("click", () => showStop(s.stop_id, marker));
          state.stops.set(s.stop_id, { marker, name: s.name, count: null });
        }
      });
      if (bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20] });
      await Promise.all(
        [...state.stops.keys()].map((id) =>
          api(`/people-count/${encodeURIComponent(id)}?mode=latest`)
            .then((p) => setCount(p.stop_id, p.count))
            .catch(() => {}),
        ),
      );
      connect(lines.map((l) => l.line_id));
    } catch (e) {
      setStatus(e.message, "error");
    }
  }

  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    localStorage.setItem("madbus.key", $("key").value.trim());
    localStorage.setItem("madbus.group", $("group").value.trim());
    start();
  });
  $("forget").addEventListener("click", () => {
    localStorage.removeItem("madbus.key");
    localStorage.removeItem("madbus.group");
    $("key").value = "";
    if (state.ws) state.ws.close();
    state.ws = null;
    setStatus("not connected");
  });

  const saved = credentials();
  if (saved.key && saved.group) {
    $("key").value = saved.key;
    $("group").value = saved.group;
    start();
  }
})();
