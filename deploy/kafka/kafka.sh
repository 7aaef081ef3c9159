#!/usr/bin/env bash
# Local single-node Apache Kafka 4.x (KRaft, combined broker+controller),
# without Docker: the broker's jars come from Maven Central via pom.xml.
# Run `deploy/kafka/kafka.sh help` for usage.
set -euo pipefail

SCRIPT_PATH="$(realpath "${BASH_SOURCE[0]}")"
SCRIPT_DIR="$(dirname "$SCRIPT_PATH")"
REPO_ROOT="$(realpath "$SCRIPT_DIR/../..")"
PROG="deploy/kafka/kafka.sh"

# ---------------------------------------------------------------- settings
KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_RUN_DIR="$(realpath -m "${KAFKA_RUN_DIR:-$REPO_ROOT/.run/kafka}")"
KAFKA_CACHE_DIR="$(realpath -m "${KAFKA_CACHE_DIR:-$REPO_ROOT/.cache/kafka}")"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:-}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
# plaintext (default) or secure: TLS listeners, SCRAM users, ACLs (see usage).
KAFKA_SECURITY="${KAFKA_SECURITY:-plaintext}"
KAFKA_SSL_PORT="${KAFKA_SSL_PORT:-$((KAFKA_PORT + 2))}"
KAFKA_CERTS_DIR="$(realpath -m "${KAFKA_CERTS_DIR:-$REPO_ROOT/.run/certs}")"

POM="$SCRIPT_DIR/pom.xml"
LOG4J_CONF="$SCRIPT_DIR/log4j2.properties"
LIBS_DIR="$KAFKA_CACHE_DIR/libs"
STAMP_FILE="$KAFKA_CACHE_DIR/libs.pom.sha256"
# Kafka's admin tools (kafka-tools, for groups/reset-offsets), apart from the broker's jars.
TOOLS_POM="$SCRIPT_DIR/tools-pom.xml"
TOOLS_LOG4J_CONF="$SCRIPT_DIR/tools-log4j2.properties"
TOOLS_DIR="$KAFKA_CACHE_DIR/tools"
TOOLS_STAMP_FILE="$KAFKA_CACHE_DIR/tools.pom.sha256"

PID_FILE="$KAFKA_RUN_DIR/kafka.pid"
CONFIG_FILE="$KAFKA_RUN_DIR/server.properties"
DATA_DIR="$KAFKA_RUN_DIR/data"
LOG_DIR="$KAFKA_RUN_DIR/logs"
SERVER_LOG="$LOG_DIR/server.log"
STDOUT_LOG="$LOG_DIR/kafka.out"
CLUSTER_ID_FILE="$KAFKA_RUN_DIR/cluster.id"
SECURITY_FILE="$KAFKA_RUN_DIR/security"

STARTED_MARKER="Kafka Server started"

usage() {
  cat <<EOF
Usage: $PROG <command> [args]

Runs a local single-node Apache Kafka broker (KRaft, broker+controller in one
JVM). The broker's jars are fetched by Maven from Maven Central; no Docker.

Commands:
  fetch    Download the broker jars into \$KAFKA_CACHE_DIR/libs (skipped when
           pom.xml is unchanged since the last fetch). Needs java 17+ and mvn.
  start    Fetch if needed, write server.properties, format storage (first run
           only), start the broker in the background and wait until it is ready.
           Prints "kafka already running on HOST:PORT" if it already is.
  stop     SIGTERM the broker, SIGKILL after \$KAFKA_STOP_TIMEOUT s. Idempotent.
  status   Print whether the broker is running. Exit 0 if running, 3 if not.
  clean    Stop the broker and delete its run dir (all topic data and logs).
  topics   Create the project's topics:
           \${PYTHON:-python3} -m claimscrub.runtime.topics create [args]
           (run from the repo root, KAFKA_BOOTSTRAP_SERVERS=HOST:PORT;
           secure: as the admin principal)
  acls     secure only: create the ACLs of services/runtime/data/kafka_acls.json
           (start does it too).
  fetch-tools
           Download Kafka's admin tools (org.apache.kafka:kafka-tools at the
           broker's version, tools-pom.xml) into \$KAFKA_CACHE_DIR/tools;
           groups and reset-offsets do it when needed.
  groups [GROUP]
           List the consumer groups, then every group's (or GROUP's)
           partitions with committed offset, end offset and LAG
           (kafka-consumer-groups --describe). Secure: as admin (mTLS).
  reset-offsets GROUP TOPIC[:PARTITIONS] SPEC... [--yes]
           Move GROUP's committed offsets on TOPIC (or on its PARTITIONS, e.g.
           claims.submitted:0,3). SPEC is kafka-consumer-groups' reset spec:
           --to-datetime 2026-06-01T00:00:00.000 (UTC; a +hh:mm suffix for
           another zone), --to-offset N, --shift-by N, --to-earliest,
           --to-latest, --by-duration PnDTnHnMnS. Shows the plan (--dry-run)
           first, then applies it (--execute) once "yes" is typed, or at once
           with --yes. The group must have no running member: stop its
           service first.
  client-env PRINCIPAL [sasl|ssl]
           Secure mode: print the client settings (NAME=value lines) for
           PRINCIPAL: the bootstrap servers and SASL_SSL with the principal's
           SCRAM password file (default) or SSL with its certificate; nothing
           in plaintext mode. E.g. env \$(kafka.sh client-env units) claimscrub-units
  help     Show this text.

