#!/usr/bin/env python3
"""cloudtap-gateway-eni: an Auto Scaling gateway claims its persistent interface and reports
its own health.

Only for ``gateway_strategy: one_per_zone`` on AWS, where each zone's gateway is an Auto Scaling
group of one. The zone's private route table and the Elastic IP point at a persistent network
interface (ENI) that outlives every instance; the instance the group launches has its own,
throw-away primary interface and takes the persistent one as device 1 at boot (the design
fck-nat uses), so a replacement needs no route change.

  cloudtap-gateway-eni claim   attach the ENI unless it is attached here already, wait for its
                               Linux interface and its address, and make the default route leave
                               by it, so masqueraded traffic carries the Elastic IP. When an
                               older instance of the group still holds it (an instance refresh
                               launches the new gateway first), take it over only once this one
                               is ready: its settings fetched and preflighted here, then a forced
                               detach of exactly that attachment, then the attach
  cloudtap-gateway-eni watch   claim again (idempotent: a route that went missing comes back; it
                               never takes the ENI from another instance), then
                               ``cloudtap-gateway check``. The first pass completes the group's
                               launch lifecycle hook (READY_HOOK): only then does an instance
                               refresh terminate the older instance. After
                               FAILURES_BEFORE_UNHEALTHY failed checks in a row, once a check has
                               passed, tell Auto Scaling the instance is unhealthy. An instance
                               whose ENI a newer one took over is superseded: it neither reclaims
                               the ENI nor reports health (the refresh terminates it)

The ENI id and the group's name come from ``/etc/cloudtap/gateway-eni.conf`` (``KEY="value"``
lines written by the user data, read as data). AWS calls are Query API requests signed with
SigV4 using the instance role's IMDSv2 credentials, through ``cloudtap-settings``'s own code
(loaded from where the user data writes it): standard library only, no AWS CLI. The role may
attach and detach only that ENI, on instances of its own group, and mark health and complete
lifecycle actions only in its own group.
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
from xml.etree import ElementTree

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
TAKEOVER_POLL = 0.5
"""Seconds between looks at a force-detached ENI: the outage lasts until it is attached here."""
TAKEOVER_WAIT = 60.0
READY_HOOK = "cloudtap-gateway-ready"
"""The group's launch lifecycle hook (components/aws/gateway_group.py; a test holds them equal)."""
SOURCE_FILE = "/etc/cloudtap/settings-source.conf"
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


@dataclass(frozen=True)
class Holder:
    """Who holds the ENI now, from DescribeNetworkInterfaces."""

    status: str
    """The ENI's: ``available``, ``in-use``, ``attaching``, ``detaching``."""
    attachment_id: str = ""
    instance_id: str = ""


ATTACHMENT_ID = re.compile(r"eni-attach-(?:[0-9a-f]{8}|[0-9a-f]{17})")


def _child_text(element: ElementTree.Element, name: str) -> str:
    found = element.find(f"{{*}}{name}")
    return (found.text or "").strip() if found is not None else ""


def holder_of(aws: Aws, claim: Claim) -> Holder:
    answer = aws.call(
        "ec2",
        {
            "Action": "DescribeNetworkInterfaces",
            "Version": EC2_API_VERSION,
            "NetworkInterfaceId.1": claim.eni_id,
        },
    )
    try:
        root = ElementTree.fromstring(answer)
    except ElementTree.ParseError as error:
        raise aws.library.SettingsError(f"DescribeNetworkInterfaces: not XML: {error}") from None
    item = root.find("{*}networkInterfaceSet/{*}item")
    if item is None or _child_text(item, "networkInterfaceId") != claim.eni_id:
        raise aws.library.SettingsError(
            f"DescribeNetworkInterfaces did not describe {claim.eni_id}"
        )
    status = _child_text(item, "status")
    attachment = item.find("{*}attachment")
    if attachment is None:
        return Holder(status)
    attachment_id = _child_text(attachment, "attachmentId")
    instance_id = _child_text(attachment, "instanceId")
    if not ATTACHMENT_ID.fullmatch(attachment_id) or not INSTANCE_ID.fullmatch(instance_id):
        raise aws.library.SettingsError(f"odd attachment of {claim.eni_id}: {attachment_id!r}")
    return Holder(status, attachment_id, instance_id)


