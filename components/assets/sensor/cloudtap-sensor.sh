#!/usr/bin/env bash
# cloudtap-sensor: every mirror feed decapsulated onto one capture interface.
#
#   cloudtap-sensor apply   build the capture interface, a decapsulation path per feed and
#                           cloudtap's nftables table (first mounting the log volume if
#                           need be), then verify
#   cloudtap-sensor check   verify only; exit 1 and say why if anything is missing
#   cloudtap-sensor apply-settings FILE
#                           make FILE the settings in force, in place (feeds, devices, rules;
#                           the log volume is never touched): preflight, apply, check; on any
#                           failure apply the last good settings again. Status (JSON) in
#                           /var/lib/cloudtap/sensor.status. New IDS packages are installed
#                           afterwards; their failure is logged, not rolled back
#   cloudtap-sensor preflight
#                           check the settings and their rule set (`nft -c`); change nothing
#   cloudtap-sensor render  print the nftables table apply would load
#   cloudtap-sensor install-ids
#                           install IDS_PACKAGES (dnf or apt-get); kept apart from cloud-init's
#                           `packages` so that an IDS package a distribution lacks cannot stop
#                           the capture tools from being installed
#   cloudtap-sensor health  run the health responder (cloudtap-health.service): TCP HEALTH_PORT
#                           listens, and answers HTTP GET with 200, only while check passes
#   cloudtap-sensor setup-ids
#                           with IDS=suricata (systemd): rules update (at first, and when
#                           IDS_RULE_SOURCES change), the daily update timer, the IDS unit
#                           enabled and restarted when its config changed, then checked; with
#                           IDS=none the unit and timer are stopped. apply-settings runs it
#                           after install-ids: an IDS change needs no new instance
#   cloudtap-sensor render-ids
#                           print the Suricata config apply writes (IDS_CONFIG) from the settings
#   cloudtap-sensor update-ids-rules
#                           suricata-update with IDS_RULE_SOURCES, then a rule reload (the
#                           daily cloudtap-ids-update.timer runs it)
#
# Settings come from a small key=value file that cloudtap renders, read as data (read_settings)
# and checked key by key before anything on the host is touched: CLOUDTAP_SENSOR_CONF, else the
# last good settings apply-settings kept (/var/lib/cloudtap/sensor.conf.good: what a reboot
# applies), else /etc/cloudtap/sensor.conf. cloudtap-settings delivers new ones through
# apply-settings, so neither the user data nor the instance changes with them.
#
# Capture interface: a veth pair. The IDS (Zeek, Suricata, tcpdump) watches $CAPTURE_INTERFACE;
# decapsulated frames are written into the other end, "$CAPTURE_INTERFACE-tx", and arrive on the
# capture end as received frames, as on a span port. Neither end has an address, ARP or IPv6, and
# an ingress drop (after the packet taps: captures still see every frame) keeps the copies out
# of the sensor's own stack.
#
# Decapsulation, chosen per feed and logged, fastest first (CLOUDTAP_SENSOR_PATHS, default
# "kernel bpf python", lists the paths allowed, in that order):
#   kernel  a kernel device where the kernel terminates the feed and has the driver: vxlan
#           (`vxlan external`, UDP 4789, any VNI), gre (`gretap external`), erspan (`erspan
#           external`, types I/II/III). Never geneve: an AWS Gateway Load Balancer sends IP
#           packets, which a `geneve external` device drops (and with `innerprotoinherit` it has
#           no Ethernet header to hand to an Ethernet capture interface). Mirrored to a GWLB
#           endpoint, that IP packet is the VXLAN mirror packet: both layers come off and the
#           mirrored frame is written. A GWLB used inline expects its appliances to send every
#           packet back; a sensor never does, so inline use blackholes the traffic it sees.
#   bpf     cloudtap's tc program (cloudtap_decap.bpf.o, clsact ingress on the underlay
#           interface, loaded with tc; cloudtap-bpf fills its maps): every feed the kernel does
#           not take, at kernel speed, redirected into the feeder end
#   python  cloudtap-decap, the slow last resort, where the program cannot be loaded
# Each kernel device redirects everything it receives into the feeder end with tc (clsact
# ingress, `u32 match u32 0 0`, mirred egress redirect). VLAN_BY_VNI (VNI:VLAN): every path
# tags copies of a listed VNI (802.1Q after the MACs, outermost); the vxlan device then has the
# object's tagger (cloudtap_vlan) instead of u32, or gives its feed to the next path. cloudtap-decap (Python, standard library
# only) runs under systemd as cloudtap-decap.service (Restart=always), or as a detached process
# where systemd does not run (CLOUDTAP_SENSOR_SUPERVISOR=process).
#
# nftables: table `inet cloudtap_sensor`, replaced whole in one transaction at every run, accepts
# feed traffic only from $FEED_SOURCE_CIDRS (the health port only from $HEALTH_SOURCE_CIDRS) and
# never answers a feed with an ICMP error. The underlay interface (where feeds arrive) is found
# by address, never by name.
#
# Heartbeats: each gateway mirror in HEARTBEAT_SOURCES sends a marked datagram (HEARTBEAT_* in the
# shared library) through its copy path every HEARTBEAT_INTERVAL seconds. A rule per source counts
# it (VXLAN: by the gateway's address and the VNI, read at fixed offsets of the feed packet; tee:
# the clone itself) and drops it as it enters this host's stack, before any decapsulator: it
# never reaches the capture interface, whatever decapsulates the feed. (A drop after
# decapsulation cannot work for every path: nftables' egress hook skips packets tc redirected,
# and packet sockets of the capture interface see a frame before its ingress hook.) check keeps
# each counter's last increase in $RUN_DIR/heartbeats and names every source silent for more
# than HEARTBEAT_MISSED intervals, and since when.
set -euo pipefail

readonly TABLE=cloudtap_sensor
readonly COMMENT_HEALTH="cloudtap: health checks only from the health-check networks"
readonly DECAP_UNIT=cloudtap-decap.service
readonly VXLAN_DEVICE=cloudtap-vxlan
readonly GRE_DEVICE=cloudtap-gre
readonly ERSPAN_DEVICE=cloudtap-erspan
STATE_DIR=${CLOUDTAP_STATE_DIR:-/var/lib/cloudtap}
GOOD_SETTINGS=$STATE_DIR/sensor.conf.good
STATUS_FILE=$STATE_DIR/sensor.status
SETTINGS_ENV=CLOUDTAP_SENSOR_CONF
SELF=${BASH_SOURCE[0]}
CONF=${CLOUDTAP_SENSOR_CONF:-}
if [ -z "$CONF" ]; then
    if [ -r "$GOOD_SETTINGS" ]; then CONF=$GOOD_SETTINGS; else CONF=/etc/cloudtap/sensor.conf; fi
fi
RUN_DIR=${CLOUDTAP_SENSOR_RUN_DIR:-/run/cloudtap}
DECAP=${CLOUDTAP_SENSOR_DECAP:-/usr/local/lib/cloudtap/cloudtap-decap}
BPF_OBJECT=${CLOUDTAP_SENSOR_BPF_OBJECT:-/usr/local/lib/cloudtap/cloudtap_decap.bpf.o}
BPF_HELPER=${CLOUDTAP_SENSOR_BPF_HELPER:-/usr/local/lib/cloudtap/cloudtap-bpf}
DECAP_PATHS=${CLOUDTAP_SENSOR_PATHS:-kernel bpf python}
# The program's tc filter on the underlay's ingress: its own priority, so that it is found,
# replaced and removed without touching anyone else's filter there.
readonly BPF_PREF=10
readonly BPF_NAME=cloudtap_decap
readonly TAGGER_NAME=cloudtap_vlan TAGGER_SECTION=tc/vlan
readonly MAX_VLAN_BY_VNI=64 # components/sensor.py
PYTHON=${CLOUDTAP_SENSOR_PYTHON:-python3}
# Seconds apply waits for cloudtap-decap to open its sockets.
DECAP_WAIT=${CLOUDTAP_SENSOR_DECAP_WAIT:-10}
# Host feeds over mutual TLS (cloudtap-hostfeed-listener, a program of its own): started when
# its settings file exists. It writes its status (hosts, frames, silence) for `check`.
HOSTFEED_LISTENER_CONF=${CLOUDTAP_HOSTFEED_LISTENER_CONF:-/etc/cloudtap/hostfeed-listener.conf}
HOSTFEED_LISTENER=${CLOUDTAP_HOSTFEED_LISTENER:-/usr/local/lib/cloudtap/cloudtap-hostfeed-listener}
HEALTH=${CLOUDTAP_SENSOR_HEALTH:-/usr/local/lib/cloudtap/cloudtap-health}
# Seconds between the health responder's checks (a load balancer's probes never run one).
HEALTH_EVERY=${CLOUDTAP_SENSOR_HEALTH_EVERY:-5}
# Every key the settings file may set; components/sensor.py renders the same (a test checks).
readonly SETTINGS_KEYS=(
    FEEDS FEED_SOURCE_CIDRS CAPTURE_INTERFACE CAPTURE_MTU VXLAN_PORT GENEVE_PORT IDS_PACKAGES
    LOG_VOLUME LOG_MOUNT_POINT HEALTH_PORT HEALTH_SOURCE_CIDRS HEARTBEAT_SOURCES
    HEARTBEAT_INTERVAL HEARTBEAT_MISSED IDS IDS_LOG_DIR IDS_HOME_NET IDS_EVE_TYPES
    IDS_RULE_SOURCES IDS_CUSTOM_RULES_SHA256 IDS_EVENT_MAX_AGE VLAN_BY_VNI
)
# The IDS's rendered config, its pid file and the seconds setup-ids waits for it to read the
# capture interface (loading ET Open's rules takes a while on a small instance).
IDS_CONFIG=${CLOUDTAP_SENSOR_IDS_CONFIG:-/etc/cloudtap/suricata.yaml}
IDS_PID_FILE=${CLOUDTAP_SENSOR_IDS_PID_FILE:-/run/suricata.pid}
IDS_START_WAIT=${CLOUDTAP_SENSOR_IDS_START_WAIT:-300}
readonly IDS_UNIT=suricata.service IDS_UPDATE_TIMER=cloudtap-ids-update.timer
readonly SENSOR_UNIT=cloudtap-sensor.service
# suricata-update writes suricata.rules here, the user data the stack's custom.rules.
IDS_RULES_DIR=${CLOUDTAP_SENSOR_IDS_RULES_DIR:-/var/lib/cloudtap/rules}
IDS_LOGROTATE=${CLOUDTAP_SENSOR_IDS_LOGROTATE:-/etc/logrotate.d/cloudtap-ids}
# What the IDS was last started with and the rule sources last updated: setup-ids restarts or
# updates only when they change.
IDS_STARTED_STAMP=$STATE_DIR/ids.started
IDS_SOURCES_STAMP=$STATE_DIR/ids.rule-sources
# Suricata 7's EVE types a user may choose (components/ids.py EVE_TYPES; a test holds them).
readonly IDS_EVE_CHOICES=(
    alert anomaly http dns tls files smtp ssh flow netflow dhcp krb5 nfs smb ftp rdp sip snmp
    mqtt http2 quic pgsql ike tftp rfb bittorrent-dht drop frame
)

