#!/usr/bin/env bash
# SPID conformance gate, fully offline: runs AgID's spid-sp-test 1.2.18 against
# GePI served on loopback in the `conformance` SAML profile (which alone may
# trust the spid-sp-test IdP, whose private key is public). It checks the
# metadata, the AuthnRequest and the whole crafted-Response suite
# (`--profile spid-sp-public --extra -tr`), and exits non-zero on any failed
# check. The JSON report is written to target/spid-report.json.
#
# Needs: Debian's xmlsec1, python3 with venv, and a GePI build with
# `--features spid` (this script builds it).
set -euo pipefail
cd "$(dirname "$0")/.."

port="${GEPI_CONFORMANCE_PORT:-8299}"
base="http://127.0.0.1:$port"
work="$(mktemp -d)"
venv="target/spid-venv"
trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

if ! "$venv/bin/spid_sp_test" -v 2>/dev/null | grep -q '1.2.18'; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'spid-sp-test==1.2.18'
fi
sst="$venv/bin/spid_sp_test"

cargo build --locked --features spid --bin gepi
gepi=target/debug/gepi

tools/spid-test-cert.sh "$work" "$base" >/dev/null
"$sst" --idp-metadata > "$work/sst-idp.xml" 2>/dev/null

export GEPI_DATABASE_URL="sqlite://$work/gepi.db?mode=rwc"
"$gepi" seed >/dev/null
# spid-sp-test's user (fiscalNumber TINIT-GDASDV00A01H501J) is accredited with
# one profile: its valid Responses must open a session.
python3 - "$work/gepi.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
row = db.execute(
    "SELECT operator_id FROM profile GROUP BY operator_id HAVING COUNT(*) = 1 LIMIT 1").fetchone()
db.execute("UPDATE operator SET fiscal_code = 'GDASDV00A01H501J' WHERE id = ?", (row[0],))
db.commit()
PY

export GEPI_BIND="127.0.0.1:$port"
# spid-sp-test sends some 260 requests in two minutes from one address: lift the
# per-address login rate limit for this run.
export GEPI_LOGIN_RATE_PER_MINUTE=1000000 GEPI_LOGIN_RATE_BURST=1000000
export GEPI_SAML_PROFILE=conformance
export GEPI_SAML_ENTITY_ID="$base"
export GEPI_SAML_BASE_URL="$base"
export GEPI_SAML_KEY_FILE="$work/key.pem"
export GEPI_SAML_CERT_FILE="$work/crt.pem"
export GEPI_SAML_IDP_METADATA="$work/sst-idp.xml"
export GEPI_SAML_ORGANIZATION_NAME="Comune di Desio"
export GEPI_SAML_ORGANIZATION_DISPLAY_NAME="Comune di Desio"
export GEPI_SAML_ORGANIZATION_URL="https://www.comune.desio.mb.it"
export GEPI_SAML_IPA_CODE=c_f257
export GEPI_SAML_CONTACT_EMAIL=protocollo@comune.desio.mb.it
"$gepi" serve > "$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 50); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$base/readyz" >/dev/null || { cat "$work/serve.log" >&2; exit 1; }

set +e
"$sst" --metadata-url "$base/saml/metadata" \
  --authn-url "$base/saml/login?idp=https://localhost:8443" \
  --profile spid-sp-public --extra -tr -rf json -o target/spid-report.json \
  > "$work/sst.log" 2>&1
rc=$?
set -e
grep -E 'executed [0-9]+ tests' "$work/sst.log" || true
if [ "$rc" -ne 0 ]; then
  grep -iE 'error|fail' "$work/sst.log" | grep -v 'Deprecat' | tail -40 >&2 || true
  echo "spid-sp-test failed (exit $rc); report in target/spid-report.json" >&2
  exit "$rc"
fi
echo "spid-sp-test: all checks passed"
