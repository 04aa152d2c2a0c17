#!/usr/bin/env bash
# Side-by-side load benchmark: this server against Debian's coTURN (turnserver) on loopback, same configuration,
# same load, alternating the two servers run by run. Prints one table of medians with ratios.
#
#   benchmarks/load/run.sh [--runs N] [--seconds S] [--quick] [--gc-seconds S | --no-gc]
#   benchmarks/load/run.sh --engines [--runs N]   relay only: also the portable engine, the Linux engine without
#                                                 segmentation offload, and cforward.c (a minimal batched C relay,
#                                                 built with gcc), to show what each change buys and how close to C
#
# Needs: the .NET SDK, coturn (apt-get install coturn), free UDP ports 39478 and 39479 on 127.0.0.1 (TS_PORT, CO_PORT) and relay ports
# 49152-65535 on 127.0.0.1. Clients bind to 127.0.0.2 and the echo peer to 127.0.0.3, so their ports never collide
# with relay ports. Every server started here is stopped by its PID; nothing else is touched.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

RUNS=3
SECONDS_PER_RUN=5
WARMUP=2
GC_SECONDS=30
QUICK=0
ENGINES=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --engines) ENGINES=1; shift ;;
    --no-gc) GC_SECONDS=0; shift ;;
    --gc-seconds) GC_SECONDS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

TS_PORT=${TS_PORT:-39478}
CO_PORT=${CO_PORT:-39479}
USER_NAME=load
PASSWORD=load-pass
REALM=example.org
WORK=$(mktemp -d /tmp/turnload.XXXXXX)
RESULTS=$WORK/results.txt
: > "$RESULTS"
SERVER_PID=""

cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

command -v turnserver >/dev/null || { echo "coturn is not installed (apt-get install coturn)" >&2; exit 1; }
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "Building (Release)..." >&2
dotnet build src/TurnServer/TurnServer.csproj -c Release -nologo -v q >&2
dotnet build benchmarks/TurnServer.LoadGenerator/TurnServer.LoadGenerator.csproj -c Release -nologo -v q >&2
TS_BIN=$ROOT/src/TurnServer/bin/Release/net10.0/turnserver
CF_BIN=""
if [ "$ENGINES" = 1 ] && command -v gcc >/dev/null; then
  CF_BIN=$WORK/cforward
  gcc -O2 -o "$CF_BIN" benchmarks/load/cforward.c
fi
GEN=$ROOT/benchmarks/TurnServer.LoadGenerator/bin/Release/net10.0/turnload

# Equivalent configurations: UDP only on 127.0.0.1 (no TCP, TLS or DTLS listeners), relays on 127.0.0.1 in
# 49152-65535, long-term credentials, loopback peers allowed, logging to a file, no CLI (coTURN), no stdout log.
COMMON=(-n --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 --realm=$REALM --lt-cred-mech --user=$USER_NAME:$PASSWORD
        --allow-loopback-peers --no-stdout-log --min-port=49152 --max-port=65535 --no-tcp --no-tls --no-dtls)

