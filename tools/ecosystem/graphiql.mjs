// GraphiQL in a real headless browser (Debian's chromium driven by
// playwright-core), against the demo server: the page renders from the
// binary's own assets (no request leaves the server), the demo login form logs
// in, the schema loads by introspection (the documentation explorer lists the
// role's root fields), and a query returns data.
//
//   node tools/ecosystem/graphiql.mjs http://127.0.0.1:8298
import { chromium } from "playwright-core";

const base = process.argv[2];
const executablePath = process.env.GEPI_CHROMIUM || "/usr/bin/chromium";
const query = "{ cases(first: 3) { totalCount edges { node { id state } } } }";
const fail = (what) => {
  console.error(`graphiql: ${what}`);
  process.exit(1);
};

const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage();
  const elsewhere = [];
  const errors = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith("data:")) elsewhere.push(r.url());
  });
  page.on("response", (r) => r.status() >= 400 && errors.push(`${r.status()} for ${r.url()}`));
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && errors.push(m.text()));

  await page.goto(`${base}/graphiql?query=${encodeURIComponent(query)}`, { waitUntil: "load" });
  await page.waitForSelector(".graphiql-container", { timeout: 20000 });

  // Demo login: the case manager.
  await page.waitForSelector("#gepi-login:not([hidden]) select option", { state: "attached", timeout: 20000 });
  const choice = await page.$$eval("#gepi-login select option", (os) =>
    os.map((o) => ({ value: o.value, label: o.textContent })).find((o) => o.label.startsWith("case_manager ")),
  );
  if (!choice) fail("no case_manager among the demo logins");
  await page.selectOption("#gepi-login select", choice.value);
  await page.click("#gepi-login button");
  await page.waitForFunction(() => document.getElementById("gepi-login-status").textContent.startsWith("Logged in"), null, {
    timeout: 20000,
  });

  // Introspection: the documentation explorer shows the role's root fields.
  await page.click('[aria-label="Show Documentation Explorer"]');
  await page.click(".graphiql-doc-explorer a.graphiql-doc-explorer-type-name >> text=Query", { timeout: 20000 });
  await page.waitForSelector(".graphiql-doc-explorer >> text=cases", { timeout: 20000 });

  // The query from the URL, run as the case manager.
  await page.click(".graphiql-execute-button");
  const answer = await page.waitForFunction(
    () => {
      const cm = document.querySelector(".result-window .CodeMirror");
      const text = cm && cm.CodeMirror.getValue();
      return text && text.includes('"data"') ? text : null;
    },
    null,
    { timeout: 20000 },
  );
  const body = JSON.parse(await answer.jsonValue());
  if (body.errors) fail(`the query failed: ${JSON.stringify(body.errors)}`);
  if (!(body.data.cases.totalCount > 0 && body.data.cases.edges.length > 0)) fail(`no cases: ${JSON.stringify(body)}`);
  if (elsewhere.length) fail(`requests left the server: ${elsewhere.join(", ")}`);
  if (errors.length) fail(`errors in the page: ${errors.join("; ")}`);
  console.log(`graphiql: rendered offline, logged in as ${choice.label}, schema introspected, ${body.data.cases.totalCount} cases`);
} finally {
  await browser.close();
}
