#!/usr/bin/env bash
# Writes a self-signed SPID SP key and certificate for TESTS and local use only
# (Avviso 29 v3 shape: RSA 3072, SHA-256, organizationIdentifier PA:IT-<IPA>,
# uri = entityID, policies spid-publicsector-SP and agIDcert). It needs no
# network. Production certificates come from AgID's spid-compliant-certificates
# tool, run with network access, and their key never enters the repository.
#
#   tools/spid-test-cert.sh OUT_DIR ENTITY_ID [IPA_CODE] [ORG_NAME] [LOCALITY]
set -euo pipefail
out="$1"; entity_id="$2"; ipa="${3:-c_f257}"; org="${4:-Comune di Desio}"; locality="${5:-Desio}"
mkdir -p "$out"
cat > "$out/openssl.cnf" <<CNF
oid_section = spid_oids
[ spid_oids ]
spid-publicsector-SP = 1.3.76.16.4.2.1
agidcert = 1.3.76.16.6
uri = 2.5.4.83
[ req ]
default_bits = 3072
default_md = sha256
distinguished_name = dn
encrypt_key = no
prompt = no
req_extensions = req_ext
[ dn ]
commonName = GePI
countryName = IT
localityName = $locality
organizationIdentifier = PA:IT-$ipa
organizationName = $org
uri = $entity_id
[ req_ext ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
certificatePolicies = @agid_policies, @spid_policies
[ agid_policies ]
policyIdentifier = agidcert
userNotice = @agidcert_notice
[ agidcert_notice ]
explicitText = "agIDcert"
[ spid_policies ]
policyIdentifier = spid-publicsector-SP
userNotice = @spid_notice
[ spid_notice ]
explicitText = "cert_SP_Pub"
CNF
openssl req -new -x509 -config "$out/openssl.cnf" -days 730 -extensions req_ext \
  -keyout "$out/key.pem" -out "$out/crt.pem" 2>/dev/null
chmod 600 "$out/key.pem"
echo "wrote $out/key.pem and $out/crt.pem (test use only)"
