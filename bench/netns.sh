# Sourced by linkemu.sh and person.sh: the prelude of a benchmark across a
# slow link, and the link itself. The caller sets `me` (its name, for
# messages) and `prefix` (of its namespaces and devices) before sourcing.
# After it: $work is a fresh folder in /dev/shm, $a $r $b the namespaces'
# names, pids an array of processes killed on exit, fail and running as
# below, and make_link NET RATE builds host a (NET.1.1) -- router --
# host b (NET.2.2), the router shaping both directions with tbf. Root
# only; everything is removed on exit.
[[ $(id -u) == 0 ]] || { echo "$me: needs root" >&2; exit 2; }
need=()
command -v tc >/dev/null || need+=(iproute2)
command -v sysctl >/dev/null || need+=(procps)
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
work=$(mktemp -d "/dev/shm/$prefix-XXXX")
a=$prefix-a r=$prefix-r b=$prefix-b
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in $a $r $b; do ip netns del $ns 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() { echo "$me: $1" >&2; cat "$2" >&2; exit 1; }
# running PID: alive and not a zombie (which kill -0 would call alive)
running() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [[ -n $st && $st != Z ]]
}

# make_link NET RATE: the hosts and the router, NET like 10.204, RATE like
# 100mbit; the token bucket queues up to 400 ms, as a real bottleneck might.
make_link() {
  local net=$1 rate=$2 d=${prefix:0:4}
  for ns in $a $r $b; do ip netns add $ns; ip -n $ns link set lo up; done
  ip link add ${d}a netns $a type veth peer name ${d}ra netns $r
  ip link add ${d}rb netns $r type veth peer name ${d}b netns $b
  ip -n $a addr add $net.1.1/24 dev ${d}a; ip -n $r addr add $net.1.2/24 dev ${d}ra
  ip -n $r addr add $net.2.1/24 dev ${d}rb; ip -n $b addr add $net.2.2/24 dev ${d}b
  for l in "$a ${d}a" "$r ${d}ra" "$r ${d}rb" "$b ${d}b"; do set -- $l; ip -n "$1" link set "$2" up; done
  ip -n $a route add $net.2.0/24 via $net.1.2
  ip -n $b route add $net.1.0/24 via $net.2.1
  ip netns exec $r sysctl -q -w net.ipv4.ip_forward=1
  for dev in ${d}rb ${d}ra; do ip netns exec $r tc qdisc add dev $dev root tbf rate "$rate" burst 32kbit latency 400ms; done
}
