#!/usr/bin/env python3
"""cloudtap-gateway-eni: an Auto Scaling gateway claims its persistent interface and reports
its own health.

Only for ``gateway_strategy: one_per_zone`` on AWS, where each zone's gateway is an Auto Scaling
group of one. The zone's private route table and the Elastic IP point at a persistent network
interface (ENI) that outlives every instance; the instance the group launches has its own,
throw-away primary interface and takes the persistent one as device 1 at boot (the design
fck-nat uses), so a replacement needs no route change.

  cloudtap-gateway-eni claim   attach the ENI unless it is attached here already (retrying
                               while the dead instance still holds it), wait for its Linux
                               interface and its address, and make the default route leave by
                               it, so masqueraded traffic carries the Elastic IP
  cloudtap-gateway-eni watch   claim again (idempotent: a route that went missing comes back),
                               then ``cloudtap-gateway check``; after FAILURES_BEFORE_UNHEALTHY
                               failed checks in a row, once a check has passed on this instance,
                               tell Auto Scaling the instance is unhealthy so it is replaced

The ENI id and the group's name come from ``/etc/cloudtap/gateway-eni.conf`` (``KEY="value"``
lines written by the user data, read as data). AWS calls are Query API requests signed with
SigV4 using the instance role's IMDSv2 credentials, through ``cloudtap-settings``'s own code
(loaded from where the user data writes it): standard library only, no AWS CLI. The role may
attach only that ENI, and mark health only in its own group.
"""

from __future__ import annotations

import datetime
import importlib.machinery
import importlib.util
import ipaddress
import json
import os
import re
import subprocess
import sys
import time
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

TAG = "cloudtap-gateway-eni"
CONFIG_FILE = "/etc/cloudtap/gateway-eni.conf"
CONFIG_KEYS = ("ENI_ID", "AUTO_SCALING_GROUP")
SETTINGS_LIBRARY = "/usr/local/sbin/cloudtap-settings"
GATEWAY_SCRIPT = "/usr/local/sbin/cloudtap-gateway"
STATE_FILE = "/var/lib/cloudtap/gateway-health.json"
# EC2 ids: 8 (older resources) or 17 lower-case hex digits, as components/shapes.py says.
ENI_ID = re.compile(r"eni-(?:[0-9a-f]{8}|[0-9a-f]{17})")
INSTANCE_ID = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})")
GROUP_NAME = re.compile(r"[A-Za-z0-9._-]{1,255}")
MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
DEVICE_INDEX = 1
"""The persistent ENI's slot: device 0 is the instance's own primary interface."""
ROUTE_METRIC = 10
"""Below the metrics the image's network tooling gives every interface's default route (AL2023's
amazon-ec2-net-utils: 512 and up), so this route wins without deleting theirs."""
ATTACH_ATTEMPTS = 60
ATTACH_INTERVAL = 5.0
"""Seconds between attempts: the terminated instance frees the ENI within a minute or two."""
INTERFACE_WAIT = 60.0
FAILURES_BEFORE_UNHEALTHY = 3
"""With the 20-second timer: a minute of broken forwarding, not one unlucky check."""
EC2_API_VERSION = "2016-11-15"
AUTOSCALING_API_VERSION = "2011-01-01"


def log(message: str) -> None:
    print(f"{TAG}: {message}", file=sys.stderr, flush=True)


def load_settings_library(path: str) -> types.ModuleType:
    """``cloudtap-settings`` as a module (its file has no ``.py``): HTTP, and its AWS half
    (IMDSv2, SigV4) through its ``aws``."""
    loader = importlib.machinery.SourceFileLoader("cloudtap_settings", path)
    spec = importlib.util.spec_from_loader("cloudtap_settings", loader)
    if spec is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered first: its dataclasses look their module up while the class is made.
    sys.modules[spec.name] = module
    loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Claim:
    eni_id: str
    group: str


def parse_config(library: types.ModuleType, text: str, name: str = CONFIG_FILE) -> Claim:
    values = library.read_settings_text(text, CONFIG_KEYS, name)
    if not ENI_ID.fullmatch(values["ENI_ID"]):
        raise library.SettingsError(f"{name}: ENI_ID must be an interface id eni-...")
    if not GROUP_NAME.fullmatch(values["AUTO_SCALING_GROUP"]):
        raise library.SettingsError(f"{name}: AUTO_SCALING_GROUP must be a group name")
    return Claim(values["ENI_ID"], values["AUTO_SCALING_GROUP"])