def take_over(
    aws: Aws,
    claim: Claim,
    holder: Holder,
    prepare: Callable[[], None],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Make before break: ``prepare`` (this instance's settings fetched and preflighted) while
    the older instance still forwards, then a forced detach of exactly its attachment (IAM: this
    ENI, on an instance of this group) and wait until the ENI is free. A ``prepare`` that fails
    raises before anything is detached: the older gateway keeps forwarding."""
    prepare()
    if holder.status != "detaching":  # a terminating instance lets go by itself
        log(f"taking {claim.eni_id} over from {holder.instance_id} ({holder.attachment_id})")
        aws.call(
            "ec2",
            {
                "Action": "DetachNetworkInterface",
                "Version": EC2_API_VERSION,
                "AttachmentId": holder.attachment_id,
                "Force": "true",
            },
        )
    waited = 0.0
    while holder_of(aws, claim).status != "available":
        if waited >= TAKEOVER_WAIT:
            raise aws.library.SettingsError(
                f"{claim.eni_id} not free {TAKEOVER_WAIT:.0f}s after the detach"
            )
        sleep(TAKEOVER_POLL)
        waited += TAKEOVER_POLL


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
    prepare: Callable[[], None] | None = None,
) -> str:
    """Attach (if needed), wait for the interface and its address, route through it. With
    ``prepare`` (the boot), an ENI another instance holds is taken over (:func:`take_over`);
    without it (the watch), only a free ENI is attached."""
    macs = aws.attached_macs()
    if claim.eni_id not in macs:
        holder = holder_of(aws, claim)
        if holder.instance_id and holder.instance_id != aws.instance_id:
            if prepare is None:
                raise aws.library.SettingsError(
                    f"{claim.eni_id} is attached to {holder.instance_id}: not taken from it"
                )
            take_over(aws, claim, holder, prepare, sleep)
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


def prepare_settings(library: types.ModuleType, environ: Mapping[str, str]) -> None:
    """What the boot applies right after the takeover, made ready first: the settings fetched
    from their source and preflighted on this host (``nft -c``: nothing changes)."""
    source_file = environ.get("CLOUDTAP_SETTINGS_SOURCE", SOURCE_FILE)
    with open(source_file, encoding="utf-8") as handle:
        source = library.parse_source(handle.read(), source_file)
    text = library.fetch(source, environ)
    if text is None:
        raise library.SettingsError("a pushed settings source: nothing to preflight")
    state_dir = environ.get("CLOUDTAP_STATE_DIR", "/var/lib/cloudtap")
    os.makedirs(state_dir, mode=0o755, exist_ok=True)
    path = os.path.join(state_dir, "gateway.takeover.conf")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    try:
        result = subprocess.run(
            ["bash", environ.get("CLOUDTAP_GATEWAY_SCRIPT", GATEWAY_SCRIPT), "preflight"],
            env={**environ, "CLOUDTAP_GATEWAY_CONF": path},
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.unlink(path)
    if result.returncode != 0:
        raise library.SettingsError(
            f"the settings do not preflight here, the older gateway keeps the ENI: "
            f"{result.stderr.strip()[-300:]}"
        )
    log("settings fetched and preflighted: ready to take over")


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


NO_ACTIVE_LIFECYCLE_ACTION = "No active Lifecycle Action"
"""Auto Scaling's answer once the action is done or timed out (a reboot, a later boot)."""


def complete_launch(aws: Aws, claim: Claim) -> bool:
    """Tell the group this instance is ready (its first passed check): the launch hook holds it
    in Pending:Wait until then, so a refresh keeps the older one. True when nothing is left."""
    try:
        aws.call(
            "autoscaling",
            {
                "Action": "CompleteLifecycleAction",
                "Version": AUTOSCALING_API_VERSION,
                "AutoScalingGroupName": claim.group,
                "LifecycleHookName": READY_HOOK,
                "InstanceId": aws.instance_id,
                "LifecycleActionResult": "CONTINUE",
            },
        )
    except aws.library.SettingsError as error:
        if NO_ACTIVE_LIFECYCLE_ACTION in str(error):
            return True
        log(f"completing the launch hook failed (tried again at the next pass): {error}")
        return False
    log(f"{aws.instance_id} is ready: told group {claim.group} ({READY_HOOK})")
    return True


def superseded_by(aws: Aws, claim: Claim, state: Mapping[str, Any]) -> str | None:
    """The newer instance that took the ENI from this one, which had held it and passed. Before
    its first pass an instance is still booting: its boot's claim takes the ENI over."""
    if state.get("superseded_by"):
        return str(state["superseded_by"])
    if not state.get("passed_once") or claim.eni_id in aws.attached_macs():
        return None
    holder = holder_of(aws, claim)
    if holder.instance_id and holder.instance_id != aws.instance_id:
        return holder.instance_id
    return None


def watch(aws: Aws, claim: Claim, environ: Mapping[str, str]) -> int:
    state_file = environ.get("CLOUDTAP_GATEWAY_HEALTH_STATE", STATE_FILE)
    previous = load_state(state_file)
    try:
        newer = superseded_by(aws, claim, previous)
    except aws.library.SettingsError as error:
        log(f"cannot tell who holds {claim.eni_id}: {error}")
        newer = None
    if newer:
        # Never reclaimed (the takeover's detach-attach window would otherwise be a tug of war)
        # and never judged: the refresh terminates this instance; the newer one is not touched.
        log(f"superseded: {newer} holds {claim.eni_id}; no claim, no health report")
        save_state(state_file, {**previous, "superseded_by": newer})
        return 0
    try:
        claim_interface(aws, claim)
        passed = run(["bash", environ.get("CLOUDTAP_GATEWAY_SCRIPT", GATEWAY_SCRIPT), "check"])
        ok = passed.returncode == 0
        if not ok:
            log(f"cloudtap-gateway check failed: {passed.stderr.strip()[-300:]}")
    except aws.library.SettingsError as error:
        log(f"claim failed: {error}")
        ok = False
    state, report = judge(previous, ok)
    state["ready_reported"] = bool(previous.get("ready_reported")) or (
        ok and complete_launch(aws, claim)
    )
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
            device = claim_interface(aws, claim, prepare=lambda: prepare_settings(library, environ))
            log(f"{claim.eni_id} is {device}, the default route's interface")
            return 0
        return watch(aws, claim, environ)
    except (OSError, ValueError, KeyError, library.SettingsError) as error:
        log(f"FAILED: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv, os.environ))
