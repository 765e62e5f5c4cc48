#!/usr/bin/env bash
# compare.sh measures `muxfer send` against scp, rsync over ssh, an rsync
# daemon and (when CROC names a croc binary) croc, all on loopback with the
# source and the destination in tmpfs, and prints one markdown table of medians;
# then `muxfer get` of the large file and the small files against scp and the
# rsync daemon fetching the same, in a second table.
# Then it measures chat while a file moves (on loopback, and over a slow link
# between network namespaces), a long fat link, and the memory muxfer holds,
# and ends with a table of issue 5's targets, each marked met or not.
#
# Run it as root on Debian, from anywhere:   bash bench/compare.sh
# Sizes and rounds come from the environment (README.md beside this file):
#   RUNS=3 SIZE_MB=1024 SMALL_FILES=5000 MED_FILES=100 bash bench/compare.sh
#   PARTS="chat link" bash bench/compare.sh     # some of the parts only
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
PARTS=${PARTS:-files chat link memory} # which parts to run, in this order
CHAT_LINES=${CHAT_LINES:-500}    # chat lines per chat run
CHAT_MB=${CHAT_MB:-256}          # the file the chatting client uploads again and again
LINK_RATE=${LINK_RATE:-100mbit}  # the slow link's rate each way (tc's units: kbit, mbit, gbit)
MEM_MB=${MEM_MB:-4096}           # the file sent while memory is measured
IDLE_CLIENTS=${IDLE_CLIENTS:-1000} # idle clients held by one hub
UPLOADERS=${UPLOADERS:-50}       # clients uploading to one hub at once...
UPLOAD_MB=${UPLOAD_MB:-64}       # ...this many MiB each

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
# cleanup stops. LOG is emptied here first: the background shell empties it
# too, but maybe only after the caller has read the last run's lines.
start_bg() {
	local name=$1 log=$2
	shift 2
	: >"$log"
	"$@" </dev/null >>"$log" 2>&1 &
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

# has_part NAME: whether PARTS asks for the part NAME.
has_part() { [[ " $PARTS " == *" $1 "* ]]; }

check_settings() {
	local v p parts
	read -ra parts <<<"$PARTS" || true
	PARTS="${parts[*]:-}" # one space between words, as has_part expects
	for v in RUNS SIZE_MB SMALL_FILES SMALL_KB SMALL_DIRS MED_FILES MED_MB IPERF_SECONDS \
		CHAT_LINES CHAT_MB MEM_MB IDLE_CLIENTS UPLOADERS UPLOAD_MB; do
		[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive whole number, not '${!v}'"
	done
	for p in $PARTS; do
		[[ $p =~ ^(files|chat|link|memory)$ ]] || die "PARTS: '$p' is none of files, chat, link, memory"
	done
	[[ -n ${PARTS// /} ]] || die "PARTS is empty: name one or more of files, chat, link, memory"
	[[ $LINK_RATE =~ ^[1-9][0-9]*(kbit|mbit|gbit)$ ]] || die "LINK_RATE must be like 100mbit, 500kbit or 1gbit, not '$LINK_RATE'"
	[[ $EUID -eq 0 ]] || die "run me as root: I install packages and log in to a private sshd as root"
	if [[ -n $CROC ]]; then
		[[ -x $CROC ]] || die "CROC=$CROC is not an executable file"
		CROC=$(cd "$(dirname "$CROC")" && pwd)/$(basename "$CROC")
	fi
}

make_workdir() {
	local need_mb=0 part_mb free_kb biggest small_mb med_mb
	small_mb=$(((SMALL_FILES * SMALL_KB + 1023) / 1024))
	med_mb=$((MED_FILES * MED_MB))
	biggest=$SIZE_MB
	if ((med_mb > biggest)); then biggest=$med_mb; fi
	if ((small_mb > biggest)); then biggest=$small_mb; fi
	# Each part removes its files before the next starts, so the largest
	# part sets the need. Every part leaves room for muxfer's hub, which
	# keeps 64 MiB free beyond what it is sent.
	if has_part files; then
		# the three sources and one copy of the largest at the destination
		need_mb=$((SIZE_MB + med_mb + small_mb + biggest + 256))
	fi
	if has_part chat; then
		# the source and the copies the hub holds before they are removed
		part_mb=$((CHAT_MB * 6 + 256))
		if ((part_mb > need_mb)); then need_mb=$part_mb; fi
	fi
	if has_part link; then
		# linkemu.sh's source, the copies its hub holds before they are
		# removed, and the long fat link benchmark's file and copy
		part_mb=$((CHAT_MB * 3 + 512))
		if ((part_mb > need_mb)); then need_mb=$part_mb; fi
	fi
	if has_part memory; then
		# the large file's source is sparse; the uploaders' copies at the hub
		part_mb=$((UPLOADERS * UPLOAD_MB))
		if ((MEM_MB > part_mb)); then part_mb=$MEM_MB; fi
		part_mb=$((part_mb + UPLOAD_MB + 256))
		if ((part_mb > need_mb)); then need_mb=$part_mb; fi
	fi
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
	if has_part files; then
		[[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
		if ! command -v ssh >/dev/null || ! command -v scp >/dev/null || ! command -v ssh-keygen >/dev/null; then
			missing+=(openssh-client)
		fi
		command -v rsync >/dev/null || missing+=(rsync)
		command -v iperf3 >/dev/null || missing+=(iperf3)
	fi
	# GNU time reports a finished process's peak RSS; ip and tc build the slow link
	if has_part memory && [[ ! -x /usr/bin/time ]]; then missing+=(time); fi
	if has_part link && { ! command -v ip >/dev/null || ! command -v tc >/dev/null; }; then missing+=(iproute2); fi
	if has_part link && ! command -v sysctl >/dev/null; then missing+=(procps); fi
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
	(cd "$REPO" && go build -o "$W/muxfer" ./cmd/muxfer && go build -o "$W/chatlat" ./bench/chatlat) \
		>"$W/log/build.log" 2>&1 || die_log "go build ./cmd/muxfer ./bench/chatlat failed" "$W/log/build.log"
	MUXFER=$W/muxfer
	CHATLAT=$W/chatlat
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
		[src]
		    path = $W/src
		    read only = true
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

# start_hub DIR LOG [FLAGS...]: starts a hub on a free loopback port that
# stores in DIR, and sets HUB_PID and HUB_ADDR.
start_hub() {
	local dir=$1 log=$2 i
	shift 2
	start_bg "muxfer serve" "$log" env XDG_CONFIG_HOME="$W/xdg/hub" \
		"$MUXFER" serve --listen 127.0.0.1:0 --dir "$dir" --key-file "$W/muxfer.key" "$@"
	HUB_PID=$LAST_PID
	HUB_ADDR=""
	for ((i = 0; i < 200; i++)); do
		HUB_ADDR=$(sed -n 's/.*listening.* addr=\(127\.0\.0\.1:[0-9]*\).*/\1/p' "$log")
		[[ -z $HUB_ADDR ]] || break
		alive "$HUB_PID" || die_log "muxfer serve exited as it started" "$log"
		sleep 0.05
	done
	[[ -n $HUB_ADDR ]] || die_log "muxfer serve did not say where it listens within 10 s" "$log"
}

before_muxfer() {
	start_hub "$DEST" "$W/log/hub.log"
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

# The downloads: each fetches SRC (one of the workloads) from its server
# into DEST. muxfer's hub serves the sources' folder itself (--read all).
GET_TOOLS=(scp_get rsyncd_get muxfer_get)
TOOL_LABEL+=([scp_get]="scp" [rsyncd_get]="rsync (daemon)" [muxfer_get]="muxfer get")

run_scp_get() {
	scp -q -r "${SSH_OPTS[@]}" -P "$SSH_PORT" "root@127.0.0.1:$1" "$DEST/"
}

run_rsyncd_get() {
	rsync -a "rsync://127.0.0.1:$RSYNCD_PORT/src/$(basename "$1")" "$DEST/"
}

# One identity for every get (its hub, in the sources' folder, keeps who owns
# the name "bench"): nothing a get resumes from lives there, but in DEST.
before_muxfer_get() {
	start_hub "$W/src" "$W/log/hub-get.log" --read all
	mkdir -p "$W/xdg/get"
}

run_muxfer_get() {
	MUXFER_KEY=$MUXFER_KEY_VALUE XDG_CONFIG_HOME=$W/xdg/get \
		"$MUXFER" get "$HUB_ADDR" "$(basename "$1")" --dir "$DEST" --progress never --name bench
}

after_muxfer_get() {
	stop_bg "$HUB_PID"
}

# check_get_log LOG FILES: every file got and verified, none confirmed.
check_get_log() {
	grep -q "^got $2 of $2 files" "$1" || die_log "muxfer get did not get all $2 files" "$1"
	! grep -q -e ' here already)' -e ' stored as ' "$1" || die_log "muxfer get resumed or renamed files: the run did not fetch everything afresh" "$1"
}

empty_dest() {
	find "$DEST" -mindepth 1 -delete
}

# verify checks that DEST holds exactly SRC's copy (and, for muxfer, the
# hub's or the receiver's own files, .muxfer-*) and that the copy equals the
# source byte for byte.
verify() {
	local src=$1 tool=$2 name entries
	name=$(basename "$src")
	entries=$(find "$DEST" -mindepth 1 -maxdepth 1 ! -name '.muxfer-*' -printf '%f\n')
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
	if [[ $tool == muxfer_get ]]; then check_get_log "$log" "${WL_FILES[$wl]}"; fi
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

# run_all WORKLOADS TOOLS: each round runs every tool once on each workload,
# in turn, starting one tool later each round, so that no tool always follows
# the same one. Both are names of arrays.
run_all() {
	local -n wls=$1 tools=$2
	local wl round i n=${#tools[@]}
	for wl in "${wls[@]}"; do
		say "workload: ${WL_LABEL[$wl]} ($(mbytes "${WL_BYTES[$wl]}") MB)"
		for ((round = 1; round <= RUNS; round++)); do
			for ((i = 0; i < n; i++)); do
				measure "$wl" "${tools[$(((i + round - 1) % n))]}" "$round"
			done
		done
	done
	empty_dest
}

GET_WL_IDS=(big small) # the downloads measured

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
	if has_part files; then
		echo "- ssh: $(ssh -V 2>&1); cipher ${SSH_CIPHER:-unknown}, no compression"
		echo "- rsync: $(rsync --version | sed -n 1p)"
		echo "- iperf3: $(iperf3 --version | sed -n 1p)"
		if [[ -n $CROC ]]; then
			echo "- croc: $("$CROC" --version 2>&1 | sed -n 1p)"
		else
			echo "- croc: skipped (set CROC=/path/to/croc to include it)"
		fi
	fi
	echo "- parts: $PARTS; runs: $RUNS of each tool per workload, and of the chat on loopback; files in tmpfs (/dev/shm)"
	echo
}

report() {
	echo "### Files"
	echo
	echo "Raw TCP on loopback, one stream (iperf3, $IPERF_SECONDS s): $IPERF_MBPS MB/s"
	echo
	table WL_IDS TOOLS muxfer
	echo
	echo "Each cell: median wall-clock seconds of the sending command and MB/s (10^6 bytes) over $RUNS run$( ((RUNS == 1)) || echo s)."
	echo "muxfer ÷ tool is the throughput ratio (the tool's time over muxfer's): above 1, muxfer is faster."
	echo "Both ends share the same $(nproc) cores. scp speaks SFTP (OpenSSH's default since 9.0); rsync (daemon)"
	echo "is neither encrypted nor authenticated; muxfer uses TLS 1.3, hashes every byte on both ends"
	echo "(XXH3-128) and fsyncs every file; scp and rsync do neither. Every run starts from an empty"
	echo "destination and was checked with diff -r against the source."
	echo "The CPUs were $IDLE_BEFORE% idle in the second before the first run. During the runs this script and its tools kept"
	echo "them $OWN_PCT% busy, and other work on the machine (kernel threads included) $OTHER_PCT%: above a few per cent, it skews the figures."
	echo
	echo "### Downloads: muxfer get"
	echo
	table GET_WL_IDS GET_TOOLS muxfer_get
	echo
	echo "The same workloads fetched back: scp from the private sshd, rsync from the daemon's read-only module,"
	echo "muxfer get from a hub serving the sources' folder (serve --read all). Each cell as above, the time of"
	echo "the fetching command; every run starts from an empty destination and was checked with diff -r."
	echo
}

# table WORKLOADS TOOLS MAIN: a markdown table of the median of each tool on
# each workload, and MAIN's throughput over each other tool's. WORKLOADS and
# TOOLS are names of arrays.
table() {
	local -n wls=$1 tools=$2
	local main=$3 wl tool cols line med mux ratio
	cols="| workload |"
	line="| --- |"
	for tool in "${tools[@]}"; do
		cols+=" ${TOOL_LABEL[$tool]} |"
		line+=" ---: |"
	done
	for tool in "${tools[@]}"; do
		[[ $tool == "$main" ]] && continue
		cols+=" ${TOOL_LABEL[$main]} ÷ ${TOOL_LABEL[$tool]} |"
		line+=" ---: |"
	done
	echo "$cols"
	echo "$line"
	for wl in "${wls[@]}"; do
		cols="| ${WL_LABEL[$wl]} |"
		mux=$(median "${TIMES["$wl $main"]}")
		for tool in "${tools[@]}"; do
			med=$(median "${TIMES["$wl $tool"]}")
			cols+=" $(printf '%.2f' "$med") s, $(mbps "${WL_BYTES[$wl]}" "$med") MB/s |"
		done
		for tool in "${tools[@]}"; do
			[[ $tool == "$main" ]] && continue
			med=$(median "${TIMES["$wl $tool"]}")
			ratio=$(awk -v t="$med" -v m="$mux" 'BEGIN { printf "%.2f", t / m }')
			cols+=" ${ratio}x |"
		done
		echo "$cols"
	done
}

# ---------------------------------------------------------------- chat, link, memory

# hub_hwm VAR: sets VAR to the running hub's peak resident memory, in KiB.
hub_hwm() {
	local kib
	alive "$HUB_PID" || die_log "the hub exited during the memory part" "$W/log/mem-hub.log"
	kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$HUB_PID/status")
	[[ $kib =~ ^[0-9]+$ ]] || die "no VmHWM for the hub (pid $HUB_PID)"
	printf -v "$1" '%s' "$kib"
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# chat_fields LOG: "p50 p99 max" in ms from chatlat bob's line in LOG.
chat_fields() {
	sed -n 's/^chat latency over [0-9]* lines: p50 \([0-9.]*\) ms, p90 [0-9.]* ms, p99 \([0-9.]*\) ms, max \([0-9.]*\) ms$/\1 \2 \3/p' "$1"
}

# alice_rate LOG: "MB/s Mbit/s" from chatlat alice's line in LOG.
alice_rate() {
	sed -n 's/^alice: uploaded at \([0-9.]*\) MB\/s (\([0-9]*\) Mbit\/s) while chatting$/\1 \2/p' "$1"
}

# Chat on loopback: a hub, a client that listens (chatlat bob) and a client
# that uploads a file again and again and sends a chat line every 20 ms in
# the same session (chatlat alice); bob times each line. A cleaner removes
# the hub's finished copies so that tmpfs does not fill.
CHAT_P50=() CHAT_P99=() CHAT_MAX=() CHAT_MBS=()

chat_run() {
	local round=$1 dir=$W/chat bob alice=$W/log/alice.log boblog=$W/log/bob.log cleaner i rc=0 p50="" p99="" max="" mbs=""
	rm -rf "$dir"
	mkdir -p "$dir"
	start_hub "$dir" "$W/log/chat-hub.log" --chat-rate 100
	# shellcheck disable=SC2016 # the inner shell expands $1
	start_bg cleaner /dev/null bash -c 'while :; do find "$1" -maxdepth 1 -type f -name "chat*.bin" -delete; sleep 0.5; done' _ "$dir"
	cleaner=$LAST_PID
	start_bg "chatlat bob" "$boblog" env MUXFER_KEY="$MUXFER_KEY_VALUE" "$CHATLAT" -role bob -addr "$HUB_ADDR" -lines "$CHAT_LINES"
	bob=$LAST_PID
	for ((i = 0; i < 200; i++)); do
		grep -q '^bob: ready' "$boblog" && break
		alive "$bob" || die_log "chatlat bob exited as it started" "$boblog"
		sleep 0.05
	done
	grep -q '^bob: ready' "$boblog" || die_log "chatlat bob did not connect within 10 s" "$boblog"
	MUXFER_KEY=$MUXFER_KEY_VALUE "$CHATLAT" -role alice -addr "$HUB_ADDR" -file "$W/src/chat.bin" \
		-lines "$CHAT_LINES" -every 20ms </dev/null >"$alice" 2>&1 || die_log "chatlat alice failed" "$alice"
	for ((i = 0; i < 600; i++)); do
		alive "$bob" || break
		sleep 0.05
	done
	if alive "$bob"; then die_log "chatlat bob did not finish 30 s after the last line" "$boblog"; fi
	wait "$bob" || rc=$?
	unset "PIDS[$bob]"
	((rc == 0)) || die_log "chatlat bob failed (exit $rc)" "$boblog"
	stop_bg "$cleaner"
	stop_bg "$HUB_PID"
	rm -rf "$dir"
	read -r p50 p99 max <<<"$(chat_fields "$boblog")" || true
	[[ -n $max ]] || die_log "no latencies in chatlat bob's output" "$boblog"
	read -r mbs _ <<<"$(alice_rate "$alice")" || true
	[[ -n $mbs ]] || die_log "no upload rate in chatlat alice's output" "$alice"
	CHAT_P50+=("$p50") CHAT_P99+=("$p99") CHAT_MAX+=("$max") CHAT_MBS+=("$mbs")
	say "$(printf '  round %d/%d  chat on loopback: p50 %s ms, p99 %s ms, max %s ms; upload %s MB/s' "$round" "$RUNS" \
		"$p50" "$p99" "$max" "$mbs")"
}

chat_loopback() {
	local round
	say "chat on loopback: $CHAT_LINES lines, one every 20 ms, from a client uploading $CHAT_MB MiB again and again"
	random_bytes $((CHAT_MB * 1048576)) >"$W/src/chat.bin"
	for ((round = 1; round <= RUNS; round++)); do chat_run "$round"; done
	rm -f "$W/src/chat.bin"
}

# The same over a slow link: bench/linkemu.sh builds three network
# namespaces (two hosts and a router that shapes the link) and runs the
# hub and bob on one host, alice on the other.
LINK_P50="" LINK_P99="" LINK_MAX="" LINK_MBIT="" LINK_FAT=""

link_mbit() { # LINK_RATE in Mbit/s
	awk -v r="$LINK_RATE" 'BEGIN { n = r + 0; if (r ~ /kbit$/) n /= 1000; if (r ~ /gbit$/) n *= 1000; print n }'
}

chat_link() {
	local log=$W/log/link.log
	say "chat over a $LINK_RATE link between network namespaces (bench/linkemu.sh)"
	# linkemu.sh bounds its own waits; the timeout is for anything else
	MUXFER_BIN=$MUXFER CHATLAT_BIN=$CHATLAT LINES_N=$CHAT_LINES FILE_MB=$CHAT_MB \
		timeout 900 bash "$REPO/bench/linkemu.sh" "$LINK_RATE" </dev/null >"$log" 2>&1 ||
		die_log "bench/linkemu.sh failed or took over 15 minutes" "$log"
	read -r LINK_P50 LINK_P99 LINK_MAX <<<"$(chat_fields "$log")" || true
	read -r _ LINK_MBIT <<<"$(alice_rate "$log")" || true
	[[ -n $LINK_P99 && -n $LINK_MBIT ]] || die_log "no latencies or rate in bench/linkemu.sh's output" "$log"
	say "  chat over $LINK_RATE: p50 $LINK_P50 ms, p99 $LINK_P99 ms, max $LINK_MAX ms; upload $LINK_MBIT Mbit/s"

	log=$W/log/longfat.log
	say "one stream through a 100 Mbit/s, 50 ms proxy (go test -bench LongFatLink ./client)"
	(cd "$REPO" && go test -run '^$' -bench 'LongFatLink/window=muxfer' -benchtime 1x ./client) >"$log" 2>&1 ||
		die_log "the LongFatLink benchmark failed" "$log"
	LINK_FAT=$(awk '/^BenchmarkLongFatLink/ { for (i = 2; i <= NF; i++) if ($i == "%link") print $(i - 1) }' "$log")
	[[ -n $LINK_FAT ]] || die_log "no %link in the benchmark's output" "$log"
	say "  long fat link: $(printf '%.0f' "$LINK_FAT")% of the link"
}

# Memory: peak RSS of a sender and its hub over one large file (the source
# is sparse: reading it costs no memory and its content changes nothing
# the two sides hold), of a hub holding many idle clients, and of a hub
# receiving from many clients at once.
MEM_SEND_KIB="" MEM_HUB_KIB="" MEM_IDLE_KIB="" MEM_UP_KIB="" MEM_UP_RATE=""

memory() {
	local dir=$W/mem log
	rm -rf "$dir"
	mkdir -p "$dir/hub" "$W/xdg/mem"
	say "memory: sending $MEM_MB MiB"
	truncate -s "${MEM_MB}M" "$dir/big.bin"
	start_hub "$dir/hub" "$W/log/mem-hub.log"
	log=$W/log/mem-send.log
	MUXFER_KEY=$MUXFER_KEY_VALUE XDG_CONFIG_HOME=$W/xdg/mem /usr/bin/time -f '%M' -o "$dir/rss" \
		"$MUXFER" send "$HUB_ADDR" "$dir/big.bin" --progress never </dev/null >"$log" 2>&1 ||
		die_log "muxfer send of $MEM_MB MiB failed" "$log"
	check_muxfer_log "$log" 1
	MEM_SEND_KIB=$(tail -n 1 "$dir/rss")
	[[ $MEM_SEND_KIB =~ ^[0-9]+$ ]] || die_log "no maximum resident set from GNU time" "$dir/rss"
	hub_hwm MEM_HUB_KIB
	stop_bg "$HUB_PID"
	rm -rf "$dir/hub" "$dir/big.bin"
	say "  sender $(mib "$MEM_SEND_KIB") MiB, hub $(mib "$MEM_HUB_KIB") MiB"

	say "memory: a hub holding $IDLE_CLIENTS idle clients"
	mkdir -p "$dir/hub"
	# Every client comes from 127.0.0.1: lift the hub's bound per address.
	start_hub "$dir/hub" "$W/log/mem-hub.log" --max-per-addr "$IDLE_CLIENTS"
	log=$W/log/idle.log
	MUXFER_KEY=$MUXFER_KEY_VALUE "$CHATLAT" -role idle -addr "$HUB_ADDR" -clients "$IDLE_CLIENTS" -hold 5s \
		</dev/null >"$log" 2>&1 || die_log "chatlat -role idle failed" "$log"
	hub_hwm MEM_IDLE_KIB
	stop_bg "$HUB_PID"
	say "  hub $(mib "$MEM_IDLE_KIB") MiB"

	say "memory: a hub receiving $UPLOAD_MB MiB from each of $UPLOADERS clients at once"
	rm -rf "$dir/hub"
	mkdir -p "$dir/hub"
	random_bytes $((UPLOAD_MB * 1048576)) >"$dir/up.bin"
	start_hub "$dir/hub" "$W/log/mem-hub.log" --max-per-addr "$UPLOADERS"
	log=$W/log/uploaders.log
	MUXFER_KEY=$MUXFER_KEY_VALUE "$CHATLAT" -role uploaders -addr "$HUB_ADDR" -clients "$UPLOADERS" -file "$dir/up.bin" \
		</dev/null >"$log" 2>&1 || die_log "chatlat -role uploaders failed" "$log"
	hub_hwm MEM_UP_KIB
	MEM_UP_RATE=$(sed -n 's/.*, \([0-9.]*\) MB\/s together$/\1/p' "$log")
	[[ -n $MEM_UP_RATE ]] || die_log "no rate in chatlat -role uploaders's output" "$log"
	stop_bg "$HUB_PID"
	rm -rf "$dir"
	say "  hub $(mib "$MEM_UP_KIB") MiB ($MEM_UP_RATE MB/s together)"
}

# ---------------------------------------------------------------- more of the report

# joined ARRAY-ITEMS...: the items joined by " / ".
joined() {
	local IFS=/
	local s="$*"
	echo "${s//\// / }"
}

report_chat() {
	echo "### Chat while a file moves"
	echo
	echo "| where | p50 | p99 | max | the upload meanwhile |"
	echo "| --- | ---: | ---: | ---: | ---: |"
	if has_part chat; then
		echo "| loopback, $RUNS run$( ((RUNS == 1)) || echo s) | $(joined "${CHAT_P50[@]}") ms | $(joined "${CHAT_P99[@]}") ms | $(joined "${CHAT_MAX[@]}") ms | $(joined "${CHAT_MBS[@]}") MB/s |"
	fi
	if has_part link; then
		echo "| a $LINK_RATE link (tbf, queue up to 400 ms), one run | $LINK_P50 ms | $LINK_P99 ms | $LINK_MAX ms | $LINK_MBIT Mbit/s |"
	fi
	echo
	echo "A client uploads a $CHAT_MB MiB file again and again and, in the same session, sends a chat line every"
	echo "20 ms ($CHAT_LINES lines); another client times each line from the moment it was sent to its arrival"
	echo "(bench/chatlat). The hub's finished copies are removed every half second, so that tmpfs does"
	echo "not fill. Over the link the hub and the listener are on one network namespace and the uploader"
	echo "on another, with a router between them (bench/linkemu.sh)."
	if has_part link; then
		echo "One stream through a proxy that makes a 100 Mbit/s link with a 50 ms round trip used $(printf '%.0f' "$LINK_FAT")% of it"
		echo "(go test -run '^\$' -bench 'LongFatLink/window=muxfer' -benchtime 1x ./client)."
	fi
	echo
}

report_memory() {
	echo "### Memory"
	echo
	echo "| workload | peak RSS |"
	echo "| --- | ---: |"
	echo "| sending $MEM_MB MiB: the sender (GNU time's maximum resident set) | $(mib "$MEM_SEND_KIB") MiB |"
	echo "| sending $MEM_MB MiB: the hub (VmHWM) | $(mib "$MEM_HUB_KIB") MiB |"
	echo "| a hub holding $IDLE_CLIENTS idle clients (VmHWM) | $(mib "$MEM_IDLE_KIB") MiB |"
	echo "| a hub receiving $UPLOAD_MB MiB from each of $UPLOADERS clients at once, $MEM_UP_RATE MB/s together (VmHWM) | $(mib "$MEM_UP_KIB") MiB |"
	echo
}

# The targets of issue 5, each with what this run measured.
TARGET_ROWS=()

# target LABEL MEASURED MET: MET is an awk condition, or "skip" with a reason in MEASURED.
target() {
	local met
	if [[ $3 == skip ]]; then
		met="not measured"
	elif awk "BEGIN { exit !($3) }"; then
		met="met"
	else
		met="**not met**"
	fi
	TARGET_ROWS+=("| $1 | $2 | $met |")
}

# ratio WORKLOAD TOOL [FORMAT]: the tool's median time over muxfer's,
# printed with FORMAT (%.2f); the targets compare it unrounded (%.6f).
ratio() {
	awk -v t="$(median "${TIMES["$1 $2"]}")" -v m="$(median "${TIMES["$1 muxfer"]}")" -v f="${3:-%.2f}" 'BEGIN { printf f, t / m }'
}

# target_ratio WORKLOAD TOOL AT-LEAST: muxfer at least AT-LEAST times as fast as TOOL.
target_ratio() {
	local r raw what
	if [[ $2 == croc && -z $CROC ]]; then
		target "${WL_LABEL[$1]}: at least $3x croc" "croc skipped (CROC unset)" skip
		return
	fi
	if [[ $3 == 1 ]]; then what="faster than ${TOOL_LABEL[$2]}"; else what="at least $3x ${TOOL_LABEL[$2]}"; fi
	r=$(ratio "$1" "$2")
	raw=$(ratio "$1" "$2" %.6f)
	if [[ $3 == 1 ]]; then
		target "${WL_LABEL[$1]}: $what" "${r}x" "$raw > 1"
	else
		target "${WL_LABEL[$1]}: $what" "${r}x" "$raw >= $3"
	fi
}

# get_target WORKLOAD TOOL: muxfer get against TOOL's download at least as
# far ahead as muxfer send is against TOOL's upload (issue 17).
get_target() {
	local up down
	up=$(ratio "$1" "$2" %.2f)
	down=$(awk -v t="$(median "${TIMES["$1 ${2}_get"]}")" -v m="$(median "${TIMES["$1 muxfer_get"]}")" 'BEGIN { printf "%.2f", t / m }')
	target "${WL_LABEL[$1]}: get ÷ ${TOOL_LABEL[$2]} download at least send ÷ ${TOOL_LABEL[$2]} upload" "${down}x against ${up}x" "$down >= $up"
}

report_targets() {
	local mux secs share ok=0 p worst rate_pct
	if has_part files; then
		target_ratio big scp 2.5
		target_ratio big croc 2
		secs=$(median "${TIMES["big muxfer"]}")
		mux=$(mbps "${WL_BYTES[big]}" "$secs")
		share=$(awk -v b="${WL_BYTES[big]}" -v s="$secs" -v i="$IPERF_MBPS" 'BEGIN { printf "%.6f", 100 * b / 1e6 / s / i }')
		target "${WL_LABEL[big]}: at least half of raw TCP (iperf3)" "$mux of $IPERF_MBPS MB/s ($(printf '%.0f' "$share")%)" "$share >= 50"
		target_ratio small rsyncd 1
		target_ratio small scp 5
		target_ratio small croc 30
		target_ratio medium scp 2
		target_ratio medium rsync_ssh 1
		get_target big scp
		get_target big rsyncd
		get_target small scp
		get_target small rsyncd
	fi
	if has_part chat; then
		worst=0
		for p in "${CHAT_P99[@]}"; do
			if awk -v p="$p" 'BEGIN { exit !(p <= 5) }'; then ok=$((ok + 1)); fi
			worst=$(awk -v p="$p" -v w="$worst" 'BEGIN { print (p > w ? p : w) }')
		done
		target "chat on loopback while the sender uploads: p99 at most 5 ms" \
			"p99 $(joined "${CHAT_P99[@]}") ms: $ok of ${#CHAT_P99[@]} runs within" "$worst <= 5"
	fi
	if has_part link; then
		rate_pct=$(awk -v m="$LINK_MBIT" -v l="$(link_mbit)" 'BEGIN { printf "%.6f", 100 * m / l }')
		target "chat over a $LINK_RATE link: p99 at most 25 ms, the upload at least 90% of the link" \
			"p99 $LINK_P99 ms, upload $LINK_MBIT Mbit/s ($(printf '%.0f' "$rate_pct")%)" "$LINK_P99 <= 25 && $rate_pct >= 90"
		target "one stream, 100 Mbit/s link, 50 ms round trip: at least 80% of the link" "$(printf '%.0f' "$LINK_FAT")%" "$LINK_FAT >= 80"
	fi
	if has_part memory; then
		target "sending $MEM_MB MiB: the sender's peak RSS under 64 MiB" "$(mib "$MEM_SEND_KIB") MiB" "$MEM_SEND_KIB < 65536"
		target "sending $MEM_MB MiB: the hub's peak RSS under 64 MiB" "$(mib "$MEM_HUB_KIB") MiB" "$MEM_HUB_KIB < 65536"
		target "a hub with $IDLE_CLIENTS idle clients: under 256 MiB" "$(mib "$MEM_IDLE_KIB") MiB" "$MEM_IDLE_KIB < 262144"
		target "a hub receiving from $UPLOADERS clients at once: under 512 MiB" "$(mib "$MEM_UP_KIB") MiB" "$MEM_UP_KIB < 524288"
	fi
	echo "### Targets (issue 5)"
	echo
	echo "| target | this run | |"
	echo "| --- | --- | --- |"
	printf '%s\n' "${TARGET_ROWS[@]}"
	echo
	echo "The sizes are this run's; the issue's targets are set for the defaults."
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
	if has_part files; then
		start_sshd
		start_rsyncd
		if [[ -n $CROC ]]; then
			TOOLS+=(croc)
			start_croc_relay
		else
			say "croc: skipped (set CROC=/path/to/croc to include it)"
		fi
	fi
	header
	if has_part files; then
		make_workloads
		iperf_reference
		IDLE_BEFORE=$(cpu_idle_pct)
		if ((IDLE_BEFORE < 90)); then
			say "warning: the CPUs were only $IDLE_BEFORE% idle just now: other work will slow every tool down"
		fi
		cpu_account_start
		run_all WL_IDS TOOLS
		run_all GET_WL_IDS GET_TOOLS
		cpu_account_end
		if ((OTHER_PCT > 10)); then
			say "warning: other work kept the CPUs $OTHER_PCT% busy during the runs: the figures are skewed"
		fi
		report
		rm -rf "${W:?}/src"
		mkdir -p "$W/src"
	fi
	if has_part chat; then chat_loopback; fi
	if has_part link; then chat_link; fi
	if has_part chat || has_part link; then report_chat; fi
	if has_part memory; then
		memory
		report_memory
	fi
	report_targets
}

main "$@"
