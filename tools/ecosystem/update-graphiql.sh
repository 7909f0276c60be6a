#!/usr/bin/env bash
# Copies the GraphiQL, React and Chart.js builds the binary embeds (assets/graphiql/,
# assets/dashboard/) from
# the npm packages pinned in tools/ecosystem/package-lock.json. After changing
# their versions in package.json: npm install there, run this, rebuild, and
# commit the lock file and the assets together (.ci/run checks they match).
set -euo pipefail
cd "$(dirname "$0")/../.."
(cd tools/ecosystem && npm ci --no-audit --no-fund --silent)
m=tools/ecosystem/node_modules
cp "$m/graphiql/graphiql.min.js" "$m/graphiql/graphiql.min.css" assets/graphiql/
cp "$m/react/umd/react.production.min.js" "$m/react-dom/umd/react-dom.production.min.js" assets/graphiql/
cp "$m/graphiql/LICENSE" assets/graphiql/LICENSE.graphiql
cp "$m/react/LICENSE" assets/graphiql/LICENSE.react
cp "$m/chart.js/dist/chart.umd.min.js" assets/dashboard/
cp "$m/chart.js/LICENSE.md" assets/dashboard/LICENSE.chartjs
echo "assets/graphiql/ now holds graphiql $(node -p "require('./$m/graphiql/package.json').version") and react $(node -p "require('./$m/react/package.json').version")"
