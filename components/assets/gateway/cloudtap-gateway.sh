#!/usr/bin/env bash
# cloudtap-gateway: the NAT gateway of a cloudtap monitored network.
#
#   cloudtap-gateway apply   enable forwarding, (re)install cloudtap's nftables table, verify
#   cloudtap-gateway check   verify only; exit 1 and say why if anything is missing
#   cloudtap-gateway apply-settings FILE
#                            make FILE the settings in force, in place: preflight it, apply,
#                            check; on any failure apply the last good settings again. Writes
#                            the status (JSON) to /var/lib/cloudtap/gateway.status
#   cloudtap-gateway preflight
#                            check the settings and their rule set (`nft -c`); change nothing
#   cloudtap-gateway render [--wan IF --mirrored "IF..." --own-addresses "ADDRESS..."]
#                            print the nftables rule set; with the options, for the host they
#                            describe instead of this one (no root or nft needed)
#   cloudtap-gateway heartbeat
#                            send the mirror's heartbeat every MIRROR_HEARTBEAT_INTERVAL seconds
#                            (cloudtap-heartbeat.service runs it; nothing to do without a mirror)
#   cloudtap-gateway destination [--own-addresses "ADDRESS..."]
#                            print where this gateway's mirror copies go (MIRROR_SENSOR, or its
#                            zone's entry of MIRROR_SENSOR_BY_ZONE); with the option, for a
#                            gateway holding those addresses (no root needed)
#
# Settings come from a small key=value file that cloudtap renders, read as data (read_settings)
# and checked key by key before anything on the host is touched: CLOUDTAP_GATEWAY_CONF, else the
# last good settings apply-settings kept (/var/lib/cloudtap/gateway.conf.good: what a reboot
# applies), else /etc/cloudtap/gateway.conf. cloudtap-settings delivers new ones through
# apply-settings, so neither the user data nor the instance changes with them. Every rule lives in one nftables table,
# `ip cloudtap`, replaced whole in one transaction: running this again gives exactly the same rule
# set, and running it after a flush restores it. Nothing outside cloudtap's own tables and
# devices is touched. Interfaces are found by the addresses they carry, never by name: names
# differ per cloud.
#
# The mirror (MIRROR_MODE), a copy of every packet forwarded to or from the private tier:
#   vxlan  each copy goes whole (Ethernet header included) inside VXLAN to the sensor's own
#          address, as AWS Traffic Mirroring and Azure virtual network TAP send theirs: a VXLAN
#          device with a fixed remote (cloudtap-mirror) and table `netdev cloudtap_mirror`, whose
#          chains sit on the interface(s) facing the private tier (the private-subnet interface
#          of a multi-homed gateway; the only interface of a one-armed one, as on AWS):
#            ingress: packets private hosts send, as they sent them (before NAT, TTL intact);
#            egress:  packets delivered to private hosts, as they receive them (after de-NAT).
#          Never copied: the gateway's own traffic (to or from its addresses), anything to or
#          from the monitor tier (the sensor and the feed itself), and nothing is ever received
#          through the VXLAN device. Needs Linux 5.16 or newer (netdev egress hook).
#          MIRROR_SENSOR_BY_ZONE (PUBLIC_CIDR:ADDRESS ...) instead of MIRROR_SENSOR: each zone's
#          gateway sends to its own zone's destination (a sensor fleet's load balancer), picked
#          by the public subnet its own addresses are in; the same settings serve every zone.
#   tee    plain clones with the sensor as next hop (`dup to`, like iptables' TEE target): only on
#          a true layer-2 segment; routed clouds (AWS, Azure, OpenStack with port security) drop
#          them. Clones taken before routing carry a TTL one lower than the original.
# Heartbeat: every MIRROR_HEARTBEAT_INTERVAL seconds cloudtap-heartbeat sends one marked datagram
# (HEARTBEAT_* in the shared library) into the mirror's own copy rules: in vxlan mode a frame
# written onto each mirrored interface, which the first rule of its egress chain copies to
# cloudtap-mirror and drops; in tee mode a datagram that an output rule clones to the sensor and
# drops. It crosses the same device, VNI, TTL, route and feed port as the workload copies, so the
# sensor's check can name a mirror whose copies stopped arriving, which this script's check
# (it sees only its own side) cannot.
# A copy that cannot be delivered (sensor down, no ARP answer) is dropped on its own: the
# original is forwarded regardless. The rule set for forwarding loads first, so a mirror that
# fails to load fails this script loudly but leaves forwarding in place.
set -euo pipefail