Secure mode (KAFKA_SECURITY=secure; the run dir remembers it: 'clean' to switch):
  KAFKA_PORT      SASL_SSL (SCRAM-SHA-512) for clients
  KAFKA_SSL_PORT  SSL with required client certificates (mTLS) for clients;
                  also the inter-broker listener
  controller      SSL with required client certificates
  Certificates and SCRAM passwords come from \$KAFKA_CERTS_DIR, made by
  'make certs' (python -m claimscrub.runtime.devcerts) when missing: one
  certificate (CN=<name>) and one <name>.password per principal. SCRAM users
  are created when the storage is formatted; the StandardAuthorizer allows
  only what the ACL table grants (super users: broker, admin).

Environment (defaults in brackets):
  KAFKA_HOST             listener / advertised host          [127.0.0.1]
  KAFKA_PORT             client (PLAINTEXT) port              [9092]
  KAFKA_CONTROLLER_PORT  KRaft controller port                [KAFKA_PORT+1]
  KAFKA_RUN_DIR          config, data, logs, pid file         [<repo>/.run/kafka]
  KAFKA_CACHE_DIR        downloaded jars                      [<repo>/.cache/kafka]
  KAFKA_HEAP_OPTS        JVM heap flags                       [-Xms256m -Xmx512m]
  KAFKA_JVM_OPTS         extra JVM flags                      []
  KAFKA_START_TIMEOUT    seconds to wait for readiness        [60]
  KAFKA_STOP_TIMEOUT     seconds to wait before SIGKILL       [30]
  PYTHON                 interpreter used by 'topics'         [python3]
  KAFKA_SECURITY         plaintext or secure                  [plaintext]
  KAFKA_SSL_PORT         secure: the mTLS client port         [KAFKA_PORT+2]
  KAFKA_CERTS_DIR        secure: certificates and passwords   [<repo>/.run/certs]

Two brokers can run side by side with different KAFKA_PORT and KAFKA_RUN_DIR.
Broker log: \$KAFKA_RUN_DIR/logs/server.log (JVM stdout/stderr: logs/kafka.out).
EOF
}

die() { echo "kafka.sh: error: $*" >&2; exit 1; }
info() { echo "kafka.sh: $*"; }

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# Take an exclusive lock on file $2 using fd $1 (no-op without flock(1)).
lock() {
  local fd="$1" file="$2"
  command -v flock >/dev/null 2>&1 || return 0
  mkdir -p "$(dirname "$file")"
  eval "exec $fd>\"\$file\""
  flock -w 300 "$fd" || die "timed out waiting for lock $file"
}

java_major_version() {
  local v
  v="$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)"
  case "$v" in
    1.*) v="${v#1.}"; echo "${v%%.*}" ;;
    "") echo 0 ;;
    *) v="${v%%[.+-]*}"; echo "${v:-0}" ;;
  esac
}

require_java() {
  command -v java >/dev/null 2>&1 || die "java not found on PATH (Java 17+ is required)"
  local major
  major="$(java_major_version)"
  if ! [[ "$major" =~ ^[0-9]+$ ]] || (( major < 17 )); then
    die "java on PATH is version '$major'; Java 17+ is required"
  fi
}

