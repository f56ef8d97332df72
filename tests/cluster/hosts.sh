#!/usr/bin/env bash
# Test hosts for the cluster tests: network namespaces on one machine, each
# joined by a veth pair to a bridge on a private subnet, and an rsh agent that
# Open MPI uses instead of ssh to start its daemons "on" a host.
#
#   bash tests/cluster/hosts.sh up [N]   make hosts fkh1..fkhN (default 3)
#   bash tests/cluster/hosts.sh down     remove them
#
# The kernel's side of the bridge is 10.77.0.1; host k is 10.77.0.(10+k). The
# agent gives each its name (Open MPI hands it the name; nothing resolves it).
# Needs root (ip netns); made by the cluster tests when missing.
set -euo pipefail

bridge=fkbr0
subnet=10.77.0
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

hosts_up() {
    local count=${1:-3}
    hosts_down
    ip link add "$bridge" type bridge
    ip addr add "$subnet.1/24" dev "$bridge"
    ip link set "$bridge" up
    for k in $(seq 1 "$count"); do
        local name=fkh$k
        ip netns add "$name"
        ip link add "fkv$k" type veth peer name eth0 netns "$name"
        ip link set "fkv$k" master "$bridge" up
        ip -n "$name" addr add "$subnet.$((10 + k))/24" dev eth0
        ip -n "$name" link set eth0 up
        ip -n "$name" link set lo up
        ip -n "$name" route add default via "$subnet.1"
    done
    echo "hosts: $(ip netns list | grep -o 'fkh[0-9]*' | sort | tr '\n' ' ')on $bridge ($subnet.0/24); agent $here/agent.sh"
}

hosts_down() {
    for name in $(ip netns list | grep -o '^fkh[0-9]*' || true); do
        ip netns pids "$name" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$name"
    done
    ip link del "$bridge" 2>/dev/null || true
}

case ${1:-} in
    up) hosts_up "${2:-3}" ;;
    down) hosts_down ;;
    *) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
