#!/usr/bin/env bash
# cloudtap-net: logging, the settings file reader and the address and link helpers shared by
# cloudtap-gateway and cloudtap-sensor. Sourced, never run: cloud-init writes it to
# /usr/local/lib/cloudtap/cloudtap-net.sh next to both scripts (CLOUDTAP_NET_LIBRARY points
# elsewhere, as in the namespace lab). The script sets CLOUDTAP_TAG, its name in the log, first.

log() {
    local tag=${CLOUDTAP_TAG:-cloudtap}
    echo "$tag: $*" >&2
    # Under systemd stderr already goes to the journal; logger there would log every line twice.
    if [ -z "${JOURNAL_STREAM:-}" ] && command -v logger >/dev/null 2>&1; then
        logger -t "$tag" -- "$*" || true
    fi
}
die() {
    log "FAILED: $*"
    exit 1
}

# -- the settings file -------------------------------------------------------------------------
# Read as data, never sourced: these scripts run as root at every boot, and a settings value must
# not be able to become a command. A value may hold only these characters, enough for everything
# cloudtap writes (networks, port forwards, names, paths, numbers) and nothing a shell interprets.
# Spelled out, not as ranges, which some locales widen. components/cloud_config.py renders values
# from the same set (SETTINGS_VALUE_CHARACTERS there too); a test holds the two to each other.
readonly SETTINGS_VALUE_CHARACTERS='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ._/:,+-'

