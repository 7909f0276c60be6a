// The dashboard in a real headless browser (Debian's chromium driven by
// playwright-core), against the demo server: the page renders from the
// binary's own assets (no request leaves the server), the demo login logs in
// as the analyst, every chart draws its data, and no cell of a protected table
// under its threshold k reaches the page: neither in the data the page
// received nor in what it shows (suppressed cells are marked ×). Then the
// Coordinatore PaIS sees exact counts of its Ambito.
//
//   node tools/ecosystem/dashboard.mjs http://127.0.0.1:8298
import { chromium } from "playwright-core";

const base = process.argv[2];
const executablePath = process.env.GEPI_CHROMIUM || "/usr/bin/chromium";
const fail = (what) => {
  console.error(`dashboard: ${what}`);
  process.exit(1);
};

async function visit(browser, role) {
  const page = await browser.newPage();
  const elsewhere = [];
  const errors = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith("data:")) elsewhere.push(r.url());
  });
  page.on("response", (r) => r.status() >= 400 && errors.push(`${r.status()} for ${r.url()}`));
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));

  await page.goto(`${base}/dashboard`, { waitUntil: "load" });
  await page.waitForSelector("#gepi-login:not([hidden]) select option", { state: "attached", timeout: 20000 });
  const choice = await page.$$eval(
    "#gepi-login select option",
    (os, role) => os.map((o) => ({ value: o.value, label: o.textContent })).find((o) => o.label.startsWith(role + " ")),
    role,
  );
  if (!choice) fail(`no ${role} among the demo logins`);
  await page.selectOption("#gepi-login select", choice.value);
  await page.click("#gepi-login button");
  await page.waitForFunction(() => window.gepiDashboard && window.gepiDashboard.done, null, { timeout: 30000 });

  const seen = await page.evaluate(() => {
    const d = window.gepiDashboard;
    const panels = [...document.querySelectorAll("section.panel")].map((s) => {
      const canvas = s.querySelector("canvas");
      const chart = canvas && window.Chart.getChart(canvas);
      return {
        id: s.id.replace("panel-", ""),
        unavailable: !!s.querySelector(".unavailable"),
        chart: chart ? { points: chart.data.datasets.reduce((n, ds) => n + ds.data.filter((v) => v !== null).length, 0), drawn: canvas.width > 0 && canvas.height > 0 } : null,
        shown: [...s.querySelectorAll("td.value")].map((td) => ({ text: td.textContent, flag: td.dataset.flag, suppressed: td.classList.contains("suppressed") })),
      };
    });
    return { tables: d.tables, errors: d.errors, panels };
  });
  await page.close();
  if (elsewhere.length) fail(`requests left the server: ${elsewhere.join(", ")}`);
  if (errors.length || seen.errors.length) fail(`errors in the page: ${[...errors, ...seen.errors].join("; ")}`);
  return seen;
}

const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
try {
  // The analyst: every panel, perturbed, nothing under k.
  const analyst = await visit(browser, "analyst");
  let cells = 0;
  let suppressed = 0;
  for (const p of analyst.panels) {
    // Deadlines move every day: counted exactly only, never for the analyst.
    if (p.id === "deadlines") {
      if (!p.unavailable || analyst.tables[p.id]) fail("the analyst counts cases by deadline");
      continue;
    }
    const t = analyst.tables[p.id];
    if (!t) fail(`the analyst has no table for ${p.id}`);
    if (t.method !== "CELL_KEY" || !(t.threshold >= 3)) fail(`${p.id}: not protected: ${t.method} k=${t.threshold}`);
    for (const c of t.cells) {
      cells++;
      if (c.value === null) {
        suppressed++;
        if (!c.flag.startsWith("SUPPRESSED_")) fail(`${p.id}: a cell without value flagged ${c.flag}`);
      } else if (c.value < t.threshold) {
        fail(`${p.id}: a cell of ${c.value} under k=${t.threshold} reached the page`);
      } else if (c.flag !== "PERTURBED") {
        fail(`${p.id}: a shown cell flagged ${c.flag}`);
      }
    }
    if (p.shown.length !== t.cells.length) fail(`${p.id}: ${p.shown.length} cells shown of ${t.cells.length}`);
    for (const s of p.shown) {
      if (s.suppressed !== (s.text === "×") || (s.suppressed && !s.flag.startsWith("SUPPRESSED_"))) fail(`${p.id}: a suppressed cell not marked`);
      if (!s.suppressed && Number(s.text) < t.threshold) fail(`${p.id}: ${s.text} under k=${t.threshold} shown`);
    }
    if (p.id !== "cases-comune") {
      if (!p.chart || !p.chart.drawn) fail(`${p.id}: no chart drawn`);
      if (p.chart.points === 0 && t.cells.some((c) => c.value !== null)) fail(`${p.id}: the chart has no data`);
    }
  }
  if (suppressed === 0) fail("the analyst's tables suppressed nothing: the demo data should have small cells");

  // The Coordinatore PaIS: exact counts of its Ambito's cases; PUC and checks are not its to count.
  const coordinator = await visit(browser, "pais_coordinator");
  const mine = coordinator.tables["cases-time"];
  if (!mine || mine.method !== "EXACT") fail(`the coordinator's cases are not exact: ${JSON.stringify(mine && mine.method)}`);
  if (!coordinator.panels.find((p) => p.id === "puc").unavailable) fail("the coordinator counts PUC assignments");
  const due = coordinator.tables["deadlines"];
  if (!due || due.method !== "EXACT" || !due.cells.some((c) => c.value > 0)) fail("the coordinator has no exact table of deadlines");
  const drawn = coordinator.panels.find((p) => p.id === "deadlines");
  if (!drawn.chart || !drawn.chart.drawn) fail("deadlines: no chart drawn");
  console.log(
    `dashboard: rendered offline; analyst: ${analyst.panels.length} panels, ${cells} cells, ${suppressed} suppressed, none under k; ` +
      `coordinator: exact cases, ${coordinator.panels.filter((p) => p.unavailable).length} panels not for its role`,
  );
} finally {
  await browser.close();
}
