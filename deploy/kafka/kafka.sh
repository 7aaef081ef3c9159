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

POM="$SCRIPT_DIR/pom.xml"
LOG4J_CONF="$SCRIPT_DIR/log4j2.properties"
LIBS_DIR="$KAFKA_CACHE_DIR/libs"
STAMP_FILE="$KAFKA_CACHE_DIR/libs.pom.sha256"

PID_FILE="$KAFKA_RUN_DIR/kafka.pid"
CONFIG_FILE="$KAFKA_RUN_DIR/server.properties"
DATA_DIR="$KAFKA_RUN_DIR/data"
LOG_DIR="$KAFKA_RUN_DIR/logs"
SERVER_LOG="$LOG_DIR/server.log"
STDOUT_LOG="$LOG_DIR/kafka.out"
CLUSTER_ID_FILE="$KAFKA_RUN_DIR/cluster.id"

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
           (run from the repo root, KAFKA_BOOTSTRAP_SERVERS=HOST:PORT)
  help     Show this text.

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
  if ! "${JAVA_CMD[@]}" kafka.tools.StorageTool format --standalone \
        -t "$cid" -c "$CONFIG_FILE" >>"$LOG_DIR/format.log" 2>&1; then
    tail -n 30 "$LOG_DIR/format.log" >&2
    die "formatting storage failed (log: $LOG_DIR/format.log)"
  fi
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

  local p
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
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
        info "kafka ready on $KAFKA_HOST:$KAFKA_PORT after $((SECONDS - start)) s"
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
cmd_topics() {
  # Always target the broker this script manages (KAFKA_HOST/KAFKA_PORT), even
  # if a KAFKA_BOOTSTRAP_SERVERS for another broker was inherited.
  export KAFKA_HOST KAFKA_PORT
  export KAFKA_BOOTSTRAP_SERVERS="$KAFKA_HOST:$KAFKA_PORT"
  cd "$REPO_ROOT"
  exec "${PYTHON:-python3}" -m claimscrub.runtime.topics create "$@"
}

# --------------------------------------------------------------------- main
main() {
  local cmd="${1:-help}"
  (( $# )) && shift
  case "$cmd" in
    fetch)  cmd_fetch ;;
    start)  cmd_start ;;
    stop)   cmd_stop ;;
    status) cmd_status ;;
    clean)  cmd_clean ;;
    topics) cmd_topics "$@" ;;
    help|-h|--help) usage ;;
    *) usage >&2; echo >&2; die "unknown command '$cmd'" ;;
  esac
}

main "$@"
