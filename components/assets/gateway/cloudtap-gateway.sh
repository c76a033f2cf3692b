#!/usr/bin/env bash
# cloudtap-gateway: the NAT gateway of a cloudtap monitored network.
#
#   cloudtap-gateway apply   enable forwarding, (re)install cloudtap's nftables table, verify
#   cloudtap-gateway check   verify only; exit 1 and say why if anything is missing
#
# Settings come from a small key=value file (CLOUDTAP_GATEWAY_CONF, default
# /etc/cloudtap/gateway.conf) that cloudtap renders. Every rule lives in one nftables table,
# `ip cloudtap`, replaced whole in one transaction: running this again gives exactly the same rule
# set, and running it after a flush restores it. Nothing outside that table is touched.
# Interfaces are found by the addresses they carry, never by name: names differ per cloud.
set -euo pipefail

readonly TABLE=cloudtap
CONF=${CLOUDTAP_GATEWAY_CONF:-/etc/cloudtap/gateway.conf}

log() {
    echo "cloudtap-gateway: $*" >&2
    if command -v logger >/dev/null 2>&1; then logger -t cloudtap-gateway -- "$*" || true; fi
}
die() {
    log "FAILED: $*"
    exit 1
}

ip4_to_int() {
    local IFS=.
    # shellcheck disable=SC2086  # splitting the dotted quad is the point
    set -- $1
    echo $((($1 << 24) + ($2 << 16) + ($3 << 8) + $4))
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

elements() { # elements CIDR... -> "a, b, c" for an nftables set
    local IFS=,
    local joined="$*"
    echo "${joined//,/, }"
}

named_set() { # named_set NAME CIDR... ; an empty set has no elements line
    echo "    set $1 {"
    echo "        type ipv4_addr; flags interval"
    shift
    if (($# > 0)); then echo "        elements = { $(elements "$@") }"; fi
    echo "    }"
}

port_forward_comment() { # protocol public_port host private_port
    echo "cloudtap: forward $1/$2 to $3:$4"
}

render_ruleset() {
    local forward protocol public_port host private_port
    # Declaring the table first makes the delete valid on a host that never had it.
    echo "table ip $TABLE"
    echo "delete table ip $TABLE"
    echo "table ip $TABLE {"
    echo "    comment \"owned by cloudtap-gateway: replaced whole at every run\""
    # shellcheck disable=SC2086  # word lists from the settings file
    {
        named_set private $PRIVATE_CIDRS
        named_set egress $PRIVATE_CIDRS $MONITOR_CIDRS
        named_set isolated $MONITOR_CIDRS $MANAGEMENT_CIDRS
    }
    echo "    chain inbound_dnat {"
    echo "        type nat hook prerouting priority dstnat; policy accept;"
    for forward in $PORT_FORWARDS; do
        IFS=: read -r protocol public_port host private_port <<<"$forward"
        # Only traffic from outside the network, addressed to this gateway: without the source
        # exclusion the private hosts' own outbound traffic to this port would loop back (seed 004).
        echo "        iifname \"$WAN\" ip saddr != $NETWORK_CIDR fib daddr type local" \
            "$protocol dport $public_port dnat to $host:$private_port" \
            "comment \"$(port_forward_comment "$protocol" "$public_port" "$host" "$private_port")\""
    done
    echo "    }"
    echo "    chain outbound_snat {"
    echo "        type nat hook postrouting priority srcnat; policy accept;"
    echo "        oifname \"$WAN\" ip saddr @egress ip daddr != $NETWORK_CIDR masquerade" \
        "comment \"cloudtap: masquerade\""
    echo "    }"
    echo "    chain forwarding {"
    echo "        type filter hook forward priority filter; policy drop;"
    echo "        ip saddr @isolated ip daddr @private drop comment \"cloudtap: isolate private tier\""
    echo "        ip saddr @private ip daddr @isolated drop comment \"cloudtap: isolate private tier\""
    echo "        ct state established,related accept comment \"cloudtap: replies\""
    echo "        ct status dnat accept comment \"cloudtap: port forwards\""
    echo "        ip saddr @egress ip daddr != $NETWORK_CIDR accept comment \"cloudtap: egress\""
    echo "    }"
    echo "}"
}

load_settings() {
    [ -r "$CONF" ] || die "cannot read settings file $CONF"
    # shellcheck source=/dev/null
    . "$CONF"
    local key
    for key in NETWORK_CIDR PUBLIC_CIDRS PRIVATE_CIDRS; do
        [ -n "${!key:-}" ] || die "$CONF does not set $key"
    done
    MONITOR_CIDRS=${MONITOR_CIDRS:-}
    MANAGEMENT_CIDRS=${MANAGEMENT_CIDRS:-}
    PORT_FORWARDS=${PORT_FORWARDS:-}
    command -v nft >/dev/null 2>&1 || die "nft not found: install the nftables package"
    # shellcheck disable=SC2086
    WAN=$(interface_in $PUBLIC_CIDRS) ||
        die "no interface carries an address in the public tier ($PUBLIC_CIDRS)"
}

apply() {
    sysctl -qw net.ipv4.ip_forward=1
    # A one-armed gateway (AWS: one ENI) sends replies out of the interface they came in on;
    # ICMP redirects would teach the private hosts to bypass it.
    # (The slash form keeps an interface name with a dot, such as eth0.100, in one key.)
    sysctl -qw net/ipv4/conf/all/send_redirects=0 net/ipv4/conf/default/send_redirects=0 \
        "net/ipv4/conf/$WAN/send_redirects=0"
    render_ruleset | nft -f - || die "nft refused the rule set"
}

check() {
    local rules forward protocol public_port host private_port
    [ "$(sysctl -n net.ipv4.ip_forward)" = 1 ] || die "net.ipv4.ip_forward is not 1"
    rules=$(nft list table ip $TABLE 2>/dev/null) || die "nftables table ip $TABLE is missing"
    grep -q 'masquerade comment "cloudtap: masquerade"' <<<"$rules" ||
        die "the masquerade rule is missing from table ip $TABLE"
    grep -q 'policy drop' <<<"$rules" || die "the forward chain does not drop by default"
    (($(grep -c 'drop comment "cloudtap: isolate private tier"' <<<"$rules") == 2)) ||
        die "the rules isolating the private tier from monitor and management are missing"
    for forward in $PORT_FORWARDS; do
        IFS=: read -r protocol public_port host private_port <<<"$forward"
        grep -qF "$(port_forward_comment "$protocol" "$public_port" "$host" "$private_port")" \
            <<<"$rules" || die "port forward $forward is missing"
    done
    # shellcheck disable=SC2086
    log "ok: forwarding on; masquerading $(elements $PRIVATE_CIDRS $MONITOR_CIDRS) out of $WAN;" \
        "$(wc -w <<<"$PORT_FORWARDS") port forward(s)"
}

main() {
    local command=${1:-apply}
    case "$command" in
    apply)
        load_settings
        apply
        check
        ;;
    check)
        load_settings
        check
        ;;
    render)
        load_settings
        render_ruleset
        ;;
    *) die "unknown command '$command' (expected apply, check or render)" ;;
    esac
}

main "$@"
