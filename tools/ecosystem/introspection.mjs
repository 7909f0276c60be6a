// The standard introspection query of graphql-js 16 (getIntrospectionQuery, the
// one GraphiQL, Apollo, graphql-codegen, graphql-inspector, Postman, Insomnia and
// Altair send), in its variants, for every role of the demo server: each answer
// has no error and builds a client schema (buildClientSchema checks that every
// type it references is there). A data query deeper than the depth limit is still
// refused. Usage: node introspection.mjs BASE_URL LOGINS_FILE
import { readFileSync } from "node:fs";
import { buildClientSchema, getIntrospectionQuery } from "graphql";

const [base, loginsFile] = process.argv.slice(2);
const logins = JSON.parse(readFileSync(loginsFile, "utf8"));

async function post(path, body, token) {
  const headers = { "content-type": "application/json", accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(base + path, { method: "POST", headers, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

const variants = {
  "graphql-js defaults": {},
  "without descriptions": { descriptions: false },
  "everything": {
    descriptions: true,
    specifiedByUrl: true,
    directiveIsRepeatable: true,
    schemaDescription: true,
    inputValueDeprecation: true,
  },
};

let failed = 0;
const fail = (what, detail) => {
  failed++;
  console.error(`FAIL ${what}: ${detail}`);
};

for (const { role, fiscalCode, profileId } of logins) {
  const login = await post("/auth/dev-login", { fiscalCode, profileId });
  if (login.status !== 200) {
    fail(`${role} login`, JSON.stringify(login.body));
    continue;
  }
  const token = login.body.token;
  for (const [name, options] of Object.entries(variants)) {
    const r = await post("/graphql", { query: getIntrospectionQuery(options) }, token);
    if (r.status !== 200 || r.body.errors) {
      fail(`${role}, ${name}`, JSON.stringify(r.body.errors ?? r.status).slice(0, 300));
      continue;
    }
    try {
      const schema = buildClientSchema(r.body.data);
      console.log(`ok   ${role}, ${name}: ${Object.keys(schema.getTypeMap()).length} types`);
    } catch (e) {
      fail(`${role}, ${name}`, `not a valid schema: ${e.message}`);
    }
  }
  let deep = "id";
  for (let i = 0; i < 11; i++) deep = `household { cases { ${deep} } }`;
  const r = await post("/graphql", { query: `{ cases { edges { node { ${deep} } } } }` }, token);
  const code = r.body.errors?.[0]?.extensions?.code;
  if (code !== "LIMIT") fail(`${role}, deep data query`, `expected LIMIT, got ${JSON.stringify(r.body).slice(0, 200)}`);
}

if (logins.length === 0) fail("logins", "the demo server listed no operator");
console.log(failed ? `${failed} failure(s)` : `introspection: ${logins.length} roles, all variants answered`);
process.exit(failed ? 1 : 0);
