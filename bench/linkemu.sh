#!/usr/bin/env bash
# Chat latency while a transfer fills a slow link: hub and bob on host b,
# alice on host a, a router between them that shapes both directions with
# a token bucket (tbf, queue up to 400 ms, as a real bottleneck might
# hold). Alice uploads a file again and again and sends a chat line every
# 20 ms; bob prints the latencies, alice the upload rate.
#
#   sudo bash bench/linkemu.sh [RATE]     RATE like 100mbit (default) or 1gbit
#
# LINES_N sets the number of chat lines (500), FILE_MB the size of the
# file uploaded (256 MiB); the hub's finished copies are removed every half
# second, so that a fast link does not fill tmpfs. ALICE_FLAGS passes flags to
# the sender, e.g. ALICE_FLAGS="-frame 262144 -lowat 67108864" for large
# fixed frames and no TCP_NOTSENT_LOWAT.
#
# Root only. All traffic stays in the three network namespaces this script
# creates (muxbench-a, -r, -b) and removes on exit.
set -euo pipefail
rate=${1:-100mbit}
lines=${LINES_N:-500}
file_mb=${FILE_MB:-256}
repo=$(cd "$(dirname "$0")/.." && pwd)
me=linkemu.sh prefix=muxbench
source "$repo/bench/netns.sh"

# MUXFER_BIN and CHATLAT_BIN name binaries built already (bench/compare.sh
# passes its own); otherwise both are built from this repository.
if [[ -n ${MUXFER_BIN:-} && -n ${CHATLAT_BIN:-} ]]; then
  cp "$MUXFER_BIN" "$work/muxfer" && cp "$CHATLAT_BIN" "$work/chatlat"
else
  (cd "$repo" && go build -o "$work/muxfer" ./cmd/muxfer && go build -o "$work/chatlat" ./bench/chatlat)
fi
head -c $((file_mb << 20)) /dev/urandom > "$work/big.bin"
"$work/muxfer" keygen > "$work/key" && chmod 600 "$work/key"
export MUXFER_KEY; MUXFER_KEY=$(cat "$work/key")

make_link 10.204 "$rate"

ip netns exec $b "$work/muxfer" serve --listen 10.204.2.2:7000 --dir "$work/hub" --key-file "$work/key" --chat-rate 100 2>"$work/hub.log" &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$work/hub.log" && break; sleep 0.1; done
grep -q listening "$work/hub.log" || fail "the hub did not start within 5 s" "$work/hub.log"
while :; do find "$work/hub" -maxdepth 1 -type f -name 'big*.bin' -delete 2>/dev/null; sleep 0.5; done &
pids+=($!)
ip netns exec $b "$work/chatlat" -role bob -addr 10.204.2.2:7000 -lines "$lines" >"$work/bob.out" 2>&1 &
bobpid=$!; pids+=("$bobpid")
for _ in $(seq 50); do grep -q ready "$work/bob.out" && break; sleep 0.1; done
grep -q ready "$work/bob.out" || fail "the listening client did not start within 5 s" "$work/bob.out"
echo "link: $rate each way (tbf, queue up to 400 ms); kernel $(uname -r); $(nproc) cores; $(date -u +%F)"
ip netns exec $a "$work/chatlat" -role alice -addr 10.204.2.2:7000 -file "$work/big.bin" -lines "$lines" -every 20ms ${ALICE_FLAGS:-}
# bob ends once the last line is in; if a line was lost, he would wait for
# his own ten-minute deadline
for _ in $(seq 300); do running $bobpid || break; sleep 0.1; done
if running $bobpid; then fail "the listening client did not get every line within 30 s of the last" "$work/bob.out"; fi
wait $bobpid || fail "the listening client failed" "$work/bob.out"
cat "$work/bob.out" | grep -v ready
ip netns exec $r tc -s qdisc show dev muxbrb | sed -n '1,3p' | sed 's/^/router, towards the hub: /'