require_tools() {
  local missing=()
  command -v java >/dev/null 2>&1 || missing+=("java (17+)")
  command -v mvn >/dev/null 2>&1 || missing+=("mvn")
  if (( ${#missing[@]} )); then
    die "missing required tool(s) on PATH: ${missing[*]}"
  fi
  require_java
}

# -------------------------------------------------------------------- fetch
libs_up_to_date() {
  [[ -f "$STAMP_FILE" && -d "$LIBS_DIR" ]] || return 1
  compgen -G "$LIBS_DIR/kafka_2.13-*.jar" >/dev/null || return 1
  [[ "$(cat "$STAMP_FILE")" == "$(sha256_of "$POM")" ]]
}

# $1 = "quiet" to say nothing when the jars are already there.
cmd_fetch() {
  if libs_up_to_date; then
    [[ "${1:-}" == quiet ]] || info "jars up to date in $LIBS_DIR"
    return 0
  fi
  require_tools
  lock 8 "$KAFKA_CACHE_DIR/.fetch.lock"
  if libs_up_to_date; then          # fetched by a concurrent run meanwhile
    info "jars up to date in $LIBS_DIR"
    return 0
  fi
  local sum tmp
  sum="$(sha256_of "$POM")"
  tmp="$KAFKA_CACHE_DIR/libs.tmp.$$"
  rm -rf "$tmp"
  info "fetching Kafka jars with Maven into $LIBS_DIR ..."
  # Maven 3.8 prints stray ANSI resets even with -B -q: keep its output in a
  # log and show it only on failure.
  local mvn_log="$KAFKA_CACHE_DIR/fetch.log"
  if ! mvn -B -q -f "$POM" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" -DincludeScope=runtime >"$mvn_log" 2>&1; then
    rm -rf "$tmp"
    sed 's/\x1b\[[0-9;]*m//g' "$mvn_log" | tail -n 40 >&2
    die "mvn failed to fetch the Kafka jars (full log: $mvn_log)"
  fi
  rm -rf "$LIBS_DIR"
  mv "$tmp" "$LIBS_DIR"
  echo "$sum" >"$STAMP_FILE"
  info "fetched $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars into $LIBS_DIR"
}

tools_up_to_date() {
  [[ -f "$TOOLS_STAMP_FILE" && -d "$TOOLS_DIR" ]] || return 1
  compgen -G "$TOOLS_DIR/kafka-tools-*.jar" >/dev/null || return 1
  [[ "$(cat "$TOOLS_STAMP_FILE")" == "$(sha256_of "$TOOLS_POM")" ]]
}

# $1 = "quiet" to say nothing when the jars are already there. Messages go
# to stderr: the tools' answers are stdout.
cmd_fetch_tools() {
  if tools_up_to_date; then
    [[ "${1:-}" == quiet ]] || info "tools up to date in $TOOLS_DIR" >&2
    return 0
  fi
  require_tools
  lock 8 "$KAFKA_CACHE_DIR/.fetch.lock"
  tools_up_to_date && return 0
  local sum tmp mvn_log="$KAFKA_CACHE_DIR/fetch-tools.log"
  sum="$(sha256_of "$TOOLS_POM")"
  tmp="$KAFKA_CACHE_DIR/tools.tmp.$$"
  rm -rf "$tmp"
  info "fetching Kafka's admin tools with Maven into $TOOLS_DIR ..." >&2
  if ! mvn -B -q -f "$TOOLS_POM" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" -DincludeScope=runtime >"$mvn_log" 2>&1; then
    rm -rf "$tmp"
    sed 's/\x1b\[[0-9;]*m//g' "$mvn_log" | tail -n 40 >&2
    die "mvn failed to fetch the Kafka tools (full log: $mvn_log)"
  fi
  rm -rf "$TOOLS_DIR"
  mv "$tmp" "$TOOLS_DIR"
  echo "$sum" >"$TOOLS_STAMP_FILE"
  info "fetched $(find "$TOOLS_DIR" -name '*.jar' | wc -l) jars into $TOOLS_DIR" >&2
}

# ------------------------------------------------------------ process state
# True if PID is alive and (where /proc exists) is a Kafka broker.
is_kafka_pid() {
  local pid="$1"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cmdline" ]]; then
    cmdline_is_ours "/proc/$pid/cmdline" || return 1
  fi
  return 0
}

# True if the /proc cmdline file $1 is a broker using this run dir's config.
# (Matched in bash, not grep, so that no helper process matches itself.)
cmdline_is_ours() {
  local args
  { args="$(tr '\0' ' ' <"$1")"; } 2>/dev/null || return 1
  [[ "$args" == *"kafka.Kafka $CONFIG_FILE "* ]]
}

# Print the broker's pid (from the pid file, else by scanning /proc for a
# broker started with this run dir's server.properties); fail if none.
find_pid() {
  local pid=""
  if [[ -f "$PID_FILE" ]]; then
    pid="$(tr -dc '0-9' <"$PID_FILE")"
    if is_kafka_pid "$pid"; then echo "$pid"; return 0; fi
  fi
  if [[ -d /proc ]]; then
    local f
    for f in /proc/[0-9]*/cmdline; do
      pid="${f#/proc/}"; pid="${pid%/cmdline}"
      [[ "$pid" == "$$" ]] && continue
      if cmdline_is_ours "$f"; then
        echo "$pid"; return 0
      fi
    done
  fi
  return 1
}

port_open() {
  local host="$1" port="$2"
  timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

show_logs() {
  local n=30
  if [[ -s "$SERVER_LOG" ]]; then
    echo "---- last $n lines of $SERVER_LOG ----" >&2
    tail -n "$n" "$SERVER_LOG" >&2
  fi
  if [[ -s "$STDOUT_LOG" ]]; then
    echo "---- last $n lines of $STDOUT_LOG ----" >&2
    tail -n "$n" "$STDOUT_LOG" >&2
  fi
}

# -------------------------------------------------------------------- start
write_config() {
  if [[ "$KAFKA_SECURITY" == secure ]]; then write_secure_config; return; fi
  cat >"$CONFIG_FILE" <<EOF
# Generated by $PROG on $(date -u +%Y-%m-%dT%H:%M:%SZ); rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA_DIR

# Single node: every internal topic has one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

group.initial.rebalance.delay.ms=0
num.partitions=6
auto.create.topics.enable=true
EOF
}

# Secure mode: every listener is TLS; clients authenticate with SCRAM
# (KAFKA_PORT) or a certificate (KAFKA_SSL_PORT); the controller listener and
# inter-broker traffic require the broker's own certificate. Keystore and
# truststore are PEM files (KIP-651), so no keystore password sits in this file.
write_secure_config() {
  cat >"$CONFIG_FILE" <<EOF
# Generated by $PROG on $(date -u +%Y-%m-%dT%H:%M:%SZ) (KAFKA_SECURITY=secure); rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=SASL_SSL://$KAFKA_HOST:$KAFKA_PORT,SSL://$KAFKA_HOST:$KAFKA_SSL_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=SASL_SSL://$KAFKA_HOST:$KAFKA_PORT,SSL://$KAFKA_HOST:$KAFKA_SSL_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:SSL,SSL:SSL,SASL_SSL:SASL_SSL
inter.broker.listener.name=SSL
log.dirs=$DATA_DIR

ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_CERTS_DIR/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_CERTS_DIR/ca.pem
ssl.enabled.protocols=TLSv1.3,TLSv1.2
listener.name.ssl.ssl.client.auth=required
listener.name.controller.ssl.client.auth=required
# CN=units,O=... is the principal User:units, as the SCRAM user units is.
ssl.principal.mapping.rules=RULE:^CN=([^,]+)(,.*)?\$/\$1/,DEFAULT

sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;

authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:broker;User:admin
allow.everyone.if.no.acl.found=false

# Single node: every internal topic has one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

group.initial.rebalance.delay.ms=0
num.partitions=6
# Topics come from 'topics' (compaction and partitions as declared), never
# from a client's metadata request.
auto.create.topics.enable=false
EOF
}

# Secure mode: the certificates and passwords, made once by devcerts.
ensure_certs() {
  [[ -s "$KAFKA_CERTS_DIR/broker-keystore.pem" && -s "$KAFKA_CERTS_DIR/admin.password" ]] && return 0
  info "no certificates in $KAFKA_CERTS_DIR: making throwaway ones (make certs)"
  (cd "$REPO_ROOT" && "${PYTHON:-python3}" -m claimscrub.runtime.devcerts "$KAFKA_CERTS_DIR") ||
    die "could not make certificates (needs the project's venv: PYTHON=.venv/bin/python)"
}

# The run dir is formatted for one mode: SCRAM users exist only if it was
# formatted secure, and a secure run dir must never come back up open.
check_security_mode() {
  case "$KAFKA_SECURITY" in
    plaintext|secure) ;;
    *) die "KAFKA_SECURITY must be plaintext or secure (got '$KAFKA_SECURITY')" ;;
  esac
  if [[ -f "$DATA_DIR/meta.properties" ]]; then
    local was=plaintext
    [[ -f "$SECURITY_FILE" ]] && was="$(cat "$SECURITY_FILE")"
    [[ "$was" == "$KAFKA_SECURITY" ]] ||
      die "$KAFKA_RUN_DIR was formatted $was; run '$PROG clean' to start it $KAFKA_SECURITY"
  fi
}

# Sets JAVA_CMD; $1 = heap flags.
java_base_cmd() {
  # shellcheck disable=SC2206  # heap/JVM opts are intentionally word-split
  JAVA_CMD=(java $1 -XX:+UseG1GC -XX:MaxGCPauseMillis=20
            -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
            $KAFKA_JVM_OPTS
            "-Dlog4j2.configurationFile=$LOG4J_CONF"
            "-Dkafka.logs.dir=$LOG_DIR"
            -cp "$LIBS_DIR/*")
}

# A Kafka cluster id: 16 random bytes as unpadded URL-safe base64 (22 chars),
# like `kafka-storage random-uuid`, without starting a JVM for it.
random_cluster_id() {
  command -v od >/dev/null 2>&1 && command -v base64 >/dev/null 2>&1 || return 1
  local hex id _
  for _ in 1 2 3 4 5; do
    hex="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    [[ ${#hex} -eq 32 ]] || return 1
    # shellcheck disable=SC2059,SC2001  # the format string is the \xNN byte list
    id="$(printf "$(sed 's/../\\x&/g' <<<"$hex")" | base64 | tr '+/' '-_' | tr -d '=\n')"
    # Kafka refuses ids starting with '-' (they look like options).
    if [[ ${#id} -eq 22 && "$id" != -* ]]; then echo "$id"; return 0; fi
  done
  return 1
}

format_storage() {
  # Once only. Restarting the same run dir on other ports is fine: KRaft
  # (KIP-853) updates the single voter's endpoint on startup.
  [[ -f "$DATA_DIR/meta.properties" ]] && return 0
  java_base_cmd "-Xmx256m"   # one-off storage tool: small heap is plenty
  local cid
  if [[ -s "$CLUSTER_ID_FILE" ]]; then
    cid="$(cat "$CLUSTER_ID_FILE")"
  else
    cid="$(random_cluster_id)" || cid=""
    # Fallback: the storage tool (one extra JVM start, about 1 s).
    [[ -n "$cid" ]] ||
      cid="$("${JAVA_CMD[@]}" kafka.tools.StorageTool random-uuid 2>>"$LOG_DIR/format.log" | tail -n1)" ||
      cid=""
    [[ -n "$cid" ]] || { cat "$LOG_DIR/format.log" >&2; die "could not generate a cluster id"; }
    echo "$cid" >"$CLUSTER_ID_FILE"
  fi
  info "formatting storage in $DATA_DIR (cluster id $cid)"
  # Secure: one SCRAM-SHA-512 user per password file (KIP-900: created with
  # the metadata, so the first client can authenticate). The tool takes them
  # only as arguments, so the main class and its arguments go in a java
  # @argfile (owner-only, deleted after; the launcher expands it, the tool
  # sees plain arguments): ps shows "@<file>", never a password.
  local args_file f user rc=0 a
  args_file="$(umask 077 && mktemp "$KAFKA_RUN_DIR/.format-args.XXXXXX")"
  for a in kafka.tools.StorageTool format --standalone -t "$cid" -c "$CONFIG_FILE"; do
    argfile_line "$a" >>"$args_file"
  done
  if [[ "$KAFKA_SECURITY" == secure ]]; then
    local users=0
    for f in "$KAFKA_CERTS_DIR"/*.password; do
      [[ -e "$f" ]] || continue
      user="$(basename "$f" .password)"
      argfile_line --add-scram >>"$args_file"
      argfile_line "SCRAM-SHA-512=[name=$user,password=$(cat "$f")]" >>"$args_file"
      users=$((users + 1))
    done
    (( users )) || { rm -f "$args_file"; die "no *.password files in $KAFKA_CERTS_DIR"; }
  fi
  "${JAVA_CMD[@]}" "@$args_file" >>"$LOG_DIR/format.log" 2>&1 || rc=$?
  rm -f "$args_file"
  if (( rc != 0 )); then
    # A usage error echoes the arguments: never show or keep a password.
    if [[ "$KAFKA_SECURITY" == secure ]]; then
      sed -i 's/password=[^],]*/password=<withheld>/g' "$LOG_DIR/format.log"
    fi
    tail -n 30 "$LOG_DIR/format.log" >&2
    die "formatting storage failed (log: $LOG_DIR/format.log)"
  fi
  echo "$KAFKA_SECURITY" >"$SECURITY_FILE"
}

# One argument as a line of a java @argfile: double-quoted, with its
# backslashes and double quotes escaped (printf's %s never reaches argv).
argfile_line() {
  printf '"%s"\n' "$(printf '%s' "$1" | sed 's/[\\"]/\\&/g')"
}

cmd_start() {
  require_java
  cmd_fetch quiet
  mkdir -p "$KAFKA_RUN_DIR" "$LOG_DIR" "$DATA_DIR"
  # Serialise concurrent starts/stops of the same run dir.
  lock 9 "$KAFKA_RUN_DIR/.lock"

  local pid
  if pid="$(find_pid)"; then
    if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
      echo "$pid" >"$PID_FILE"
      echo "kafka already running on $KAFKA_HOST:$KAFKA_PORT (pid $pid)"
      return 0
    fi
    die "kafka process $pid (run dir $KAFKA_RUN_DIR) is alive but $KAFKA_HOST:$KAFKA_PORT" \
        "does not answer; try '$PROG stop' first"
  fi
  rm -f "$PID_FILE"
  check_security_mode
  local ports=("$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT")
  if [[ "$KAFKA_SECURITY" == secure ]]; then
    ensure_certs
    ports+=("$KAFKA_SSL_PORT")
  fi

  local p
  for p in "${ports[@]}"; do
    if port_open "$KAFKA_HOST" "$p"; then
      die "$KAFKA_HOST:$p is already in use by another process;" \
          "pick another KAFKA_PORT / KAFKA_CONTROLLER_PORT"
    fi
  done

  write_config
  format_storage

  java_base_cmd "$KAFKA_HEAP_OPTS"
  # Only look at log output written by this start.
  local offset=0
  [[ -f "$SERVER_LOG" ]] && offset="$(wc -c <"$SERVER_LOG")"
  echo "==== $(date -u +%Y-%m-%dT%H:%M:%SZ) start ====" >>"$STDOUT_LOG"
  local out_offset
  out_offset="$(wc -c <"$STDOUT_LOG")"

  local launcher=(nohup)
  command -v setsid >/dev/null 2>&1 && launcher=(setsid nohup)
  # fd 9 (the lock) must not leak into the broker, or it would hold the lock.
  "${launcher[@]}" "${JAVA_CMD[@]}" kafka.Kafka "$CONFIG_FILE" \
      </dev/null >>"$STDOUT_LOG" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"
  info "starting kafka on $KAFKA_HOST:$KAFKA_PORT (pid $pid, run dir $KAFKA_RUN_DIR)"

  local start=$SECONDS
  while true; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      show_logs
      die "kafka exited during startup"
    fi
    if { [[ -f "$SERVER_LOG" ]] && tail -c +"$((offset + 1))" "$SERVER_LOG" | grep -q "$STARTED_MARKER"; } ||
       tail -c +"$((out_offset + 1))" "$STDOUT_LOG" | grep -q "$STARTED_MARKER"; then
      if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
        info "kafka ready on $KAFKA_HOST:$KAFKA_PORT after $((SECONDS - start)) s ($KAFKA_SECURITY)"
        if [[ "$KAFKA_SECURITY" == secure ]] && ! apply_acls; then
          stop_pid "$pid" >/dev/null || true
          rm -f "$PID_FILE"
          die "the ACLs could not be applied; broker stopped"
        fi
        return 0
      fi
    fi
    if (( SECONDS - start >= KAFKA_START_TIMEOUT )); then
      show_logs
      echo "kafka.sh: stopping pid $pid" >&2
      stop_pid "$pid" >/dev/null || true
      rm -f "$PID_FILE"
      die "kafka not ready after ${KAFKA_START_TIMEOUT} s"
    fi
    sleep 0.5
  done
}

# --------------------------------------------------------------------- stop
stop_pid() {
  local pid="$1" waited=0
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do
    if (( waited >= KAFKA_STOP_TIMEOUT * 10 )); then
      echo "kafka.sh: pid $pid still alive after ${KAFKA_STOP_TIMEOUT} s, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

cmd_stop() {
  [[ -d "$KAFKA_RUN_DIR" ]] && lock 9 "$KAFKA_RUN_DIR/.lock"
  local pid
  if ! pid="$(find_pid)"; then
    rm -f "$PID_FILE"
    echo "kafka not running"
    return 0
  fi
  stop_pid "$pid"
  rm -f "$PID_FILE"
  echo "kafka stopped (pid $pid)"
}

# ------------------------------------------------------------------- status
cmd_status() {
  local pid
  if pid="$(find_pid)"; then
    if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
      echo "kafka running on $KAFKA_HOST:$KAFKA_PORT (pid $pid, run dir $KAFKA_RUN_DIR)"
      return 0
    fi
    echo "kafka not running on $KAFKA_HOST:$KAFKA_PORT (pid $pid alive but port not answering; starting or hung)"
    return 3
  fi
  echo "kafka not running on $KAFKA_HOST:$KAFKA_PORT (run dir $KAFKA_RUN_DIR)"
  return 3
}

# -------------------------------------------------------------------- clean
cmd_clean() {
  cmd_stop
  case "$KAFKA_RUN_DIR" in
    /|"$REPO_ROOT"|"$HOME"|"") die "refusing to delete KAFKA_RUN_DIR=$KAFKA_RUN_DIR" ;;
  esac
  if [[ -d "$KAFKA_RUN_DIR" ]]; then
    rm -rf "$KAFKA_RUN_DIR"
    echo "deleted $KAFKA_RUN_DIR"
  fi
}

# ------------------------------------------------------------------- topics
# NAME=value lines: how PRINCIPAL connects to this broker ($2: sasl or ssl).
client_env() {
  local principal="$1" via="${2:-sasl}"
  [[ -n "$principal" ]] || die "client-env needs a PRINCIPAL (e.g. units, admin)"
  # Plaintext: nothing to add (and an inherited KAFKA_BOOTSTRAP_SERVERS stays).
  [[ "$KAFKA_SECURITY" == secure ]] || return 0
  echo "KAFKA_SSL_CA_FILE=$KAFKA_CERTS_DIR/ca.pem"
  case "$via" in
    sasl)
      [[ -f "$KAFKA_CERTS_DIR/$principal.password" ]] ||
        die "no password for '$principal' in $KAFKA_CERTS_DIR"
      echo "KAFKA_BOOTSTRAP_SERVERS=$KAFKA_HOST:$KAFKA_PORT"
      echo "KAFKA_SECURITY_PROTOCOL=SASL_SSL"
      echo "KAFKA_SASL_MECHANISM=SCRAM-SHA-512"
      echo "KAFKA_SASL_USERNAME=$principal"
      echo "KAFKA_SASL_PASSWORD_FILE=$KAFKA_CERTS_DIR/$principal.password" ;;
    ssl)
      [[ -f "$KAFKA_CERTS_DIR/$principal.pem" ]] ||
        die "no certificate for '$principal' in $KAFKA_CERTS_DIR"
      echo "KAFKA_BOOTSTRAP_SERVERS=$KAFKA_HOST:$KAFKA_SSL_PORT"
      echo "KAFKA_SECURITY_PROTOCOL=SSL"
      echo "KAFKA_SSL_CERT_FILE=$KAFKA_CERTS_DIR/$principal.pem"
      echo "KAFKA_SSL_KEY_FILE=$KAFKA_CERTS_DIR/$principal-key.pem" ;;
    *) die "client-env: the second argument is sasl or ssl" ;;
  esac
}

# Export the admin principal's settings (secure) or this broker's address:
# always the broker this script manages (KAFKA_HOST/KAFKA_PORT), even if a
# KAFKA_BOOTSTRAP_SERVERS for another broker was inherited.
export_admin_env() {
  local line lines
  lines="$(client_env admin)" || exit 1
  export KAFKA_BOOTSTRAP_SERVERS="$KAFKA_HOST:$KAFKA_PORT"
  while IFS= read -r line; do [[ -z "$line" ]] || export "${line?}"; done <<<"$lines"
  export KAFKA_HOST KAFKA_PORT
}

apply_acls() {
  (export_admin_env && cd "$REPO_ROOT" && "${PYTHON:-python3}" -m claimscrub.runtime.acls apply)
}

cmd_acls() {
  [[ "$KAFKA_SECURITY" == secure ]] ||
    die "acls: the broker runs without an authorizer (KAFKA_SECURITY=secure)"
  apply_acls
}

cmd_topics() {
  export_admin_env
  cd "$REPO_ROOT"
  exec "${PYTHON:-python3}" -m claimscrub.runtime.topics create "$@"
}

# ------------------------------------------------------------ admin tools
# kafka-consumer-groups against this broker; secure: as admin over mTLS (its
# certificate, no password), from an owner-only client file in the run dir.
consumer_groups() {
  require_java
  cmd_fetch_tools quiet
  local bootstrap="$KAFKA_HOST:$KAFKA_PORT" props=()
  if [[ "$KAFKA_SECURITY" == secure ]]; then
    [[ -s "$KAFKA_CERTS_DIR/admin.pem" && -s "$KAFKA_CERTS_DIR/admin-key.pem" ]] ||
      die "no admin certificate in $KAFKA_CERTS_DIR (make certs)"
    local keystore="$KAFKA_RUN_DIR/admin-keystore.pem" cfg="$KAFKA_RUN_DIR/admin-client.properties"
    mkdir -p "$KAFKA_RUN_DIR"
    # A PEM keystore is the key, then the certificate (KIP-651).
    (umask 077 && cat "$KAFKA_CERTS_DIR/admin-key.pem" "$KAFKA_CERTS_DIR/admin.pem" >"$keystore")
    (umask 077 && printf '%s\n' "security.protocol=SSL" "ssl.keystore.type=PEM" \
        "ssl.keystore.location=$keystore" "ssl.truststore.type=PEM" \
        "ssl.truststore.location=$KAFKA_CERTS_DIR/ca.pem" >"$cfg")
    bootstrap="$KAFKA_HOST:$KAFKA_SSL_PORT"
    props=(--command-config "$cfg")
  fi
  # shellcheck disable=SC2086  # the JVM flags are word-split on purpose
  java -Xmx256m $KAFKA_JVM_OPTS "-Dlog4j2.configurationFile=$TOOLS_LOG4J_CONF" \
      -cp "$TOOLS_DIR/*" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
      --bootstrap-server "$bootstrap" "${props[@]}" "$@"
}

cmd_groups() {
  if (( $# )); then
    consumer_groups --describe --group "$1"
    return
  fi
  local groups
  groups="$(consumer_groups --list)"
  echo "$groups"
  [[ -n "$groups" ]] || return 0
  echo
  consumer_groups --describe --all-groups
}

cmd_reset_offsets() {
  (( $# >= 3 )) ||
    die "usage: $PROG reset-offsets GROUP TOPIC[:PARTITIONS] --to-datetime YYYY-MM-DDTHH:mm:SS.sss [--yes]"
  local group="$1" topic="$2" yes=0 spec=() a
  shift 2
  for a in "$@"; do
    if [[ "$a" == --yes ]]; then yes=1; else spec+=("$a"); fi
  done
  (( ${#spec[@]} )) || die "reset-offsets needs a reset spec, e.g. --to-datetime 2026-06-01T00:00:00.000"
  local reset=(--reset-offsets --group "$group" --topic "$topic" "${spec[@]}")
  echo "plan (dry run) for group $group on $topic: ${spec[*]}"
  consumer_groups "${reset[@]}" --dry-run
  if (( ! yes )); then
    [[ -t 0 ]] || die "not applied: stdin is not a terminal (add --yes to apply the plan above)"
    local answer=""
    read -r -p "apply this plan? type yes: " answer
    [[ "$answer" == yes ]] || { echo "not applied"; return 1; }
  fi
  echo "applying:"
  consumer_groups "${reset[@]}" --execute
}

# --------------------------------------------------------------------- main
main() {
  local cmd="${1:-help}"
  (( $# )) && shift
  case "$cmd" in
    fetch)  cmd_fetch ;;
    fetch-tools) cmd_fetch_tools ;;
    groups) cmd_groups "$@" ;;
    reset-offsets) cmd_reset_offsets "$@" ;;
    start)  cmd_start ;;
    stop)   cmd_stop ;;
    status) cmd_status ;;
    clean)  cmd_clean ;;
    topics) cmd_topics "$@" ;;
    acls)   cmd_acls ;;
    client-env) client_env "${1:-}" "${2:-sasl}" ;;
    help|-h|--help) usage ;;
    *) usage >&2; echo >&2; die "unknown command '$cmd'" ;;
  esac
}

main "$@"
