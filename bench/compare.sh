#!/usr/bin/env bash
# compare.sh measures `muxfer send` against scp, rsync over ssh, an rsync
# daemon and (when CROC names a croc binary) croc, all on loopback with the
# source and the destination in tmpfs, and prints one markdown table of medians.
#
# Run it as root on Debian, from anywhere:   bash bench/compare.sh
# Sizes and rounds come from the environment (README.md beside this file):
#   RUNS=3 SIZE_MB=1024 SMALL_FILES=5000 MED_FILES=100 bash bench/compare.sh
# It installs what it lacks from Debian, builds muxfer from this repository,
# starts its own sshd, rsync daemon, iperf3 and muxfer hubs on 127.0.0.1 ports,
# and on exit, however it exits, stops them and removes its folder in /dev/shm.
# Progress goes to stderr; the report (machine, reference, table) to stdout.
set -euo pipefail

RUNS=${RUNS:-3}                  # runs of each tool on each workload
SIZE_MB=${SIZE_MB:-1024}         # the single file, MiB
SMALL_FILES=${SMALL_FILES:-5000} # the many small files...
SMALL_KB=${SMALL_KB:-4}          # ...of this many KiB each...
SMALL_DIRS=${SMALL_DIRS:-50}     # ...spread over this many folders
MED_FILES=${MED_FILES:-100}      # the medium files...
MED_MB=${MED_MB:-10}             # ...of this many MiB each
IPERF_SECONDS=${IPERF_SECONDS:-5}
CROC=${CROC:-}                   # path to a croc binary; empty: croc is skipped

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=""                 # the work folder in /dev/shm: sources, destination, keys, logs
DEST=""              # where every tool delivers; emptied before each run
declare -A PIDS=()   # processes started here and not yet stopped: pid -> name
declare -A PORTS=()  # ports handed out, so that two servers never get the same one
TCP_TABLES=()        # /proc/net/tcp and tcp6, where they exist
MADE_RUN_SSHD=0      # 1 when this script made /run/sshd (sshd refuses to start without it)
MADE_POLICY=0        # 1 when this script made /usr/sbin/policy-rc.d for the install
LAST_PID=""          # set by start_bg

say() { printf '%s\n' "$*" >&2; }
die() {
	say "compare.sh: $*"
	exit 1
}

# die_log stops with a message and the end of the log that explains it.
die_log() {
	say "compare.sh: $1"
	if [[ -s $2 ]]; then
		say "--- last lines of $(basename "$2"):"
		tail -n 20 "$2" >&2
	fi
	exit 1
}

# ---------------------------------------------------------------- processes

# alive reports whether pid runs (a child that exited stays a zombie until
# reaped, and kill -0 would call it alive).
alive() {
	local state
	[[ -r /proc/$1/stat ]] || return 1
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[[ -n $state && $state != Z ]]
}

# start_bg NAME LOG COMMAND...: runs COMMAND in the background, stdin from
# /dev/null, output to LOG; its pid goes to LAST_PID and to the list that
# cleanup stops.
start_bg() {
	local name=$1 log=$2
	shift 2
	"$@" </dev/null >"$log" 2>&1 &
	LAST_PID=$!
	PIDS[$LAST_PID]=$name
}

# reap waits up to 5 s for pid to exit after a SIGTERM, then kills it.
reap() {
	local pid=$1 i
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "PIDS[$pid]"
}

