#!/usr/bin/env bash
# Run every claimscrub service as a background process on this machine.
# Logs: .run/logs/<service>.log   pids: .run/pids/<service>.pid
# The services read reference data from the same files as `claimscrub scrub`
# (CLAIMSCRUB_PAYERS_FILE defaults to examples/payers.json here, for the demo).
# KAFKA_SECURITY=secure (with `KAFKA_SECURITY=secure make up`): each service
# connects to the secured local broker as its own principal and serves gRPC
# with mTLS, in CLAIMSCRUB_MODE=production, from the files of `make certs`.
# Ports: the registry's (docs/configuration.md "Ports"); CLAIMSCRUB_PORT_BASE=N
# moves them, for a second stack beside another on this machine: the i-th
# service in start order serves gRPC on N+2i and metrics on N+2i+1 (with
# KAFKA_PORT for the broker). `stack.sh ports` prints them.
#   stack.sh start|stop|status|ports
set -euo pipefail
root=$(realpath "$(dirname "$0")/../..")
run=${CLAIMSCRUB_RUN_DIR:-$root/.run}
py=${PYTHON:-$root/.venv/bin/python}
export KAFKA_BOOTSTRAP_SERVERS=${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}
export CLAIMSCRUB_PAYERS_FILE=${CLAIMSCRUB_PAYERS_FILE:-$root/examples/payers.json}
# This machine only, in production mode too (its default is every interface).
export CLAIMSCRUB_GRPC_HOST=${CLAIMSCRUB_GRPC_HOST:-127.0.0.1}
export CLAIMSCRUB_METRICS_HOST=${CLAIMSCRUB_METRICS_HOST:-127.0.0.1}
# One process per service here, named <service>@<host> (CLAIMSCRUB_INSTANCE's
# default): `stack.sh start` after a crash gets the dead one's partitions
# back without waiting out its session (docs/operations.md "Failover").
export CLAIMSCRUB_STATIC_MEMBERSHIP=${CLAIMSCRUB_STATIC_MEMBERSHIP:-true}
security=${KAFKA_SECURITY:-plaintext}
certs=${KAFKA_CERTS_DIR:-$run/certs}
# "name module grpc-port metrics-port", in start order, from the service
# registry (services/runtime/data/services.json).
table=$("$py" -m claimscrub.runtime.registry stack)
mapfile -t services <<<"$table"
base=${CLAIMSCRUB_PORT_BASE:-}
if [[ -n $base ]]; then
  [[ $base =~ ^[0-9]+$ ]] || { echo "stack.sh: CLAIMSCRUB_PORT_BASE must be a port number" >&2; exit 2; }
  for i in "${!services[@]}"; do
    read -r svc module _ _ <<<"${services[$i]}"
    services[i]="$svc $module $((base + 2 * i)) $((base + 2 * i + 1))"
  done
fi
# Each service's gRPC address for its callers (CLAIMSCRUB_<NAME>_ADDR): the
# aggregator asks the checks' Check, necessity asks enrollment for provider
# roles the claim's taxonomy does not give.
for s in "${services[@]}"; do
  read -r svc _ gport _ <<<"$s"
  var="CLAIMSCRUB_${svc^^}_ADDR"
  export "$var=${!var:-127.0.0.1:$gport}"
done

# NAME=value lines: service $1's own credentials when secure, nothing otherwise.
service_env() {
  [[ $security == secure ]] || return 0
  local name=$1
  KAFKA_CERTS_DIR=$certs "$root/deploy/kafka/kafka.sh" client-env "$name"
  cat <<EOF
CLAIMSCRUB_MODE=production
CLAIMSCRUB_GRPC_TLS_CERT=$certs/$name.pem
CLAIMSCRUB_GRPC_TLS_KEY=$certs/$name-key.pem
CLAIMSCRUB_GRPC_TLS_CA=$certs/ca.pem
CLAIMSCRUB_GRPC_REQUIRE_CLIENT_CERT=true
CLAIMSCRUB_HMAC_KEY_FILE=$certs/hmac.key
EOF
}

# The pid in service $1's pid file, if that process is alive and is still
# that service (`python -m <module>`): after a kill -9 or a reboot the pid may
# be gone or reused by another program.
live_pid() {
  local name=$1 module=$2 pidf="$run/pids/$1.pid" pid args
  [[ -f $pidf ]] || return 1
  pid=$(tr -dc '0-9' <"$pidf")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r /proc/$pid/cmdline ]]; then
    { args=$(tr '\0' ' ' <"/proc/$pid/cmdline"); } 2>/dev/null || return 1
    [[ " $args " == *" -m $module "* ]] || return 1
  fi
  echo "$pid"
}

start_one() {
  local name=$1 module=$2 gport=$3 mport=$4 pidf="$run/pids/$1.pid" senv pid
  if pid=$(live_pid "$name" "$module"); then
    echo "$name already running (pid $pid)"; return
  fi
  rm -f "$pidf"
  mkdir -p "$run/logs" "$run/pids" "$run/data/$name"
  mapfile -t senv < <(service_env "$name")
  env "${senv[@]}" \
    CLAIMSCRUB_GRPC_PORT=$gport CLAIMSCRUB_METRICS_PORT=$mport CLAIMSCRUB_DATA_DIR="$run/data/$name" \
    nohup "$py" -m "$module" >>"$run/logs/$name.log" 2>&1 &
  echo $! >"$pidf"
  echo "$name started (pid $!, gRPC :$gport, metrics :$mport, log $run/logs/$name.log)"
}

wait_one() {
  local name=$1 gport=$3 senv
  # Asked with the service's own certificate when it serves mTLS.
  mapfile -t senv < <(service_env "$name")
  if ! env "${senv[@]}" "$py" -m claimscrub.runtime.healthcheck "127.0.0.1:$gport" \
       --wait "${CLAIMSCRUB_START_TIMEOUT:-90}"; then
    echo "$name did not become healthy; last log lines:" >&2
    tail -n 30 "$run/logs/$name.log" >&2 || true
    exit 1
  fi
  echo "$name serving"
}

stop_one() {
  local name=$1 module=$2 pidf="$run/pids/$1.pid" pid
  if ! pid=$(live_pid "$name" "$module"); then
    rm -f "$pidf"; echo "$name not running"; return
  fi
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && { echo "$name did not stop in 30s; killing"; kill -KILL "$pid"; }
  fi
  rm -f "$pidf"; echo "$name stopped"
}

case ${1:-} in
  start)
    for s in "${services[@]}"; do start_one $s; done
    for s in "${services[@]}"; do wait_one $s; done ;;
  stop)
    for s in "${services[@]}"; do stop_one $s; done ;;
  status)
    for s in "${services[@]}"; do
      set -- $s
      if pid=$(live_pid "$1" "$2"); then echo "$1 running (pid $pid)"
      else echo "$1 not running"; fi
    done ;;
  ports)
    for s in "${services[@]}"; do
      read -r svc _ gport mport <<<"$s"
      echo "$svc $gport $mport"
    done ;;
  *) echo "usage: $0 start|stop|status|ports" >&2; exit 2 ;;
esac
