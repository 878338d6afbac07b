// Drives the live map page in headless Chromium (Debian's) for tests/map.rs, and prints one
// JSON report: what is drawn at two moments three seconds apart, the popup of a clicked bus,
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
    () => window.madbus && window.madbus.buses.size >= 24 && document.querySelectorAll("path.line").length >= 9,
    null,
    { timeout: 30000 },
  );
  const read = () =>
    page.evaluate(() => ({
      lines: document.querySelectorAll("path.line").length,
      stops: document.querySelectorAll("path.stop").length,
      busMarkers: document.querySelectorAll("path.bus").length,
      buses: Object.fromEntries([...window.madbus.buses].map(([id, m]) => [id, [m.getLatLng().lat, m.getLatLng().lng]])),
      counts: [...document.querySelectorAll(".stop-label")].map((e) => e.textContent),
      status: document.getElementById("status").textContent,
    }));
  const first = await read();
  await page.screenshot({ path: shot1 });
  await page.waitForTimeout(3000);
  const second = await read();
  await page.screenshot({ path: shot2 });
  await page.evaluate(() => window.madbus.buses.get("B001").fire("click"));
  await page.waitForSelector(".leaflet-popup-content .popup", { timeout: 10000 });
  const popup = await page.textContent(".leaflet-popup-content");
  console.log(JSON.stringify({ first, second, popup, errors }));
} finally {
  await browser.close();
}
