#!/usr/bin/env bash
# A local cluster on this machine: PostgreSQL from Debian packages on a free loopback port, N silos and
# M gateways as separate processes, all on loopback.
#
#   deploy/local-cluster.sh start [--silos 3] [--gateways 2]   build, start everything, print the URLs
#   deploy/local-cluster.sh status                            what runs, with pids and ports
#   deploy/local-cluster.sh kill-silo N                       kill -9 silo N (1-based), as a crash would
#   deploy/local-cluster.sh start-silo N                      start silo N again
#   deploy/local-cluster.sh stop                              stop everything and keep the data
#   deploy/local-cluster.sh destroy                           stop everything and delete the data
#
# State lives in deploy/.cluster (or $CLUSTER_DIR). Development tokens are off, as in every cluster
# set-up; DEV_TOKENS=1 turns them on for a local try-out.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
state="${CLUSTER_DIR:-$root/deploy/.cluster}"
configuration="${CONFIGURATION:-Release}"
silo_dll="$root/src/Silo/bin/$configuration/net10.0/Agents.Silo.dll"
api_dll="$root/src/Api/bin/$configuration/net10.0/Agents.Api.dll"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

ensure_postgres_installed() {
  if [ -z "$(pg_bin)" ]; then
    echo "Installing PostgreSQL (Debian package)..."
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  fi
}

connection_string() { echo "Host=127.0.0.1;Port=$(cat "$state/pg.port");Username=postgres;Database=agents"; }

start_postgres() {
  ensure_postgres_installed
  local bin; bin="$(pg_bin)"
  mkdir -p "$state"
  if [ ! -d "$state/pg" ]; then
    mkdir -p "$state/pg"
    chown postgres:postgres "$state/pg" 2>/dev/null || true
    as_postgres "$bin/initdb" -D "$state/pg" -U postgres -A trust --no-sync >/dev/null
  fi
  if [ ! -f "$state/pg.port" ]; then free_port >"$state/pg.port"; fi
  local port; port="$(cat "$state/pg.port")"
  if ! as_postgres "$bin/pg_ctl" -D "$state/pg" status >/dev/null 2>&1; then
    as_postgres "$bin/pg_ctl" -w -D "$state/pg" -l "$state/pg/server.log" \
      -o "-p $port -k $state/pg -c listen_addresses=127.0.0.1" start >/dev/null
  fi
  as_postgres "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='agents'" | grep -q 1 \
    || as_postgres "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres agents
  echo "PostgreSQL on 127.0.0.1:$port"
}

cluster_env() {
  export Orleans__Mode=Cluster Storage__Provider=Postgres ConnectionStrings__Agents="$(connection_string)"
  export Orleans__ClusterId="${CLUSTER_ID:-agents}" Orleans__ServiceId="${SERVICE_ID:-agents}"
  export Logging__LogLevel__Default=Warning Logging__LogLevel__Agents=Information
  export Auth__DevTokens="$([ "${DEV_TOKENS:-0}" = 1 ] && echo true || echo false)"
  # A cluster gateway refuses dev tokens unless told this cluster is the operator's own.
  export Auth__AllowDevTokensInCluster="$Auth__DevTokens"
  if [ ! -f "$state/signing.key" ]; then head -c 48 /dev/urandom | base64 >"$state/signing.key"; fi
  export Auth__SigningKey="$(cat "$state/signing.key")"
}

start_silo() {
  local n="$1"
  cluster_env
  Orleans__SiloPort=$((11110 + n)) Orleans__GatewayPort=$((30000 + n - 1)) ASPNETCORE_URLS="http://127.0.0.1:$((8080 + n))" \
    nohup dotnet "$silo_dll" >"$state/silo-$n.log" 2>&1 &
  echo $! >"$state/silo-$n.pid"
  echo "silo $n: pid $!, silo port $((11110 + n)), gateway port $((30000 + n - 1)), health http://127.0.0.1:$((8080 + n))/readyz, log $state/silo-$n.log"
}

start_gateway() {
  local n="$1" port
  cluster_env
  port=$((5000 + n))
  ASPNETCORE_URLS="http://127.0.0.1:$port" nohup dotnet "$api_dll" >"$state/gateway-$n.log" 2>&1 &
  echo $! >"$state/gateway-$n.pid"
  echo "gateway $n: pid $!, http://127.0.0.1:$port, log $state/gateway-$n.log"
}

stop_all() {
  for pid_file in "$state"/*.pid; do
    [ -e "$pid_file" ] || continue
    kill "$(cat "$pid_file")" 2>/dev/null || true
    rm -f "$pid_file"
  done
  if [ -d "$state/pg" ] && [ -n "$(pg_bin)" ]; then
    as_postgres "$(pg_bin)/pg_ctl" -D "$state/pg" -m fast stop >/dev/null 2>&1 || true
  fi
}

command="${1:-}"; shift || true
case "$command" in
  start)
    silos=3; gateways=2
    while [ $# -gt 0 ]; do
      case "$1" in
        --silos) silos="$2"; shift 2 ;;
        --gateways) gateways="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
      esac
    done
    dotnet build "$root/src/Api" -c "$configuration" -nologo -v quiet
    start_postgres
    cluster_env
    dotnet "$silo_dll" migrate
    for n in $(seq 1 "$silos"); do start_silo "$n"; done
    for n in $(seq 1 "$gateways"); do start_gateway "$n"; done
    ;;
  start-silo) start_silo "${1:?silo number}" ;;
  kill-silo)
    pid_file="$state/silo-${1:?silo number}.pid"
    kill -9 "$(cat "$pid_file")"
    rm -f "$pid_file"
    echo "silo $1 killed (SIGKILL)"
    ;;
  status)
    for pid_file in "$state"/*.pid; do
      [ -e "$pid_file" ] || continue
      name="$(basename "$pid_file" .pid)"; pid="$(cat "$pid_file")"
      if kill -0 "$pid" 2>/dev/null; then echo "$name: running (pid $pid)"; else echo "$name: exited"; fi
    done
    [ -f "$state/pg.port" ] && echo "postgres: $(connection_string)"
    ;;
  stop) stop_all ;;
  destroy) stop_all; rm -rf "$state" ;;
  *) sed -n '2,13p' "$0"; exit 2 ;;
esac
