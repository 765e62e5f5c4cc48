#!/usr/bin/env bash
# Sending a file to a person over a slow link, end to end against the hub's
# relay, in one run: alice on host a, the hub and two recipients on host b
# (bob-e2e takes files end to end, as muxfer's clients do; bob-relay
# through the hub's relay, as they did before), a router between the
# hosts that shapes both directions with a token bucket (tbf). Alice sends
# the same file to each in turn, ROUNDS times, and prints each rate.
#
#   sudo bash bench/person.sh [RATE]     RATE like 1gbit (default) or 100mbit
#
# FILE_MB sets the file's size (256 MiB), ROUNDS the number of turns (3).
# Root only. All traffic stays in the three network namespaces this script
# creates (muxperson-a, -r, -b) and removes on exit.
set -euo pipefail
rate=${1:-1gbit}
file_mb=${FILE_MB:-256}
rounds=${ROUNDS:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
me=person.sh prefix=muxperson
source "$repo/bench/netns.sh"
waitfor() { # waitfor WORD FILE WHAT: up to 5 s for WORD in FILE
  for _ in $(seq 50); do grep -q "$1" "$2" && return; sleep 0.1; done
  fail "$3 did not start within 5 s" "$2"
}

(cd "$repo" && go build -o "$work/muxfer" ./cmd/muxfer && go build -o "$work/chatlat" ./bench/chatlat)
head -c $((file_mb << 20)) /dev/urandom > "$work/big.bin"
"$work/muxfer" keygen > "$work/key" && chmod 600 "$work/key"
export MUXFER_KEY; MUXFER_KEY=$(cat "$work/key")

make_link 10.205 "$rate"

hub=10.205.2.2:7000
ip netns exec $b "$work/muxfer" serve --listen $hub --dir "$work/hub" --key-file "$work/key" 2>"$work/hub.log" &
pids+=($!)
waitfor listening "$work/hub.log" "the hub"
for path in e2e relay; do
  ip netns exec $b "$work/chatlat" -role take -path $path -name bob-$path -addr $hub -dir "$work/in-$path" >"$work/take-$path.out" 2>&1 &
  pids+=($!)
  waitfor ready "$work/take-$path.out" "bob-$path"
done
# the recipients' finished copies are removed as they come, so that a fast
# link does not fill tmpfs
while :; do find "$work"/in-* -maxdepth 1 -type f -name 'big*.bin' -delete 2>/dev/null; sleep 0.5; done &
pids+=($!)
echo "link: $rate each way (tbf); file: $file_mb MiB; kernel $(uname -r); $(nproc) cores; $(date -u '+%F %H:%M') UTC; commit $(cd "$repo" && git rev-parse --short HEAD)"
for i in $(seq "$rounds"); do
  for path in e2e relay; do
    ip netns exec $a "$work/chatlat" -role give -path $path -name alice-$path-$i -to bob-$path -addr $hub -file "$work/big.bin" -times 1 2>&1 ||
      fail "the send ($path) failed" "$work/take-$path.out"
  done
done