start_server() { # $1 = ts | coturn; sets SERVER_PID and PORT
  for p in $TS_PORT $CO_PORT; do
    if ss -Hlun "sport = :$p" | grep -q .; then echo "UDP port $p on this machine is taken; set TS_PORT/CO_PORT" >&2; exit 1; fi
  done
  if [ "${1%%-*}" = ts ]; then
    PORT=$TS_PORT
    local engine=linux gso=on
    if [ "$1" = ts-portable ]; then engine=portable; fi
    if [ "$1" = ts-nogso ]; then gso=off; fi
    TURN_UDP_ENGINE=$engine TURN_UDP_GSO=$gso "$TS_BIN" "${COMMON[@]}" --listening-port=$PORT --log-file="$WORK/ts.log" >"$WORK/ts.out" 2>&1 &
  elif [ "$1" = cforward ]; then
    PORT=$CO_PORT
    "$CF_BIN" 127.0.0.1 $PORT 127.0.0.1 >"$WORK/cforward.out" 2>&1 &
  else
    PORT=$CO_PORT
    turnserver "${COMMON[@]}" --listening-port=$PORT --log-file="$WORK/coturn.log" --simple-log --no-cli \
      --pidfile="$WORK/coturn.pid" >"$WORK/coturn.out" 2>&1 &
  fi
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    if ss -Hlun "sport = :$PORT" | grep -q .; then return 0; fi
    sleep 0.1
  done
  echo "server $1 did not start listening on $PORT; its output:" >&2
  tail -n 20 "$WORK"/*.out >&2
  exit 1
}

stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

run() { # $1 = server, $2 = scenario label, rest = turnload arguments
  local server=$1 label=$2; shift 2
  start_server "$server"
  local line
  if ! line=$("$GEN" "$@" --server 127.0.0.1:$PORT --server-pid "$SERVER_PID" --user $USER_NAME --password $PASSWORD --realm $REALM); then
    echo "  $server $label: FAILED" >&2
  elif ! server_alive; then
    # A server that died during the run measured nothing: its numbers (if any) are not results.
    echo "  $server $label: FAILED, the server exited during the run; its output:" >&2
    tail -n 20 "$WORK"/*.out >&2
  else
    echo "server=$server scenario=$label $line" >> "$RESULTS"
    echo "  $server $label: $line" >&2
  fi
  stop_server
}

server_alive() { # kill -0 also succeeds on a zombie, so look at the process state
  local state
  state=$(sed 's/.*) //' "/proc/$SERVER_PID/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

order() { # alternate which server goes first, run by run
  if [ "$ENGINES" = 1 ]; then
    local c=""
    if [ -n "$CF_BIN" ]; then c=cforward; fi
    if [ $(( $1 % 2 )) -eq 1 ]; then echo "ts ts-nogso ts-portable coturn $c"; else echo "$c coturn ts-portable ts-nogso ts"; fi
  elif [ $(( $1 % 2 )) -eq 1 ]; then echo "ts coturn"; else echo "coturn ts"; fi
}

CLIENTS="1 10 100"
SIZES="160 1200"
if [ "$QUICK" = 1 ]; then CLIENTS="10"; SIZES="160"; fi
if [ "$ENGINES" = 1 ]; then CLIENTS="10 100"; SIZES="160 1200"; GC_SECONDS=0; fi

for r in $(seq 1 "$RUNS"); do
  echo "Run $r of $RUNS" >&2
  for c in $CLIENTS; do
    for s in $SIZES; do
      for server in $(order "$r"); do
        run "$server" "relay-$c-$s" relay --clients "$c" --size "$s" --warmup $WARMUP --seconds "$SECONDS_PER_RUN"
      done
    done
  done
  if [ "$ENGINES" = 1 ]; then continue; fi
  for server in $(order "$r"); do
    # Light load: 10 clients, 100 packets per second each.
    run "$server" latency relay --clients 10 --size 160 --rate 1000 --warmup 1 --seconds $((SECONDS_PER_RUN * 2))
  done
  for server in $(order "$r"); do
    run "$server" alloc alloc --clients 16 --warmup $WARMUP --seconds "$SECONDS_PER_RUN"
  done
  for server in $(order "$r"); do
    run "$server" memory hold --steps 1000,10000 --settle 3
  done
done

if [ "$GC_SECONDS" -gt 0 ]; then
  # Garbage collections in the relay steady state: 10 clients x 160 bytes, counted over GC_SECONDS after warm-up.
  echo "GC count over ${GC_SECONDS}s of relaying" >&2
  start_server ts
  "$GEN" relay --clients 10 --size 160 --warmup 3 --seconds $((GC_SECONDS + 6)) --server 127.0.0.1:$PORT --server-pid "$SERVER_PID" \
    --user $USER_NAME --password $PASSWORD --realm $REALM > "$WORK/gc-load.txt" &
  LOAD_PID=$!
  sleep 5
  GC_LINE=$("$GEN" gc --server-pid "$SERVER_PID" --seconds "$GC_SECONDS")
  wait $LOAD_PID
  echo "server=ts scenario=gc $GC_LINE $(cat "$WORK/gc-load.txt")" >> "$RESULTS"
  stop_server
fi

echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r);" \
  "load average before the table: $(cut -d' ' -f1-3 /proc/loadavg); coTURN $(turnserver --version 2>/dev/null | head -1 || echo '?'); $(dotnet --version)"
"$GEN" summarize "$RESULTS"
echo
echo "Raw results: $RESULTS"
