#!/usr/bin/env bash
# GePI against the tools GraphQL users already have, on the demo server: the
# standard introspection query of graphql-js 16, in its variants, for every
# role (tools/ecosystem/introspection.mjs), the GraphQL over HTTP audit of
# the graphql-http package (tools/ecosystem/http-audit.mjs, every audit), and
# graphql-schema-linter on the schema the binary serves (its description,
# naming and Relay rules: tools/ecosystem/.graphql-schema-linterrc; the
# ordering rules are off, fields follow the domain's order); then GraphiQL as
# the binary serves it, in Debian's chromium driven by playwright-core
# (tools/ecosystem/graphiql.mjs), and the dashboard as an analyst and as a
# coordinator (tools/ecosystem/dashboard.mjs: charts drawn, no cell under k in
# the page), after checking that the GraphiQL, React and Chart.js builds
# embedded in the binary (assets/graphiql/, assets/dashboard/) are byte for
# byte those of the npm packages pinned here; and the INPS feed's example against its JSON
# Schemas with Ajv (tools/ecosystem/feed-schemas.mjs). Needs Node 18+, npm (the
# npm packages are pinned in package-lock.json and installed here) and chromium.
set -euo pipefail
cd "$(dirname "$0")/../.."

port="${GEPI_ECOSYSTEM_PORT:-8298}"
base="http://127.0.0.1:$port"
work="$(mktemp -d)"
trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

(cd tools/ecosystem && npm ci --no-audit --no-fund --silent)
modules=tools/ecosystem/node_modules
for pair in graphiql/graphiql.min.js:graphiql.min.js graphiql/graphiql.min.css:graphiql.min.css \
  react/umd/react.production.min.js:react.production.min.js \
  react-dom/umd/react-dom.production.min.js:react-dom.production.min.js; do
  cmp "$modules/${pair%%:*}" "assets/graphiql/${pair##*:}" ||
    { echo "assets/graphiql/${pair##*:} is not the pinned npm build: run tools/ecosystem/update-graphiql.sh" >&2; exit 1; }
done
cmp "$modules/chart.js/dist/chart.umd.min.js" assets/dashboard/chart.umd.min.js ||
  { echo "assets/dashboard/chart.umd.min.js is not the pinned npm build: run tools/ecosystem/update-graphiql.sh" >&2; exit 1; }
node tools/ecosystem/feed-schemas.mjs feeds/inps/v1
cargo build --locked --bin gepi
target/debug/gepi schema >"$work/schema.graphql"
tools/ecosystem/node_modules/.bin/graphql-schema-linter --format compact -c tools/ecosystem "$work/schema.graphql"
GEPI_DATABASE_URL="sqlite://$work/gepi.db?mode=rwc" target/debug/gepi serve --demo --bind "127.0.0.1:$port" \
  >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 120); do
  curl -sf "$base/readyz" >/dev/null 2>&1 && grep -q profileId "$work/server.out" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; exit 1; }
  sleep 0.5
done
# The demo operators the server prints, one per role.
python3 - "$work/server.out" >"$work/logins.json" <<'PY'
import json, re, sys
rows = re.findall(r"^\s+(\S+)\s+([A-Z0-9]{16})\s+.*profileId (\S+)$", open(sys.argv[1]).read(), re.M)
print(json.dumps([{"role": r, "fiscalCode": cf, "profileId": p} for r, cf, p in rows]))
PY
node tools/ecosystem/introspection.mjs "$base" "$work/logins.json"
node tools/ecosystem/http-audit.mjs "$base" "$work/logins.json"
node tools/ecosystem/graphiql.mjs "$base"
node tools/ecosystem/dashboard.mjs "$base"