# log, die, read_settings and the value checks; address and link helpers (ip4_to_int, in_cidr,
# interface_in, route_device, link_mtu, ...).
readonly CLOUDTAP_TAG=cloudtap-sensor
NET_LIBRARY=${CLOUDTAP_NET_LIBRARY:-/usr/local/lib/cloudtap/cloudtap-net.sh}
if [ ! -r "$NET_LIBRARY" ]; then
    echo "$CLOUDTAP_TAG: FAILED: cannot read $NET_LIBRARY" \
        "(written by cloud-init with this script)" >&2
    exit 1
fi
# shellcheck source=../common/cloudtap-net.sh
. "$NET_LIBRARY"

underlay_interface() { # where feeds arrive: the interface on (or routing to) the feed sources
    local cidr
    # shellcheck disable=SC2086
    if interface_in $FEED_SOURCE_CIDRS; then return 0; fi
    for cidr in $FEED_SOURCE_CIDRS; do
        if route_device "$(int_to_ip4 $(($(ip4_to_int "${cidr%/*}") + 1)))"; then return 0; fi
    done
    return 1
}

quiet_link() { # no IPv6, no ARP, no multicast, no addresses: the device never speaks
    sysctl -qw "net/ipv6/conf/$1/disable_ipv6=1" 2>/dev/null || true
    ip addr flush dev "$1"
    ip link set dev "$1" mtu "$CAPTURE_MTU" arp off multicast off
    if command -v ethtool >/dev/null 2>&1; then
        # Frames must reach the IDS as they were mirrored: no merging, no re-segmenting, and
        # no checksum left for a NIC to finish (a veth never finishes it: the stack must).
        ethtool -K "$1" gro off gso off tso off tx off >/dev/null 2>&1 || true
    fi
}

no_merging() { # receive merging off on a tunnel device: copies stay the packets they were
    # GRO on a VXLAN/GRE device merges a burst of mirrored segments into one super-packet, and
    # cutting it up again for the capture interface leaves TCP checksums unfinished (Zeek and
    # Suricata then ignore the packets). Without ethtool, a GRO size limit of 0 merges nothing.
    if command -v ethtool >/dev/null 2>&1; then
        ethtool -K "$1" gro off >/dev/null 2>&1 || true
    else
        ip link set dev "$1" gro_max_size 0 2>/dev/null || true
    fi
}

merging_off() { # merging_off DEVICE: GRO off, or a GRO size limit of 0
    local features
    if command -v ethtool >/dev/null 2>&1 && features=$(ethtool -k "$1" 2>/dev/null); then
        grep -q '^generic-receive-offload: off' <<<"$features" && return 0
    fi
    [ "$(link_fields "$1" gro_max_size)" = 0 ]
}

# -- the capture interface ---------------------------------------------------------------------

capture_pair_ok() { # one veth pair: the feeder end and the capture interface, peers
    link_matches "$FEEDER" linkinfo.info_kind=veth link="$CAPTURE_INTERFACE" &&
        link_matches "$CAPTURE_INTERFACE" linkinfo.info_kind=veth link="$FEEDER"
}

apply_capture_interface() {
    FRESH_CAPTURE=no
    if ! capture_pair_ok; then
        ip link del dev "$CAPTURE_INTERFACE" 2>/dev/null || true
        ip link del dev "$FEEDER" 2>/dev/null || true
        ip link add name "$FEEDER" type veth peer name "$CAPTURE_INTERFACE" ||
            die "cannot create the capture interface $CAPTURE_INTERFACE (veth)"
        FRESH_CAPTURE=yes
        log "created capture interface $CAPTURE_INTERFACE (fed through $FEEDER)"
    fi
    quiet_link "$CAPTURE_INTERFACE"
    quiet_link "$FEEDER"
    ip link set dev "$CAPTURE_INTERFACE" up
    ip link set dev "$FEEDER" up
}

# -- kernel decapsulation devices --------------------------------------------------------------

kernel_device() { # kernel_device FEED -> device name; fails for feeds the kernel never takes
    case "$1" in
    vxlan) echo "$VXLAN_DEVICE" ;;
    gre) echo "$GRE_DEVICE" ;;
    erspan) echo "$ERSPAN_DEVICE" ;;
    *) return 1 ;;
    esac
}

kernel_kind() { # the device type (collect-metadata mode) that terminates FEED
    case "$1" in
    vxlan) echo "vxlan external" ;;
    gre) echo "gretap external" ;;
    erspan) echo "erspan external" ;;
    esac
}

kernel_device_ok() { # kernel_device_ok FEED DEVICE: the right type, in collect-metadata mode
    local kind
    kind=$(kernel_kind "$1")
    if [ "$1" = vxlan ]; then
        link_matches "$2" linkinfo.info_kind=vxlan linkinfo.info_data.external=true \
            linkinfo.info_data.port="$VXLAN_PORT"
    else
        link_matches "$2" linkinfo.info_kind="${kind%% *}" linkinfo.info_data.external=true
    fi
}

add_kernel_device() { # add_kernel_device FEED DEVICE -> the error when the kernel cannot
    case "$1" in
    vxlan) ip link add name "$2" type vxlan external dstport "$VXLAN_PORT" nolearning 2>&1 ;;
    gre) ip link add name "$2" type gretap external 2>&1 ;;
    erspan) ip link add name "$2" type erspan external 2>&1 ;;
    esac
}

redirect_ok() { # exactly one ingress filter, redirecting everything into the feeder end
    local filters
    filters=$(tc filter show dev "$1" ingress 2>/dev/null) || return 1
    (($(grep -c 'mirred' <<<"$filters") == 1)) &&
        grep -q "mirred (Egress Redirect to device $FEEDER)" <<<"$filters" &&
        ! grep -q " bpf " <<<"$filters"
}

tags_by_vni() { [ "$1" = vxlan ] && [ -n "$VLAN_BY_VNI" ]; } # FEED's device has the tagger

tagger_id() { # tagger_id DEVICE -> the tagger's id
    local id
    id=$(tc filter show dev "$1" ingress 2>/dev/null |
        sed -n "s/.* direct-action .* id \([0-9]*\) name $TAGGER_NAME .*/\1/p" | head -n 1)
    [ -n "$id" ] && echo "$id"
}

tagger_ok() { # tagger_ok DEVICE: its one ingress filter is the tagger
    local filters
    filters=$(tc filter show dev "$1" ingress 2>/dev/null) || return 1
    (($(grep -c " name $TAGGER_NAME " <<<"$filters") == 1)) && ! grep -q ' u32 ' <<<"$filters"
}

tagger_maps() { # tagger_maps configure|verify ID
    bpf_helper "$1-tagger" --prog-id "$2" --feeder "$FEEDER" --vlans "$VLAN_BY_VNI"
}

apply_tagger() { # apply_tagger DEVICE -> its id; else the reason
    local device=$1 loaded id output
    [ -r "$BPF_OBJECT" ] || { echo "$BPF_OBJECT is missing"; return 1; }
    [ -r "$BPF_HELPER" ] || { echo "$BPF_HELPER is missing"; return 1; }
    command -v "$PYTHON" >/dev/null 2>&1 || { echo "$PYTHON not found"; return 1; }
    loaded="$(sha256sum <"$BPF_OBJECT" | cut -d' ' -f1)"
    if ! { id=$(tagger_id "$device") && tagger_ok "$device" &&
        [ "$(cat "$RUN_DIR/tagger.loaded" 2>/dev/null)" = "$loaded $device $id" ]; }; then
        rm -f "$RUN_DIR/tagger.loaded"
        tc filter del dev "$device" ingress 2>/dev/null || true
        if ! output=$(tc filter add dev "$device" ingress pref 1 handle 1 bpf da \
            obj "$BPF_OBJECT" sec "$TAGGER_SECTION" 2>&1); then
            echo "tc cannot load its tagger: $(tail -n 2 <<<"$output" | tr '\n' ' ')"
            return 1
        fi
        id=$(tagger_id "$device") || { echo "tc loaded no $TAGGER_NAME program on $device"; return 1; }
        echo "$loaded $device $id" >"$RUN_DIR/tagger.loaded"
    fi
    # Until then it drops: never an untagged copy of a listed VNI.
    output=$(tagger_maps configure "$id" 2>&1) || { echo "$output"; return 1; }
    echo "$id"
}

apply_kernel_path() { # apply_kernel_path FEED -> success when the kernel now terminates FEED
    local feed=$1 device error output
    device=$(kernel_device "$feed") || return 1
    # cloudtap-decap serving this feed holds its port: the device could not come up beside it.
    # apply_decap starts it again for the feeds left to it.
    if is_decap "$(ready_value PID || true)" && [[ " $(ready_value FEEDS) " == *" $feed "* ]]; then
        stop_decap
    fi
    if ip link show dev "$device" >/dev/null 2>&1 && ! kernel_device_ok "$feed" "$device"; then
        ip link del dev "$device"
    fi
    if ! ip link show dev "$device" >/dev/null 2>&1; then
        if ! error=$(add_kernel_device "$feed" "$device"); then
            log "$feed: the kernel cannot terminate it (${error//$'\n'/ }): the next path will"
            return 1
        fi
    fi
    sysctl -qw "net/ipv6/conf/$device/disable_ipv6=1" 2>/dev/null || true
    ip link set dev "$device" mtu "$CAPTURE_MTU" arp off multicast off up
    no_merging "$device"
    if ! tc qdisc show dev "$device" | grep -q '^qdisc clsact'; then
        tc qdisc add dev "$device" clsact
    fi
    if tags_by_vni "$feed"; then
        if ! output=$(apply_tagger "$device"); then
            ip link del dev "$device" 2>/dev/null || true
            rm -f "$RUN_DIR/tagger.loaded"
            log "$feed: the kernel device cannot tag by VNI (${output//$'\n'/ }): the next path will"
            return 1
        fi
        log "$feed: kernel device $device ($(kernel_kind "$feed")) -> tc BPF tagger $output" \
            "(802.1Q by VNI: $VLAN_BY_VNI) -> $FEEDER"
        return 0
    fi
    [ "$feed" != vxlan ] || rm -f "$RUN_DIR/tagger.loaded"
    # `tc filter replace` adds a second u32 filter instead of replacing: delete, then add.
    if [ "$FRESH_CAPTURE" = yes ] || ! redirect_ok "$device"; then
        tc filter del dev "$device" ingress 2>/dev/null || true
        tc filter add dev "$device" ingress pref 1 protocol all u32 match u32 0 0 \
            action mirred egress redirect dev "$FEEDER"
    fi
    log "$feed: kernel device $device ($(kernel_kind "$feed")) -> $FEEDER"
}

remove_kernel_device() {
    local device
    device=$(kernel_device "$1") || return 0
    ip link del dev "$device" 2>/dev/null || true
}

# -- cloudtap-decap ----------------------------------------------------------------------------

supervisor() {
    if [ -n "${CLOUDTAP_SENSOR_SUPERVISOR:-}" ]; then
        echo "$CLOUDTAP_SENSOR_SUPERVISOR"
    elif [ -d /run/systemd/system ]; then
        echo systemd
    else
        echo process
    fi
}

ready_value() { # ready_value KEY -> value from cloudtap-decap's ready file
    local key value
    [ -r "$RUN_DIR/decap.ready" ] || return 1
    while IFS='=' read -r key value; do
        if [ "$key" = "$1" ]; then
            value=${value#\"}
            echo "${value%\"}"
            return 0
        fi
    done <"$RUN_DIR/decap.ready"
    return 1
}

is_decap() { # is_decap PID: alive and running cloudtap-decap
    [[ $1 =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q cloudtap-decap
}

decap_config() {
    echo "# written by cloudtap-sensor apply for cloudtap-decap"
    echo "DEVICE=\"$FEEDER\""
    echo "FEEDS=\"${DECAP_FEEDS[*]}\""
    echo "ALLOW=\"$FEED_SOURCE_CIDRS\""
    echo "VXLAN_PORT=\"$VXLAN_PORT\""
    echo "GENEVE_PORT=\"$GENEVE_PORT\""
    echo "VLAN_BY_VNI=\"$VLAN_BY_VNI\""
    echo "READY_FILE=\"$RUN_DIR/decap.ready\""
}

stop_decap() {
    local pid
    if [ "$(supervisor)" = systemd ]; then
        systemctl stop "$DECAP_UNIT" 2>/dev/null || true
    fi
    for pid in "$(ready_value PID || true)" "$(cat "$RUN_DIR/decap.pid" 2>/dev/null || true)"; do
        if is_decap "$pid"; then
            kill "$pid" 2>/dev/null || true
            for _ in 1 2 3 4 5 6 7 8 9 10; do
                is_decap "$pid" || break
                sleep 0.2
            done
            if is_decap "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
        fi
    done
    rm -f "$RUN_DIR/decap.ready" "$RUN_DIR/decap.pid"
}

decap_log_tail() {
    if [ "$(supervisor)" = systemd ]; then
        journalctl -u "$DECAP_UNIT" -n 3 -o cat 2>/dev/null | tr '\n' ' ' || true
    else
        tail -n 3 "$RUN_DIR/decap.log" 2>/dev/null | tr '\n' ' ' || true
    fi
}

apply_decap() {
    local wanted waited=0
    mkdir -p "$RUN_DIR"
    if ((${#DECAP_FEEDS[@]} == 0)); then
        stop_decap
        rm -f "$RUN_DIR/decap.conf"
        return 0
    fi
    wanted=$(decap_config)
    if [ "$FRESH_CAPTURE" = no ] && [ "$wanted" = "$(cat "$RUN_DIR/decap.conf" 2>/dev/null)" ] &&
        is_decap "$(ready_value PID || true)"; then
        log "${DECAP_FEEDS[*]}: cloudtap-decap (running, unchanged) -> $FEEDER"
        return 0
    fi
    stop_decap
    echo "$wanted" >"$RUN_DIR/decap.conf"
    [ -r "$DECAP" ] || die "the decapsulator $DECAP is missing"
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: cloudtap-decap needs Python 3"
    case "$(supervisor)" in
    systemd) systemctl restart "$DECAP_UNIT" || die "systemctl restart $DECAP_UNIT failed" ;;
    process)
        setsid "$PYTHON" -I "$DECAP" --config "$RUN_DIR/decap.conf" \
            >>"$RUN_DIR/decap.log" 2>&1 </dev/null &
        echo $! >"$RUN_DIR/decap.pid"
        ;;
    *) die "CLOUDTAP_SENSOR_SUPERVISOR must be systemd or process" ;;
    esac
    until is_decap "$(ready_value PID || true)"; do
        ((waited++ < DECAP_WAIT * 10)) ||
            die "cloudtap-decap did not start within ${DECAP_WAIT}s: $(decap_log_tail)"
        sleep 0.1
    done
    log "${DECAP_FEEDS[*]}: cloudtap-decap (userspace) -> $FEEDER"
}

# -- host feeds (the hook of cloudtap-hostfeed-listener) -----------------------------------------

host_feeds() { # host_feeds apply|check: start the listener, or print its hosts; off without conf
    [ -r "$HOSTFEED_LISTENER_CONF" ] || return 0
    # The listener's settings name the same run directory for its ready and status files.
    local ready="$RUN_DIR/hostfeed-listener.ready" pid waited=0
    if [ "$1" = check ]; then
        pid=$(sed -n 's/^PID=//p' "$ready" 2>/dev/null || true)
        if ! [[ $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
            die "cloudtap-hostfeed-listener is not running"
        fi
        "$PYTHON" -I "$HOSTFEED_LISTENER" --config "$HOSTFEED_LISTENER_CONF" --report |
            while IFS= read -r line; do log "$line"; done
        return 0
    fi
    pid=$(sed -n 's/^PID=//p' "$ready" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && kill "$pid" 2>/dev/null; then
        # Its port must be free before the next one binds it.
        while kill -0 "$pid" 2>/dev/null && ((waited++ < DECAP_WAIT * 10)); do sleep 0.1; done
        waited=0
    fi
    rm -f "$ready"
    case "$(supervisor)" in
    systemd) systemctl restart cloudtap-hostfeed-listener.service ||
        die "systemctl restart cloudtap-hostfeed-listener.service failed" ;;
    *) setsid "$PYTHON" -I "$HOSTFEED_LISTENER" --config "$HOSTFEED_LISTENER_CONF" \
        >>"$RUN_DIR/hostfeed-listener.log" 2>&1 </dev/null & ;;
    esac
    until [ -r "$ready" ]; do
        ((waited++ < DECAP_WAIT * 10)) || die "cloudtap-hostfeed-listener did not start:" \
            "$(tail -n 3 "$RUN_DIR/hostfeed-listener.log" 2>/dev/null | tr '\n' ' ')"
        sleep 0.1
    done
    log "host feeds: cloudtap-hostfeed-listener (mutual TLS) -> $FEEDER"
}

# -- the tc BPF decapsulator -------------------------------------------------------------------

path_allowed() { [[ " $DECAP_PATHS " == *" $1 "* ]]; }

bpf_program_id() { # the id of cloudtap's program on the underlay's ingress; fails if none
    local id
    id=$(tc filter show dev "$UNDERLAY" ingress pref "$BPF_PREF" 2>/dev/null |
        sed -n "s/.* direct-action .* id \([0-9]*\) name $BPF_NAME .*/\1/p" | head -n 1)
    [ -n "$id" ] && echo "$id"
}

bpf_helper() { # bpf_helper COMMAND ARGS...: cloudtap-bpf, isolated from the environment
    "$PYTHON" -I "$BPF_HELPER" "$@"
}

bpf_maps() { # bpf_maps COMMAND ID: cloudtap-bpf COMMAND, for the maps BPF_FEEDS needs
    bpf_helper "$1" --prog-id "$2" --feeder "$FEEDER" --feeds "${BPF_FEEDS[*]}" \
        --allow "$FEED_SOURCE_CIDRS" --vxlan-port "$VXLAN_PORT" --geneve-port "$GENEVE_PORT" \
        --vlans "$VLAN_BY_VNI"
}

remove_bpf() {
    tc filter del dev "$UNDERLAY" ingress pref "$BPF_PREF" 2>/dev/null || true
    rm -f "$RUN_DIR/bpf.loaded"
}

load_bpf() { # -> the reason when the program cannot be loaded here
    local loaded output id
    [ -r "$BPF_OBJECT" ] || { echo "$BPF_OBJECT is missing"; return 1; }
    [ -r "$BPF_HELPER" ] || { echo "$BPF_HELPER is missing"; return 1; }
    command -v "$PYTHON" >/dev/null 2>&1 || { echo "$PYTHON not found"; return 1; }
    loaded="$(sha256sum <"$BPF_OBJECT" | cut -d' ' -f1)"
    # The program already loaded from the same object keeps running (and counting).
    if id=$(bpf_program_id) && [ "$(cat "$RUN_DIR/bpf.loaded" 2>/dev/null)" = "$loaded $id" ]; then
        echo "$id"
        return 0
    fi
    remove_bpf
    if ! tc qdisc show dev "$UNDERLAY" | grep -q '^qdisc clsact'; then
        output=$(tc qdisc add dev "$UNDERLAY" clsact 2>&1) ||
            { echo "no clsact qdisc on $UNDERLAY: $output"; return 1; }
    fi
    if ! output=$(tc filter add dev "$UNDERLAY" ingress pref "$BPF_PREF" handle 1 bpf da \
        obj "$BPF_OBJECT" sec tc 2>&1); then
        echo "tc cannot load it: $(tail -n 2 <<<"$output" | tr '\n' ' ')"
        return 1
    fi
    id=$(bpf_program_id) || { echo "tc loaded no $BPF_NAME program on $UNDERLAY"; return 1; }
    echo "$loaded $id" >"$RUN_DIR/bpf.loaded"
    echo "$id"
}

apply_bpf() { # the feeds in BPF_FEEDS to the program; those it cannot take to DECAP_FEEDS
    local id output
    mkdir -p "$RUN_DIR"
    if ((${#BPF_FEEDS[@]} == 0)); then
        remove_bpf
        return 0
    fi
    if id=$(load_bpf) && output=$(bpf_maps configure "$id" 2>&1); then
        log "${BPF_FEEDS[*]}: tc BPF program $id on $UNDERLAY ingress -> $FEEDER"
        return 0
    fi
    output=${output:-$id}
    remove_bpf
    if ! path_allowed python; then
        die "${BPF_FEEDS[*]}: the tc BPF decapsulator cannot run here (${output//$'\n'/ })" \
            "and CLOUDTAP_SENSOR_PATHS ($DECAP_PATHS) allows no other path"
    fi
    log "${BPF_FEEDS[*]}: the tc BPF decapsulator cannot run here (${output//$'\n'/ }):" \
        "cloudtap-decap (Python, slow) will"
    DECAP_FEEDS+=("${BPF_FEEDS[@]}")
    BPF_FEEDS=()
}

bpf_served() { # the feeds cloudtap's program serves now, after verifying its maps; "" if none
    local id served output
    id=$(bpf_program_id) || return 0
    served=$(bpf_helper served --prog-id "$id") || die "cannot read the tc BPF program's maps"
    BPF_FEEDS=()
    read -r -a BPF_FEEDS <<<"$served"
    ((${#BPF_FEEDS[@]} > 0)) || return 0
    output=$(bpf_maps verify "$id" 2>&1) ||
        die "the tc BPF decapsulator on $UNDERLAY is misconfigured: $output"
    echo "${BPF_FEEDS[*]}"
}

# -- nftables ----------------------------------------------------------------------------------

feed_ports() { # UDP ports of the configured feeds
    local feed ports=()
    for feed in $FEEDS; do
        case "$feed" in
        vxlan) ports+=("$VXLAN_PORT") ;;
        geneve) ports+=("$GENEVE_PORT") ;;
        esac
    done
    elements "${ports[@]}"
}

# Bit offsets from the UDP header of a VXLAN feed packet carrying a heartbeat: VXLAN header at
# byte 8 (VNI: bytes 12-14), the inner Ethernet header at 16 (type at 28), the inner IPv4 header
# at 30 (sent without options), the inner UDP header at 50, its payload at 58.
readonly VXLAN_INNER_IPV4="@th,224,16 0x0800 @th,240,8 0x45"
readonly VXLAN_INNER_SOURCE_BIT=336

heartbeat_datagram() { # HEARTBEAT_* at bit offset $1 (its inner IPv4 destination address)
    echo "@th,$1,32 $(ip4_to_int "$HEARTBEAT_ADDRESS") @th,$(($1 + 48)),16 $HEARTBEAT_PORT" \
        "@th,$(($1 + 96)),64 $HEARTBEAT_MAGIC"
}

prefix_match() { # prefix_match BIT CIDR -> raw match of an address field's first n bits
    local length=${2#*/}
    echo "@th,$1,$length $(($(ip4_to_int "${2%/*}") >> (32 - length)))"
}

heartbeat_rules() { # heartbeat_rules vxlan|tee: one counting rule per source, then the rest
    local source network vni index=0 vxlan
    vxlan="$VXLAN_INNER_IPV4 $(heartbeat_datagram $((VXLAN_INNER_SOURCE_BIT + 32)))"
    for source in $HEARTBEAT_SOURCES; do
        index=$((index + 1))
        network=${source%:*} vni=${source##*:}
        if [ "$1" = vxlan ] && [ "$vni" != tee ]; then
            echo "        udp dport $VXLAN_PORT @th,96,24 $vni" \
                "$(prefix_match $VXLAN_INNER_SOURCE_BIT "$network") $vxlan" \
                "update @heard_$index { ip saddr } counter name \"heartbeat_$index\" drop comment \"$(heartbeat_comment "$source")\""
        elif [ "$1" = tee ] && [ "$vni" = tee ]; then
            echo "        ip saddr $network ip daddr $HEARTBEAT_ADDRESS udp dport $HEARTBEAT_PORT" \
                "@th,64,64 $HEARTBEAT_MAGIC update @heard_$index { ip saddr }" \
                "counter name \"heartbeat_$index\" drop" \
                "comment \"$(heartbeat_comment "$source")\""
        fi
    done
    if [ "$1" = vxlan ]; then
        echo "        udp dport $VXLAN_PORT $vxlan counter name \"heartbeat_other\" drop" \
            "comment \"cloudtap: heartbeats from no expected source or VNI\""
    else
        echo "        ip daddr $HEARTBEAT_ADDRESS udp dport $HEARTBEAT_PORT" \
            "@th,64,64 $HEARTBEAT_MAGIC counter name \"heartbeat_other\" drop" \
            "comment \"cloudtap: heartbeats from no expected source or VNI\""
    fi
}

heartbeat_comment() { echo "cloudtap: heartbeats from $(heartbeat_source_name "$1")"; }

heartbeat_source_name() { # NETWORK:VNI -> "the gateway mirror in NETWORK (VXLAN VNI n)"
    local vni=${1##*:}
    if [ "$vni" = tee ]; then
        echo "the gateway mirror in ${1%:*} (tee)"
    else
        echo "the gateway mirror in ${1%:*} (VXLAN VNI $vni)"
    fi
}

wants_gre() { [[ " $FEEDS " == *" gre "* || " $FEEDS " == *" erspan "* ]]; }

render_ruleset() {
    local ports
    ports=$(feed_ports)
    echo "table inet $TABLE"
    echo "delete table inet $TABLE"
    echo "table inet $TABLE {"
    echo "    comment \"owned by cloudtap-sensor: replaced whole at every run\""
    echo "    set feed_sources {"
    echo "        type ipv4_addr; flags interval"
    # shellcheck disable=SC2086
    echo "        elements = { $(elements $FEED_SOURCE_CIDRS) }"
    echo "    }"
    echo "    set health_sources {"
    echo "        type ipv4_addr; flags interval"
    # shellcheck disable=SC2086
    echo "        elements = { $(elements $HEALTH_SOURCE_CIDRS) }"
    echo "    }"
    local index
    for index in $(seq 1 "$(wc -w <<<"$HEARTBEAT_SOURCES")"); do
        echo "    counter heartbeat_$index {"
        echo "    }"
        echo "    set heard_$index {"
        echo "        type ipv4_addr; flags dynamic,timeout; timeout ${HEARD_TIMEOUT}s"
        echo "    }"
    done
    echo "    counter heartbeat_other {"
    echo "    }"
    echo "    chain heartbeats_in {"
    echo "        type filter hook prerouting priority filter; policy accept;"
    heartbeat_rules tee
    echo "    }"
    echo "    chain feeds_in {"
    echo "        type filter hook input priority filter; policy accept;"
    if [ -n "$ports" ]; then
        echo "        udp dport { $ports } ip saddr != @feed_sources drop" \
            "comment \"cloudtap: feeds only from the mirror sources\""
        echo "        meta nfproto ipv6 udp dport { $ports } drop" \
            "comment \"cloudtap: feeds only from the mirror sources\""
    fi
    if wants_gre; then
        echo "        ip protocol gre ip saddr != @feed_sources drop" \
            "comment \"cloudtap: feeds only from the mirror sources\""
        echo "        meta nfproto ipv6 meta l4proto gre drop" \
            "comment \"cloudtap: feeds only from the mirror sources\""
    fi
    echo "        tcp dport $HEALTH_PORT ip saddr != @health_sources drop" \
        "comment \"$COMMENT_HEALTH\""
    echo "        meta nfproto ipv6 tcp dport $HEALTH_PORT drop comment \"$COMMENT_HEALTH\""
    heartbeat_rules vxlan
    echo "    }"
    # An ICMP error quotes the packet it is about: 8 bytes of ICMP header, then the feed's IPv4
    # header (protocol at byte 9) and, after its 20 bytes, the UDP header (destination port).
    echo "    chain feed_errors_out {"
    echo "        type filter hook output priority filter; policy accept;"
    if [ -n "$ports" ]; then
        echo "        icmp type destination-unreachable @th,136,8 17 @th,240,16 { $ports } drop" \
            "comment \"cloudtap: never answer a feed\""
    fi
    if wants_gre; then
        echo "        icmp type destination-unreachable @th,136,8 47 drop" \
            "comment \"cloudtap: never answer a feed\""
    fi
    echo "    }"
    echo "    chain capture_in {"
    echo "        type filter hook ingress device \"$CAPTURE_INTERFACE\" priority filter;" \
        "policy drop;"
    echo "        comment \"cloudtap: captured frames never reach the sensor's own stack\""
    echo "    }"
    echo "    chain feeder_in {"
    echo "        type filter hook ingress device \"$FEEDER\" priority filter; policy drop;"
    echo "        comment \"cloudtap: nothing comes back from the capture interface\""
    echo "    }"
    echo "}"
}

# -- settings, apply, check --------------------------------------------------------------------

# The feeder end, NAME-tx, must be a valid interface name too.
is_capture_interface() { [[ ${#1} -le 12 ]] && is_interface_name "$1"; }

is_health_port() { is_port "$1" && [ "$1" != 22 ]; }
is_narrow_cidr() { is_cidr "$1" && ((${1#*/} >= 8)); }
is_vlan_pair() { # VNI:VLAN
    [[ $1 == *:* ]] && is_integer_in 1 16777215 "${1%%:*}" && is_integer_in 1 4094 "${1#*:}"
}

check_vlan_by_vni() {
    local pair pairs=() vni vlan
    local -A vlan_of=() vni_of=()
    check_setting_words VLAN_BY_VNI "VNI:VLAN pairs (VNI 1-16777215, VLAN id 1-4094)" is_vlan_pair
    read -r -a pairs <<<"$VLAN_BY_VNI"
    ((${#pairs[@]} <= MAX_VLAN_BY_VNI)) || die "$SETTINGS_FILE: VLAN_BY_VNI must list at most" \
        "$MAX_VLAN_BY_VNI pairs, not ${#pairs[@]}"
    for pair in "${pairs[@]}"; do
        vni=${pair%%:*} vlan=${pair#*:}
        [ -z "${vlan_of[$vni]:-}" ] || die "$SETTINGS_FILE: VLAN_BY_VNI must list each VNI once;" \
            "$vni is there twice"
        [ -z "${vni_of[$vlan]:-}" ] || die "$SETTINGS_FILE: VLAN_BY_VNI must give each VNI its" \
            "own VLAN; VNIs ${vni_of[$vlan]} and $vni share VLAN $vlan"
        vlan_of[$vni]=$vlan vni_of[$vlan]=$vni
    done
    VLAN_BY_VNI=${pairs[*]}
}

is_heartbeat_source() { # NETWORK:VNI or NETWORK:tee
    [[ $1 == *:* ]] && is_narrow_cidr "${1%:*}" &&
        { [ "${1##*:}" = tee ] || is_integer_in 1 16777215 "${1##*:}"; }
}

parse_settings() { # every value read as data and checked whole; nothing on the host is touched
    local key
    read_settings "$CONF" "${SETTINGS_KEYS[@]}"
    for key in FEEDS FEED_SOURCE_CIDRS CAPTURE_INTERFACE CAPTURE_MTU; do
        [ -n "${!key}" ] || die "$CONF does not set $key"
    done
    VXLAN_PORT=${VXLAN_PORT:-4789}
    GENEVE_PORT=${GENEVE_PORT:-6081}
    LOG_VOLUME=${LOG_VOLUME:-no}
    check_setting_words FEEDS "feeds vxlan, geneve, gre or erspan" is_one_of vxlan geneve gre erspan
    check_setting_words FEED_SOURCE_CIDRS "IPv4 networks a.b.c.d/n (octets 0-255, n 0-32)" is_cidr
    check_setting CAPTURE_INTERFACE \
        "an interface name of 1-12 letters, digits, _ . or - (not . or ..), leaving room for -tx" \
        is_capture_interface
    FEEDER="$CAPTURE_INTERFACE-tx"
    check_setting CAPTURE_MTU "an MTU from 1500 to 65535" is_integer_in 1500 65535
    check_setting VXLAN_PORT "a UDP port from 1 to 65535" is_port
    check_setting GENEVE_PORT "a UDP port from 1 to 65535" is_port
    check_setting_words IDS_PACKAGES \
        "distribution package names (letters, digits, + . _ -, starting with a letter or digit)" \
        is_package_name
    check_setting LOG_VOLUME "yes or no" is_one_of yes no
    HEALTH_PORT=${HEALTH_PORT:-8480}
    HEALTH_SOURCE_CIDRS=${HEALTH_SOURCE_CIDRS:-$FEED_SOURCE_CIDRS}
    HEARTBEAT_INTERVAL=${HEARTBEAT_INTERVAL:-10}
    HEARTBEAT_MISSED=${HEARTBEAT_MISSED:-3}
    check_setting HEALTH_PORT "a TCP port from 1 to 65535 other than 22" is_health_port
    check_setting_words HEALTH_SOURCE_CIDRS "IPv4 networks a.b.c.d/n (octets 0-255, n 8-32)" \
        is_narrow_cidr
    check_setting_words HEARTBEAT_SOURCES \
        "gateway mirrors NETWORK:VNI or NETWORK:tee (a.b.c.d/n with n 8-32, VNI 1-16777215)" \
        is_heartbeat_source
    check_setting HEARTBEAT_INTERVAL "seconds from 1 to 3600" is_integer_in 1 3600
    check_setting HEARTBEAT_MISSED "a count from 1 to 100" is_integer_in 1 100
    check_vlan_by_vni
    if [ -n "$LOG_MOUNT_POINT" ]; then
        check_setting LOG_MOUNT_POINT \
            "an absolute directory other than / (letters, digits, . _ / -)" is_mount_point
    fi
    parse_ids_settings
}

# -- the IDS -----------------------------------------------------------------------------------

is_sha256() { [[ $1 =~ ^[0-9a-f]{64}$ ]]; }

is_rule_source() { [[ $1 =~ ^[a-z0-9][a-z0-9_.-]{0,31}/[a-z0-9][a-z0-9_.-]{0,63}$ ]]; }

parse_ids_settings() {
    IDS=${IDS:-none}
    check_setting IDS "suricata or none" is_one_of suricata none
    [ "$IDS" = none ] && return 0
    [ -n "$IDS_LOG_DIR" ] || die "$CONF does not set IDS_LOG_DIR"
    # The lab points these at its own directories; an instance uses the rendered ones.
    IDS_LOG_DIR=${CLOUDTAP_SENSOR_IDS_LOG_DIR:-$IDS_LOG_DIR}
    check_setting IDS_LOG_DIR "an absolute directory other than / (letters, digits, . _ / -)" \
        is_mount_point
    check_setting_words IDS_RULE_SOURCES "suricata-update source names vendor/name" \
        is_rule_source
    [ -n "$IDS_HOME_NET" ] || die "$CONF does not set IDS_HOME_NET"
    check_setting_words IDS_HOME_NET "IPv4 networks a.b.c.d/n (octets 0-255, n 0-32)" is_cidr
    [ -n "$IDS_EVE_TYPES" ] || die "$CONF does not set IDS_EVE_TYPES"
    check_setting_words IDS_EVE_TYPES "Suricata EVE types" is_one_of "${IDS_EVE_CHOICES[@]}"
    if [ -n "$IDS_CUSTOM_RULES_SHA256" ]; then
        check_setting IDS_CUSTOM_RULES_SHA256 "a sha256 (64 lower-case hex digits)" is_sha256
    fi
    IDS_EVENT_MAX_AGE=${IDS_EVENT_MAX_AGE:-300}
    check_setting IDS_EVENT_MAX_AGE "seconds from 30 to 86400" is_integer_in 30 86400
}

ids_pid() { # the running IDS's pid, from its pid file
    local pid
    pid=$(cat "$IDS_PID_FILE" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q suricata || return 1
    echo "$pid"
}

ids_reads_capture() { # ids_reads_capture PID: one of its packet sockets is bound to the capture
    local pid=$1 index inodes fields
    index=$(link_fields "$CAPTURE_INTERFACE" ifindex) || return 1
    # Sockets the process holds, by inode (/proc/PID/fd links read socket:[INODE]).
    inodes=" $(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 -lname 'socket:*' -printf '%l\n' \
        2>/dev/null | tr -dc '0-9\n' | tr '\n' ' ') "
    # /proc/PID/net/packet: sk RefCnt Type Proto Iface R Rmem User Inode (its network namespace).
    while read -r -a fields; do
        [ "${fields[4]:-}" = "$index" ] && [[ $inodes == *" ${fields[8]:-x} "* ]] && return 0
    done < <(tail -n +2 "/proc/$pid/net/packet" 2>/dev/null)
    return 1
}

ids_running_for() { # seconds the process has run
    local ticks started uptime
    ticks=$(getconf CLK_TCK)
    read -r -a started <"/proc/$1/stat"
    read -r uptime _ </proc/uptime
    # Field 22 (index 21 once the command name has no spaces: Suricata-Main) is the start time.
    echo $((${uptime%.*} - started[21] / ticks))
}

render_ids_config() { # the Suricata config: components/ids.py suricata_config, byte for byte
    local type homes
    homes=$(tr ' ' ',' <<<"$IDS_HOME_NET")
    printf '%s\n' "%YAML 1.1" "---" \
        "# Rendered by cloudtap: edit the Pulumi stack, not this file. The distribution's" \
        "# suricata.yaml comes first; what follows replaces its values." \
        "include: /etc/suricata/suricata.yaml" \
        "vars.address-groups.HOME_NET: '[$homes]'" \
        "vars.address-groups.EXTERNAL_NET: '!\$HOME_NET'" \
        "default-log-dir: $IDS_LOG_DIR" \
        "default-rule-path: $IDS_RULES_DIR" \
        "rule-files:" "- suricata.rules"
    if [ -n "$IDS_CUSTOM_RULES_SHA256" ]; then echo "- custom.rules"; fi
    printf '%s\n' "outputs:" "- eve-log:" "    enabled: 'yes'" "    filetype: regular" \
        "    filename: eve.json" "    community-id: true" "    types:"
    for type in $IDS_EVE_TYPES; do echo "    - $type"; done
    printf '%s\n' "    - stats:" "        totals: 'yes'" "        threads: 'no'" \
        "af-packet:" "- interface: $CAPTURE_INTERFACE" "  cluster-id: 99" \
        "  cluster-type: cluster_flow" "  defrag: 'yes'" "  use-mmap: 'yes'" \
        "  tpacket-v3: 'yes'" "  checksum-checks: 'yes'" "stream.checksum-validation: 'yes'" \
        "stats.enabled: 'yes'" "stats.interval: 8"
}

render_ids_logrotate() { # components/ids.py logrotate_config; Suricata reopens on SIGHUP
    printf '%s\n' "# Rendered by cloudtap." "$IDS_LOG_DIR/*.log $IDS_LOG_DIR/*.json {" \
        "    daily" "    rotate 14" "    maxsize 1G" "    missingok" "    notifempty" \
        "    compress" "    delaycompress" "    sharedscripts" "    postrotate" \
        "        /bin/kill -HUP \$(cat /run/suricata.pid 2>/dev/null) 2>/dev/null || true" \
        "    endscript" "}"
}

check_custom_rules() { # the stack's rules file the settings name is the one this host holds
    local file=$IDS_RULES_DIR/custom.rules
    [ "$IDS" != none ] && [ -n "$IDS_CUSTOM_RULES_SHA256" ] || return 0
    if [ ! -r "$file" ] || [ "$(settings_sha256 "$file")" != "$IDS_CUSTOM_RULES_SHA256" ]; then
        die "the settings name custom rules (sha256 $IDS_CUSTOM_RULES_SHA256) that $file does" \
            "not hold: the stack's rules file travels in the user data, so a new one comes" \
            "with a new instance"
    fi
}

write_if_changed() { # write_if_changed PATH: stdin to PATH, atomically, when it differs
    local text
    text=$(cat)
    if [ -r "$1" ] && [ "$(cat "$1")" = "$text" ]; then return 0; fi
    mkdir -p -- "$(dirname -- "$1")"
    printf '%s\n' "$text" >"$1.tmp"
    mv -f -- "$1.tmp" "$1"
}

mount_log_volume() { # as fstab says, before the IDS starts: systemd's nofail mount is ordered
    # before nothing, and without udev (a container) never happens. nofail: ask mountpoint.
    local output
    [ "$LOG_VOLUME" = yes ] && [ -n "$LOG_MOUNT_POINT" ] || return 0
    command -v mountpoint >/dev/null 2>&1 || return 0
    mountpoint -q "$LOG_MOUNT_POINT" && return 0
    output=$(mount "$LOG_MOUNT_POINT" 2>&1) || true
    if mountpoint -q "$LOG_MOUNT_POINT"; then
        log "mounted the log volume at $LOG_MOUNT_POINT"
    else
        log "warning: cannot mount the log volume at $LOG_MOUNT_POINT${output:+: $output}"
    fi
}

write_ids_files() { # the IDS files that depend on the settings; setup-ids (re)starts the IDS
    [ "$IDS" = none ] && return 0
    check_custom_rules
    mkdir -p "$IDS_LOG_DIR" # the IDS needs it; a reboot without the log volume lacks it
    render_ids_config | write_if_changed "$IDS_CONFIG"
    render_ids_logrotate | write_if_changed "$IDS_LOGROTATE"
}

check_ids() { # the IDS runs, reads the capture interface and wrote an event recently
    local pid eve age running
    [ "$IDS" = none ] && return 0
    pid=$(ids_pid) || die "$IDS is not running (no live process in $IDS_PID_FILE)"
    ids_reads_capture "$pid" ||
        die "$IDS (pid $pid) does not read $CAPTURE_INTERFACE (no packet socket bound to it)"
    eve="$IDS_LOG_DIR/eve.json"
    running=$(ids_running_for "$pid")
    if [ -f "$eve" ]; then
        age=$(($(date +%s) - $(stat -c %Y "$eve")))
    else
        age=$running
    fi
    if ((age > IDS_EVENT_MAX_AGE)); then
        die "$IDS (pid $pid) wrote no event to $eve for ${age}s (more than $IDS_EVENT_MAX_AGE)"
    fi
    if [ -f "$eve" ]; then
        log "ok: $IDS (pid $pid) reads $CAPTURE_INTERFACE; last event ${age}s ago in $eve"
    else
        log "ok: $IDS (pid $pid) reads $CAPTURE_INTERFACE; started ${running}s ago, no event yet"
    fi
}

update_ids_rules() { # suricata-update, then a reload; a sensor without rule updates still runs
    local source output unfetched
    [ "$IDS" = none ] && return 0
    command -v suricata-update >/dev/null 2>&1 || die "suricata-update not found"
    mkdir -p "$IDS_RULES_DIR"
    for source in $IDS_RULE_SOURCES; do
        output=$(suricata-update enable-source "$source" 2>&1) ||
            log "warning: cannot enable rule source $source: $(tail -n 1 <<<"$output")"
    done
    if ! output=$(suricata-update --suricata-conf "$IDS_CONFIG" --output "$IDS_RULES_DIR" \
        --no-reload 2>&1); then
        log "warning: suricata-update failed ($(tail -n 2 <<<"$output" | tr '\n' ' ')):" \
            "the IDS keeps the rules it has"
        return 0
    fi
    # A source it cannot download is an error in its log, not in its exit status.
    unfetched=$(sed -n 's/.*Failed to fetch \([^ ]*\): .*/\1/p' <<<"$output" | tr '\n' ' ')
    if [ -n "$unfetched" ]; then
        log "warning: suricata-update could not download ${unfetched% }: the rules in" \
            "$IDS_RULES_DIR are its cached copy of them, if any, and Suricata's own"
    else
        log "rules updated in $IDS_RULES_DIR"
    fi
    if [ "$(supervisor)" = systemd ] && systemctl -q is-active "$IDS_UNIT"; then
        systemctl reload "$IDS_UNIT" || log "warning: systemctl reload $IDS_UNIT failed"
    fi
}

ids_stamp() { # what the IDS runs with: its config and the rules it was given
    cat "$IDS_CONFIG" "$IDS_RULES_DIR/custom.rules" 2>/dev/null | sha256sum | cut -d' ' -f1
}

setup_ids() {
    local waited=0 pid stamp
    if [ "$(supervisor)" != systemd ]; then
        # The lab (CLOUDTAP_SENSOR_SUPERVISOR=process) starts Suricata itself.
        [ "$IDS" = none ] || log "no systemd: $IDS_UNIT is left to this host's supervisor"
        return 0
    fi
    if [ "$IDS" = none ]; then
        # Capture only now: an IDS a former setting started stops (its packages stay).
        if systemctl cat "$IDS_UNIT" >/dev/null 2>&1; then
            systemctl disable --now "$IDS_UPDATE_TIMER" "$IDS_UNIT" >/dev/null 2>&1 || true
            rm -f -- "$IDS_STARTED_STAMP"
        fi
        return 0
    fi
    command -v suricata >/dev/null 2>&1 || die "suricata is not installed (see install-ids)"
    [ -r "$IDS_CONFIG" ] || die "the IDS config $IDS_CONFIG is missing"
    mkdir -p "$IDS_LOG_DIR" "$IDS_RULES_DIR" "$STATE_DIR"
    if [ ! -s "$IDS_RULES_DIR/suricata.rules" ] ||
        [ "$(cat "$IDS_SOURCES_STAMP" 2>/dev/null)" != "$IDS_RULE_SOURCES" ]; then
        update_ids_rules
        printf '%s\n' "$IDS_RULE_SOURCES" >"$IDS_SOURCES_STAMP"
    fi
    systemctl daemon-reload
    systemctl enable --now "$IDS_UPDATE_TIMER" || die "cannot enable $IDS_UPDATE_TIMER"
    systemctl enable "$IDS_UNIT" || die "cannot enable $IDS_UNIT"
    stamp=$(ids_stamp)
    if ! systemctl -q is-active "$IDS_UNIT" ||
        [ "$(cat "$IDS_STARTED_STAMP" 2>/dev/null)" != "$stamp" ]; then
        if ! systemctl -q is-active "$SENSOR_UNIT"; then
            # Run by cloudtap-settings.service, which the sensor's unit (and so the IDS's) waits
            # for: queued, not waited for (a deadlock); the boot's own setup-ids checks it.
            systemctl restart --no-block "$IDS_UNIT" || die "cannot queue $IDS_UNIT"
            echo "$stamp" >"$IDS_STARTED_STAMP"
            log "$IDS_UNIT starts after $SENSOR_UNIT"
            return 0
        fi
        systemctl restart "$IDS_UNIT" || die "$IDS_UNIT did not start:" \
            "$(journalctl -u "$IDS_UNIT" -n 3 -o cat 2>/dev/null | tr '\n' ' ')"
        echo "$stamp" >"$IDS_STARTED_STAMP"
    fi
    until pid=$(ids_pid) && ids_reads_capture "$pid"; do
        ((waited++ < IDS_START_WAIT)) ||
            die "$IDS did not read $CAPTURE_INTERFACE within ${IDS_START_WAIT}s"
        sleep 1
    done
    check_ids
}

load_settings() {
    parse_settings
    command -v nft >/dev/null 2>&1 || die "nft not found: install the nftables package"
    command -v tc >/dev/null 2>&1 ||
        die "tc not found: install iproute-tc (Amazon Linux) or iproute2 (Debian, Ubuntu)"
    UNDERLAY=$(underlay_interface) ||
        die "no interface carries an address in, or a route to, the feed sources" \
            "($FEED_SOURCE_CIDRS)"
    local path
    for path in $DECAP_PATHS; do
        is_one_of kernel bpf python "$path" ||
            die "CLOUDTAP_SENSOR_PATHS: got '$path'; expected some of kernel, bpf, python"
    done
}

apply() {
    local feed
    DECAP_FEEDS=()
    BPF_FEEDS=()
    if command -v ethtool >/dev/null 2>&1; then
        # Inner TCP segments must not be merged on the way in (VXLAN GRO would).
        ethtool -K "$UNDERLAY" gro off lro off >/dev/null 2>&1 || true
    else
        # Minimal Debian images lack it: say so rather than capture merged segments silently.
        log "warning: ethtool not found: GRO stays on, so the IDS may see mirrored TCP" \
            "segments merged (install ethtool)"
    fi
    mount_log_volume
    apply_capture_interface
    # Replacing the table empties its heard_N sets: keep what they know first (watching a new
    # source starts at the check, once the decapsulators are up, not here).
    [ -z "$(loaded_sources)" ] || remember_heartbeats "" "$HEARTBEAT_SOURCES"
    # Feeds are refused from anywhere else before any decapsulator listens.
    render_ruleset | nft -f - || die "nft refused the rule set"
    mkdir -p "$RUN_DIR"
    echo "$HEARTBEAT_SOURCES" >"$RUN_DIR/heartbeat-sources"
    for feed in $FEEDS; do
        if path_allowed kernel && [ "$feed" != geneve ] && apply_kernel_path "$feed"; then
            continue
        elif path_allowed bpf; then
            BPF_FEEDS+=("$feed")
        elif path_allowed python; then
            DECAP_FEEDS+=("$feed")
        else
            die "$feed: no decapsulation path (CLOUDTAP_SENSOR_PATHS is '$DECAP_PATHS')"
        fi
    done
    for feed in vxlan gre erspan; do
        if [[ " $FEEDS " != *" $feed "* ]] || [[ " ${BPF_FEEDS[*]} ${DECAP_FEEDS[*]} " == *" $feed "* ]]; then
            remove_kernel_device "$feed"
        fi
    done
    apply_bpf
    apply_decap
    host_feeds apply
    write_ids_files
}

check_capture_interface() {
    local device flags mtu
    capture_pair_ok ||
        die "the capture interface $CAPTURE_INTERFACE (veth, fed through $FEEDER) is missing"
    for device in "$CAPTURE_INTERFACE" "$FEEDER"; do
        flags=$(link_flags "$device")
        [[ $flags == *,UP,* && $flags == *,LOWER_UP,* ]] || die "$device is not up"
        mtu=$(link_mtu "$device")
        [ "$mtu" = "$CAPTURE_MTU" ] || die "$device has MTU $mtu, not $CAPTURE_MTU"
        [ -z "$(ip -o -4 addr show dev "$device")" ] || die "$device has an IPv4 address"
        [[ $flags == *,NOARP,* ]] || die "$device answers ARP"
    done
}

check_ruleset() {
    local rules
    rules=$(nft list table inet $TABLE 2>/dev/null) || die "nftables table inet $TABLE is missing"
    grep -q "drop comment \"cloudtap: feeds only from the mirror sources\"" <<<"$rules" ||
        die "the rule accepting feeds only from $FEED_SOURCE_CIDRS is missing from inet $TABLE"
    grep -q "hook ingress device \"$CAPTURE_INTERFACE\" priority filter; policy drop;" \
        <<<"$rules" || die "the capture interface's ingress drop is missing from inet $TABLE"
    grep -q "drop comment \"cloudtap: never answer a feed\"" <<<"$rules" ||
        die "the rule suppressing ICMP errors to feed sources is missing from inet $TABLE"
    grep -qF "tcp dport $HEALTH_PORT ip saddr != @health_sources drop comment \"$COMMENT_HEALTH\"" \
        <<<"$rules" || die "the rule admitting health checks only from $HEALTH_SOURCE_CIDRS" \
        "is missing from inet $TABLE"
    local source
    for source in $HEARTBEAT_SOURCES; do
        grep -qF "drop comment \"$(heartbeat_comment "$source")\"" <<<"$rules" ||
            die "the rule counting heartbeats from $(heartbeat_source_name "$source") is" \
                "missing from inet $TABLE"
    done
}

counter_packets() { # counter_packets NAME -> packets counted by inet $TABLE's named counter
    nft list counter inet $TABLE "$1" 2>/dev/null | sed -n 's/.*packets \([0-9]*\) bytes.*/\1/p'
}

# `nft -j list set` of a heard_N set -> "SECONDS_AGO ADDRESS" of its most recent element. Every
# heartbeat refreshes its sender's element (timeout HEARD_TIMEOUT), so the time left tells
# exactly when the last one came. The set's name arrives as an argument, never in the program.
readonly HEARD_TIMEOUT=86400
readonly HEARD_PROGRAM='
import json, sys
ages = []
for item in json.load(sys.stdin).get("nftables", []):
    for element in (item.get("set") or {}).get("elem") or []:
        element = element.get("elem", element) if isinstance(element, dict) else {}
        if isinstance(element, dict) and "val" in element and "expires" in element:
            ages.append((int(element.get("timeout", int(sys.argv[1]))) - int(element["expires"]),
                         str(element["val"])))
if ages:
    print(*min(ages))
'

last_heard() { # last_heard INDEX -> "SECONDS_AGO ADDRESS", or nothing
    local json
    json=$(nft -j list set inet $TABLE "heard_$1" 2>/dev/null) || return 0
    python3 -I -c "$HEARD_PROGRAM" "$HEARD_TIMEOUT" <<<"$json"
}

utc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# Which source each heard_N set of the loaded table belongs to, written once nft took that table:
# the table can be replaced by settings with other sources, in another order.
loaded_sources() {
    local word words=() sources=()
    [ -r "$RUN_DIR/heartbeat-sources" ] || return 0
    read -r -a words <"$RUN_DIR/heartbeat-sources" || true
    for word in "${words[@]}"; do
        is_heartbeat_source "$word" && sources+=("$word")
    done
    echo "${sources[*]}"
}

# remember_heartbeats WATCH KEEP: the state file folded with what the loaded table's heard_N sets
# hold. Sources in WATCH get an entry (watched from now) if they have none; entries of sources in
# KEEP or in the loaded table are kept; the rest are forgotten. When each source was last heard
# outlives the sets (apply replaces the table) in that file: our own, still read as data
# (well-formed sources, numbers, addresses only).
remember_heartbeats() {
    local state=$RUN_DIR/heartbeats keep now index=0 source age name
    local -A old_heard=() old_watched=() old_from=()
    local word_source word_heard word_watched word_from
    keep=" $1 $2 $(loaded_sources) "
    now=$(date +%s)
    if [ -r "$state" ]; then
        while read -r word_source word_heard word_watched word_from; do
            is_heartbeat_source "$word_source" || continue
            [[ $word_heard =~ ^[0-9]+$ && $word_watched =~ ^[0-9]+$ ]] || continue
            { [ "$word_from" = - ] || is_ipv4 "$word_from"; } || continue
            old_heard[$word_source]=$word_heard
            old_watched[$word_source]=$word_watched
            old_from[$word_source]=$word_from
        done <"$state"
    fi
    for source in $(loaded_sources); do
        index=$((index + 1))
        read -r age name <<<"$(last_heard "$index")"
        if [[ ${age:-} =~ ^[0-9]+$ ]] && ((now - age > ${old_heard[$source]:-0})); then
            old_heard[$source]=$((now - age)) old_from[$source]=$name
        fi
    done
    mkdir -p "$RUN_DIR"
    for source in "${!old_heard[@]}" $1; do
        [[ $keep == *" $source "* ]] || continue
        echo "$source ${old_heard[$source]:-0} ${old_watched[$source]:-$now} ${old_from[$source]:--}"
    done | sort -u -k1,1 >"$state.$$"
    mv -f "$state.$$" "$state"
}

check_heartbeats() { # prints what was heard; dies naming every silent source
    local state=$RUN_DIR/heartbeats now source heard watched from silent=() heard_list=()
    local word_source word_heard word_watched word_from limit last
    local -A known_heard=() known_watched=() known_from=()
    if [ -z "$HEARTBEAT_SOURCES" ]; then
        echo "no heartbeats expected"
        return 0
    fi
    remember_heartbeats "$HEARTBEAT_SOURCES" "$HEARTBEAT_SOURCES"
    now=$(date +%s)
    limit=$((HEARTBEAT_INTERVAL * HEARTBEAT_MISSED))
    while read -r word_source word_heard word_watched word_from; do
        known_heard[$word_source]=$word_heard
        known_watched[$word_source]=$word_watched
        known_from[$word_source]=$word_from
    done <"$state"
    for source in $HEARTBEAT_SOURCES; do
        heard=${known_heard[$source]:-0}
        watched=${known_watched[$source]:-$now}
        from=${known_from[$source]:--}
        last=$((heard > 0 ? heard : watched))
        if ((now - last > limit)); then
            if ((heard > 0)); then
                silent+=("$(heartbeat_source_name "$source"): no heartbeat since $(utc "$heard")
                    (from $from; $((now - heard)) s ago, one expected every
                    $HEARTBEAT_INTERVAL s)")
            else
                silent+=("$(heartbeat_source_name "$source"): never heard (watched since
                    $(utc "$watched"), $((now - watched)) s; one expected every
                    $HEARTBEAT_INTERVAL s)")
            fi
        elif ((heard > 0)); then
            heard_list+=("$(heartbeat_source_name "$source") heard from $from $((now - heard)) s ago")
        else
            heard_list+=("$(heartbeat_source_name "$source") not heard yet")
        fi
    done
    if ((${#silent[@]} > 0)); then
        local other joined
        other=$(counter_packets heartbeat_other)
        if ((${other:-0} > 0)); then
            silent+=("(${other} heartbeat(s) arrived from another source or with another VNI)")
        fi
        joined=$(printf '%s; ' "${silent[@]}" | tr -s ' \n' '  ')
        die "silent gateway mirror(s): ${joined%; }"
    fi
    echo "heartbeats: $(elements "${heard_list[@]}")"
}

check_feed() { # check_feed FEED BPF_SERVED -> prints how the feed is decapsulated
    local feed=$1 bpf=" $2 " device served output
    served=""
    if is_decap "$(ready_value PID || true)"; then served=" $(ready_value FEEDS || true) "; fi
    if [[ $bpf == *" $feed "* ]]; then
        [[ $served != *" $feed "* ]] ||
            die "$feed is decapsulated twice: by the tc BPF program and by cloudtap-decap"
        if device=$(kernel_device "$feed") && ip link show dev "$device" >/dev/null 2>&1; then
            die "$feed is decapsulated twice: by the tc BPF program and by $device"
        fi
        echo "$feed: bpf $UNDERLAY"
        return 0
    fi
    if device=$(kernel_device "$feed") && ip link show dev "$device" >/dev/null 2>&1; then
        [[ $served != *" $feed "* ]] ||
            die "$feed is decapsulated twice: by $device and by cloudtap-decap"
        kernel_device_ok "$feed" "$device" ||
            die "$device is not a '$(kernel_kind "$feed")' device"
        [[ $(link_flags "$device") == *,UP,* ]] || die "$device ($feed) is not up"
        if tags_by_vni "$feed"; then
            tagger_ok "$device" || die "$device ($feed) has no tc BPF tagger $TAGGER_NAME"
            output=$(tagger_maps verify "$(tagger_id "$device")" 2>&1) ||
                die "the tc BPF tagger on $device is misconfigured: $output"
        else
            redirect_ok "$device" || die "$device ($feed) does not redirect into $FEEDER"
        fi
        merging_off "$device" || die "$device ($feed) merges received packets (GRO is on):" \
            "copies would reach $CAPTURE_INTERFACE merged, with unfinished checksums"
        if tags_by_vni "$feed"; then
            echo "$feed: kernel $device with the tc BPF tagger"
        else
            echo "$feed: kernel $device"
        fi
        return 0
    fi
    [[ $served == *" $feed "* ]] || die "nothing decapsulates $feed: no kernel device" \
        "${device:+$device }, no tc BPF program on $UNDERLAY and cloudtap-decap is not running" \
        "for it ($(decap_log_tail))"
    [ "$(ready_value DEVICE || true)" = "$FEEDER" ] || die "cloudtap-decap does not write to $FEEDER"
    [ "$(ready_value VLAN_BY_VNI || true)" = "$VLAN_BY_VNI" ] ||
        die "cloudtap-decap tags by VNI '$(ready_value VLAN_BY_VNI || true)', not '$VLAN_BY_VNI'"
    echo "$feed: cloudtap-decap (Python: the slow fallback)"
}

package_installed() {
    if command -v rpm >/dev/null 2>&1; then
        rpm -q "$1" >/dev/null 2>&1
    else
        dpkg -s "$1" >/dev/null 2>&1
    fi
}

missing_ids_packages() {
    local package missing=()
    for package in $IDS_PACKAGES; do
        package_installed "$package" || missing+=("$package")
    done
    echo "${missing[*]}"
}

os_codename() { # VERSION_CODENAME of os-release, read as data (never sourced)
    local line file=${CLOUDTAP_SENSOR_OS_RELEASE:-/etc/os-release}
    [ -r "$file" ] || return 0
    while IFS= read -r line; do
        if [[ $line =~ ^VERSION_CODENAME=\"?([a-z]+)\"?$ ]]; then echo "${BASH_REMATCH[1]}"; fi
    done <"$file"
}

ids_apt_suite() { # components/ids.py APT_IDS_SUITES: where a release's apt finds the IDS
    case "$(os_codename)" in
    bookworm) echo bookworm-backports ;;
    esac
}

install_ids() {
    local missing output suite from="" release=() status=0
    missing=$(missing_ids_packages)
    [ -n "$missing" ] || return 0
    # shellcheck disable=SC2086  # a word list of validated package names
    if command -v dnf >/dev/null 2>&1; then
        output=$(dnf install -y $missing 2>&1) || die "could not install $missing (dnf:" \
            "$(tail -n 2 <<<"$output" | tr '\n' ' ')); capture works without them"
    elif command -v apt-get >/dev/null 2>&1; then
        suite=$(ids_apt_suite)
        if [ -n "$suite" ]; then
            release=(-t "$suite")
            from=" from $suite (which the image's apt sources must list)"
        fi
        # The package's postinst would start the IDS unit, which waits (After=) for
        # cloudtap-sensor.service, which waits for cloudtap-settings.service, which runs this:
        # a deadlock. Masked for the install, in /run only (a reboot clears it); setup-ids
        # starts the unit once its config is written.
        if [ "$(supervisor)" = systemd ]; then
            systemctl mask --runtime --quiet "$IDS_UNIT" || die "cannot mask $IDS_UNIT"
        fi
        output=$(DEBIAN_FRONTEND=noninteractive apt-get install -y "${release[@]}" $missing \
            2>&1) || status=$?
        if [ "$(supervisor)" = systemd ]; then
            systemctl unmask --runtime --quiet "$IDS_UNIT" || die "cannot unmask $IDS_UNIT"
        fi
        ((status == 0)) || die "could not install $missing$from (apt-get: $(tail -n 2 \
            <<<"$output" | tr '\n' ' ')); capture works without them"
    else
        die "no dnf or apt-get to install $missing"
    fi
    log "installed IDS package(s) $missing"
}

check() {
    local feed paths=() missing bpf heartbeats
    check_capture_interface
    check_ruleset
    bpf=$(bpf_served)
    for feed in $FEEDS; do
        paths+=("$(check_feed "$feed" "$bpf")")
    done
    for feed in $bpf; do
        [[ " $FEEDS " == *" $feed "* ]] || die "the tc BPF program serves $feed, not a feed here"
    done
    if [ -n "$bpf" ]; then
        read -r -a BPF_FEEDS <<<"$bpf"
        log "tc BPF decapsulator on $UNDERLAY: $(bpf_maps verify "$(bpf_program_id)" 2>&1)"
    fi
    if [ "$LOG_VOLUME" = yes ] && [ -n "$LOG_MOUNT_POINT" ] &&
        command -v mountpoint >/dev/null 2>&1 && ! mountpoint -q "$LOG_MOUNT_POINT"; then
        log "warning: the log volume is not mounted at $LOG_MOUNT_POINT"
    fi
    host_feeds check
    missing=$(missing_ids_packages)
    if [ -n "$missing" ]; then
        log "warning: IDS package(s) not installed: $missing (see cloudtap-sensor install-ids)"
    fi
    heartbeats=$(check_heartbeats)
    log "ok: capture interface $CAPTURE_INTERFACE (MTU $CAPTURE_MTU);" \
        "$(elements "${paths[@]}"); feeds from $FEED_SOURCE_CIDRS arrive on $UNDERLAY" \
        "(MTU $(link_mtu "$UNDERLAY")); $heartbeats; $(tagging)"
}

tagging() {
    if [ -n "$VLAN_BY_VNI" ]; then
        echo "802.1Q tags by VNI (VNI:VLAN) $VLAN_BY_VNI on every path"
    else
        echo "no VLAN tags"
    fi
}

health() { # runs cloudtap-health in this process's place
    [ -r "$HEALTH" ] || die "the health responder $HEALTH is missing"
    exec "$PYTHON" -I "$HEALTH" --port "$HEALTH_PORT" --every "$HEALTH_EVERY" -- "$0" check
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
        check_ids
        ;;
    setup-ids)
        load_settings
        check
        setup_ids
        ;;
    update-ids-rules)
        parse_settings
        update_ids_rules
        ;;
    render)
        load_settings
        render_ruleset
        ;;
    render-ids)
        parse_settings
        render_ids_config
        ;;
    preflight) # nothing on the host changes: nft only checks the transaction
        load_settings
        render_ruleset | nft -c -f - || die "nft refused the rule set (nft -c)"
        check_custom_rules
        ;;
    apply-settings)
        (($# == 2)) || die "usage: cloudtap-sensor apply-settings FILE"
        offer_settings "$2"
        # Capture works without the IDS packages: a failure to install them is no reason to
        # return to other feeds.
        run_self install-ids "$2" || log "warning: IDS packages not installed: $(last_failure)"
        # The settings are in force; the IDS follows them (restarted only if its config changed).
        run_self setup-ids "$2" || log "warning: the IDS is not set up: $(last_failure)"
        ;;
    install-ids)
        parse_settings
        install_ids
        ;;
    health)
        parse_settings
        health
        ;;
    *) die "unknown command '$command' (expected apply, check, apply-settings, preflight, render," \
        "render-ids, install-ids, setup-ids, update-ids-rules or health)" ;;
    esac
}

main "$@"
