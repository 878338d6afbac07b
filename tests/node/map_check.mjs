// Drives the live map page in headless Chromium (Debian's) for tests/map.rs, and prints one
// JSON report: what is drawn at two moments three seconds apart, the line panel and what
// hiding a line leaves, the popup of a clicked bus (with the Madrid time it should show),
// and every error the page logged.
// Usage: node map_check.mjs URL KEY GROUP SHOT1 SHOT2
import { chromium } from "playwright-core";

const [url, key, group, shot1, shot2] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("response", (r) => r.status() >= 400 && errors.push(`${r.status()} ${r.url()}`));
  // The page keeps the key where a user's browser would: localStorage.
  await page.addInitScript(([k, g]) => {
    localStorage.setItem("madbus.key", k);
    localStorage.setItem("madbus.group", g);
  }, [key, group]);
  await page.goto(url);
  await page.waitForFunction(
    () => window.madbus && window.madbus.buses.size >= 24 && document.querySelectorAll("path.line").length >= 9
      && document.getElementById("clock").textContent.includes("×"),
    null,
    { timeout: 30000 },
  );
  const read = () =>
    page.evaluate(() => ({
      lines: document.querySelectorAll("path.line").length,
      stops: document.querySelectorAll("path.stop").length,
      busMarkers: document.querySelectorAll(".leaflet-marker-icon.bus").length,
      inService: [...window.madbus.buses.values()].filter((m) => m.last.in_service !== false).length,
      clock: document.getElementById("clock").textContent,
      panel: [...document.querySelectorAll("#lines li")].map((li) => li.textContent),
      // The drawn network's extent against the map's.
      extent: (() => {
        const map = document.getElementById("map").getBoundingClientRect();
        const boxes = [...document.querySelectorAll("path.line")].map((p) => p.getBoundingClientRect());
        const w = Math.max(...boxes.map((b) => b.right)) - Math.min(...boxes.map((b) => b.left));
        const h = Math.max(...boxes.map((b) => b.bottom)) - Math.min(...boxes.map((b) => b.top));
        return { width: w / map.width, height: h / map.height };
      })(),
      buses: Object.fromEntries([...window.madbus.buses].map(([id, m]) => [id, [m.getLatLng().lat, m.getLatLng().lng]])),
      counts: [...document.querySelectorAll(".stop-label")].map((e) => e.textContent),
      // Pairs of visible labels whose boxes overlap.
      overlaps: (() => {
        const boxes = [...document.querySelectorAll(".stop-label, .terminal-label")]
          .filter((e) => e.style.visibility !== "hidden")
          .map((e) => e.getBoundingClientRect());
        let n = 0;
        boxes.forEach((a, i) => boxes.slice(i + 1).forEach((b) => {
          if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) n++;
        }));
        return n;
      })(),
      visibleLabels: [...document.querySelectorAll(".stop-label, .terminal-label")].filter((e) => e.style.visibility !== "hidden").length,
      status: document.getElementById("status").textContent,
    }));
  const first = await read();
  await page.screenshot({ path: shot1 });
  await page.waitForTimeout(3000);
  const second = await read();
  await page.screenshot({ path: shot2 });
  // Hide line L1 with its checkbox (as a keyboard user would: focus, space).
  const l1Buses = await page.evaluate(() => [...window.madbus.buses.values()].filter((m) => m.last.line_id === "L1").map((m) => m.last.bus_id));
  await page.focus('input.show-line[data-line="L1"]');
  await page.keyboard.press("Space");
  const hidden = await page.evaluate((ids) => ({
    l1Drawn: ids.filter((id) => document.querySelector(`.leaflet-marker-icon.bus-${id}`)).length,
    l1Line: document.querySelectorAll("path.line-L1").length,
    othersDrawn: document.querySelectorAll(".leaflet-marker-icon.bus").length,
  }), l1Buses);
  await page.keyboard.press("Space");
  await page.evaluate(() => window.madbus.buses.get("B001").fire("click"));
  await page.waitForSelector(".leaflet-popup-content .popup", { timeout: 10000 });
  // Read in one go: the popup follows the bus live.
  const { popup, madrid } = await page.evaluate(() => {
    const t = window.madbus.buses.get("B001").last.time;
    return {
      popup: document.querySelector(".leaflet-popup-content").textContent,
      madrid: new Intl.DateTimeFormat("es-ES", { timeZone: "Europe/Madrid", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }).format(new Date(t)),
    };
  });
  // The bus popup's charts come from the range API.
  await page.waitForFunction(() => document.querySelectorAll(".leaflet-popup-content .chart canvas").length >= 2, null, { timeout: 15000 });
  const busCharts = await page.evaluate(() => [...document.querySelectorAll(".leaflet-popup-content .chart")].map((c) => Number(c.dataset.points)));
  // A place of several stops: its arrivals and a chart of people waiting.
  // Opened from the keyboard: focus the place's marker, press Enter.
  await page.evaluate(() => {
    const place = [...window.madbus.places.values()].sort((a, b) => b.stopIds.length - a.stopIds.length)[0];
    place.marker.getElement().focus();
  });
  await page.keyboard.press("Enter");
  await page.waitForSelector(".leaflet-popup-content table.arrivals", { timeout: 15000 });
  const place = await page.evaluate(() => ({
    text: document.querySelector(".leaflet-popup-content").textContent,
    rows: document.querySelectorAll(".leaflet-popup-content table.arrivals tr").length - 1,
    chart: Number(document.querySelector(".leaflet-popup-content .chart").dataset.points),
    canvas: document.querySelectorAll(".leaflet-popup-content .chart canvas").length,
  }));
  console.log(JSON.stringify({ first, second, l1Buses, hidden, popup, madrid, busCharts, place, errors }));
} finally {
  await browser.close();
}
