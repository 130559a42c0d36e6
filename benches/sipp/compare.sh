#!/usr/bin/env bash
# Side by side: SIPp's uac -> SBE -> SIPp's uas over UDP loopback, through
# `speermint sbe` and through Kamailio (Debian's, configured by
# iuts/kamailio/peering.cfg: stateful, the same peering policy), with 1 and
# 2 workers each (Kamailio: `children`). For every run it prints the calls
# SIPp counted as successful and failed, its retransmissions, the SBE's
# CPU time per call (user + system, read from /proc; every Kamailio process
# counted) and its peak resident memory (VmHWM; Kamailio's shared memory
# counts once per process that touched it).
#
#   benches/sipp/compare.sh [RATE [CALLS [WORKERS...]]]
#   benches/sipp/compare.sh 3000 60000 1 2        # the defaults
#   STEP="1000 2000 4000 6000" benches/sipp/compare.sh   # rate steps
#
# Needs sipp (Debian: sip-tester) and kamailio; builds speermint in release.
# Addresses: the SBE on 127.0.0.1:5060, the peer (uac) 127.0.0.2, the next
# hop (uas) 127.0.0.4:5070. Kamailio is skipped (and says so) if absent.
set -euo pipefail

RATE=${1:-3000}
CALLS=${2:-60000}
shift 2 2>/dev/null || shift $#
WORKERS=("${@:-1 2}")
read -r -a WORKERS <<<"${WORKERS[*]}"
STEPS=(${STEP:-$RATE})

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; pkill -f "sipp -sn uas -i 127.0.0.4" 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v sipp >/dev/null || { echo "sipp not found (Debian: apt-get install sip-tester)" >&2; exit 3; }
cargo build --quiet --release -p speermint --manifest-path "$ROOT/Cargo.toml"
SPEERMINT="$ROOT/target/release/speermint"
KAMAILIO=$(command -v kamailio || true)
MODULES=$(dirname "$(ls /usr/lib/*/kamailio/modules/tm.so /usr/lib/kamailio/modules/tm.so 2>/dev/null | head -1)" 2>/dev/null || true)
TICKS=$(getconf CLK_TCK)

# CPU seconds (user + system) of the processes whose ids are given.
cpu_of() {
  local t=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    # Fields 14 and 15 after the command name, which may hold spaces.
    t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$t"
}

# Waits (up to 5 s) until no process matches $1.
gone() {
  for _ in $(seq 50); do pgrep -f "$1" >/dev/null || return 0; sleep 0.1; done
  echo "still running: $1" >&2
  return 1
}

stop_uas() {
  pkill -f "sipp -sn uas -i 127.0.0.4" || true
  gone "sipp -sn uas -i 127.0.0.4"
}

start_uas() {
  stop_uas
  (cd "$WORK" && sipp -sn uas -i 127.0.0.4 -p 5070 -bg -nostdin >/dev/null 2>&1) || true
  for _ in $(seq 50); do
    ss -uln | grep -q '127.0.0.4:5070' && return 0
    sleep 0.1
  done
  echo "the SIPp uas did not start on 127.0.0.4:5070" >&2
  exit 3
}

# One SIPp run; prints "ok failed retrans".
run_uac() {
  local rate=$1 calls=$2
  rm -f "$WORK"/uac_*.csv
  (cd "$WORK" && timeout $((calls / rate + 90)) sipp -sn uac -i 127.0.0.2 -p 5061 127.0.0.1:5060 \
    -r "$rate" -m "$calls" -l $((rate * 40)) -timeout $((calls / rate + 60)) -timeout_error \
    -recv_timeout 40000 -trace_stat -fd 1 -nostdin >/dev/null 2>&1) || true
  local csv
  csv=$(ls "$WORK"/uac_*.csv | head -1)
  paste -d= <(head -1 "$csv" | tr ';' '\n') <(tail -1 "$csv" | tr ';' '\n') |
    awk -F= '$1=="SuccessfulCall(C)"{ok=$2} $1=="FailedCall(C)"{f=$2} $1=="Retransmissions(C)"{r=$2} END{print ok+0, f+0, r+0}'
}

# Peak resident memory (VmHWM, MiB) summed over the processes given.
peak_mib() {
  local kb=0 p
  for p in "$@"; do
    [ -r "/proc/$p/status" ] || continue
    kb=$((kb + $(awk '/^VmHWM:/{print $2}' "/proc/$p/status")))
  done
  echo $((kb / 1024))
}

printf '%-10s %7s %6s %7s %7s %7s %8s %8s %9s %9s\n' SBE workers rate calls ok failed retrans "cpu s" "us/call" "peak MiB"
row() {
  local name=$1 workers=$2 rate=$3 ticks=$4 result=$5 mib=$6
  read -r ok failed retrans <<<"$result"
  local cpu us
  cpu=$(awk -v t="$ticks" -v h="$TICKS" 'BEGIN{printf "%.2f", t / h}')
  us=$(awk -v t="$ticks" -v h="$TICKS" -v c="$CALLS" 'BEGIN{printf "%.0f", t / h * 1e6 / c}')
  printf '%-10s %7s %6s %7s %7s %7s %8s %8s %9s %9s\n' "$name" "$workers" "$rate" "$CALLS" "$ok" "$failed" "$retrans" "$cpu" "$us" "$mib"
}

for rate in "${STEPS[@]}"; do
  for w in "${WORKERS[@]}"; do
    # speermint
    start_uas
    "$SPEERMINT" sbe --listen 127.0.0.1:5060 --peer 127.0.0.2 --next-hop 127.0.0.4:5070 \
      --workers "$w" >"$WORK/sbe.log" 2>&1 &
    pid=$!
    sleep 0.5
    before=$(cpu_of $pid)
    result=$(run_uac "$rate" "$CALLS")
    after=$(cpu_of $pid)
    mib=$(peak_mib $pid)
    kill $pid; wait $pid 2>/dev/null || true
    stop_uas
    row speermint "$w" "$rate" $((after - before)) "$result" "$mib"

    # Kamailio
    if [ -z "$KAMAILIO" ] || [ -z "$MODULES" ]; then
      echo "kamailio     (not installed: apt-get install kamailio)"
      continue
    fi
    start_uas
    mkdir -p "$WORK/kam"
    "$KAMAILIO" -f "$ROOT/iuts/kamailio/peering.cfg" -L "$MODULES" -Y "$WORK/kam" -DD -E \
      -A 'LISTEN=udp:127.0.0.1:5060' -A 'PEER_IP="127.0.0.2"' -A 'INSIDE_IP="127.0.0.4"' \
      -A 'NEXT_HOP="sip:127.0.0.4:5070"' -A "WITH_CHILDREN=$w" -m 1024 >"$WORK/kam.log" 2>&1 &
    kpid=$!
    sleep 1.5
    # -DD: kamailio stays in the foreground and forks its children.
    procs() { echo $kpid $(pgrep -P $kpid); }
    before=$(cpu_of $(procs))
    result=$(run_uac "$rate" "$CALLS")
    after=$(cpu_of $(procs))
    mib=$(peak_mib $(procs))
    kill $kpid; wait $kpid 2>/dev/null || true
    gone "kamailio -f $ROOT/iuts/kamailio/peering.cfg"
    stop_uas
    row kamailio "$w" "$rate" $((after - before)) "$result" "$mib"
  done
done