readonly TABLE=cloudtap
readonly MIRROR_TABLE=cloudtap_mirror
readonly MIRROR_DEVICE=cloudtap-mirror
# Outer IPv4 (20) + UDP (8) + VXLAN (8) + the copy's own Ethernet header (14).
readonly VXLAN_OVERHEAD=50
readonly OVERSIZE_COUNTER=oversize_copies
# What the interface towards the sensor carries, once apply has fitted it (fit_underlay_mtu).
UNDERLAY_HAVE=""
STATE_DIR=${CLOUDTAP_STATE_DIR:-/var/lib/cloudtap}
GOOD_SETTINGS=$STATE_DIR/gateway.conf.good
STATUS_FILE=$STATE_DIR/gateway.status
SETTINGS_ENV=CLOUDTAP_GATEWAY_CONF
SELF=${BASH_SOURCE[0]}
CONF=${CLOUDTAP_GATEWAY_CONF:-}
if [ -z "$CONF" ]; then
    if [ -r "$GOOD_SETTINGS" ]; then CONF=$GOOD_SETTINGS; else CONF=/etc/cloudtap/gateway.conf; fi
fi
# Every key the settings file may set; components/gateway.py renders the same (a test checks).
readonly SETTINGS_KEYS=(
    NETWORK_CIDR PUBLIC_CIDRS PRIVATE_CIDRS MONITOR_CIDRS MANAGEMENT_CIDRS PORT_FORWARDS
    MIRROR_MODE MIRROR_SENSOR MIRROR_SENSOR_BY_ZONE MIRROR_VNI MIRROR_VXLAN_PORT
    MIRROR_UNDERLAY_MTU MIRROR_CLAMP_MSS MIRROR_HEARTBEAT_INTERVAL
)
HEARTBEAT=${CLOUDTAP_GATEWAY_HEARTBEAT:-/usr/local/lib/cloudtap/cloudtap-heartbeat}
PYTHON=${CLOUDTAP_GATEWAY_PYTHON:-python3}

# Each rule's comment, by which `check`, the namespace lab and the tests find it. Defined here
# only: components/gateway.py reads these lines for the Python side.
readonly COMMENT_MASQUERADE="cloudtap: masquerade"
readonly COMMENT_ISOLATE="cloudtap: isolate private tier"
readonly COMMENT_REPLIES="cloudtap: replies"
readonly COMMENT_PORT_FORWARDS="cloudtap: port forwards"
readonly COMMENT_EGRESS="cloudtap: egress"
readonly COMMENT_FORWARD="cloudtap: forward" # + " PROTOCOL/PORT to HOST:PORT"
readonly COMMENT_SENT="cloudtap: copy what private hosts send through" # + " DEVICE" (or tee)
readonly COMMENT_RECEIVED="cloudtap: copy what private hosts receive through" # + " DEVICE"
readonly COMMENT_CLAMP="cloudtap: clamp MSS so mirror copies cross the underlay whole"
readonly COMMENT_OVERSIZE="cloudtap: count copies too big for the underlay (sent as fragments)"
readonly COMMENT_HEARTBEAT="cloudtap: heartbeat through the mirror"
readonly COMMENT_MIRROR_DEVICE="cloudtap: the mirror only sends; VXLAN sent to this gateway goes nowhere"

# log, die, read_settings and the value checks; address and link helpers (ip4_to_int, in_cidr,
# interface_in, route_device, link_mtu, ...).
readonly CLOUDTAP_TAG=cloudtap-gateway
NET_LIBRARY=${CLOUDTAP_NET_LIBRARY:-/usr/local/lib/cloudtap/cloudtap-net.sh}
if [ ! -r "$NET_LIBRARY" ]; then
    echo "$CLOUDTAP_TAG: FAILED: cannot read $NET_LIBRARY" \
        "(written by cloud-init with this script)" >&2
    exit 1
fi
# shellcheck source=../common/cloudtap-net.sh
. "$NET_LIBRARY"

