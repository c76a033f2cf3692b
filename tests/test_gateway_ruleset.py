"""The gateway's exact nftables rule set, rendered by the shipped script for a stated host: no
root, no nft, no live interface needed. Golden files in tests/golden (``*.nft``) hold the text;
``CLOUDTAP_UPDATE_GOLDEN=1`` rewrites them after a deliberate change."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from components import gateway
from components.gateway import AWS_VPC_MTU, SCRIPT_PATH, SETTINGS_PATH
from components.network_plan import NetworkPlan, plan_network
from tests.shell import write_rendered

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"


def stack_network(name: str) -> NetworkPlan:
    stack = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{name}.yaml").read_text())
    return plan_network(stack["config"]["cloudtap:network"])


def render(
    plan: NetworkPlan, directory: Path, *host: str, underlay_mtu: int = AWS_VPC_MTU
) -> subprocess.CompletedProcess[str]:
    """``cloudtap-gateway render HOST...`` of the script and settings ``plan`` renders."""
    local, env = write_rendered(
        gateway.render_cloud_config(plan, underlay_mtu=underlay_mtu), directory
    )
    return subprocess.run(
        ["bash", str(local[SCRIPT_PATH]), "render", *host],
        env={
            "PATH": os.environ["PATH"],
            **env,
            "CLOUDTAP_GATEWAY_CONF": str(local[SETTINGS_PATH]),
        },
        capture_output=True,
        text=True,
        check=False,
    )


ONE_ARMED = ("--wan", "eth0", "--mirrored", "eth0", "--own-addresses", "10.0.0.5")
"""AWS and Azure: one interface in the public tier; the private tier is reached through it."""
MULTI_HOMED = ("--wan", "eth0", "--mirrored", "eth1", "--own-addresses", "10.0.0.5 10.0.64.1")
"""OpenStack: a port per tier; the private tier on its own interface."""

CASES = {
    "aws-dev-one-armed": ("aws-dev", ONE_ARMED, AWS_VPC_MTU),
    "aws-gateway-one-armed": ("aws-gateway", ONE_ARMED, AWS_VPC_MTU),
    "aws-gateway-multi-homed": ("aws-gateway", MULTI_HOMED, AWS_VPC_MTU),
    # Azure and most OpenStack networks: copies of full-size packets would not fit, so TCP is
    # clamped and oversize copies counted at 1450 bytes.
    "aws-gateway-one-armed-1500": ("aws-gateway", ONE_ARMED, 1500),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_rule_set_matches_its_golden_file(case: str, tmp_path: Path) -> None:
    stack, host, underlay_mtu = CASES[case]
    result = render(stack_network(stack), tmp_path, *host, underlay_mtu=underlay_mtu)
    assert result.returncode == 0, result.stderr
    golden = GOLDEN / f"{case}.nft"
    if os.environ.get("CLOUDTAP_UPDATE_GOLDEN") == "1":
        golden.write_text(result.stdout)
    assert result.stdout == golden.read_text()


def test_every_rule_comment_the_script_defines_is_in_a_rule_set() -> None:
    rendered = "".join(path.read_text() for path in GOLDEN.glob("*.nft"))
    for name, comment in gateway.rule_comments().items():
        assert f'comment "{comment}' in rendered, name
    assert gateway.port_forward_comment("tcp", 3389, "10.0.64.10", 3389) in rendered


def test_the_clamp_only_ever_lowers_the_mss_of_forwarded_syns_both_ways(tmp_path: Path) -> None:
    result = render(stack_network("aws-gateway"), tmp_path, *ONE_ARMED, underlay_mtu=1450)
    assert result.returncode == 0, result.stderr
    clamp = [line.strip() for line in result.stdout.splitlines() if "maxseg" in line]
    # The SYN test first: every forwarded packet passes this chain, only SYNs reach the set.
    assert [line.split()[:5] for line in clamp] == [
        ["tcp", "flags", "syn", "ip", "saddr"],
        ["tcp", "flags", "syn", "ip", "daddr"],
    ]
    for line in clamp:
        assert "@private tcp option maxseg size > 1360 tcp option maxseg size set 1360" in line
    assert "ip protocol != tcp ip length > 1400 ip saddr @private" in result.stdout


def test_no_clamp_on_a_jumbo_underlay(tmp_path: Path) -> None:
    result = render(stack_network("aws-gateway"), tmp_path, *ONE_ARMED)
    assert result.returncode == 0, result.stderr
    assert "maxseg" not in result.stdout


def test_a_tee_mirror_clones_both_directions_to_the_sensor_as_next_hop(tmp_path: Path) -> None:
    plan = plan_network({"gateway_mirror": {"mode": "tee"}})
    result = render(plan, tmp_path, *MULTI_HOMED)
    assert result.returncode == 0, result.stderr
    sent = gateway.rule_comments()["SENT"]
    received = gateway.rule_comments()["RECEIVED"]
    assert f'dup to 10.0.128.10 comment "{sent} tee"' in result.stdout
    assert f'dup to 10.0.128.10 comment "{received} tee"' in result.stdout
    assert 'iifname { "eth1" }' in result.stdout
    assert "table netdev" not in result.stdout


@pytest.mark.parametrize(
    ("host", "message"),
    [
        (("--wan", "eth0;reboot", "--mirrored", "eth0", "--own-addresses", "10.0.0.5"), "--wan"),
        (("--wan", "eth0", "--mirrored", "eth 0$(x)", "--own-addresses", "10.0.0.5"), "--mirrored"),
        (
            ("--wan", "eth0", "--mirrored", "eth0", "--own-addresses", "10.0.0.500"),
            "--own-addresses",
        ),
        (("--wan", "eth0", "--own-addresses", "10.0.0.5"), "needs --mirrored"),
        (("--wan", "eth0", "--mirrored", "eth0"), "needs --own-addresses"),
        (("--wan",), "needs a value"),
        (("--lan", "eth1"), "unknown option"),
    ],
)
def test_a_stated_host_is_checked_like_settings(
    host: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    result = render(stack_network("aws-gateway"), tmp_path, *host)
    assert result.returncode == 1
    assert message in result.stderr


def test_nft_accepts_the_forwarding_table(tmp_path: Path) -> None:
    if shutil.which("nft") is None or os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must check the rule set with nft as root")
        pytest.skip("needs nft as root")
    # The netdev table names devices this machine does not have; the ip table names none.
    ruleset = tmp_path / "ruleset.nft"
    ruleset.write_text((GOLDEN / "aws-dev-one-armed.nft").read_text())
    checked = subprocess.run(
        ["nft", "-c", "-f", str(ruleset)], check=False, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
