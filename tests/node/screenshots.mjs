// Takes the README's screenshots of the live map (docs/map.png, the whole city; and
// docs/map-centre.png, the centre zoomed in with a stop's popup open) from a running madbus.
// Usage: node screenshots.mjs URL KEY GROUP OUT_DIR
import { chromium } from "playwright-core";

const [url, key, group, out] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.addInitScript(([k, g]) => {
    localStorage.setItem("madbus.key", k);
    localStorage.setItem("madbus.group", g);
  }, [key, group]);
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("clock").textContent.includes("×"), null, { timeout: 60000 });
  await page.screenshot({ path: `${out}/map.png` });
  // The centre: Sol, Cibeles and Gran Vía, with the busiest place's popup.
  await page.evaluate(() => {
    const sol = [...window.madbus.places.values()].find((p) => p.name === "Sol");
    window.madbus.map.setView(sol.marker.getLatLng(), 15.5);
  });
  await page.waitForTimeout(1500);
  await page.evaluate(() => [...window.madbus.places.values()].find((p) => p.name === "Sol").marker.fire("click"));
  await page.waitForSelector(".leaflet-popup-content .chart canvas", { timeout: 20000 });
  await page.waitForTimeout(500);
  await page.screenshot({ path: `${out}/map-centre.png` });
} finally {
  await browser.close();
}