class Aws:
    """Signed Query API calls with the instance role, in the instance's own region."""

    def __init__(self, library: types.ModuleType, environ: Mapping[str, str]) -> None:
        self.library = library
        self.half = half = library.aws(environ)  # its AWS half: IMDSv2, SigV4
        self.environ = environ
        self.imds = half.Imds(environ.get("CLOUDTAP_IMDS_URL", "http://169.254.169.254"))
        self.region = self.imds.get("meta-data/placement/region")
        self.domain = self.imds.get("meta-data/services/domain")
        if not half.REGION.fullmatch(self.region) or not half.DOMAIN.fullmatch(self.domain):
            raise library.SettingsError(f"IMDS reported an odd region or domain: {self.region!r}")
        self.instance_id = self.imds.get("meta-data/instance-id")
        if not INSTANCE_ID.fullmatch(self.instance_id):
            raise library.SettingsError(f"IMDS reported an odd instance id {self.instance_id!r}")

    def call(self, service: str, parameters: Mapping[str, str]) -> bytes:
        override = f"CLOUDTAP_{service.upper()}_ENDPOINT"
        endpoint = self.environ.get(override, f"https://{service}.{self.region}.{self.domain}/")
        body = urlencode(sorted(parameters.items())).encode("ascii")
        headers = self.half.sigv4_headers(
            method="POST",
            url=endpoint,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            body=body,
            credentials=self.imds.credentials(),
            region=self.region,
            service=service,
            now=datetime.datetime.now(self.half.UTC),
        )
        data: bytes = self.library.http("POST", endpoint, headers, body)
        return data

    def attached_macs(self) -> dict[str, str]:
        """ENI id -> MAC of every interface attached to this instance, as IMDS sees them."""
        found = {}
        for line in self.imds.get("meta-data/network/interfaces/macs/").splitlines():
            mac = line.strip().rstrip("/")
            if MAC.fullmatch(mac):
                found[self.imds.get(f"meta-data/network/interfaces/macs/{mac}/interface-id")] = mac
        return found

    def subnet_of(self, mac: str) -> ipaddress.IPv4Network:
        text = self.imds.get(f"meta-data/network/interfaces/macs/{mac}/subnet-ipv4-cidr-block")
        return ipaddress.IPv4Network(text)


def attach(aws: Aws, claim: Claim, sleep: Callable[[float], None] = time.sleep) -> None:
    """AttachNetworkInterface, retried while the ENI is still in use by the instance this one
    replaces (AWS detaches it when that instance has terminated)."""
    for attempt in range(1, ATTACH_ATTEMPTS + 1):
        try:
            aws.call(
                "ec2",
                {
                    "Action": "AttachNetworkInterface",
                    "Version": EC2_API_VERSION,
                    "NetworkInterfaceId": claim.eni_id,
                    "InstanceId": aws.instance_id,
                    "DeviceIndex": str(DEVICE_INDEX),
                },
            )
            log(f"attached {claim.eni_id} to {aws.instance_id} as device {DEVICE_INDEX}")
            return
        except aws.library.SettingsError as error:
            if attempt == ATTACH_ATTEMPTS:
                raise
            log(f"attach {claim.eni_id} (attempt {attempt}/{ATTACH_ATTEMPTS}): {error}")
            sleep(ATTACH_INTERVAL)


def local_interface(mac: str, sys_class_net: str = "/sys/class/net") -> str | None:
    """The Linux interface with ``mac``, found by address, never by name (names differ)."""
    for name in sorted(os.listdir(sys_class_net)):
        try:
            with open(os.path.join(sys_class_net, name, "address"), encoding="ascii") as handle:
                if handle.read().strip().lower() == mac:
                    return name
        except OSError:
            continue
    return None


def run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, check=False)


def interface_address(device: str, runner: Callable[..., Any] = run) -> str | None:
    result = runner(["ip", "-j", "-4", "addr", "show", "dev", device])
    if result.returncode != 0:
        return None
    for link in json.loads(result.stdout or "[]"):
        for entry in link.get("addr_info", []):
            if entry.get("family") == "inet":
                return str(entry["local"])
    return None


