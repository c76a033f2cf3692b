#!/usr/bin/env bash
# cloudtap-hostfeed: a monitored host copies its own traffic to the cloudtap sensor.
#
#   cloudtap-hostfeed apply    set up the feed (TRANSPORT), then verify
#   cloudtap-hostfeed check    verify only; exit 1 and say why if anything is missing
#   cloudtap-hostfeed render [--interface IF]
#                              print the nftables table of the vxlan transport (no root needed
#                              with --interface)
#   cloudtap-hostfeed stop     remove the feed (device, table, agent)
#
# For clouds without mirroring and hosts no gateway sees. Settings come from a small key=value
# file (CLOUDTAP_HOSTFEED_CONF, default /etc/cloudtap/hostfeed.conf) that cloudtap renders, read
# as data (read_settings) and checked key by key before anything on the host is touched.
#
# TRANSPORT:
#   vxlan  in-network: the kernel copies every frame the host's interface (INTERFACE, default
#          the one routing to the sensor) sends and receives, whole, inside VXLAN (VNI, UDP
#          FEED_PORT) to the sensor, which decapsulates it like a cloud's mirror feed: a VXLAN
#          device with a fixed remote (cloudtap-feed) and table `netdev cloudtap_hostfeed`
#          with an ingress and an egress chain on the interface. Needs Linux 5.16 or newer.
#   tls    across networks: cloudtap-hostfeed-agent (python3 -I, standard library) captures
#          the interface and streams the frames to the sensor's listener (TCP FEED_PORT) over
#          TLS with mutual authentication, both certificates issued by the stack's CA
#          (CERT_DIR: ca.pem, host.pem, host.key); bounded queue, drops copies under pressure.
# Never copied: the feed itself (the MetaFlows agent's `not port 3005`), EXCLUDE_CIDRS (either
# end: the host's management networks and the user's own) and EXCLUDE_PORTS (either end, TCP and
# UDP). A copy that cannot be delivered is dropped on its own: the host's traffic goes on.
# Whoever controls this host can switch the feed off: it is a convenience, not evidence.
set -euo pipefail

readonly TABLE=cloudtap_hostfeed
readonly FEED_DEVICE=cloudtap-feed
readonly AGENT_UNIT=cloudtap-hostfeed-agent.service
# Outer IPv4 (20) + UDP (8) + VXLAN (8) + the copy's own Ethernet header (14).
readonly VXLAN_OVERHEAD=50
CONF=${CLOUDTAP_HOSTFEED_CONF:-/etc/cloudtap/hostfeed.conf}
RUN_DIR=${CLOUDTAP_HOSTFEED_RUN_DIR:-/run/cloudtap}
AGENT=${CLOUDTAP_HOSTFEED_AGENT:-/usr/local/lib/cloudtap/cloudtap-hostfeed-agent}
PYTHON=${CLOUDTAP_HOSTFEED_PYTHON:-python3}
# Seconds apply waits for the agent to write its first status.
AGENT_WAIT=${CLOUDTAP_HOSTFEED_AGENT_WAIT:-10}
# Every key the settings file may set; components/host_feed.py renders the same (a test checks).
readonly SETTINGS_KEYS=(
    TRANSPORT SENSOR_ADDRESS SENSOR_NAME FEED_PORT VNI INTERFACE EXCLUDE_CIDRS EXCLUDE_PORTS
    QUEUE_FRAMES CERT_DIR
)

# Each rule's comment, by which `check`, the lab and the tests find it.
readonly COMMENT_NOT_THE_FEED="cloudtap: never copy the feed itself"
readonly COMMENT_EXCLUDED="cloudtap: excluded from the host feed"
readonly COMMENT_SENT="cloudtap: copy what this host sends"
readonly COMMENT_RECEIVED="cloudtap: copy what this host receives"
readonly COMMENT_FEED_DEVICE="cloudtap: the feed only sends; VXLAN sent to this host goes nowhere"

# log, die, read_settings and the value checks; address and link helpers.
readonly CLOUDTAP_TAG=cloudtap-hostfeed
NET_LIBRARY=${CLOUDTAP_NET_LIBRARY:-/usr/local/lib/cloudtap/cloudtap-net.sh}
if [ ! -r "$NET_LIBRARY" ]; then
    echo "$CLOUDTAP_TAG: FAILED: cannot read $NET_LIBRARY" \
        "(written by cloud-init with this script)" >&2
    exit 1
fi
# shellcheck source=../common/cloudtap-net.sh
. "$NET_LIBRARY"

