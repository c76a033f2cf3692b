"""The gateway instance's boot configuration: settings file, apply script and cloud-config.

Cloud-neutral: every cloud's component passes the same :class:`NetworkPlan` through here, so the
gateway behaves the same wherever it runs (and the lab runs exactly these files).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from .cloud_config import WrittenFile, asset_text, render
from .network_plan import NetworkPlan, Tier

SETTINGS_PATH = "/etc/cloudtap/gateway.conf"
SCRIPT_PATH = "/usr/local/sbin/cloudtap-gateway"
UNIT_PATH = "/etc/systemd/system/cloudtap-gateway.service"
SERVICE = "cloudtap-gateway.service"


def _words(cidrs: Iterable[ipaddress.IPv4Network]) -> str:
    return " ".join(str(cidr) for cidr in cidrs)


def render_settings(plan: NetworkPlan) -> str:
    """The key=value file the script reads. Values are validated addresses, ports and names."""
    forwards = " ".join(
        f"{f.protocol.value}:{f.public_port}:{f.private_host}:{f.private_port}"
        for f in plan.port_forwards
    )
    lines = [
        "# cloudtap gateway settings, rendered by cloudtap: edit the Pulumi stack, not this file.",
        f'NETWORK_CIDR="{plan.cidr_block}"',
        f'PUBLIC_CIDRS="{_words(plan.cidrs(Tier.PUBLIC))}"',
        f'PRIVATE_CIDRS="{_words(plan.cidrs(Tier.PRIVATE))}"',
        f'MONITOR_CIDRS="{_words(plan.cidrs(Tier.MONITOR))}"',
        f'MANAGEMENT_CIDRS="{_words(plan.cidrs(Tier.MANAGEMENT))}"',
        "# protocol:public_port:private_host:private_port",
        f'PORT_FORWARDS="{forwards}"',
    ]
    return "\n".join(lines) + "\n"


def gateway_files(plan: NetworkPlan) -> list[WrittenFile]:
    return [
        WrittenFile(SETTINGS_PATH, render_settings(plan)),
        WrittenFile(SCRIPT_PATH, asset_text("gateway", "cloudtap-gateway.sh"), "0755"),
        WrittenFile(UNIT_PATH, asset_text("gateway", "cloudtap-gateway.service")),
    ]


def render_cloud_config(plan: NetworkPlan) -> str:
    """The gateway's user data."""
    return render(asset_text("gateway", "cloud-config.yaml"), gateway_files(plan))