def default_route_command(device: str, subnet: ipaddress.IPv4Network) -> list[str]:
    """The VPC router is the subnet's first address; ``replace`` makes the command idempotent."""
    router = str(subnet.network_address + 1)
    return [
        "ip", "-4", "route", "replace", "default", "via", router, "dev", device,
        "metric", str(ROUTE_METRIC),
    ]  # fmt: skip


def claim_interface(
    aws: Aws,
    claim: Claim,
    *,
    runner: Callable[..., Any] = run,
    sleep: Callable[[float], None] = time.sleep,
    sys_class_net: str = "/sys/class/net",
) -> str:
    """Attach (if needed), wait for the interface and its address, route through it."""
    macs = aws.attached_macs()
    if claim.eni_id not in macs:
        attach(aws, claim, sleep)
    waited = 0.0
    device = address = None
    while waited <= INTERFACE_WAIT:
        macs = aws.attached_macs()
        mac = macs.get(claim.eni_id)
        device = local_interface(mac, sys_class_net) if mac else None
        address = interface_address(device, runner) if device else None
        if mac and device and address:
            result = runner(default_route_command(device, aws.subnet_of(mac)))
            if result.returncode != 0:
                raise aws.library.SettingsError(f"default route via {device}: {result.stderr}")
            return device
        sleep(1.0)
        waited += 1.0
    raise aws.library.SettingsError(
        f"{claim.eni_id} is attached but no interface with its address appeared "
        f"(interface {device or 'not found'})"
    )


def load_state(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
    except (OSError, ValueError):
        return {"passed_once": False, "failures": 0}
    return state if isinstance(state, dict) else {"passed_once": False, "failures": 0}


def save_state(path: str, state: Mapping[str, Any]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.new"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    os.replace(temporary, path)


def judge(state: Mapping[str, Any], passed: bool) -> tuple[dict[str, Any], bool]:
    """(new state, report unhealthy now). A gateway that never passed its check is left alone:
    its settings or image are wrong, and a replacement would fail the same way, in a loop."""
    if passed:
        return {"passed_once": True, "failures": 0}, False
    failures = int(state.get("failures", 0)) + 1
    passed_once = bool(state.get("passed_once", False))
    report = passed_once and failures >= FAILURES_BEFORE_UNHEALTHY
    return {"passed_once": passed_once, "failures": failures}, report


def set_unhealthy(aws: Aws, claim: Claim) -> None:
    aws.call(
        "autoscaling",
        {
            "Action": "SetInstanceHealth",
            "Version": AUTOSCALING_API_VERSION,
            "InstanceId": aws.instance_id,
            "HealthStatus": "Unhealthy",
            # The grace period covers the boot: a new gateway is not judged before it is up.
            "ShouldRespectGracePeriod": "true",
        },
    )
    log(f"told Auto Scaling group {claim.group} that {aws.instance_id} is unhealthy")


def watch(aws: Aws, claim: Claim, environ: Mapping[str, str]) -> int:
    try:
        claim_interface(aws, claim)
        passed = run(["bash", environ.get("CLOUDTAP_GATEWAY_SCRIPT", GATEWAY_SCRIPT), "check"])
        ok = passed.returncode == 0
        if not ok:
            log(f"cloudtap-gateway check failed: {passed.stderr.strip()[-300:]}")
    except aws.library.SettingsError as error:
        log(f"claim failed: {error}")
        ok = False
    state_file = environ.get("CLOUDTAP_GATEWAY_HEALTH_STATE", STATE_FILE)
    state, report = judge(load_state(state_file), ok)
    save_state(state_file, state)
    if report:
        set_unhealthy(aws, claim)
    return 0 if ok else 1


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    if len(argv) != 2 or argv[1] not in ("claim", "watch"):
        log("usage: cloudtap-gateway-eni claim|watch")
        return 2
    library = load_settings_library(environ.get("CLOUDTAP_SETTINGS_LIBRARY", SETTINGS_LIBRARY))
    try:
        with open(environ.get("CLOUDTAP_GATEWAY_ENI_CONF", CONFIG_FILE), encoding="utf-8") as f:
            claim = parse_config(library, f.read())
        aws = Aws(library, environ)
        if argv[1] == "claim":
            log(f"{claim.eni_id} is {claim_interface(aws, claim)}, the default route's interface")
            return 0
        return watch(aws, claim, environ)
    except (OSError, ValueError, KeyError, library.SettingsError) as error:
        log(f"FAILED: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv, os.environ))
