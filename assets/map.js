// madbus live map. The lines come from /lines/{id} (GeoJSON), the stops show how many people
// wait, and the buses move live from the WebSocket feed, in their line's colour with a ring
// for their load and an arrow for their heading. A panel lists the lines (headway now, mean
// delay) to hide or focus. Times are Madrid's. The key and group stay in this browser's
// localStorage. No map tiles unless the server names a tile URL (--map-tiles): the page
// works with no internet at all.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const PALETTE = ["#e63946", "#457b9d", "#2a9d8f", "#f4a261", "#6a4c93", "#1982c4", "#8ac926", "#ff595e", "#6d597a"];
  const TOPICS = ["positions", "arrivals", "people"];

  // Everything on the map, also for tests and the curious (window.madbus).
  const state = {
    lines: new Map(), stops: new Map(), places: new Map(), buses: new Map(), capacity: new Map(), ws: null, retries: 0,
    showParked: false, simTime: null, lastUpdate: null, speed: null,
  };
  window.madbus = state;

  // Zoom buttons on the right: the line panel sits on the left.
  const map = L.map("map", { zoomControl: false, zoomSnap: 0.25 }).setView([40.4168, -3.7038], 13);
  L.control.zoom({ position: "topright" }).addTo(map);
  state.map = map;
  L.control.scale({ imperial: false }).addTo(map);
  const layers = L.layerGroup().addTo(map);

  const madridTime = new Intl.DateTimeFormat("es-ES", {
    timeZone: "Europe/Madrid", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  const madrid = (t) => (t ? madridTime.format(new Date(t)) : "?");
  const minutes = (s) => `${s < 0 ? "-" : "+"}${Math.floor(Math.abs(s) / 60)}:${String(Math.round(Math.abs(s) % 60)).padStart(2, "0")}`;
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

  // Okabe-Ito blue, yellow and vermillion: told apart with every common colour-vision deficiency.
  function occupancyColor(passengers, capacity) {
    const share = capacity ? passengers / capacity : 0;
    return share < 0.4 ? "#0072B2" : share < 0.75 ? "#E69F00" : "#D55E00";
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

  function busPopup(id, m) {
    const p = m.last || {};
    const s = m.sensors || {};
    const div = table(`Bus ${id} (line ${p.line_id})`, [
      ["trip", p.in_service ? p.trip_id || "-" : "out of service"],
      ["delay", p.delay_s == null ? "-" : `${minutes(p.delay_s)} min`],
      ["passengers", `${p.passenger_count} / ${state.capacity.get(id) || "?"}`],
      ["speed", `${p.speed} km/h`],
      ["next stop", `${stopName(p.next_stop_id)} (${Math.round(p.distance_to_next_stop)} m)`],
      ["temperature", s.temperature == null ? "?" : `${s.temperature} °C`],
      ["CO2", s.co2_level == null ? "?" : `${s.co2_level} ppm`],
      ["doors", s.door_status || "?"],
      ["at (Madrid)", madrid(p.time)],
    ]);
    (m.charts || []).forEach((c) => div.appendChild(c));
    return div;
  }

  const stopName = (id) => (state.stops.get(id) || {}).name || id;

  async function showBus(id, marker) {
    try {
      marker.sensors = await api(`/sensors/bus/${encodeURIComponent(id)}?mode=latest`);
      marker.charts = [];
      marker.bindPopup(busPopup(id, marker), { maxWidth: 300 }).openPopup();
      showBusCharts(id, marker);
    } catch (e) {
      setStatus(`sensors of ${id}: ${e.message}`, "error");
    }
  }

  // A small line chart (uPlot) of [times in ms, values] over the last hour.
  function sparkline(label, times, values, color) {
    const div = document.createElement("div");
    div.className = "chart";
    div.dataset.points = String(values.length);
    const caption = document.createElement("div");
    caption.className = "muted";
    caption.textContent = `${label}, last hour`;
    div.appendChild(caption);
    if (values.length < 2 || typeof uPlot === "undefined") return div;
    const opts = {
      width: 260, height: 70, legend: { show: false }, cursor: { show: false },
      scales: { x: { time: true } },
      axes: [{ show: false }, { size: 36, font: "10px system-ui", ticks: { show: false } }],
      series: [{}, { stroke: color, width: 2, fill: `${color}22` }],
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Europe/Madrid"),
    };
    new uPlot(opts, [times.map((t) => t / 1000), values], div);
    return div;
  }

  // The last hour of a series from the range API, all pages.
  async function lastHour(path) {
    const to = state.simTime || Date.now();
    const from = to - 3600 * 1000;
    let rows = [];
    let cursor = null;
    for (let i = 0; i < 10; i++) {
      const page = await api(`${path}?from=${from}&to=${to}&limit=1000${cursor ? `&cursor=${cursor}` : ""}`);
      rows = rows.concat(page.items);
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    return rows;
  }

  async function showBusCharts(id, marker) {
    try {
      const [positions, sensors] = await Promise.all([
        lastHour(`/bus-position/${encodeURIComponent(id)}`),
        lastHour(`/sensors/bus/${encodeURIComponent(id)}`),
      ]);
      marker.charts = [
        sparkline("passengers", positions.map((p) => Date.parse(p.time)), positions.map((p) => p.passenger_count), "#0072B2"),
        sparkline("CO2 (ppm)", sensors.map((p) => Date.parse(p.time)), sensors.map((p) => p.co2_level), "#D55E00"),
      ];
      if (marker.isPopupOpen()) marker.setPopupContent(busPopup(id, marker));
    } catch (e) {
      setStatus(`history of ${id}: ${e.message}`, "error");
    }
  }

  // A place: the next arrivals at its stops (scheduled, predicted, delay) and people waiting.
  async function placePopup(place) {
    const [arrivals, history] = await Promise.all([
      Promise.all(place.stopIds.map((id) => api(`/stops/${encodeURIComponent(id)}/arrivals`))),
      Promise.all(place.stopIds.map((id) => lastHour(`/people-count/${encodeURIComponent(id)}`))),
    ]);
    const next = arrivals.flatMap((a) => a.arrivals).sort((a, b) => a.eta_seconds - b.eta_seconds).slice(0, 6);
    const div = table(`${place.name}`, [
      ["stops", place.stopIds.join(", ")],
      ["waiting", String(place.total())],
    ]);
    const t = document.createElement("table");
    t.className = "arrivals";
    const head = t.insertRow();
    for (const h of ["line", "towards", "scheduled", "predicted", "delay"]) {
      const th = document.createElement("th");
      th.textContent = h;
      head.appendChild(th);
    }
    for (const a of next) {
      const tr = t.insertRow();
      for (const v of [
        a.line_id,
        stopName(a.towards_stop_id),
        a.scheduled ? madrid(a.scheduled).slice(0, 5) : "-",
        madrid(a.predicted),
        a.delay_s == null ? "-" : minutes(a.delay_s),
      ]) {
        tr.insertCell().textContent = v;
      }
    }
    if (!next.length) t.insertRow().insertCell().textContent = "no bus coming";
    div.appendChild(t);
    // People waiting over the hour: the sum of the place's stops at each sample.
    const sums = new Map();
    history.flat().forEach((r) => sums.set(Date.parse(r.time), (sums.get(Date.parse(r.time)) || 0) + r.count));
    const times = [...sums.keys()].sort((a, b) => a - b);
    div.appendChild(sparkline("people waiting", times, times.map((t) => sums.get(t)), "#1d3557"));
    return div;
  }

  async function showPlace(place) {
    try {
      place.marker.bindPopup(await placePopup(place), { maxWidth: 340 }).openPopup();
      // Arrivals move on: refresh while it stays open.
      clearInterval(place.refresh);
      place.refresh = setInterval(async () => {
        if (!place.marker.isPopupOpen()) return clearInterval(place.refresh);
        place.marker.setPopupContent(await placePopup(place).catch(() => place.marker.getPopup().getContent()));
      }, 15000);
    } catch (e) {
      setStatus(`${place.name}: ${e.message}`, "error");
    }
  }

  function setCount(stopId, count) {
    const stop = state.stops.get(stopId);
    if (!stop) return;
    stop.count = count;
    const place = state.places.get(stop.place);
    const total = place.total();
    place.marker.setTooltipContent(String(total));
    // Bigger with more people waiting, so what a hidden label would say still shows.
    place.marker.setRadius(5 + Math.min(9, Math.sqrt(total)));
    scheduleDeclutter();
  }

  // Labels only where they fit: place names of terminals first, then the counts of the
  // places with most people; a label that would overlap one already shown is hidden.
  let declutterPending = false;
  function scheduleDeclutter() {
    if (declutterPending) return;
    declutterPending = true;
    requestAnimationFrame(() => {
      declutterPending = false;
      declutter();
    });
  }

  function declutter() {
    const labels = [...document.querySelectorAll(".terminal-label, .stop-label")];
    const weight = (el) => (el.classList.contains("terminal-label") ? 1e9 : Number(el.textContent) || 0);
    labels.sort((a, b) => weight(b) - weight(a));
    const shown = [];
    for (const el of labels) {
      el.style.visibility = "";
      const r = el.getBoundingClientRect();
      const hit = shown.some((o) => r.left < o.right && o.left < r.right && r.top < o.bottom && o.top < r.bottom);
      if (hit) el.style.visibility = "hidden";
      else shown.push(r);
    }
  }
  map.on("zoomend moveend", scheduleDeclutter);

  // A bus: its line's colour, a ring for its load, an arrow for where it is heading.
  function busIcon(id, lineColor, ring, heading, parked) {
    const arrow = heading == null ? "" : `<path d="M13 1 L17 7 L9 7 Z" fill="#1d3557" transform="rotate(${Math.round(heading)} 13 13)"/>`;
    return L.divIcon({
      className: `bus bus-${id}${parked ? " parked" : ""}`,
      html: `<svg width="26" height="26" viewBox="0 0 26 26" aria-hidden="true">${arrow}<circle cx="13" cy="13" r="7" fill="${parked ? "#adb5bd" : lineColor}" stroke="${ring}" stroke-width="3"/></svg>`,
      iconSize: [26, 26],
      iconAnchor: [13, 13],
    });
  }

  function heading(from, to) {
    const dy = to.latitude - from.latitude;
    const dx = (to.longitude - from.longitude) * Math.cos((to.latitude * Math.PI) / 180);
    if (Math.hypot(dx, dy) < 2e-5) return null; // under about 2 m: keep the last heading
    return ((Math.atan2(dx, dy) * 180) / Math.PI + 360) % 360;
  }

  function busVisible(m) {
    const line = state.lines.get(m.last.line_id);
    return (!line || line.visible) && (m.last.in_service !== false || state.showParked);
  }

  function placeBus(p) {
    noteTime(p.time);
    let m = state.buses.get(p.bus_id);
    if (!m) {
      m = L.marker([p.latitude, p.longitude], { keyboard: true, title: `Bus ${p.bus_id}`, alt: `Bus ${p.bus_id}` });
      m.on("click", () => showBus(p.bus_id, m));
      state.buses.set(p.bus_id, m);
    } else {
      m.heading = heading(m.last, p) ?? m.heading;
      m.setLatLng([p.latitude, p.longitude]);
    }
    m.last = p;
    const line = state.lines.get(p.line_id);
    m.setIcon(busIcon(p.bus_id, line ? line.color : "#6c757d", occupancyColor(p.passenger_count, state.capacity.get(p.bus_id)), m.heading, p.in_service === false));
    if (busVisible(m)) m.addTo(layers);
    else m.remove();
    if (m.isPopupOpen()) m.setPopupContent(busPopup(p.bus_id, m));
  }

  // The simulated clock and its speed, from the times the feed carries.
  function noteTime(t) {
    const ms = Date.parse(t);
    const now = Date.now();
    if (state.simTime != null && ms > state.simTime) {
      if (state.mark && now - state.mark.wall >= 5000) {
        state.speed = (ms - state.mark.sim) / (now - state.mark.wall);
        state.mark = { sim: ms, wall: now };
      }
    }
    if (!state.mark) state.mark = { sim: ms, wall: now };
    if (state.simTime == null || ms > state.simTime) state.simTime = ms;
    state.lastUpdate = now;
  }

  function tick() {
    const clock = $("clock");
    if (state.simTime != null) {
      const speed = state.speed == null ? "" : ` · ×${state.speed >= 10 ? Math.round(state.speed) : state.speed.toFixed(1)}`;
      clock.textContent = `Madrid ${madrid(state.simTime)}${speed}`;
    }
    const s = $("status");
    if (state.ws && state.ws.readyState === 1 && state.lastUpdate != null && s.className === "live") {
      const age = Math.round((Date.now() - state.lastUpdate) / 1000);
      s.textContent = `live: ${state.lines.size} lines · updated ${age} s ago`;
    }
    refreshPanel();
  }
  setInterval(tick, 1000);

  // The line panel: colour, name, headway now, mean delay of its buses in service.
  function buildPanel(details, summaries) {
    const list = $("lines");
    list.textContent = "";
    details.forEach((line) => {
      const l = state.lines.get(line.line_id);
      const summary = summaries.find((x) => x.line_id === line.line_id) || {};
      l.headway_s = summary.headway_s;
      const li = document.createElement("li");
      const show = document.createElement("input");
      show.type = "checkbox";
      show.checked = true;
      show.className = "show-line";
      show.dataset.line = line.line_id;
      show.setAttribute("aria-label", `Show line ${line.line_id}`);
      show.addEventListener("change", () => setLineVisible(line.line_id, show.checked));
      const swatch = document.createElement("i");
      swatch.className = "swatch";
      swatch.style.background = l.color;
      const focus = document.createElement("button");
      focus.type = "button";
      focus.className = "focus-line";
      focus.textContent = `${line.line_id} ${line.name}`;
      focus.title = `Zoom to line ${line.line_id}`;
      focus.addEventListener("click", () => focusLine(line.line_id));
      const info = document.createElement("span");
      info.className = "line-info muted";
      l.info = info;
      li.append(show, swatch, focus, info);
      list.appendChild(li);
    });
    refreshPanel();
  }

  function refreshPanel() {
    for (const [id, l] of state.lines) {
      if (!l.info) continue;
      const delays = [...state.buses.values()]
        .filter((m) => m.last.line_id === id && m.last.in_service !== false && m.last.delay_s != null)
        .map((m) => m.last.delay_s);
      const headway = l.headway_s ? `every ${Math.round(l.headway_s / 60)} min` : "not running now";
      const delay = delays.length ? ` · delay ${minutes(delays.reduce((a, b) => a + b, 0) / delays.length)}` : "";
      l.info.textContent = `${headway}${delay}`;
    }
  }

  function setLineVisible(id, visible) {
    const l = state.lines.get(id);
    l.visible = visible;
    if (visible) l.path.addTo(layers);
    else l.path.remove();
    for (const m of state.buses.values()) {
      if (m.last.line_id !== id) continue;
      if (busVisible(m)) m.addTo(layers);
      else m.remove();
    }
  }

  function focusLine(id) {
    const l = state.lines.get(id);
    if (!l.visible) {
      setLineVisible(id, true);
      document.querySelector(`input.show-line[data-line="${id}"]`).checked = true;
    }
    map.fitBounds(l.path.getBounds(), { padding: [30, 30] });
    l.path.bringToFront();
    l.path.setStyle({ weight: 8 });
    setTimeout(() => l.path.setStyle({ weight: 4 }), 2000);
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
    state.places.clear();
    state.buses.clear();
    state.terminals = new Set();
    setStatus("loading the network…");
    try {
      const [lines, buses, stops] = await Promise.all([api("/lines"), api("/buses"), api("/stops")]);
      state.mark = null;
      buses.forEach((b) => state.capacity.set(b.bus_id, b.capacity));
      const details = await Promise.all(lines.map((l) => api(`/lines/${encodeURIComponent(l.line_id)}`)));
      const bounds = L.latLngBounds([]);
      details.forEach((line, i) => {
        const color = line.color || PALETTE[i % PALETTE.length];
        const points = line.geometry.geometry.coordinates.map(([lon, lat]) => [lat, lon]);
        const path = L.polyline(points, { color, weight: 4, opacity: 0.8, className: `line line-${line.line_id}` })
          .bindTooltip(`${line.line_id}: ${line.name}`)
          .addTo(layers);
        state.lines.set(line.line_id, { path, color, visible: true });
        points.forEach((p) => bounds.extend(p));
        for (const t of [line.stops[0], line.stops[line.stops.length - 1]]) {
          if (state.terminals.has(t.name)) continue;
          state.terminals.add(t.name);
          L.tooltip({ permanent: true, direction: "bottom", className: "terminal-label", offset: [0, 6] })
            .setLatLng([t.latitude, t.longitude])
            .setContent(t.name)
            .addTo(layers);
        }
      });
      // One marker per place (stops under several ids at one spot, an interchange).
      for (const st of stops) {
        state.stops.set(st.stop_id, { name: st.name, place: st.place_id, count: null });
        let place = state.places.get(st.place_id);
        if (!place) {
          place = { id: st.place_id, name: st.place_name, stopIds: [], lat: 0, lon: 0 };
          place.total = () => place.stopIds.reduce((n, id) => n + (state.stops.get(id).count || 0), 0);
          state.places.set(st.place_id, place);
        }
        place.stopIds.push(st.stop_id);
        place.lat += st.latitude;
        place.lon += st.longitude;
      }
      for (const place of state.places.values()) {
        const k = place.stopIds.length;
        place.marker = L.circleMarker([place.lat / k, place.lon / k], {
          radius: 5, weight: 2, color: "#1d3557", fillColor: "#fff", fillOpacity: 1, className: "stop",
        })
          .bindTooltip("", { permanent: true, direction: "top", className: "stop-label", offset: [0, -4] })
          .addTo(layers);
        place.marker.on("click", () => showPlace(place));
        // Reachable with the keyboard like the buses: Tab to it, Enter to open.
        const el = place.marker.getElement();
        el.setAttribute("tabindex", "0");
        el.setAttribute("role", "button");
        el.setAttribute("aria-label", `${place.name}: people waiting and next buses`);
        el.addEventListener("keydown", (e) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            showPlace(place);
          }
        });
      }
      buildPanel(details, lines);
      // Fit once the map has its size (the panel and header are laid out by now).
      map.invalidateSize();
      if (bounds.isValid()) map.fitBounds(bounds, { paddingTopLeft: [$("panel").offsetWidth + 30, 20], paddingBottomRight: [20, 20] });
      state.bounds = bounds;
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

  $("show-parked").addEventListener("change", (e) => {
    state.showParked = e.target.checked;
    for (const m of state.buses.values()) {
      if (busVisible(m)) m.addTo(layers);
      else m.remove();
    }
  });

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
