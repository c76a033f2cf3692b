#!/usr/bin/env bash
# cloudtap-net: address and link helpers shared by cloudtap-gateway and cloudtap-sensor.
# Sourced, never run: cloud-init writes it to /usr/local/lib/cloudtap/cloudtap-net.sh next to
# both scripts (CLOUDTAP_NET_LIBRARY points elsewhere, as in the namespace lab).

ip4_to_int() {
    local IFS=.
    # shellcheck disable=SC2086  # splitting the dotted quad is the point
    set -- $1
    echo $((($1 << 24) + ($2 << 16) + ($3 << 8) + $4))
}

int_to_ip4() {
    echo "$((($1 >> 24) & 255)).$((($1 >> 16) & 255)).$((($1 >> 8) & 255)).$(($1 & 255))"
}

in_cidr() { # in_cidr ADDRESS CIDR
    local address network length mask
    address=$(ip4_to_int "$1")
    network=$(ip4_to_int "${2%/*}")
    length=${2#*/}
    mask=$(((0xffffffff << (32 - length)) & 0xffffffff))
    ((length == 0 || (address & mask) == (network & mask)))
}

interface_in() { # interface_in CIDR... -> name of the interface holding an address in one of them
    local _index device _family address _rest cidr
    while read -r _index device _family address _rest; do
        for cidr in "$@"; do
            if in_cidr "${address%/*}" "$cidr"; then
                echo "$device"
                return 0
            fi
        done
    done < <(ip -o -4 addr show)
    return 1
}

route_device() { # route_device ADDRESS -> the interface the route to ADDRESS leaves by
    local route
    route=$(ip -o -4 route get "$1" 2>/dev/null) || return 1
    [[ $route =~ \ dev\ ([^ ]+) ]] || return 1
    echo "${BASH_REMATCH[1]}"
}

link_mtu() {
    local line
    line=$(ip -o link show dev "$1" 2>/dev/null) || return 1
    [[ $line =~ \ mtu\ ([0-9]+) ]] || return 1
    echo "${BASH_REMATCH[1]}"
}

elements() { # elements WORD... -> "a, b, c" for an nftables set
    local IFS=,
    local joined="$*"
    echo "${joined//,/, }"
}