is_host_name() { # a DNS name (labels of letters, digits and -) or an IPv4 address
    local label='[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
    [[ ${#1} -le 253 && $1 =~ ^$label(\.$label)*$ ]]
}

parse_settings() { # every value read as data and checked whole; nothing on the host is touched
    local key
    read_settings "$CONF" "${SETTINGS_KEYS[@]}"
    for key in TRANSPORT SENSOR_ADDRESS FEED_PORT; do
        [ -n "${!key}" ] || die "$CONF does not set $key"
    done
    check_setting TRANSPORT "vxlan or tls" is_one_of vxlan tls
    check_setting SENSOR_ADDRESS "an IPv4 address" is_ipv4
    SENSOR_NAME=${SENSOR_NAME:-$SENSOR_ADDRESS}
    check_setting SENSOR_NAME "a DNS name or an IPv4 address" is_host_name
    check_setting FEED_PORT "a port from 1 to 65535" is_port
    if [ "$TRANSPORT" = vxlan ]; then
        [ -n "$VNI" ] || die "$CONF sets TRANSPORT=vxlan but no VNI"
        check_setting VNI "a VXLAN network identifier from 1 to 16777215" \
            is_integer_in 1 16777215
    fi
    if [ -n "$INTERFACE" ]; then check_setting INTERFACE "an interface name" is_interface_name; fi
    check_setting_words EXCLUDE_CIDRS "IPv4 networks a.b.c.d/n (octets 0-255, n 0-32)" is_cidr
    check_setting_words EXCLUDE_PORTS "ports from 1 to 65535" is_port
    QUEUE_FRAMES=${QUEUE_FRAMES:-4096}
    check_setting QUEUE_FRAMES "a number of frames from 16 to 1048576" is_integer_in 16 1048576
    CERT_DIR=${CERT_DIR:-/etc/cloudtap/hostfeed}
    check_setting CERT_DIR "an absolute directory (letters, digits, . _ / -)" is_mount_point
}

discover() {
    if [ -z "$INTERFACE" ]; then
        INTERFACE=$(route_device "$SENSOR_ADDRESS") || die "no route to the sensor $SENSOR_ADDRESS"
    fi
    ip link show dev "$INTERFACE" >/dev/null 2>&1 || die "no interface $INTERFACE"
}

# -- vxlan -------------------------------------------------------------------------------------

render_table() { # table netdev cloudtap_hostfeed: the copy points on the host's interface
    local hook direction match
    echo "table netdev $TABLE"
    echo "delete table netdev $TABLE"
    echo "table netdev $TABLE {"
    echo "    comment \"owned by cloudtap-hostfeed: replaced whole at every run\""
    echo "    set excluded {"
    echo "        type ipv4_addr; flags interval; auto-merge"
    # shellcheck disable=SC2086
    if [ -n "$EXCLUDE_CIDRS" ]; then echo "        elements = { $(elements $EXCLUDE_CIDRS) }"; fi
    echo "    }"
    echo "    set excluded_ports {"
    echo "        type inet_service"
    # shellcheck disable=SC2086
    if [ -n "$EXCLUDE_PORTS" ]; then echo "        elements = { $(elements $EXCLUDE_PORTS) }"; fi
    echo "    }"
    echo "    chain feed_device_in {"
    echo "        type filter hook ingress device \"$FEED_DEVICE\" priority filter; policy drop;"
    echo "        comment \"$COMMENT_FEED_DEVICE\""
    echo "    }"
    for direction in sent received; do
        if [ "$direction" = sent ]; then
            hook=egress
            match="ip daddr $SENSOR_ADDRESS"
        else
            hook=ingress
            match="ip saddr $SENSOR_ADDRESS"
        fi
        echo "    chain $direction {"
        echo "        type filter hook $hook device \"$INTERFACE\" priority filter; policy accept;"
        echo "        $match udp dport $FEED_PORT return comment \"$COMMENT_NOT_THE_FEED\""
        # A copy bigger than the path leaves as IP fragments; after the first, a fragment has
        # no UDP header to match, and copying it would copy the feed (and again, endlessly).
        echo "        $match ip protocol udp ip frag-off & 0x1fff != 0 return" \
            "comment \"$COMMENT_NOT_THE_FEED\""
        echo "        ip saddr @excluded return comment \"$COMMENT_EXCLUDED\""
        echo "        ip daddr @excluded return comment \"$COMMENT_EXCLUDED\""
        echo "        meta l4proto { tcp, udp } th sport @excluded_ports return" \
            "comment \"$COMMENT_EXCLUDED\""
        echo "        meta l4proto { tcp, udp } th dport @excluded_ports return" \
            "comment \"$COMMENT_EXCLUDED\""
        if [ "$direction" = sent ]; then
            echo "        dup to \"$FEED_DEVICE\" comment \"$COMMENT_SENT\""
        else
            echo "        dup to \"$FEED_DEVICE\" comment \"$COMMENT_RECEIVED\""
        fi
        echo "    }"
    done
    echo "}"
}

feed_device_ok() {
    link_matches "$FEED_DEVICE" linkinfo.info_kind=vxlan linkinfo.info_data.id="$VNI" \
        linkinfo.info_data.remote="$SENSOR_ADDRESS" linkinfo.info_data.port="$FEED_PORT"
}

apply_vxlan() {
    local mtu
    command -v nft >/dev/null 2>&1 || die "nft not found: install the nftables package"
    if ip link show dev "$FEED_DEVICE" >/dev/null 2>&1 && ! feed_device_ok; then
        ip link del dev "$FEED_DEVICE"
    fi
    if ! ip link show dev "$FEED_DEVICE" >/dev/null 2>&1; then
        # No `local` or `dev`: the route to the sensor picks them, so the copies follow it.
        ip link add name "$FEED_DEVICE" type vxlan id "$VNI" remote "$SENSOR_ADDRESS" \
            dstport "$FEED_PORT" nolearning || die "cannot create the VXLAN device $FEED_DEVICE"
    fi
    sysctl -qw "net/ipv6/conf/$FEED_DEVICE/disable_ipv6=1" 2>/dev/null || true
    mtu=$(link_mtu "$INTERFACE")
    # Copies larger than the underlay carries cross as IP fragments; the sensor reassembles.
    ip link set dev "$FEED_DEVICE" mtu $((mtu > 1500 + VXLAN_OVERHEAD ? mtu - VXLAN_OVERHEAD : 1500))
    ip link set dev "$FEED_DEVICE" arp off multicast off up
    render_table | nft -f - ||
        die "nft refused table netdev $TABLE (the host feed needs Linux 5.16 or newer)"
}

remove_vxlan() {
    if command -v nft >/dev/null 2>&1; then
        nft -f - <<<"table netdev $TABLE
delete table netdev $TABLE"
    fi
    ip link del dev "$FEED_DEVICE" 2>/dev/null || true
}

check_vxlan() {
    local rules
    feed_device_ok || die "the feed's VXLAN device $FEED_DEVICE (VNI $VNI to $SENSOR_ADDRESS," \
        "UDP $FEED_PORT) is missing or different"
    [[ $(link_flags "$FEED_DEVICE") == *,UP,* ]] || die "$FEED_DEVICE is down"
    rules=$(nft list table netdev $TABLE 2>/dev/null) ||
        die "nftables table netdev $TABLE (the host feed) is missing"
    grep -q "device \"$FEED_DEVICE\" priority filter; policy drop;" <<<"$rules" ||
        die "the drop of anything received through $FEED_DEVICE is missing"
    (($(grep -cF "return comment \"$COMMENT_NOT_THE_FEED\"" <<<"$rules") == 4)) ||
        die "the rules that keep the feed from copying itself are missing"
    grep -qF "dup to \"$FEED_DEVICE\" comment \"$COMMENT_SENT\"" <<<"$rules" ||
        die "the feed does not copy what this host sends through $INTERFACE"
    grep -qF "dup to \"$FEED_DEVICE\" comment \"$COMMENT_RECEIVED\"" <<<"$rules" ||
        die "the feed does not copy what this host receives through $INTERFACE"
    echo "copying $INTERFACE both ways to $SENSOR_ADDRESS (VXLAN VNI $VNI, UDP $FEED_PORT)"
}

# -- tls ---------------------------------------------------------------------------------------

supervisor() {
    if [ -n "${CLOUDTAP_HOSTFEED_SUPERVISOR:-}" ]; then
        echo "$CLOUDTAP_HOSTFEED_SUPERVISOR"
    elif [ -d /run/systemd/system ]; then
        echo systemd
    else
        echo process
    fi
}

agent_config() {
    echo "# written by cloudtap-hostfeed apply for cloudtap-hostfeed-agent"
    echo "INTERFACE=\"$INTERFACE\""
    echo "SENSOR_ADDRESS=\"$SENSOR_ADDRESS\""
    echo "SENSOR_NAME=\"$SENSOR_NAME\""
    echo "FEED_PORT=\"$FEED_PORT\""
    echo "EXCLUDE_CIDRS=\"$EXCLUDE_CIDRS\""
    echo "EXCLUDE_PORTS=\"$EXCLUDE_PORTS\""
    echo "QUEUE_FRAMES=\"$QUEUE_FRAMES\""
    echo "CA_FILE=\"$CERT_DIR/ca.pem\""
    echo "CERT_FILE=\"$CERT_DIR/host.pem\""
    echo "KEY_FILE=\"$CERT_DIR/host.key\""
    echo "STATUS_FILE=\"$RUN_DIR/hostfeed.status\""
}

status_value() { # status_value KEY -> a top-level value of the agent's JSON status
    [ -r "$RUN_DIR/hostfeed.status" ] || return 1
    python3 -I -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
        "$RUN_DIR/hostfeed.status" "$1" 2>/dev/null
}

is_agent() { # is_agent PID: alive and running cloudtap-hostfeed-agent
    [[ $1 =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q cloudtap-hostfeed-agent
}

stop_agent() {
    local pid
    if [ "$(supervisor)" = systemd ]; then systemctl stop "$AGENT_UNIT" 2>/dev/null || true; fi
    for pid in "$(status_value pid || true)" "$(cat "$RUN_DIR/hostfeed-agent.pid" 2>/dev/null || true)"; do
        if is_agent "$pid"; then
            kill "$pid" 2>/dev/null || true
            for _ in 1 2 3 4 5 6 7 8 9 10; do
                is_agent "$pid" || break
                sleep 0.2
            done
            if is_agent "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
        fi
    done
    rm -f "$RUN_DIR/hostfeed.status" "$RUN_DIR/hostfeed-agent.pid"
}

apply_tls() {
    local file waited=0 wanted
    for file in ca.pem host.pem host.key; do
        [ -r "$CERT_DIR/$file" ] || die "cannot read $CERT_DIR/$file (the stack's host certificate)"
    done
    [ -r "$AGENT" ] || die "the agent $AGENT is missing"
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: the agent needs Python 3"
    mkdir -p "$RUN_DIR"
    wanted=$(agent_config)
    if [ "$wanted" = "$(cat "$RUN_DIR/hostfeed-agent.conf" 2>/dev/null)" ] &&
        is_agent "$(status_value pid || true)"; then
        log "agent running, settings unchanged"
        return 0
    fi
    stop_agent
    echo "$wanted" >"$RUN_DIR/hostfeed-agent.conf"
    case "$(supervisor)" in
    systemd) systemctl restart "$AGENT_UNIT" || die "systemctl restart $AGENT_UNIT failed" ;;
    process)
        setsid "$PYTHON" -I "$AGENT" --config "$RUN_DIR/hostfeed-agent.conf" \
            >>"$RUN_DIR/hostfeed-agent.log" 2>&1 </dev/null &
        echo $! >"$RUN_DIR/hostfeed-agent.pid"
        ;;
    *) die "CLOUDTAP_HOSTFEED_SUPERVISOR must be systemd or process" ;;
    esac
    until is_agent "$(status_value pid || true)"; do
        ((waited++ < AGENT_WAIT * 10)) || die "cloudtap-hostfeed-agent did not start within" \
            "${AGENT_WAIT}s: $(tail -n 3 "$RUN_DIR/hostfeed-agent.log" 2>/dev/null | tr '\n' ' ')"
        sleep 0.1
    done
}

check_tls() {
    local connected counters
    is_agent "$(status_value pid || true)" || die "cloudtap-hostfeed-agent is not running"
    connected=$(status_value connected)
    counters=$(status_value counters)
    if [ "$connected" = True ]; then
        echo "streaming $INTERFACE to $SENSOR_NAME ($SENSOR_ADDRESS:$FEED_PORT) over mutual TLS;" \
            "counters $counters"
    else
        # Not a failure of this host: the sensor may be down; copies are dropped meanwhile.
        echo "NOT connected to $SENSOR_NAME ($SENSOR_ADDRESS:$FEED_PORT), retrying:" \
            "$(status_value last_error); counters $counters"
    fi
}

# -- commands ----------------------------------------------------------------------------------

main() {
    local command=${1:-apply} summary
    case "$command" in
    apply)
        parse_settings
        discover
        if [ "$TRANSPORT" = vxlan ]; then
            stop_agent
            apply_vxlan
            summary=$(check_vxlan)
        else
            remove_vxlan
            apply_tls
            summary=$(check_tls)
        fi
        log "ok: $summary"
        ;;
    check)
        parse_settings
        discover
        if [ "$TRANSPORT" = vxlan ]; then summary=$(check_vxlan); else summary=$(check_tls); fi
        log "ok: $summary"
        ;;
    render)
        shift
        parse_settings
        if (($# == 2)) && [ "$1" = --interface ]; then
            is_interface_name "$2" || die "render: --interface must be an interface name"
            INTERFACE=$2
        elif (($# > 0)); then
            die "render: expected no option or --interface IF"
        else
            discover
        fi
        render_table
        ;;
    stop)
        parse_settings
        stop_agent
        remove_vxlan
        log "host feed removed"
        ;;
    *) die "unknown command '$command' (expected apply, check, render or stop)" ;;
    esac
}

main "$@"
