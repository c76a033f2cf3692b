"""``cloudtap-gateway-eni``, the Auto Scaling gateway's boot step and health watch, run against a
local stand-in for IMDSv2, EC2 and Auto Scaling: what it signs and sends, when it retries, when
it reports the instance unhealthy, and how the gateway script then picks its WAN interface."""

from __future__ import annotations

import http.server
import importlib.machinery
import importlib.util
import ipaddress
import json
import os
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from components.aws.gateway_group import ENI_CONFIG_KEYS, READY_HOOK, render_eni_config

ASSETS = Path(__file__).resolve().parent.parent / "components" / "assets"
SETTINGS_LIBRARY = ASSETS / "common" / "cloudtap_settings.py"
ENI_ID = "eni-0123456789abcdef0"
OTHER_ENI = "eni-0fedcba9876543210"
INSTANCE = "i-0123456789abcdef0"
MAC = "02:00:00:00:00:01"
PRIMARY_MAC = "02:00:00:00:00:00"
GROUP = "cloudtap-cloudtap-test-cloudtap-gateway-1"
OLDER = "i-0aaaaaaaaaaaaaaa1"
"""The older instance of the group, still forwarding while the new one boots."""
ATTACHMENT = "eni-attach-0123456789abcdef0"


def describe_answer(status: str, instance: str | None) -> str:
    """DescribeNetworkInterfaces as EC2 answers it (its XML namespace included)."""
    attachment = (
        f"<attachment><attachmentId>{ATTACHMENT}</attachmentId>"
        f"<instanceId>{instance}</instanceId><deviceIndex>1</deviceIndex>"
        f"<status>attached</status></attachment>"
        if instance
        else ""
    )
    return (
        '<DescribeNetworkInterfacesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        f"<networkInterfaceSet><item><networkInterfaceId>{ENI_ID}</networkInterfaceId>"
        f"<status>{status}</status>{attachment}</item></networkInterfaceSet>"
        "</DescribeNetworkInterfacesResponse>"
    )


def load(path: Path, name: str) -> types.ModuleType:
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


ENI = load(ASSETS / "gateway" / "cloudtap_gateway_eni.py", "cloudtap_gateway_eni")
LIBRARY = ENI.load_settings_library(str(SETTINGS_LIBRARY))