# read_settings FILE KEY...: set every KEY from FILE, to "" when FILE does not set it.
# FILE holds blank lines, comments (#...) and KEY=value or KEY="value" lines: each KEY one of
# those given, at most once; a value unquoted only without spaces. Anything else is refused
# (die, naming the line) before any KEY is set. SETTINGS_FILE names FILE for later messages.
read_settings() {
    local file=$1 line number=0 key value indented _nul
    local -A values=() first_line=()
    shift
    for key in "$@"; do
        [[ $key =~ ^[A-Z][A-Z0-9_]*$ ]] || die "read_settings: '$key' is not a settings key"
    done
    SETTINGS_FILE=$file
    [ -r "$file" ] || die "cannot read settings file $file"
    # `read` drops NUL bytes silently, which could join two halves of a value into a third.
    if IFS= read -r -d '' _nul <"$file"; then die "$file: holds a NUL byte"; fi
    while IFS= read -r line || [ -n "$line" ]; do
        number=$((number + 1))
        indented=${line#"${line%%[! ]*}"}
        if [[ -z $indented || $indented == "#"* ]]; then continue; fi
        [[ $line == *=* ]] ||
            die "$file line $number: expected KEY=value, a comment or a blank line," \
                "not $(printf %q "$line")"
        key=${line%%=*}
        value=${line#*=}
        # The key's shape first: it then cannot match across two allowed keys, and is safe to
        # use as an array subscript.
        [[ $key =~ ^[A-Z][A-Z0-9_]*$ && " $* " == *" $key "* ]] ||
            die "$file line $number: unknown key $(printf %q "$key") (expected one of: $*)"
        [ -z "${first_line[$key]:-}" ] ||
            die "$file line $number: $key is set twice (first on line ${first_line[$key]})"
        first_line[$key]=$number
        if [[ ${#value} -ge 2 && $value == \"*\" ]]; then
            value=${value:1:${#value}-2}
        elif [[ $value == *" "* ]]; then
            die "$file line $number: $key: a value with spaces must be in double quotes" \
                "($(printf %q "$value"))"
        fi
        [[ $value != *\"* ]] ||
            die "$file line $number: $key: a double quote inside the value or an unbalanced one" \
                "($(printf %q "$value"))"
        [[ $value != *[!$SETTINGS_VALUE_CHARACTERS]* ]] ||
            die "$file line $number: $key: the value $(printf %q "$value") holds a character" \
                "other than letters, digits, space and . / : _ - , +"
        values[$key]=$value
    done <"$file"
    for key in "$@"; do
        printf -v "$key" '%s' "${values[$key]:-}"
    done
}

# Checks of one value, each whole: a prefix or a part that fits is not enough.
readonly _OCTET='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'

is_ipv4() { # no leading zeros: bash arithmetic (ip4_to_int) would read 010 as octal
    [[ $1 =~ ^($_OCTET\.){3}$_OCTET$ ]]
}

is_cidr() { [[ $1 =~ ^(($_OCTET\.){3}$_OCTET)/(3[0-2]|[12][0-9]|[0-9])$ ]]; }

is_integer_in() { # is_integer_in MIN MAX VALUE
    [[ $3 =~ ^(0|[1-9][0-9]{0,9})$ ]] && (($3 >= $1 && $3 <= $2))
}

is_port() { is_integer_in 1 65535 "$1"; }

is_one_of() { # is_one_of CHOICE... VALUE
    local value=${!#} choice
    for choice in "${@:1:$#-1}"; do
        if [ "$choice" = "$value" ]; then return 0; fi
    done
    return 1
}

is_interface_name() { # what Linux takes: at most 15 bytes, no slash or space, not . or ..
    [[ $1 =~ ^[A-Za-z0-9_.-]{1,15}$ && $1 != . && $1 != .. ]]
}

is_mount_point() { [[ $1 =~ ^/[A-Za-z0-9._/-]*$ && $1 == *[!/]* ]]; }

is_package_name() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9+._-]*$ ]]; }

is_port_forward() { # protocol:public_port:private_host:private_port
    [[ $1 =~ ^(tcp|udp):([0-9]+):([0-9.]+):([0-9]+)$ ]] || return 1
    local parts=("${BASH_REMATCH[@]}") # each check below matches again, replacing BASH_REMATCH
    is_port "${parts[2]}" && is_ipv4 "${parts[3]}" && is_port "${parts[4]}"
}

# check_setting KEY EXPECTED TEST [ARG...]: die unless `TEST ARG... "$KEY"` succeeds.
# Values passed read_settings, so quoting them in a message cannot be ambiguous.
check_setting() {
    local key=$1 expected=$2
    shift 2
    "$@" "${!key}" || die "$SETTINGS_FILE: $key must be $expected, not '${!key}'"
}

# check_setting_words KEY EXPECTED TEST [ARG...]: the same for each space-separated word.
check_setting_words() {
    local key=$1 expected=$2 word words
    shift 2
    read -r -a words <<<"${!key}"
    for word in "${words[@]}"; do
        "$@" "$word" || die "$SETTINGS_FILE: $key must list $expected; '$word' is not one"
    done
}

# -- addresses and links -----------------------------------------------------------------------

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

# Devices are recognised from `ip -j -d link show` (JSON), never from the human output, whose
# order changes between iproute2 releases (6.1: "vxlan external id 0", 6.15: "vxlan id 0 ...
# external"). python3 reads it: every image that runs cloud-init has it, jq is not guaranteed.
# The field paths arrive as arguments, never inside the program.
LINK_FIELDS_PROGRAM='
import json, sys
links = json.load(sys.stdin)
for path in sys.argv[1:]:
    value = links[0] if links else None
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, list):
        value = ",".join(str(item) for item in value)
    print("" if value is None else value)
'

link_fields() { # link_fields DEVICE PATH... -> one line per PATH (e.g. linkinfo.info_kind): its
    # value, "" when absent, lists comma-joined, booleans true/false; fails if DEVICE is missing
    local device=$1 json
    shift
    json=$(ip -j -d link show dev "$device" 2>/dev/null) || return 1
    python3 -I -c "$LINK_FIELDS_PROGRAM" "$@" <<<"$json"
}

link_matches() { # link_matches DEVICE PATH=VALUE... -> success when DEVICE has every VALUE
    local device=$1 pair paths=() wanted=() output values=() index
    shift
    for pair in "$@"; do
        paths+=("${pair%%=*}")
        wanted+=("${pair#*=}")
    done
    output=$(link_fields "$device" "${paths[@]}") || return 1
    mapfile -t values <<<"$output"
    for index in "${!paths[@]}"; do
        [ "${values[index]-}" = "${wanted[index]}" ] || return 1
    done
}

link_flags() { # link_flags DEVICE -> ",UP,LOWER_UP," style flags; fails if DEVICE is missing
    local flags
    flags=$(link_fields "$1" flags) || return 1
    echo ",$flags,"
}

link_mtu() {
    local mtu
    mtu=$(link_fields "$1" mtu) || return 1
    [[ $mtu =~ ^[0-9]+$ ]] || return 1
    echo "$mtu"
}

elements() { # elements WORD... -> "a, b, c" for an nftables set
    local IFS=,
    local joined="$*"
    echo "${joined//,/, }"
}

# -- settings offered to a running host (apply-settings) ---------------------------------------
# A new settings file is never applied blind: `preflight` (parse it, render the rule set,
# `nft -c`) must pass before the host is touched, and if `apply` or its `check` then fails the
# last good settings are applied again. Each step runs as a child process of the script itself
# (SELF), because a die inside a subshell tested by `if` would not stop at the first error.
# The script sets, before calling offer_settings: SELF (its own path), SETTINGS_ENV (the
# variable naming its settings file), STATE_DIR, GOOD_SETTINGS and STATUS_FILE.

settings_sha256() {
    local sum
    sum=$(sha256sum <"$1") || return 1
    echo "${sum%% *}"
}

# One JSON object, replaced atomically: what the stack (and `cloudtap-settings`) reads back.
STATUS_PROGRAM='
import json, os, sys, time
path, result, sha256, offered, message = sys.argv[1:6]
status = {
    "result": result,
    "sha256": sha256,
    "offered_sha256": offered,
    "message": message,
    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
}
with open(path + ".tmp", "w", encoding="utf-8") as out:
    json.dump(status, out, sort_keys=True)
    out.write("\n")
os.replace(path + ".tmp", path)
'

# write_status RESULT SHA256_IN_FORCE OFFERED_SHA256 MESSAGE
write_status() {
    python3 -I -c "$STATUS_PROGRAM" "$STATUS_FILE" "$@" ||
        log "warning: could not write the status file $STATUS_FILE"
}

remember_good() { # the settings just applied and checked become the ones a rollback returns to
    cp -- "$1" "$GOOD_SETTINGS.tmp"
    chmod 0600 "$GOOD_SETTINGS.tmp"
    mv -f -- "$GOOD_SETTINGS.tmp" "$GOOD_SETTINGS"
}

# run_self COMMAND FILE: the script's COMMAND with FILE as its settings; its log is printed
# (stderr: the journal) and kept in STEP_LOG for the status message.
run_self() {
    local status=0
    STEP_LOG=$(env "$SETTINGS_ENV=$2" "$BASH" "$SELF" "$1" 2>&1) || status=$?
    if [ -n "$STEP_LOG" ]; then printf '%s\n' "$STEP_LOG" >&2; fi
    return "$status"
}

last_failure() { # the reason of the last FAILED line in STEP_LOG
    local line reason="exited non-zero without saying why"
    while IFS= read -r line; do
        if [[ $line == *"FAILED: "* ]]; then reason=${line#*FAILED: }; fi
    done <<<"$STEP_LOG"
    echo "$reason"
}

# offer_settings FILE: check FILE, apply it, verify; roll back to the last good settings on any
# failure. Exit status 0 only when FILE is in force. Status results: applied, refused (nothing
# changed), rolled-back (the last good settings are in force again), failed (nothing to return
# to, or the return failed too: the host may be half-configured).
offer_settings() {
    local file=$1 offered current="" reason
    [ -r "$file" ] || die "apply-settings: cannot read $file"
    mkdir -p -- "$STATE_DIR"
    offered=$(settings_sha256 "$file")
    if [ -r "$GOOD_SETTINGS" ]; then current=$(settings_sha256 "$GOOD_SETTINGS"); fi
    if ! run_self preflight "$file"; then
        reason=$(last_failure)
        write_status refused "$current" "$offered" "$reason"
        die "refused settings $offered, nothing changed: $reason"
    fi
    if run_self apply "$file"; then
        remember_good "$file"
        write_status applied "$offered" "$offered" "applied and checked"
        log "applied settings $offered"
        return 0
    fi
    reason=$(last_failure)
    if [ -z "$current" ]; then
        write_status failed "" "$offered" "$reason; no last good settings to return to"
        die "settings $offered failed ($reason) and there are no last good settings"
    fi
    if ! run_self apply "$GOOD_SETTINGS"; then
        write_status failed "" "$offered" "$reason; returning to $current failed: $(last_failure)"
        die "settings $offered failed ($reason); returning to $current failed too"
    fi
    write_status rolled-back "$current" "$offered" "$reason"
    log "ROLLED BACK: settings $offered failed ($reason); the last good settings $current" \
        "are in force again"
    exit 1
}