stop_bg() {
	kill -TERM "$1" 2>/dev/null || true
	reap "$1"
}

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${!PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${!PIDS[@]}"; do reap "$pid"; done
	if [[ -n $W && -d $W ]]; then rm -rf -- "$W"; fi
	if ((MADE_RUN_SSHD)); then rmdir /run/sshd 2>/dev/null || true; fi
	if ((MADE_POLICY)); then rm -f /usr/sbin/policy-rc.d; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- ports

# free_port VAR: sets VAR to a TCP port below the ephemeral range that no
# socket on this machine uses and that was not handed out before.
free_port() {
	# fp_ names: printf -v below must not set a local of this function
	local fp_p fp_hex fp_i
	for ((fp_i = 0; fp_i < 500; fp_i++)); do
		fp_p=$((20000 + RANDOM % 12000))
		[[ -z ${PORTS[$fp_p]:-} ]] || continue
		printf -v fp_hex ':%04X$' "$fp_p"
		if ! awk -v h="$fp_hex" '$2 ~ h { f = 1 } END { exit !f }' "${TCP_TABLES[@]}"; then
			PORTS[$fp_p]=1
			printf -v "$1" '%s' "$fp_p"
			return 0
		fi
	done
	die "found no free TCP port"
}

# wait_listen PORT PID NAME LOG: waits until something listens on PORT,
# without connecting to it (iperf3 -s -1 would count a probe as its one test).
wait_listen() {
	local port=$1 pid=$2 name=$3 log=$4 hex i
	printf -v hex ':%04X$' "$port"
	for ((i = 0; i < 200; i++)); do
		if awk -v h="$hex" '$2 ~ h && $4 == "0A" { f = 1 } END { exit !f }' "${TCP_TABLES[@]}"; then
			return 0
		fi
		alive "$pid" || die_log "$name exited as it started" "$log"
		sleep 0.05
	done
	die_log "$name did not listen on 127.0.0.1:$port within 10 s" "$log"
}

# ---------------------------------------------------------------- set-up

check_settings() {
	local v
	for v in RUNS SIZE_MB SMALL_FILES SMALL_KB SMALL_DIRS MED_FILES MED_MB IPERF_SECONDS; do
		[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive whole number, not '${!v}'"
	done
	[[ $EUID -eq 0 ]] || die "run me as root: I install packages and log in to a private sshd as root"
	if [[ -n $CROC ]]; then
		[[ -x $CROC ]] || die "CROC=$CROC is not an executable file"
		CROC=$(cd "$(dirname "$CROC")" && pwd)/$(basename "$CROC")
	fi
}

make_workdir() {
	local need_mb free_kb biggest small_mb med_mb
	small_mb=$(((SMALL_FILES * SMALL_KB + 1023) / 1024))
	med_mb=$((MED_FILES * MED_MB))
	biggest=$SIZE_MB
	if ((med_mb > biggest)); then biggest=$med_mb; fi
	if ((small_mb > biggest)); then biggest=$small_mb; fi
	# the three sources, one copy of the largest at the destination, and room
	# for muxfer's hub, which keeps 64 MiB free beyond what it is sent
	need_mb=$((SIZE_MB + med_mb + small_mb + biggest + 256))
	[[ -d /dev/shm ]] || die "/dev/shm is missing: the workloads live in tmpfs"
	free_kb=$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')
	((free_kb / 1024 >= need_mb)) || die "/dev/shm has $((free_kb / 1024)) MiB free, these sizes need $need_mb MiB"
	W=$(mktemp -d /dev/shm/muxfer-bench-XXXX)
	mkdir -p "$W/log" "$W/src" "$W/dest" "$W/ssh" "$W/xdg"
	DEST=$W/dest
	local t
	for t in /proc/net/tcp /proc/net/tcp6; do
		[[ -r $t ]] && TCP_TABLES+=("$t")
	done
	((${#TCP_TABLES[@]})) || die "cannot read /proc/net/tcp"
}

install_packages() {
	local missing=()
	[[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
	if ! command -v ssh >/dev/null || ! command -v scp >/dev/null || ! command -v ssh-keygen >/dev/null; then
		missing+=(openssh-client)
	fi
	command -v rsync >/dev/null || missing+=(rsync)
	command -v iperf3 >/dev/null || missing+=(iperf3)
	((${#missing[@]})) || return 0
	command -v apt-get >/dev/null || die "missing ${missing[*]}, and there is no apt-get to install them"
	say "installing from Debian: ${missing[*]}"
	# Keep the packages from starting their own services (the system's sshd on
	# port 22, an iperf3 daemon): this script starts private ones.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		MADE_POLICY=1
	fi
	apt-get update >"$W/log/apt.log" 2>&1 || die_log "apt-get update failed" "$W/log/apt.log"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
		>>"$W/log/apt.log" 2>&1 || die_log "apt-get install ${missing[*]} failed" "$W/log/apt.log"
	if ((MADE_POLICY)); then
		rm -f /usr/sbin/policy-rc.d
		MADE_POLICY=0
	fi
}

build_muxfer() {
	if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
		PATH=$PATH:/usr/local/go/bin
	fi
	command -v go >/dev/null || die "needs Go (the version in $REPO/go.mod) to build muxfer; Debian's golang is too old"
	say "building muxfer from $REPO"
	(cd "$REPO" && go build -o "$W/muxfer" ./cmd/muxfer) >"$W/log/build.log" 2>&1 ||
		die_log "go build ./cmd/muxfer failed" "$W/log/build.log"
	MUXFER=$W/muxfer
}

# random_bytes N writes N random bytes to stdout: random so that no tool's
# compression can shorten the work. openssl is about 5x faster than
# /dev/urandom; it takes at most 2^31-1 bytes a call.
random_bytes() {
	local left=$1 chunk
	if ! command -v openssl >/dev/null; then
		head -c "$left" /dev/urandom
		return
	fi
	while ((left > 0)); do
		chunk=$((left < 268435456 ? left : 268435456))
		openssl rand "$chunk"
		left=$((left - chunk))
	done
}

# The workloads: ids, sources, labels, bytes and file counts, by index.
WL_IDS=(big small medium)
declare -A WL_SRC=() WL_LABEL=() WL_BYTES=() WL_FILES=()

make_workloads() {
	local d n per extra size dir
	say "making the workloads in $W/src"
	WL_SRC[big]=$W/src/big.bin
	random_bytes $((SIZE_MB * 1048576)) >"${WL_SRC[big]}"
	WL_LABEL[big]="1 file of $SIZE_MB MiB"

	WL_SRC[small]=$W/src/small
	size=$((SMALL_KB * 1024))
	per=$((SMALL_FILES / SMALL_DIRS))
	extra=$((SMALL_FILES % SMALL_DIRS))
	for ((d = 0; d < SMALL_DIRS; d++)); do
		n=$((per + (d < extra ? 1 : 0)))
		((n > 0)) || continue
		printf -v dir '%s/d%03d' "${WL_SRC[small]}" "$d"
		mkdir -p "$dir"
		random_bytes $((n * size)) | split -b "$size" -a 6 -d --additional-suffix=.bin - "$dir/f"
	done
	WL_LABEL[small]="$SMALL_FILES files of $SMALL_KB KiB in $SMALL_DIRS folders"

	WL_SRC[medium]=$W/src/medium
	mkdir -p "${WL_SRC[medium]}"
	random_bytes $((MED_FILES * MED_MB * 1048576)) |
		split -b $((MED_MB * 1048576)) -a 4 -d --additional-suffix=.bin - "${WL_SRC[medium]}/f"
	WL_LABEL[medium]="$MED_FILES files of $MED_MB MiB"

	local wl
	for wl in "${WL_IDS[@]}"; do
		WL_BYTES[$wl]=$(find "${WL_SRC[$wl]}" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s }')
		WL_FILES[$wl]=$(find "${WL_SRC[$wl]}" -type f | wc -l)
	done
}

# ---------------------------------------------------------------- servers

SSH_PORT="" RSYNCD_PORT="" SSH_CIPHER="" SSH_OPTS=() USE_PAM=no

start_sshd() {
	local cfg=$W/ssh/sshd_config log=$W/log/sshd.log root_pw
	ssh-keygen -q -t ed25519 -N '' -C muxfer-bench-host -f "$W/ssh/host_ed25519"
	ssh-keygen -q -t ed25519 -N '' -C muxfer-bench-client -f "$W/ssh/client_ed25519"
	cp "$W/ssh/client_ed25519.pub" "$W/ssh/authorized_keys"
	# Without PAM, sshd turns away a locked account (password field "!...")
	# even for a key; with PAM it does not.
	root_pw=$(getent shadow root | cut -d: -f2) || true
	if [[ $root_pw == '!'* || $root_pw == '*LK*'* ]]; then
		USE_PAM=yes
		say "note: root's password is locked, so the private sshd uses PAM to let the key in"
	fi
	free_port SSH_PORT
	cat >"$cfg" <<-EOF
		Port $SSH_PORT
		ListenAddress 127.0.0.1
		HostKey $W/ssh/host_ed25519
		PidFile none
		AuthorizedKeysFile $W/ssh/authorized_keys
		PermitRootLogin prohibit-password
		PubkeyAuthentication yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM $USE_PAM
		StrictModes no
		PrintMotd no
		Subsystem sftp internal-sftp
	EOF
	if [[ ! -d /run/sshd ]]; then
		mkdir -m 755 /run/sshd
		MADE_RUN_SSHD=1
	fi
	/usr/sbin/sshd -t -f "$cfg" >"$log" 2>&1 || die_log "sshd refused its configuration" "$log"
	start_bg sshd "$log" /usr/sbin/sshd -f "$cfg" -D -e
	wait_listen "$SSH_PORT" "$LAST_PID" sshd "$log"

	SSH_OPTS=(-F /dev/null -i "$W/ssh/client_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o Compression=no -o LogLevel=ERROR)
	# one login to prove the key works, and to learn the cipher both ends chose
	ssh -v "${SSH_OPTS[@]}" -p "$SSH_PORT" root@127.0.0.1 true >"$W/log/ssh-check.log" 2>&1 ||
		die_log "cannot log in to the private sshd as root with its key (sshd log: $log)" "$W/log/ssh-check.log"
	SSH_CIPHER=$(sed -n 's/.*kex: client->server cipher: \([^ ]*\).*/\1/p' "$W/log/ssh-check.log" | sed -n 1p)
	RSYNC_SSH_CMD="ssh ${SSH_OPTS[*]} -p $SSH_PORT"
}

start_rsyncd() {
	local cfg=$W/rsyncd.conf log=$W/log/rsyncd.log
	free_port RSYNCD_PORT
	cat >"$cfg" <<-EOF
		use chroot = no
		[bench]
		    path = $DEST
		    read only = false
		    uid = root
		    gid = root
	EOF
	start_bg rsyncd "$log" rsync --daemon --no-detach --config="$cfg" --address=127.0.0.1 --port="$RSYNCD_PORT"
	wait_listen "$RSYNCD_PORT" "$LAST_PID" "rsync --daemon" "$log"
}

# iperf_reference measures one TCP stream on loopback: the ceiling no tool
# that moves bytes through a socket can pass.
IPERF_MBPS=""
iperf_reference() {
	local port log=$W/log/iperf3-server.log json=$W/log/iperf3.json pid bps
	free_port port
	start_bg iperf3 "$log" iperf3 -s -1 -B 127.0.0.1 -p "$port"
	pid=$LAST_PID
	wait_listen "$port" "$pid" "iperf3 -s" "$log"
	say "raw TCP reference: iperf3 -c 127.0.0.1 -t $IPERF_SECONDS"
	iperf3 -c 127.0.0.1 -p "$port" -t "$IPERF_SECONDS" -J >"$json" 2>&1 || die_log "iperf3 -c failed" "$json"
	stop_bg "$pid"
	bps=$(awk '/"sum_received"/ { f = 1 } f && /"bits_per_second"/ { sub(/.*:/, ""); sub(/,.*/, ""); print; exit }' "$json")
	[[ -n $bps ]] || die_log "no sum_received.bits_per_second in iperf3's output" "$json"
	IPERF_MBPS=$(awk -v b="$bps" 'BEGIN { printf "%.0f", b / 8e6 }')
}

# ---------------------------------------------------------------- the tools
# Each tool has run_TOOL SRC (the timed command, output to the run's log) and
# may have before_TOOL and after_TOOL (untimed: start and stop its server).
# Every tool lands SRC as DEST/<basename of SRC>.

TOOLS=(scp rsync_ssh rsyncd muxfer)
declare -A TOOL_LABEL=([scp]="scp" [rsync_ssh]="rsync (ssh)" [rsyncd]="rsync (daemon)" [muxfer]="muxfer" [croc]="croc")

run_scp() {
	scp -q -r "${SSH_OPTS[@]}" -P "$SSH_PORT" "$1" "root@127.0.0.1:$DEST"
}

run_rsync_ssh() {
	rsync -a -e "$RSYNC_SSH_CMD" "$1" "root@127.0.0.1:$DEST/"
}

run_rsyncd() {
	rsync -a "$1" "rsync://127.0.0.1:$RSYNCD_PORT/bench/"
}

# muxfer's send confirms, rather than sends, a file it delivered to the same
# hub before (same path, size and mtime; the hub's .muxfer-records says so).
# Each run therefore gets a new hub on an emptied folder (records included)
# and a new resume key (XDG_CONFIG_HOME), and check_muxfer_log proves that
# nothing was confirmed or resumed.
HUB_PID="" HUB_ADDR="" MUXFER_KEY_VALUE=""

before_muxfer() {
	local log=$W/log/hub.log i
	start_bg "muxfer serve" "$log" env XDG_CONFIG_HOME="$W/xdg/hub" \
		"$MUXFER" serve --listen 127.0.0.1:0 --dir "$DEST" --key-file "$W/muxfer.key"
	HUB_PID=$LAST_PID
	HUB_ADDR=""
	for ((i = 0; i < 200; i++)); do
		HUB_ADDR=$(sed -n 's/.*listening.* addr=\(127\.0\.0\.1:[0-9]*\).*/\1/p' "$log")
		[[ -z $HUB_ADDR ]] || break
		alive "$HUB_PID" || die_log "muxfer serve exited as it started" "$log"
		sleep 0.05
	done
	[[ -n $HUB_ADDR ]] || die_log "muxfer serve did not say where it listens within 10 s" "$log"
	rm -rf "$W/xdg/send"
	mkdir -p "$W/xdg/send"
}

run_muxfer() {
	MUXFER_KEY=$MUXFER_KEY_VALUE XDG_CONFIG_HOME=$W/xdg/send \
		"$MUXFER" send "$HUB_ADDR" "$1" --progress never --name bench
}

after_muxfer() {
	stop_bg "$HUB_PID"
}

# check_muxfer_log LOG FILES: every file verified, none resumed or confirmed.
check_muxfer_log() {
	local verified again
	verified=$(grep -c '^verified ' "$1" || true)
	again=$(grep -c -e '(resumed at ' -e ' stored as ' "$1" || true)
	((verified == $2)) || die_log "muxfer verified $verified files of $2" "$1"
	((again == 0)) || die_log "muxfer resumed or renamed $again files: the run did not send everything afresh" "$1"
}

CROC_PORT=""
start_croc_relay() {
	local ports=() p i log=$W/log/croc-relay.log
	for ((i = 0; i < 5; i++)); do
		free_port p
		ports+=("$p")
	done
	CROC_PORT=${ports[0]}
	mkdir -p "$W/croc-home"
	start_bg "croc relay" "$log" env HOME="$W/croc-home" "$CROC" relay --host 127.0.0.1 \
		--ports "$(
			IFS=,
			echo "${ports[*]}"
		)"
	wait_listen "$CROC_PORT" "$LAST_PID" "croc relay" "$log"
}

# run_croc sends with a code phrase given as CROC_SECRET (croc refuses a code
# on the command line on Unix) through the private relay only (--no-local),
# and receives into DEST; stdin is /dev/null, which croc does not take for
# data to send (a pipe it would).
run_croc() {
	local code log=$W/log/croc-send.log spid rc=0 i
	code="bench-$RANDOM$RANDOM-$RANDOM"
	start_bg "croc send" "$log" env HOME="$W/croc-home" CROC_SECRET="$code" \
		"$CROC" --relay "127.0.0.1:$CROC_PORT" send --no-local "$1"
	spid=$LAST_PID
	for ((i = 0; i < 600; i++)); do
		grep -q -i 'code is' "$log" && break
		alive "$spid" || break
		sleep 0.05
	done
	env HOME="$W/croc-home" CROC_SECRET="$code" "$CROC" --yes --overwrite \
		--relay "127.0.0.1:$CROC_PORT" --out "$DEST" </dev/null || rc=$?
	for ((i = 0; i < 200; i++)); do
		alive "$spid" || break
		sleep 0.05
	done
	if alive "$spid"; then
		stop_bg "$spid"
		echo "croc send did not exit after the receiver finished" >&2
		return 1
	fi
	wait "$spid" || rc=$?
	unset "PIDS[$spid]"
	cat "$log"
	return "$rc"
}

# ---------------------------------------------------------------- measuring

declare -A TIMES=() # "workload tool" -> the seconds of each run, space-separated

empty_dest() {
	find "$DEST" -mindepth 1 -delete
}

# verify checks that DEST holds exactly SRC's copy (and, for muxfer, the
# hub's records) and that the copy equals the source byte for byte.
verify() {
	local src=$1 tool=$2 name entries
	name=$(basename "$src")
	entries=$(find "$DEST" -mindepth 1 -maxdepth 1 ! -name .muxfer-records -printf '%f\n')
	[[ $entries == "$name" ]] || die "${TOOL_LABEL[$tool]}: expected $DEST/$name alone, found: $(echo "$entries" | head -n 5 | tr '\n' ' ')"
	diff -r -q "$src" "$DEST/$name" >"$W/log/diff.log" 2>&1 ||
		die_log "${TOOL_LABEL[$tool]}: the copy differs from the source" "$W/log/diff.log"
}

# measure WORKLOAD TOOL ROUND: one timed run, checked and verified.
measure() {
	local wl=$1 tool=$2 round=$3 src=${WL_SRC[$1]} log=$W/log/run.log t0 t1 rc=0 secs
	empty_dest
	if declare -F "before_$tool" >/dev/null; then "before_$tool"; fi
	t0=$(date +%s.%N)
	"run_$tool" "$src" >"$log" 2>&1 || rc=$?
	t1=$(date +%s.%N)
	if declare -F "after_$tool" >/dev/null; then "after_$tool"; fi
	((rc == 0)) || die_log "${TOOL_LABEL[$tool]} failed (exit $rc) on '${WL_LABEL[$wl]}', round $round" "$log"
	if [[ $tool == muxfer ]]; then check_muxfer_log "$log" "${WL_FILES[$wl]}"; fi
	verify "$src" "$tool"
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	TIMES["$wl $tool"]+="$secs "
	say "$(printf '  round %d/%d  %-40s %-15s %8.2f s %9s MB/s' "$round" "$RUNS" "${WL_LABEL[$wl]}" \
		"${TOOL_LABEL[$tool]}" "$secs" "$(mbps "${WL_BYTES[$wl]}" "$secs")")"
}

# cpu_idle_pct prints how idle the CPUs were over one second: a busy
# machine (another job, a build) makes every figure slower and noisier.
cpu_idle_pct() {
	local a b
	a=$(sed -n 1p /proc/stat)
	sleep 1
	b=$(sed -n 1p /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN {
		n = split(a, x); split(b, y)
		for (i = 2; i <= 9 && i <= n; i++) total += y[i] - x[i] # guest time is in user already
		idle = (y[5] - x[5]) + (y[6] - x[6])
		printf "%.0f", (total > 0 ? 100 * idle / total : 0)
	}'
}

IDLE_BEFORE=""

# The CPU time of the whole machine against this script's own (itself and
# the children it has reaped, the servers included once stopped), in ticks:
# the difference over the runs is what other work took from them.
machine_ticks() { # prints: busy total
	awk 'NR == 1 { for (i = 2; i <= 9; i++) { t += $i; if (i != 5 && i != 6) b += $i }; print b, t; exit }' /proc/stat
}
own_ticks() { # utime, stime, cutime and cstime of this shell
	sed 's/.*) //' "/proc/$$/stat" | awk '{ print $12 + $13 + $14 + $15 }'
}
CPU_START="" OWN_START="" OTHER_PCT="" OWN_PCT=""

cpu_account_start() {
	CPU_START=$(machine_ticks)
	OWN_START=$(own_ticks)
}

# cpu_account_end stops every server, so that their CPU time counts as ours,
# and works out the shares.
cpu_account_end() {
	local pid end own
	for pid in "${!PIDS[@]}"; do stop_bg "$pid"; done
	end=$(machine_ticks)
	own=$(own_ticks)
	read -r OTHER_PCT OWN_PCT < <(awk -v s="$CPU_START" -v e="$end" -v o0="$OWN_START" -v o1="$own" 'BEGIN {
		split(s, a, " "); split(e, b, " ")
		total = b[2] - a[2]; busy = b[1] - a[1]; own = o1 - o0
		other = busy - own; if (other < 0) other = 0
		if (total <= 0) total = 1
		printf "%.0f %.0f\n", 100 * other / total, 100 * own / total
	}')
}

# Each round runs every tool once, in turn, starting one tool later each
# round, so that no tool always follows the same one.
run_all() {
	local wl round i n=${#TOOLS[@]}
	for wl in "${WL_IDS[@]}"; do
		say "workload: ${WL_LABEL[$wl]} ($(mbytes "${WL_BYTES[$wl]}") MB)"
		for ((round = 1; round <= RUNS; round++)); do
			for ((i = 0; i < n; i++)); do
				measure "$wl" "${TOOLS[$(((i + round - 1) % n))]}" "$round"
			done
		done
	done
	empty_dest
}

# ---------------------------------------------------------------- the report

median() {
	tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g |
		awk '{ a[NR] = $1 } END { if (NR % 2) printf "%.3f", a[(NR + 1) / 2]; else printf "%.3f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

mbytes() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }

mbps() {
	awk -v b="$1" -v s="$2" 'BEGIN { if (s <= 0) { print "inf"; exit } r = b / 1e6 / s; if (r >= 100) printf "%.0f", r; else printf "%.1f", r }'
}

header() {
	local cpu mem_gb commit=""
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | sed -n 1p)
	mem_gb=$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
	if command -v git >/dev/null && git -C "$REPO" rev-parse --short HEAD >/dev/null 2>&1; then
		commit=" at commit $(git -C "$REPO" rev-parse --short HEAD)"
		[[ -z $(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null) ]] || commit+=" (with uncommitted changes)"
	fi
	echo "## muxfer compared with scp, rsync and croc on loopback"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- machine: $(nproc) cores ($cpu), ${mem_gb} GiB memory, kernel $(uname -r)"
	echo "- muxfer: $("$MUXFER" version)$commit"
	echo "- ssh: $(ssh -V 2>&1); cipher ${SSH_CIPHER:-unknown}, no compression"
	echo "- rsync: $(rsync --version | sed -n 1p)"
	echo "- iperf3: $(iperf3 --version | sed -n 1p)"
	if [[ -n $CROC ]]; then
		echo "- croc: $("$CROC" --version 2>&1 | sed -n 1p)"
	else
		echo "- croc: skipped (set CROC=/path/to/croc to include it)"
	fi
	echo "- runs: $RUNS of each tool per workload; source and destination in tmpfs (/dev/shm)"
	echo
}

report() {
	local wl tool cols line med mux ratio
	echo "Raw TCP on loopback, one stream (iperf3, $IPERF_SECONDS s): $IPERF_MBPS MB/s"
	echo
	cols="| workload |"
	line="| --- |"
	for tool in "${TOOLS[@]}"; do
		cols+=" ${TOOL_LABEL[$tool]} |"
		line+=" ---: |"
	done
	for tool in "${TOOLS[@]}"; do
		[[ $tool == muxfer ]] && continue
		cols+=" muxfer ÷ ${TOOL_LABEL[$tool]} |"
		line+=" ---: |"
	done
	echo "$cols"
	echo "$line"
	for wl in "${WL_IDS[@]}"; do
		cols="| ${WL_LABEL[$wl]} |"
		mux=$(median "${TIMES["$wl muxfer"]}")
		for tool in "${TOOLS[@]}"; do
			med=$(median "${TIMES["$wl $tool"]}")
			cols+=" $(printf '%.2f' "$med") s, $(mbps "${WL_BYTES[$wl]}" "$med") MB/s |"
		done
		for tool in "${TOOLS[@]}"; do
			[[ $tool == muxfer ]] && continue
			med=$(median "${TIMES["$wl $tool"]}")
			ratio=$(awk -v t="$med" -v m="$mux" 'BEGIN { printf "%.2f", t / m }')
			cols+=" ${ratio}x |"
		done
		echo "$cols"
	done
	echo
	echo "Each cell: median wall-clock seconds of the sending command and MB/s (10^6 bytes) over $RUNS run$( ((RUNS == 1)) || echo s)."
	echo "muxfer ÷ tool is the throughput ratio (the tool's time over muxfer's): above 1, muxfer is faster."
	echo "Both ends share the same $(nproc) cores. scp speaks SFTP (OpenSSH's default since 9.0); rsync (daemon)"
	echo "is neither encrypted nor authenticated; muxfer uses TLS 1.3, hashes every byte on both ends"
	echo "(XXH3-128) and fsyncs every file; scp and rsync do neither. Every run starts from an empty"
	echo "destination and was checked with diff -r against the source."
	echo "The CPUs were $IDLE_BEFORE% idle in the second before the first run. During the runs this script and its tools kept"
	echo "them $OWN_PCT% busy, and other work on the machine (kernel threads included) $OTHER_PCT%: above a few per cent, it skews the figures."
}

# ---------------------------------------------------------------- main

main() {
	check_settings
	make_workdir
	install_packages
	build_muxfer
	"$MUXFER" keygen >"$W/muxfer.key"
	chmod 600 "$W/muxfer.key"
	MUXFER_KEY_VALUE=$(<"$W/muxfer.key")
	start_sshd
	start_rsyncd
	if [[ -n $CROC ]]; then
		TOOLS+=(croc)
		start_croc_relay
	else
		say "croc: skipped (set CROC=/path/to/croc to include it)"
	fi
	header
	make_workloads
	iperf_reference
	IDLE_BEFORE=$(cpu_idle_pct)
	if ((IDLE_BEFORE < 90)); then
		say "warning: the CPUs were only $IDLE_BEFORE% idle just now: other work will slow every tool down"
	fi
	cpu_account_start
	run_all
	cpu_account_end
	if ((OTHER_PCT > 10)); then
		say "warning: other work kept the CPUs $OTHER_PCT% busy during the runs: the figures are skewed"
	fi
	report
}

main "$@"
