#!/usr/bin/env bash
# session.sh records the session shown in the README: a hub and two chat
# clients, alice and bob, each in a tmux pane of its own on this machine;
# they chat, alice sends bob a folder (/send bob), bob accepts it, and bob
# starts typing while the files move. It prints each pane mid-transfer and
# at the end (tmux capture-pane). It is a recording, not a test: the
# pauses are there so that a person could follow it.
#
#   bash bench/session.sh            (needs tmux: apt-get install tmux)
#
# Everything lives in a temporary folder, removed on exit with the tmux
# server and the hub this script started.
set -euo pipefail
command -v tmux >/dev/null || { echo "session.sh: needs tmux (apt-get install tmux)" >&2; exit 1; }
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=$(mktemp -d /tmp/muxfer-session.XXXXXX)
SOCK="$W/tmux.sock"
HUB_PID=""
cleanup() {
	tmux -S "$SOCK" kill-server 2>/dev/null || true
	[[ -n $HUB_PID ]] && kill "$HUB_PID" 2>/dev/null && wait "$HUB_PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

(cd "$REPO" && go build -o "$W/muxfer" ./cmd/muxfer)
B=$W/muxfer
mkdir -p "$W/build/logs"
head -c 6000000 /dev/urandom >"$W/build/app.tar.gz"
seq 1 200000 | sed 's/^/build step /' >"$W/build/logs/build.log"
echo ok >"$W/build/logs/test.log"

export XDG_CONFIG_HOME=$W/config
export MUXFER_KEY
MUXFER_KEY=$("$B" keygen)
"$B" serve --listen 127.0.0.1:0 --dir "$W/hub" --key "$MUXFER_KEY" 2>"$W/hub.log" &
HUB_PID=$!
ADDR=""
for _ in $(seq 100); do
	ADDR=$(sed -n 's/.*msg="muxfer hub listening" addr=\([^ ]*\).*/\1/p' "$W/hub.log")
	[[ -n $ADDR ]] && break
	sleep 0.05
done
[[ -n $ADDR ]] || { echo "session.sh: the hub did not start:" >&2; cat "$W/hub.log" >&2; exit 1; }

T="tmux -S $SOCK"
$T new-session -d -s bob -x 100 -y 16 "$B chat $ADDR --name bob --dir $W/bob"
$T new-session -d -s alice -x 100 -y 16 "$B chat $ADDR --name alice --limit-rate 2M"
sleep 1
$T send-keys -t alice "hi bob, here are the build logs" Enter
sleep 0.5
$T send-keys -t bob "thanks, send them over" Enter
sleep 0.5
$T send-keys -t alice "/send bob $W/build" Enter
sleep 1
$T send-keys -t bob "/accept" Enter
sleep 2
$T send-keys -t bob "looks go"
sleep 0.3
echo "=== alice, mid-transfer"
$T capture-pane -p -t alice
echo "=== bob, mid-transfer, typing"
$T capture-pane -p -t bob
sleep 6
$T send-keys -t bob "od" Enter
sleep 0.5
echo "=== alice, at the end"
$T capture-pane -p -t alice
echo "=== bob, at the end"
$T capture-pane -p -t bob