mirrored_interfaces() { # the interfaces facing the private tier, one per line
    local _index device _family address _rest cidr found=()
    while read -r _index device _family address _rest; do
        for cidr in $PRIVATE_CIDRS; do
            if in_cidr "${address%/*}" "$cidr" && [[ " ${found[*]} " != *" $device "* ]]; then
                found+=("$device")
            fi
        done
    done < <(ip -o -4 addr show)
    if ((${#found[@]} == 0)); then
        # One-armed (AWS: one ENI): the private tier is reached through its route's interface.
        for cidr in $PRIVATE_CIDRS; do
            device=$(route_device "$(int_to_ip4 $(($(ip4_to_int "${cidr%/*}") + 1)))") ||
                die "no route to the private tier ($cidr)"
            if [[ " ${found[*]} " != *" $device "* ]]; then found+=("$device"); fi
        done
    fi
    printf '%s\n' "${found[@]}"
}

# An address no network routes (TEST-NET-2, RFC 5737): `ip route get` names the interface the
# default route leaves by without sending anything.
readonly INTERNET_PROBE=198.51.100.1

holds_address_in() { # holds_address_in DEVICE CIDR...: DEVICE carries an address in one of them
    local device=$1 _index _device _family address _rest cidr
    shift
    while read -r _index _device _family address _rest; do
        for cidr in "$@"; do
            if in_cidr "${address%/*}" "$cidr"; then return 0; fi
        done
    done < <(ip -o -4 addr show dev "$device")
    return 1
}

wan_interface() { # the interface facing the internet: the one with the public address
    local device
    # An Auto Scaling gateway (gateway_strategy one_per_zone) has two interfaces in the public
    # tier: its own primary and the persistent ENI it attached, which holds the Elastic IP and
    # which cloudtap-gateway-eni makes the default route's. The default route's interface wins;
    # with one interface (the single gateway, the lab) this is the same as the first match.
    # shellcheck disable=SC2086
    if device=$(route_device "$INTERNET_PROBE") && holds_address_in "$device" $PUBLIC_CIDRS; then
        echo "$device"
        return 0
    fi
    # shellcheck disable=SC2086
    interface_in $PUBLIC_CIDRS
}

own_addresses() { # every IPv4 address of this gateway
    local _index _device _family address _rest
    while read -r _index _device _family address _rest; do
        echo "${address%/*}"
    done < <(ip -o -4 addr show)
}

named_set() { # named_set NAME CIDR... ; an empty set has no elements line
    echo "    set $1 {"
    echo "        type ipv4_addr; flags interval"
    shift
    if (($# > 0)); then echo "        elements = { $(elements "$@") }"; fi
    echo "    }"
}

port_forward_comment() { # protocol public_port host private_port
    echo "$COMMENT_FORWARD $1/$2 to $3:$4"
}

sent_comment() { echo "$COMMENT_SENT $1"; }
received_comment() { echo "$COMMENT_RECEIVED $1"; }

quoted_names() { # quoted_names NAME... -> "a", "b"
    local name quoted=()
    for name in "$@"; do quoted+=("\"$name\""); done
    elements "${quoted[@]}"
}

render_tee_chains() { # clones with the sensor as next hop, in table ip cloudtap
    echo "    chain mirror_sent {"
    echo "        type filter hook prerouting priority mangle; policy accept;"
    # shellcheck disable=SC2086
    echo "        iifname { $(quoted_names $MIRRORED) } ip saddr @private fib daddr type != local" \
        "ip daddr != @isolated dup to $MIRROR_SENSOR comment \"$(sent_comment tee)\""
    echo "    }"
    # After the forwarding chain (priority filter): only what the gateway lets through.
    echo "    chain mirror_received {"
    echo "        type filter hook forward priority filter + 10; policy accept;"
    echo "        ip daddr @private ip saddr != @isolated dup to $MIRROR_SENSOR" \
        "comment \"$(received_comment tee)\""
    echo "    }"
    echo "    chain mirror_heartbeat {"
    echo "        type filter hook output priority filter; policy accept;"
    # The clone passes this hook again (untracked, as dup leaves it): it must not be dropped.
    echo "        ct state != untracked $(heartbeat_match) dup to $MIRROR_SENSOR drop" \
        "comment \"$COMMENT_HEARTBEAT\""
    echo "    }"
}

heartbeat_match() { # the heartbeat datagram: its address, port and the payload's first 8 bytes
    echo "ip daddr $HEARTBEAT_ADDRESS udp dport $HEARTBEAT_PORT @th,64,64 $HEARTBEAT_MAGIC"
}

render_ruleset() {
    local forward protocol public_port host private_port direction
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
        # exclusion the private hosts' own outbound traffic to this port would loop back to the server.
        echo "        iifname \"$WAN\" ip saddr != $NETWORK_CIDR fib daddr type local" \
            "$protocol dport $public_port dnat to $host:$private_port" \
            "comment \"$(port_forward_comment "$protocol" "$public_port" "$host" "$private_port")\""
    done
    echo "    }"
    echo "    chain outbound_snat {"
    echo "        type nat hook postrouting priority srcnat; policy accept;"
    echo "        oifname \"$WAN\" ip saddr @egress ip daddr != $NETWORK_CIDR masquerade" \
        "comment \"$COMMENT_MASQUERADE\""
    echo "    }"
    if [ -n "$MIRROR_CLAMP_MSS" ]; then
        # Before the filter (priority mangle), both ways: the SYN and the SYN-ACK each announce
        # an MSS, and the smaller one sizes every segment. Only ever lowered, never raised.
        # Every forwarded packet passes here: the header test comes first, so that only SYNs
        # pay for the set lookup.
        echo "    chain clamp_mss {"
        echo "        type filter hook forward priority mangle; policy accept;"
        for direction in saddr daddr; do
            echo "        tcp flags syn ip $direction @private" \
                "tcp option maxseg size > $MIRROR_CLAMP_MSS" \
                "tcp option maxseg size set $MIRROR_CLAMP_MSS comment \"$COMMENT_CLAMP\""
        done
        echo "    }"
    fi
    echo "    chain forwarding {"
    echo "        type filter hook forward priority filter; policy drop;"
    echo "        ip saddr @isolated ip daddr @private drop comment \"$COMMENT_ISOLATE\""
    echo "        ip saddr @private ip daddr @isolated drop comment \"$COMMENT_ISOLATE\""
    echo "        ct state established,related accept comment \"$COMMENT_REPLIES\""
    echo "        ct status dnat accept comment \"$COMMENT_PORT_FORWARDS\""
    echo "        ip saddr @egress ip daddr != $NETWORK_CIDR accept comment \"$COMMENT_EGRESS\""
    echo "    }"
    if [ "$MIRROR_MODE" = tee ]; then render_tee_chains; fi
    echo "}"
}

copy_limit() { # the largest IPv4 packet whose copy crosses the underlay whole; "" if unknown
    local have=${UNDERLAY_HAVE:-$MIRROR_UNDERLAY_MTU}
    if [ -n "$have" ]; then echo $((have - VXLAN_OVERHEAD)); fi
}

oversize_rule() { # oversize_rule saddr|daddr: counts copies that will cross as fragments
    local limit
    limit=$(copy_limit)
    [ -n "$limit" ] || return 0
    # TCP is left out: the clamp sizes its segments, and a GSO super-packet (which nft sees
    # whole) is cut into MSS-sized copies before it reaches the underlay.
    # The cheap header tests first: every packet passes this rule, and for TCP (nearly all the
    # bulk) they fail before the two set lookups, which the copy rule after it repeats anyway.
    local match="ip saddr @private ip daddr != @not_copied"
    if [ "$1" = daddr ]; then match="ip daddr @private ip saddr != @not_copied"; fi
    echo "        ip protocol != tcp ip length > $limit $match" \
        "counter name \"$OVERSIZE_COUNTER\" comment \"$COMMENT_OVERSIZE\""
}

render_mirror_table() { # table netdev cloudtap_mirror: the VXLAN mirror's copy points
    local device index=0
    echo "table netdev $MIRROR_TABLE"
    echo "delete table netdev $MIRROR_TABLE"
    echo "table netdev $MIRROR_TABLE {"
    echo "    comment \"owned by cloudtap-gateway: replaced whole at every run\""
    # shellcheck disable=SC2086
    named_set private $PRIVATE_CIDRS
    echo "    set not_copied {"
    echo "        type ipv4_addr; flags interval; auto-merge"
    # shellcheck disable=SC2046,SC2086
    echo "        elements = { $(elements $OWN_ADDRESSES $MONITOR_CIDRS) }"
    echo "    }"
    echo "    counter $OVERSIZE_COUNTER {"
    echo "        comment \"$COMMENT_OVERSIZE\""
    echo "    }"
    echo "    chain mirror_device_in {"
    echo "        type filter hook ingress device \"$MIRROR_DEVICE\" priority filter; policy drop;"
    echo "        comment \"$COMMENT_MIRROR_DEVICE\""
    echo "    }"
    for device in $MIRRORED; do
        index=$((index + 1))
        echo "    chain sent_$index {"
        echo "        type filter hook ingress device \"$device\" priority filter; policy accept;"
        oversize_rule saddr
        echo "        ip saddr @private ip daddr != @not_copied dup to \"$MIRROR_DEVICE\"" \
            "comment \"$(sent_comment "$device")\""
        echo "    }"
        echo "    chain received_$index {"
        echo "        type filter hook egress device \"$device\" priority filter; policy accept;"
        echo "        $(heartbeat_match) dup to \"$MIRROR_DEVICE\" drop" \
            "comment \"$COMMENT_HEARTBEAT\""
        oversize_rule daddr
        echo "        ip daddr @private ip saddr != @not_copied dup to \"$MIRROR_DEVICE\"" \
            "comment \"$(received_comment "$device")\""
        echo "    }"
    done
    echo "}"
}

parse_settings() { # every value read as data and checked whole; nothing on the host is touched
    local key
    read_settings "$CONF" "${SETTINGS_KEYS[@]}"
    for key in NETWORK_CIDR PUBLIC_CIDRS PRIVATE_CIDRS; do
        [ -n "${!key}" ] || die "$CONF does not set $key"
    done
    MIRROR_MODE=${MIRROR_MODE:-off}
    MIRROR_VXLAN_PORT=${MIRROR_VXLAN_PORT:-4789}
    MIRROR_HEARTBEAT_INTERVAL=${MIRROR_HEARTBEAT_INTERVAL:-10}
    check_setting NETWORK_CIDR "an IPv4 network a.b.c.d/n" is_cidr
    for key in PUBLIC_CIDRS PRIVATE_CIDRS MONITOR_CIDRS MANAGEMENT_CIDRS; do
        check_setting_words "$key" "IPv4 networks a.b.c.d/n (octets 0-255, n 0-32)" is_cidr
    done
    check_setting_words PORT_FORWARDS \
        "port forwards protocol:public_port:private_host:private_port (tcp or udp, ports 1-65535)" \
        is_port_forward
    check_setting MIRROR_MODE "off, vxlan or tee" is_one_of off vxlan tee
    case "$MIRROR_MODE" in
    vxlan | tee)
        [ -n "$MIRROR_SENSOR$MIRROR_SENSOR_BY_ZONE" ] ||
            die "$CONF sets MIRROR_MODE=$MIRROR_MODE but neither MIRROR_SENSOR nor MIRROR_SENSOR_BY_ZONE"
        [ -z "$MIRROR_SENSOR" ] || [ -z "$MIRROR_SENSOR_BY_ZONE" ] ||
            die "$CONF sets both MIRROR_SENSOR and MIRROR_SENSOR_BY_ZONE: one destination rule only"
        [ "$MIRROR_MODE" = tee ] || [ -n "$MIRROR_VNI" ] || die "$CONF does not set MIRROR_VNI"
        ;;
    esac
    if [ -n "$MIRROR_SENSOR" ]; then check_setting MIRROR_SENSOR "an IPv4 address" is_ipv4; fi
    check_setting_words MIRROR_SENSOR_BY_ZONE \
        "PUBLIC_CIDR:ADDRESS pairs (a zone's public subnet, where its gateway sends)" is_zone_sensor
    if [ -n "$MIRROR_VNI" ]; then
        check_setting MIRROR_VNI "a VXLAN network identifier from 1 to 16777215" \
            is_integer_in 1 16777215
    fi
    check_setting MIRROR_VXLAN_PORT "a UDP port from 1 to 65535" is_port
    if [ -n "$MIRROR_UNDERLAY_MTU" ]; then
        check_setting MIRROR_UNDERLAY_MTU "empty or an MTU from 1280 to 65535" \
            is_integer_in 1280 65535
    fi
    check_setting MIRROR_HEARTBEAT_INTERVAL "seconds from 1 to 3600" is_integer_in 1 3600
    if [ -n "$MIRROR_CLAMP_MSS" ]; then
        check_setting MIRROR_CLAMP_MSS "empty or a TCP MSS from 536 to 65495" \
            is_integer_in 536 65495
    fi
}

is_zone_sensor() { [[ $1 == *:* ]] && is_cidr "${1%%:*}" && is_ipv4 "${1#*:}"; }

zone_sensor() { # MIRROR_SENSOR_BY_ZONE: this gateway's zone's destination, by its own addresses
    [ -n "$MIRROR_SENSOR_BY_ZONE" ] || return 0
    local pair address
    for pair in $MIRROR_SENSOR_BY_ZONE; do
        for address in $OWN_ADDRESSES; do
            if in_cidr "$address" "${pair%%:*}"; then
                MIRROR_SENSOR=${pair#*:}
                return 0
            fi
        done
    done
    die "no address of this gateway ($OWN_ADDRESSES) is in a public subnet of" \
        "MIRROR_SENSOR_BY_ZONE ($MIRROR_SENSOR_BY_ZONE): no destination for its zone"
}

discover() { # this host's side of the rule set: which interface is which, its own addresses
    command -v nft >/dev/null 2>&1 || die "nft not found: install the nftables package"
    WAN=$(wan_interface) ||
        die "no interface carries an address in the public tier ($PUBLIC_CIDRS)"
    MIRRORED=""
    if [ "$MIRROR_MODE" != off ]; then
        MIRRORED=$(mirrored_interfaces | tr '\n' ' ')
        MIRRORED=${MIRRORED% }
    fi
    OWN_ADDRESSES=$(own_addresses | tr '\n' ' ')
    OWN_ADDRESSES=${OWN_ADDRESSES% }
    zone_sensor
}

load_settings() {
    parse_settings
    discover
}

given_host() { # --wan IF --mirrored "IF..." --own-addresses "ADDRESS...": the host, stated
    WAN="" MIRRORED="" OWN_ADDRESSES=""
    while (($# > 0)); do
        (($# >= 2)) || die "render: $1 needs a value"
        case "$1" in
        --wan) WAN=$2 ;;
        --mirrored) MIRRORED=$2 ;;
        --own-addresses) OWN_ADDRESSES=$2 ;;
        *) die "render: unknown option $(printf %q "$1") (expected --wan, --mirrored, --own-addresses)" ;;
        esac
        shift 2
    done
    is_interface_name "$WAN" || die "render: --wan must be an interface name, not '$WAN'"
    local word
    for word in $MIRRORED; do
        is_interface_name "$word" || die "render: --mirrored lists '$word', not an interface name"
    done
    for word in $OWN_ADDRESSES; do
        is_ipv4 "$word" || die "render: --own-addresses lists '$word', not an IPv4 address"
    done
    [ "$MIRROR_MODE" = off ] || [ -n "$MIRRORED" ] || die "render: the mirror needs --mirrored"
    [ "$MIRROR_MODE" != vxlan ] || [ -n "$OWN_ADDRESSES" ] ||
        die "render: the VXLAN mirror needs --own-addresses"
    zone_sensor
}

mirror_device_ok() { # TTL 0: the route's hop limit (64); a small fixed TTL dies on the way
    link_matches "$MIRROR_DEVICE" linkinfo.info_kind=vxlan linkinfo.info_data.id="$MIRROR_VNI" \
        linkinfo.info_data.remote="$MIRROR_SENSOR" linkinfo.info_data.port="$MIRROR_VXLAN_PORT" \
        linkinfo.info_data.ttl=0
}

fit_underlay_mtu() { # copies must cross to the sensor unfragmented where the cloud allows it
    local underlay have need largest=0 device mtu
    underlay=$(route_device "$MIRROR_SENSOR") || die "no route to the sensor $MIRROR_SENSOR"
    for device in $MIRRORED; do
        mtu=$(link_mtu "$device")
        if ((mtu > largest)); then largest=$mtu; fi
    done
    need=$((largest + VXLAN_OVERHEAD))
    have=$(link_mtu "$underlay")
    if ((have < need)) && [ -n "$MIRROR_UNDERLAY_MTU" ] && ((have < MIRROR_UNDERLAY_MTU)); then
        # Only up to what the settings say the cloud's network carries (AWS VPC: 9001).
        if ip link set dev "$underlay" mtu "$MIRROR_UNDERLAY_MTU" 2>/dev/null; then
            log "raised the MTU of $underlay (towards the sensor) from $have to $MIRROR_UNDERLAY_MTU"
            have=$MIRROR_UNDERLAY_MTU
        else
            log "warning: could not raise the MTU of $underlay to $MIRROR_UNDERLAY_MTU"
        fi
    fi
    if ((have < need)); then
        log "note: $underlay carries $have bytes: copies of packets over" \
            "$((have - VXLAN_OVERHEAD)) bytes reach the sensor as IP fragments" \
            "(${MIRROR_CLAMP_MSS:+TCP clamped to MSS $MIRROR_CLAMP_MSS; }counted in" \
            "$OVERSIZE_COUNTER, see check)"
    fi
    UNDERLAY_HAVE=$have
    ip link set dev "$MIRROR_DEVICE" mtu $((have > 1500 + VXLAN_OVERHEAD ? have - VXLAN_OVERHEAD : 1500))
}

apply_vxlan_mirror() {
    if ip link show dev "$MIRROR_DEVICE" >/dev/null 2>&1 && ! mirror_device_ok; then
        ip link del dev "$MIRROR_DEVICE"
    fi
    if ! ip link show dev "$MIRROR_DEVICE" >/dev/null 2>&1; then
        # No `local` or `dev`: the route to the sensor picks them, so the copies follow it.
        # No srcport range: the kernel derives each copy's outer UDP source port from the inner
        # flow's hash, so a load balancer that hashes the 5-tuple (an NLB) keeps a flow on one
        # sensor. Never pin it to one port: every copy would then hash alike.
        ip link add name "$MIRROR_DEVICE" type vxlan id "$MIRROR_VNI" remote "$MIRROR_SENSOR" \
            dstport "$MIRROR_VXLAN_PORT" nolearning ||
            die "cannot create the VXLAN device $MIRROR_DEVICE"
    fi
    sysctl -qw "net/ipv6/conf/$MIRROR_DEVICE/disable_ipv6=1" 2>/dev/null || true
    fit_underlay_mtu
    ip link set dev "$MIRROR_DEVICE" arp off multicast off up
    render_mirror_table | nft -f - ||
        die "nft refused table netdev $MIRROR_TABLE (the mirror needs Linux 5.16 or newer)"
}

remove_vxlan_mirror() {
    nft -f - <<<"table netdev $MIRROR_TABLE
delete table netdev $MIRROR_TABLE"
    ip link del dev "$MIRROR_DEVICE" 2>/dev/null || true
}

apply() {
    sysctl -qw net.ipv4.ip_forward=1
    # A one-armed gateway (AWS: one ENI) sends replies out of the interface they came in on;
    # ICMP redirects would teach the private hosts to bypass it.
    # (The slash form keeps an interface name with a dot, such as eth0.100, in one key.)
    sysctl -qw net/ipv4/conf/all/send_redirects=0 net/ipv4/conf/default/send_redirects=0 \
        "net/ipv4/conf/$WAN/send_redirects=0"
    render_ruleset | nft -f - || die "nft refused the rule set"
    if [ "$MIRROR_MODE" = vxlan ]; then apply_vxlan_mirror; else remove_vxlan_mirror; fi
}

check_mirror() { # prints what the mirror does
    local rules device
    case "$MIRROR_MODE" in
    off)
        echo "no mirror"
        return 0
        ;;
    tee)
        rules=$(nft list table ip $TABLE)
        grep -qF "dup to $MIRROR_SENSOR comment \"$(sent_comment tee)\"" <<<"$rules" ||
            die "the mirror does not tee what private hosts send to $MIRROR_SENSOR"
        grep -qF "dup to $MIRROR_SENSOR comment \"$(received_comment tee)\"" <<<"$rules" ||
            die "the mirror does not tee what private hosts receive to $MIRROR_SENSOR"
        grep -qF "dup to $MIRROR_SENSOR drop comment \"$COMMENT_HEARTBEAT\"" <<<"$rules" ||
            die "the rule teeing the mirror's heartbeat to $MIRROR_SENSOR is missing"
        echo "teeing private-tier traffic on $MIRRORED to next hop $MIRROR_SENSOR"
        return 0
        ;;
    esac
    mirror_device_ok ||
        die "the mirror's VXLAN device $MIRROR_DEVICE (VNI $MIRROR_VNI to $MIRROR_SENSOR," \
            "UDP $MIRROR_VXLAN_PORT, TTL from the route) is missing or different"
    [[ $(link_flags "$MIRROR_DEVICE") == *,UP,* ]] || die "$MIRROR_DEVICE is down"
    rules=$(nft list table netdev $MIRROR_TABLE 2>/dev/null) ||
        die "nftables table netdev $MIRROR_TABLE (the mirror) is missing"
    grep -q "device \"$MIRROR_DEVICE\" priority filter; policy drop;" <<<"$rules" ||
        die "the drop of anything received through $MIRROR_DEVICE is missing"
    for device in $MIRRORED; do
        grep -qF "dup to \"$MIRROR_DEVICE\" comment \"$(sent_comment "$device")\"" <<<"$rules" ||
            die "the mirror does not copy what private hosts send through $device"
        grep -qF "dup to \"$MIRROR_DEVICE\" comment \"$(received_comment "$device")\"" \
            <<<"$rules" || die "the mirror does not copy what private hosts receive through $device"
        grep -qF "dup to \"$MIRROR_DEVICE\" drop comment \"$COMMENT_HEARTBEAT\"" <<<"$rules" ||
            die "the rule copying the mirror's heartbeat through $device is missing"
    done
    local oversize
    oversize=$(nft list counter netdev $MIRROR_TABLE $OVERSIZE_COUNTER 2>/dev/null |
        sed -n 's/.*packets \([0-9]*\) bytes.*/\1/p')
    echo "mirroring private-tier traffic on $MIRRORED to $MIRROR_SENSOR (VXLAN VNI $MIRROR_VNI);" \
        "${MIRROR_CLAMP_MSS:+forwarded TCP clamped to MSS $MIRROR_CLAMP_MSS; }${oversize:-0}" \
        "oversize non-TCP copies sent as fragments"
}

check() {
    local rules forwarding forward protocol public_port host private_port mirror
    [ "$(sysctl -n net.ipv4.ip_forward)" = 1 ] || die "net.ipv4.ip_forward is not 1"
    rules=$(nft list table ip $TABLE 2>/dev/null) || die "nftables table ip $TABLE is missing"
    grep -qF "masquerade comment \"$COMMENT_MASQUERADE\"" <<<"$rules" ||
        die "the masquerade rule is missing from table ip $TABLE"
    # Only the forwarding chain's own policy counts: another chain's could say drop too.
    forwarding=$(awk '/chain forwarding \{/ { inside = 1 }
        inside { print }
        inside && /^[[:space:]]*\}/ { exit }' <<<"$rules")
    grep -q 'hook forward .*policy drop;' <<<"$forwarding" ||
        die "the forward chain (chain forwarding) does not drop by default"
    (($(grep -cF "drop comment \"$COMMENT_ISOLATE\"" <<<"$rules") == 2)) ||
        die "the rules isolating the private tier from monitor and management are missing"
    for forward in $PORT_FORWARDS; do
        IFS=: read -r protocol public_port host private_port <<<"$forward"
        grep -qF "$(port_forward_comment "$protocol" "$public_port" "$host" "$private_port")" \
            <<<"$rules" || die "port forward $forward is missing"
    done
    if [ -n "$MIRROR_CLAMP_MSS" ]; then
        (($(grep -cF "maxseg size set $MIRROR_CLAMP_MSS comment \"$COMMENT_CLAMP\"" \
            <<<"$rules") == 2)) || die "the clamp of forwarded TCP to MSS $MIRROR_CLAMP_MSS is missing"
    fi
    mirror=$(check_mirror)
    # shellcheck disable=SC2086
    log "ok: forwarding on; masquerading $(elements $PRIVATE_CIDRS $MONITOR_CIDRS) out of $WAN;" \
        "$(wc -w <<<"$PORT_FORWARDS") port forward(s); $mirror"
}

public_address() { # the WAN interface's public-tier address: where its heartbeats come from
    local _index _device _family address _rest cidr
    while read -r _index _device _family address _rest; do
        for cidr in $PUBLIC_CIDRS; do
            if in_cidr "${address%/*}" "$cidr"; then
                echo "${address%/*}"
                return 0
            fi
        done
    done < <(ip -o -4 addr show dev "$WAN")
    return 1
}

heartbeat() { # runs cloudtap-heartbeat in this process's place, for as long as it runs
    local source device devices=()
    if [ "$MIRROR_MODE" = off ]; then
        log "no gateway mirror: no heartbeat to send"
        return 0
    fi
    source=$(public_address) || die "no address in the public tier ($PUBLIC_CIDRS)"
    [ -r "$HEARTBEAT" ] || die "the heartbeat sender $HEARTBEAT is missing"
    for device in $MIRRORED; do devices+=(--device "$device"); done
    [ "$MIRROR_MODE" = vxlan ] || devices=()
    exec "$PYTHON" -I "$HEARTBEAT" --mode "$MIRROR_MODE" "${devices[@]}" --source "$source" \
        --address "$HEARTBEAT_ADDRESS" --port "$HEARTBEAT_PORT" --magic "$HEARTBEAT_MAGIC" \
        --interval "$MIRROR_HEARTBEAT_INTERVAL"
}

restart_heartbeat() { # the sender took its settings when it started: start it on the new ones
    [ "${CLOUDTAP_GATEWAY_SUPERVISOR:-systemd}" = systemd ] && [ -d /run/systemd/system ] ||
        return 0
    systemctl restart --no-block cloudtap-heartbeat.service ||
        log "warning: cloudtap-heartbeat.service did not restart: its heartbeats follow old settings"
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
    preflight) # nothing on the host changes: nft only checks the transaction
        load_settings
        render_ruleset | nft -c -f - || die "nft refused the rule set (nft -c)"
        ;;
    apply-settings)
        (($# == 2)) || die "usage: cloudtap-gateway apply-settings FILE"
        local status=0
        offer_settings "$2" || status=$?
        restart_heartbeat
        return "$status"
        ;;
    render) # with --wan, --mirrored and --own-addresses: no host needed (no root, no nft)
        shift
        parse_settings
        if (($# > 0)); then given_host "$@"; else discover; fi
        render_ruleset
        if [ "$MIRROR_MODE" = vxlan ]; then render_mirror_table; fi
        ;;
    heartbeat)
        load_settings
        heartbeat
        ;;
    destination) # where this gateway's copies go; with --own-addresses "ADDRESS...": no host
        shift
        parse_settings
        if (($# > 0)); then
            if [ "$1" != --own-addresses ] || (($# != 2)); then
                die 'usage: cloudtap-gateway destination [--own-addresses "ADDRESS..."]'
            fi
            OWN_ADDRESSES=$2
            zone_sensor
        else
            discover
        fi
        echo "${MIRROR_SENSOR:-none}"
        ;;
    *) die "unknown command '$command' (expected apply, check, apply-settings, preflight, render, heartbeat or destination)" ;;
    esac
}

main "$@"
