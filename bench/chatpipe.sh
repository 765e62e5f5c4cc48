#!/usr/bin/env bash
# Chat latency as a script reading `muxfer chat --json` on a pipe sees it,
# on loopback, while the sender uploads: a hub, two listeners in one run
# (chatlat -role bob, the client library; chatlat -role pipe, which runs
# `muxfer chat --json` with stdout a pipe and times each line as it reads
# it), and chatlat alice, who uploads a file again and again and sends a
# chat line every 20 ms. Prints one line per run with both listeners'
# p50 and p99: the difference is what muxfer's output adds.
#
#   bash bench/chatpipe.sh                          # muxfer built from this repository
#   MUXFER_BIN=/tmp/muxfer-main bash bench/chatpipe.sh   # another build as the pipe's muxfer
#
# RUNS (3), LINES_N (500) and FILE_MB (256) set the runs, the chat lines
# per run and the file uploaded. No root needed; everything lives in a
# folder in /dev/shm, removed on exit with the processes started here.
set -euo pipefail
runs=${RUNS:-3}
lines=${LINES_N:-500}
file_mb=${FILE_MB:-256}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /dev/shm/muxchatpipe-XXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() {
	echo "chatpipe.sh: $1" >&2
	tail -n 20 "$2" >&2
	exit 1
}
# wait_for PATTERN LOG PID: until LOG holds PATTERN (10 s at most)
wait_for() {
	for _ in $(seq 200); do
		grep -q "$1" "$2" && return
		kill -0 "$3" 2>/dev/null || fail "$(basename "$2" .log) exited as it started" "$2"
		sleep 0.05
	done
	fail "no '$1' within 10 s" "$2"
}
fields() { # LOG: "p50 p99" from a chat latency line
	sed -n 's/^chat latency over [0-9]* lines: p50 \([0-9.]*\) ms, p90 [0-9.]* ms, p99 \([0-9.]*\) ms,.*/\1 \2/p' "$1"
}

(cd "$repo" && go build -o "$work/muxfer" ./cmd/muxfer && go build -o "$work/chatlat" ./bench/chatlat)
bin=${MUXFER_BIN:-$work/muxfer}
head -c $((file_mb << 20)) /dev/urandom >"$work/big.bin"
"$work/muxfer" keygen >"$work/key" && chmod 600 "$work/key"
export MUXFER_KEY XDG_CONFIG_HOME=$work/xdg
MUXFER_KEY=$(cat "$work/key")
echo "chat --json on a pipe, loopback: $lines lines every 20 ms while the sender uploads $file_mb MiB again and again; pipe's muxfer: $bin; $(nproc) cores; $(date -u '+%F %H:%M UTC')"

for run in $(seq "$runs"); do
	rm -rf "$work/hub" && mkdir "$work/hub"
	"$work/muxfer" serve --listen 127.0.0.1:0 --dir "$work/hub" --key-file "$work/key" --chat-rate 100 2>"$work/hub.log" &
	hub=$!
	pids+=("$hub")
	wait_for listening "$work/hub.log" "$hub"
	addr=$(sed -n 's/.*listening.* addr=\(127\.0\.0\.1:[0-9]*\).*/\1/p' "$work/hub.log")
	while :; do
		find "$work/hub" -maxdepth 1 -type f -name 'big*.bin' -delete 2>/dev/null
		sleep 0.5
	done &
	cleaner=$!
	pids+=("$cleaner")
	"$work/chatlat" -role bob -addr "$addr" -lines "$lines" >"$work/bob.log" 2>&1 &
	bob=$!
	pids+=("$bob")
	"$work/chatlat" -role pipe -muxfer "$bin" -addr "$addr" -lines "$lines" >"$work/pipe.log" 2>&1 &
	pipe=$!
	pids+=("$pipe")
	wait_for ready "$work/bob.log" "$bob"
	wait_for ready "$work/pipe.log" "$pipe"
	"$work/chatlat" -role alice -addr "$addr" -file "$work/big.bin" -lines "$lines" -every 20ms \
		>"$work/alice.log" 2>&1 || fail "chatlat alice failed" "$work/alice.log"
	wait "$bob" || fail "chatlat bob failed" "$work/bob.log"
	wait "$pipe" || fail "chatlat pipe failed" "$work/pipe.log"
	kill "$cleaner" "$hub"
	wait "$cleaner" "$hub" 2>/dev/null || true
	pids=()
	read -r bp50 bp99 <<<"$(fields "$work/bob.log")"
	read -r pp50 pp99 <<<"$(fields "$work/pipe.log")"
	echo "run $run: pipe (muxfer chat --json) p50 $pp50 ms, p99 $pp99 ms; library (chatlat bob) p50 $bp50 ms, p99 $bp99 ms; $(sed -n 's/^alice: uploaded at \([0-9.]*\) MB\/s.*/\1/p' "$work/alice.log") MB/s"
done
