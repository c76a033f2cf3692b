#!/usr/bin/env bash
# cloudtap-settings-push: the body of the Azure VM run-command that delivers new settings.
#
# Azure passes run-command parameters to a Linux script as environment variables:
#   CLOUDTAP_SETTINGS_B64     the settings text, base64 (decoded as data, never evaluated)
#   CLOUDTAP_SETTINGS_SHA256  its sha256, checked before anything is applied
# The role (gateway or sensor) comes from the source file the user data wrote
# (/etc/cloudtap/settings-source.conf, SOURCE="pushed"); cloudtap-ROLE apply-settings then
# preflights, applies, checks and rolls back. Exit status: apply-settings' own.
set -euo pipefail

readonly CLOUDTAP_TAG=cloudtap-settings
NET_LIBRARY=${CLOUDTAP_NET_LIBRARY:-/usr/local/lib/cloudtap/cloudtap-net.sh}
if [ ! -r "$NET_LIBRARY" ]; then
    echo "$CLOUDTAP_TAG: FAILED: cannot read $NET_LIBRARY (written by cloud-init)" >&2
    exit 1
fi
# shellcheck source=cloudtap-net.sh
. "$NET_LIBRARY"

SOURCE_FILE=${CLOUDTAP_SETTINGS_SOURCE:-/etc/cloudtap/settings-source.conf}
STATE_DIR=${CLOUDTAP_STATE_DIR:-/var/lib/cloudtap}
# Far above any stack's settings: a bigger parameter is not cloudtap's.
readonly MAX_ENCODED=90000

# The first push can arrive while cloud-init is still installing nftables and writing the
# scripts (the VM agent runs commands once provisioning is reported, before runcmd): wait for
# the boot to finish, on a host that cloud-init booted.
if [ -d "${CLOUDTAP_CLOUD_INIT_RUN:-/run/cloud-init}" ] && command -v cloud-init >/dev/null; then
    cloud-init status --wait >/dev/null || log "cloud-init finished with errors: applying anyway"
fi
read_settings "$SOURCE_FILE" ROLE SOURCE SSM_PARAMETER FILE
check_setting ROLE "gateway or sensor" is_one_of gateway sensor
ENCODED=${CLOUDTAP_SETTINGS_B64:-}
EXPECTED=${CLOUDTAP_SETTINGS_SHA256:-}
[ -n "$ENCODED" ] || die "CLOUDTAP_SETTINGS_B64 is empty: no settings pushed"
((${#ENCODED} <= MAX_ENCODED)) || die "CLOUDTAP_SETTINGS_B64 is ${#ENCODED} characters, too long"
[[ $ENCODED =~ ^[A-Za-z0-9+/]+={0,2}$ ]] || die "CLOUDTAP_SETTINGS_B64 is not base64"
[[ $EXPECTED =~ ^[0-9a-f]{64}$ ]] || die "CLOUDTAP_SETTINGS_SHA256 is not a sha256 (64 hex digits)"
mkdir -p -- "$STATE_DIR"
PUSHED=$(mktemp "$STATE_DIR/$ROLE.pushed.XXXXXX")
trap 'rm -f -- "$PUSHED"' EXIT
base64 -d <<<"$ENCODED" >"$PUSHED" || die "CLOUDTAP_SETTINGS_B64 does not decode"
ACTUAL=$(settings_sha256 "$PUSHED")
[ "$ACTUAL" = "$EXPECTED" ] ||
    die "the pushed settings' sha256 is $ACTUAL, not $EXPECTED: nothing applied"
log "pushed settings $ACTUAL: cloudtap-$ROLE apply-settings"
status=0
bash "${CLOUDTAP_ROLE_SCRIPT:-/usr/local/sbin/cloudtap-$ROLE}" apply-settings "$PUSHED" || status=$?
exit "$status"