class FakeAwsServer(http.server.BaseHTTPRequestHandler):
    """IMDSv2 (token first), then EC2 and Auto Scaling Query API calls, recorded."""

    state: dict[str, Any]

    def log_message(self, *_args: object) -> None:
        return None

    def _answer(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:
        self._answer(200, "token-1")

    def do_GET(self) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") != "token-1":
            self._answer(401, "no token")
            return
        attached = self.state["attached"]
        macs = {PRIMARY_MAC: "eni-0aaaaaaaaaaaaaaaa", **({MAC: ENI_ID} if attached else {})}
        answers = {
            "/latest/meta-data/placement/region": "eu-west-1",
            "/latest/meta-data/services/domain": "amazonaws.com",
            "/latest/meta-data/instance-id": INSTANCE,
            "/latest/meta-data/iam/security-credentials/": "gateway-role",
            "/latest/meta-data/iam/security-credentials/gateway-role": json.dumps(
                {"AccessKeyId": "AKIDEXAMPLE", "SecretAccessKey": "secret", "Token": "session"}
            ),
            "/latest/meta-data/network/interfaces/macs/": "\n".join(f"{m}/" for m in macs),
            **{f"/latest/meta-data/network/interfaces/macs/{m}/interface-id": e
               for m, e in macs.items()},
            f"/latest/meta-data/network/interfaces/macs/{MAC}/subnet-ipv4-cidr-block":
                "10.0.16.0/20",
        }  # fmt: skip
        if self.path in answers:
            self._answer(200, answers[self.path])
        else:
            self._answer(404, "not found")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        call = {key: values[0] for key, values in parse_qs(body).items()}
        call["Authorization"] = self.headers["Authorization"]
        call["Path"] = self.path
        self.state["calls"].append(call)
        if call["Action"] == "AttachNetworkInterface" and self.state["busy"] > 0:
            self.state["busy"] -= 1
            self._answer(400, "<Code>InvalidNetworkInterface.InUse</Code>")
            return
        if call["Action"] == "AttachNetworkInterface" and self.state["holder"]:
            self._answer(400, "<Code>InvalidNetworkInterface.InUse</Code>")
            return
        if call["Action"] == "AttachNetworkInterface":
            self.state["attached"] = True
        if call["Action"] == "DescribeNetworkInterfaces":
            if self.state["attached"]:
                self._answer(200, describe_answer("in-use", INSTANCE))
            elif self.state["holder"]:
                self._answer(200, describe_answer("in-use", self.state["holder"]))
            elif self.state["detaching"] > 0:  # a forced detach takes a moment
                self.state["detaching"] -= 1
                self._answer(200, describe_answer("detaching", None))
            else:
                self._answer(200, describe_answer("available", None))
            return
        if call["Action"] == "DetachNetworkInterface":
            assert call["AttachmentId"] == ATTACHMENT
            self.state["holder"] = None
        if call["Action"] == "CompleteLifecycleAction" and self.state["no_lifecycle_action"]:
            self._answer(
                400, "<Message>No active Lifecycle Action found with instance ID</Message>"
            )
            return
        self._answer(200, "<ok/>")


@pytest.fixture
def fake_aws() -> Iterator[dict[str, Any]]:
    state: dict[str, Any] = {
        "attached": False,
        "busy": 0,
        "calls": [],
        "holder": None,
        "detaching": 0,
        "no_lifecycle_action": False,
    }
    handler = type("Handler", (FakeAwsServer,), {"state": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    state["environ"] = {
        "CLOUDTAP_IMDS_URL": base,
        "CLOUDTAP_EC2_ENDPOINT": f"{base}/ec2/",
        "CLOUDTAP_AUTOSCALING_ENDPOINT": f"{base}/autoscaling/",
        # The fetcher's AWS half, where the repository keeps it (on AWS: /usr/local/lib/cloudtap).
        "CLOUDTAP_LIBRARY_DIR": str(ASSETS / "common"),
    }
    yield state
    server.shutdown()


def sysfs(tmp_path: Path, attached: bool) -> Path:
    root = tmp_path / "net"
    for name, mac in (("ens5", PRIMARY_MAC), *((("ens6", MAC),) if attached else ())):
        (root / name).mkdir(parents=True)
        (root / name / "address").write_text(mac + "\n")
    return root


class Runner:
    """``ip`` as the host would answer: ens6 has its address; records route changes."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        self.commands.append(command)
        out = ""
        if command[:4] == ["ip", "-j", "-4", "addr"]:
            out = json.dumps([{"addr_info": [{"family": "inet", "local": "10.0.16.50"}]}])
        return subprocess.CompletedProcess(command, 0, out, "")


def test_the_config_is_read_as_data_with_the_components_keys() -> None:
    assert ENI_CONFIG_KEYS == ENI.CONFIG_KEYS
    claim = ENI.parse_config(LIBRARY, render_eni_config(ENI_ID, GROUP))
    assert (claim.eni_id, claim.group) == (ENI_ID, GROUP)
    with pytest.raises(LIBRARY.SettingsError, match="ENI_ID"):
        ENI.parse_config(LIBRARY, 'ENI_ID="eni-1;reboot"\nAUTO_SCALING_GROUP="g"\n')
    with pytest.raises(ValueError, match="not a network interface id"):
        render_eni_config("i-0123456789abcdef0", GROUP)


def test_claim_attaches_the_eni_as_device_1_signed_and_routes_through_it(
    fake_aws: dict[str, Any], tmp_path: Path
) -> None:
    fake_aws["busy"] = 2  # the dead instance still holds the ENI for two attempts
    aws = ENI.Aws(LIBRARY, fake_aws["environ"])
    claim = ENI.Claim(ENI_ID, GROUP)
    runner, sleeps = Runner(), []
    # The interface shows up a moment after the attach succeeded, as the kernel finds it.
    net = sysfs(tmp_path, attached=False)

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if fake_aws["attached"] and not (net / "ens6").exists():
            (net / "ens6").mkdir()
            (net / "ens6" / "address").write_text(MAC + "\n")

    device = ENI.claim_interface(aws, claim, runner=runner, sleep=sleep, sys_class_net=str(net))
    assert device == "ens6"
    assert not [c for c in fake_aws["calls"] if c["Action"] == "DetachNetworkInterface"]
    attaches = [c for c in fake_aws["calls"] if c["Action"] == "AttachNetworkInterface"]
    assert len(attaches) == 3
    call = attaches[-1]
    assert call["Path"] == "/ec2/"
    assert (call["NetworkInterfaceId"], call["InstanceId"], call["DeviceIndex"]) == (
        ENI_ID,
        INSTANCE,
        "1",
    )
    assert "/eu-west-1/ec2/aws4_request" in call["Authorization"]
    assert sleeps[:2] == [ENI.ATTACH_INTERVAL, ENI.ATTACH_INTERVAL]
    assert runner.commands[-1] == [
        "ip", "-4", "route", "replace", "default", "via", "10.0.16.1", "dev", "ens6",
        "metric", str(ENI.ROUTE_METRIC),
    ]  # fmt: skip


def test_claim_on_a_host_that_holds_the_eni_only_routes(
    fake_aws: dict[str, Any], tmp_path: Path
) -> None:
    fake_aws["attached"] = True
    aws = ENI.Aws(LIBRARY, fake_aws["environ"])
    runner = Runner()
    net = sysfs(tmp_path, attached=True)
    ENI.claim_interface(aws, ENI.Claim(ENI_ID, GROUP), runner=runner, sys_class_net=str(net))
    assert fake_aws["calls"] == []
    assert runner.commands[-1][:5] == ["ip", "-4", "route", "replace", "default"]


def actions(fake_aws: dict[str, Any]) -> list[str]:
    return [call["Action"] for call in fake_aws["calls"]]


def test_the_boot_takes_the_eni_over_from_the_older_instance_once_ready(
    fake_aws: dict[str, Any], tmp_path: Path
) -> None:
    fake_aws["holder"], fake_aws["detaching"] = OLDER, 3
    aws = ENI.Aws(LIBRARY, fake_aws["environ"])
    net = sysfs(tmp_path, attached=True)  # the interface is there once attached
    order: list[str] = []

    def prepare() -> None:  # fetched and preflighted while the older one still holds the ENI
        order.append(f"prepared with the ENI on {fake_aws['holder']}")

    sleeps: list[float] = []
    ENI.claim_interface(
        aws,
        ENI.Claim(ENI_ID, GROUP),
        runner=Runner(),
        sleep=sleeps.append,
        sys_class_net=str(net),
        prepare=prepare,
    )
    assert order == [f"prepared with the ENI on {OLDER}"]
    assert actions(fake_aws) == [
        "DescribeNetworkInterfaces",
        "DetachNetworkInterface",
        *["DescribeNetworkInterfaces"] * 4,  # detaching three times, then available
        "AttachNetworkInterface",
    ]
    detach = fake_aws["calls"][1]
    assert (detach["AttachmentId"], detach["Force"]) == (ATTACHMENT, "true")
    assert "/eu-west-1/ec2/aws4_request" in detach["Authorization"]
    assert fake_aws["calls"][0]["NetworkInterfaceId.1"] == ENI_ID
    assert sleeps == [ENI.TAKEOVER_POLL] * 3
    assert fake_aws["calls"][-1]["InstanceId"] == INSTANCE


def test_settings_that_do_not_preflight_leave_the_eni_with_the_older_instance(
    fake_aws: dict[str, Any], tmp_path: Path
) -> None:
    fake_aws["holder"] = OLDER
    aws = ENI.Aws(LIBRARY, fake_aws["environ"])

    def prepare() -> None:
        raise LIBRARY.SettingsError("the settings do not preflight here")

    with pytest.raises(LIBRARY.SettingsError, match="preflight"):
        ENI.claim_interface(aws, ENI.Claim(ENI_ID, GROUP), prepare=prepare)
    assert actions(fake_aws) == ["DescribeNetworkInterfaces"]
    assert fake_aws["holder"] == OLDER


def test_the_watch_never_takes_the_eni_from_another_instance(fake_aws: dict[str, Any]) -> None:
    fake_aws["holder"] = OLDER
    aws = ENI.Aws(LIBRARY, fake_aws["environ"])
    with pytest.raises(LIBRARY.SettingsError, match=f"attached to {OLDER}"):
        ENI.claim_interface(aws, ENI.Claim(ENI_ID, GROUP))
    assert actions(fake_aws) == ["DescribeNetworkInterfaces"]


def watch_environ(fake_aws: dict[str, Any], tmp_path: Path, check_status: int) -> dict[str, str]:
    script = tmp_path / "cloudtap-gateway"
    script.write_text(f"exit {check_status}\n")
    return {
        **fake_aws["environ"],
        "CLOUDTAP_GATEWAY_SCRIPT": str(script),
        "CLOUDTAP_GATEWAY_HEALTH_STATE": str(tmp_path / "state" / "health.json"),
    }


def test_a_superseded_gateway_neither_reclaims_nor_reports_anyone(
    fake_aws: dict[str, Any], tmp_path: Path
) -> None:
    """The old instance after the takeover: its check would fail without the ENI, but it stops
    judging; it reports nobody unhealthy (not itself, and never the newer instance)."""
    environ = watch_environ(fake_aws, tmp_path, check_status=1)
    ENI.save_state(environ["CLOUDTAP_GATEWAY_HEALTH_STATE"], {"passed_once": True, "failures": 0})
    fake_aws["holder"] = "i-0bbbbbbbbbbbbbbb2"  # the newer instance took it over
    aws = ENI.Aws(LIBRARY, fake_aws["environ"])
    for _ in range(ENI.FAILURES_BEFORE_UNHEALTHY + 2):
        assert ENI.watch(aws, ENI.Claim(ENI_ID, GROUP), environ) == 0
    assert set(actions(fake_aws)) == {"DescribeNetworkInterfaces"}
    assert len(fake_aws["calls"]) == 1  # remembered: the ENI is not looked at again
    state = ENI.load_state(environ["CLOUDTAP_GATEWAY_HEALTH_STATE"])
    assert state["superseded_by"] == "i-0bbbbbbbbbbbbbbb2"


def test_a_booting_gateway_is_not_superseded_by_the_instance_it_replaces(
    fake_aws: dict[str, Any], tmp_path: Path
) -> None:
    environ = watch_environ(fake_aws, tmp_path, check_status=0)
    fake_aws["holder"] = OLDER  # the boot's claim has not taken it over yet
    aws = ENI.Aws(LIBRARY, fake_aws["environ"])
    assert ENI.watch(aws, ENI.Claim(ENI_ID, GROUP), environ) == 1
    assert "superseded_by" not in ENI.load_state(environ["CLOUDTAP_GATEWAY_HEALTH_STATE"])
    assert "CompleteLifecycleAction" not in actions(fake_aws)


@pytest.mark.parametrize("pending", [True, False], ids=["hook-pending", "no-action-left"])
def test_the_first_passed_check_completes_the_launch_hook_once(
    fake_aws: dict[str, Any], tmp_path: Path, pending: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = watch_environ(fake_aws, tmp_path, check_status=0)
    fake_aws["attached"], fake_aws["no_lifecycle_action"] = True, not pending
    aws = ENI.Aws(LIBRARY, fake_aws["environ"])
    # The route step needs a host's interfaces: the claim tests cover it.
    monkeypatch.setattr(ENI, "claim_interface", lambda *_args, **_kwargs: "ens6")
    for _ in range(3):
        assert ENI.watch(aws, ENI.Claim(ENI_ID, GROUP), environ) == 0
    [complete] = [c for c in fake_aws["calls"] if c["Action"] == "CompleteLifecycleAction"]
    assert complete["Path"] == "/autoscaling/"
    assert (complete["AutoScalingGroupName"], complete["InstanceId"]) == (GROUP, INSTANCE)
    assert complete["LifecycleHookName"] == ENI.READY_HOOK == READY_HOOK
    assert complete["LifecycleActionResult"] == "CONTINUE"
    assert ENI.load_state(environ["CLOUDTAP_GATEWAY_HEALTH_STATE"])["ready_reported"] is True


def test_an_eni_that_stays_in_use_fails_the_claim(fake_aws: dict[str, Any]) -> None:
    fake_aws["busy"] = ENI.ATTACH_ATTEMPTS
    aws = ENI.Aws(LIBRARY, fake_aws["environ"])
    with pytest.raises(LIBRARY.SettingsError, match="HTTP 400"):
        ENI.attach(aws, ENI.Claim(ENI_ID, GROUP), sleep=lambda _s: None)
    assert len(fake_aws["calls"]) == ENI.ATTACH_ATTEMPTS


def test_only_repeated_failures_after_a_pass_report_unhealthy() -> None:
    state: dict[str, Any] = {"passed_once": False, "failures": 0}
    for _ in range(10):  # never passed: a broken configuration, not a broken instance
        state, report = ENI.judge(state, passed=False)
        assert not report
    state, report = ENI.judge(state, passed=True)
    assert state == {"passed_once": True, "failures": 0} and not report
    verdicts = []
    for _ in range(ENI.FAILURES_BEFORE_UNHEALTHY):
        state, report = ENI.judge(state, passed=False)
        verdicts.append(report)
    assert verdicts == [False] * (ENI.FAILURES_BEFORE_UNHEALTHY - 1) + [True]
    state, report = ENI.judge(state, passed=True)
    assert state["failures"] == 0


def test_the_unhealthy_report_names_this_instance_and_respects_the_grace_period(
    fake_aws: dict[str, Any],
) -> None:
    aws = ENI.Aws(LIBRARY, fake_aws["environ"])
    ENI.set_unhealthy(aws, ENI.Claim(ENI_ID, GROUP))
    [call] = fake_aws["calls"]
    assert call["Path"] == "/autoscaling/"
    assert call["Action"] == "SetInstanceHealth"
    assert (call["InstanceId"], call["HealthStatus"]) == (INSTANCE, "Unhealthy")
    assert call["ShouldRespectGracePeriod"] == "true"
    assert "/eu-west-1/autoscaling/aws4_request" in call["Authorization"]


def test_the_default_route_goes_to_the_subnets_router() -> None:
    command = ENI.default_route_command("ens6", ipaddress.IPv4Network("10.0.32.0/20"))
    assert command[command.index("via") + 1] == "10.0.32.1"


# -- the gateway script's WAN interface with two interfaces in the public tier -------------------

FAKE_IP = r"""#!/usr/bin/env bash
# ip, as an Auto Scaling gateway answers after the claim: ens5 (its own primary) and ens6 (the
# persistent ENI) both in the public subnet; the default route leaves by $DEFAULT_DEVICE.
case "$*" in
"-o -4 addr show") printf '%s\n' \
    "2: ens5    inet 10.0.0.40/20 brd 10.0.15.255 scope global ens5" \
    "3: ens6    inet 10.0.0.50/20 brd 10.0.15.255 scope global ens6" ;;
"-o -4 addr show dev ens5") echo "2: ens5    inet 10.0.0.40/20 brd 10.0.15.255 scope global ens5" ;;
"-o -4 addr show dev ens6") echo "3: ens6    inet 10.0.0.50/20 brd 10.0.15.255 scope global ens6" ;;
"-o -4 route get "*)
    [ -n "$DEFAULT_DEVICE" ] || exit 2
    echo "${4} via 10.0.0.1 dev $DEFAULT_DEVICE src 10.0.0.50 uid 0" ;;
