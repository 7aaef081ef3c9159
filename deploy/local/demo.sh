#!/usr/bin/env bash
# The steps of `make demo` on a running stack (`make up`): the example claims
# through the pipeline, one de-identified record, a payer policy version
# loaded into the running cluster and a claim it judges, and an 837P
# interchange through the intake service with its 999 and its ready claims.
# Each client runs as its own principal (KAFKA_SECURITY=secure: the local
# broker's SCRAM users, the PHI reads audited).
set -euo pipefail
root=$(realpath "$(dirname "$0")/../..")
cd "$root"
run=${CLAIMSCRUB_RUN_DIR:-$root/.run}
cli=${CLAIMSCRUB_CLI:-$root/.venv/bin/claimscrub}
security=${KAFKA_SECURITY:-plaintext}
# The necessity service's metrics (deploy/local/stack.sh): where the demo sees
# the new payer version in force before it submits the claim it judges.
necessity_metrics=${CLAIMSCRUB_DEMO_NECESSITY_METRICS:-127.0.0.1:$("$root/deploy/local/stack.sh" ports | awk '$1 == "necessity" {print $3}')}

# Run a claimscrub command as principal $1.
as() {
  local principal=$1 senv
  shift
  mapfile -t senv < <("$root/deploy/kafka/kafka.sh" client-env "$principal")
  if [[ $security == secure ]]; then
    senv+=(CLAIMSCRUB_AUDIT=true "CLAIMSCRUB_HMAC_KEY_FILE=$run/certs/hmac.key")
  fi
  env "${senv[@]}" "$cli" "$@"
}

# Wait until the necessity service reports a payers version whose id starts with $1.
wait_version() {
  local prefix=$1
  for _ in $(seq 1 60); do
    if curl -sf "http://$necessity_metrics/metrics" | grep -q "version=\"$prefix"; then
      return 0
    fi
    sleep 0.5
  done
  echo "demo: the necessity service did not report payers version $prefix* within 30 s" >&2
  return 1
}

as submitter submit examples/claims.json --wait --timeout 120
echo "--- one de-identified record from claims.deidentified (for analytics):"
as analytics deidentified --limit 1 --timeout 60 --pretty

echo "--- a payer policy loaded into the running cluster (reference.payers), no restart:"
as reference-loader reference load payers examples/reference/acme-commercial-2026-07.json
as reference-loader reference list | grep '"payers"' || true
wait_version "ACME-COMMERCIAL@2026-07-01."
echo "--- a claim of 2026-07-06 judged by ACME-COMMERCIAL's version from 2026-07-01:"
as submitter submit examples/payer-policy-claim.json --wait --timeout 60 --format detail

echo "--- an 837P interchange through the intake service (claims.x12 -> claims.submitted):"
as submitter submit examples/therapy.837 --wait --timeout 120 --format table
# Its CLEAN claim as the next stage reads it: the sender principal (the
# submitter may not read claims.ready).
as sender ready X12-DEMO-01 --timeout 30
