// GraphQL over HTTP (the GraphQL foundation's spec), audited by the graphql-http
// package's serverAudits against the demo server, as a demo case manager: every
// audit (MUST, SHOULD and MAY) must pass. Usage: node http-audit.mjs BASE_URL LOGINS_FILE
import { readFileSync } from "node:fs";
import { serverAudits } from "graphql-http";

const [base, loginsFile] = process.argv.slice(2);
const logins = JSON.parse(readFileSync(loginsFile, "utf8"));
const cm = logins.find((l) => l.role === "case_manager");
const login = await fetch(`${base}/auth/dev-login`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ fiscalCode: cm.fiscalCode, profileId: cm.profileId }),
});
const { token } = await login.json();
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers || {});
  headers.set("authorization", `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

const audits = serverAudits({ url: `${base}/graphql`, fetchFn });
const counts = {};
for (const audit of audits) {
  const r = await audit.fn();
  counts[r.status] = (counts[r.status] ?? 0) + 1;
  if (r.status !== "ok") console.error(`${r.status.toUpperCase()} ${audit.id} ${audit.name}: ${r.reason}`);
}
const ok = counts.ok ?? 0;
console.log(`graphql-http ${audits.length} audits: ${JSON.stringify(counts)}`);
process.exit(ok === audits.length ? 0 : 1);