*) exit 0 ;;
esac
"""


@pytest.mark.parametrize(("default_device", "wan"), [("ens6", "ens6"), ("", "ens5")])
def test_the_gateway_masquerades_out_of_the_default_routes_public_interface(
    tmp_path: Path, default_device: str, wan: str
) -> None:
    from components.gateway import render_settings  # noqa: PLC0415
    from components.network_plan import plan_network  # noqa: PLC0415

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ip").write_text(FAKE_IP)
    (bin_dir / "nft").write_text("#!/bin/sh\nexit 0\n")
    for tool in ("ip", "nft"):
        (bin_dir / tool).chmod(0o755)
    conf = tmp_path / "gateway.conf"
    conf.write_text(render_settings(plan_network({})))
    result = subprocess.run(
        ["bash", str(ASSETS / "gateway" / "cloudtap-gateway.sh"), "render"],
        env={
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "CLOUDTAP_GATEWAY_CONF": str(conf),
            "CLOUDTAP_NET_LIBRARY": str(ASSETS / "common" / "cloudtap-net.sh"),
            "CLOUDTAP_STATE_DIR": str(tmp_path / "state"),
            "DEFAULT_DEVICE": default_device,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f'oifname "{wan}" ip saddr @egress' in result.stdout


@pytest.mark.parametrize(
    "path",
    [ASSETS / "gateway" / "cloudtap_gateway_eni.py", SETTINGS_LIBRARY],
    ids=["gateway-eni", "settings-fetcher"],
)
def test_the_boot_steps_parse_as_python_3_9_without_its_missing_names(path: Path) -> None:
    """Amazon Linux 2023's python3 is 3.9: no 3.10 syntax, and no ``datetime.UTC`` (3.11)."""
    import ast  # noqa: PLC0415

    tree = ast.parse(path.read_text(), feature_version=(3, 9))
    assert not [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "UTC"
        and isinstance(node.value, ast.Name)
        and node.value.id == "datetime"
    ]
    usage = subprocess.run(
        [sys.executable, "-I", "-S", str(ASSETS / "gateway" / "cloudtap_gateway_eni.py"), "x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert usage.returncode == 2 and "usage: cloudtap-gateway-eni claim|watch" in usage.stderr


@pytest.mark.parametrize("preflight_status", [0, 1], ids=["preflights", "refused"])
def test_getting_ready_fetches_the_settings_and_preflights_them_without_applying(
    tmp_path: Path, preflight_status: int
) -> None:
    settings = tmp_path / "offered.conf"
    settings.write_text('PUBLIC_CIDRS="10.0.0.0/20"\n')
    source = tmp_path / "settings-source.conf"
    source.write_text(f'ROLE="gateway"\nSOURCE="file"\nFILE="{settings}"\n')
    seen = tmp_path / "seen"
    script = tmp_path / "cloudtap-gateway"
    script.write_text(
        f'echo "$1" > {seen}; cat "$CLOUDTAP_GATEWAY_CONF" >> {seen}; exit {preflight_status}\n'
    )
    environ = {
        "CLOUDTAP_SETTINGS_SOURCE": str(source),
        "CLOUDTAP_STATE_DIR": str(tmp_path / "state"),
        "CLOUDTAP_GATEWAY_SCRIPT": str(script),
        "PATH": os.environ["PATH"],
    }
    if preflight_status == 0:
        ENI.prepare_settings(LIBRARY, environ)
    else:
        with pytest.raises(LIBRARY.SettingsError, match="the older gateway keeps the ENI"):
            ENI.prepare_settings(LIBRARY, environ)
    assert seen.read_text() == 'preflight\nPUBLIC_CIDRS="10.0.0.0/20"\n'
    assert os.listdir(tmp_path / "state") == []  # the fetched copy is not left behind
