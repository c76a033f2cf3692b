"""The repository's Pulumi program (``__main__.py``), run the way Pulumi's Python host runs it."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components import CloudtapInputError
from tests.mocks import StrictMocks, run_program

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "__main__.py"


SESSION = "aws:ec2/trafficMirrorSession:TrafficMirrorSession"
MIRROR_TYPES = {
    "aws:ec2/trafficMirrorTarget:TrafficMirrorTarget",
    "aws:ec2/trafficMirrorFilter:TrafficMirrorFilter",
    "aws:ec2/trafficMirrorFilterRule:TrafficMirrorFilterRule",
    SESSION,
}


def run_main(mocks: StrictMocks, config: dict[str, Any], *, preview: bool = False) -> Any:
    return run_program(
        lambda: runpy.run_path(str(PROGRAM), run_name="__main__"),
        mocks,
        config=config,
        preview=preview,
    )


def stack_config(name: str) -> dict[str, Any]:
    stack = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{name}.yaml").read_text())
    return {key: value for key, value in stack["config"].items() if key.startswith("cloudtap:")}


def test_the_aws_dev_stack_builds_and_exports_ids_and_the_public_address(
    mocks: StrictMocks,
) -> None:
    run = run_main(mocks, stack_config("aws-dev"))
    assert (
        "tcp:3389:10.0.64.10:3389" in run.named("cloudtap-gateway-settings").inputs["insecureValue"]
    )
    assert run.exports["vpc_id"] == run.named("cloudtap-vpc").id
    assert run.exports["gateway_network_interface_id"] == run.named("cloudtap-gateway-eni").id
    assert run.exports["gateway_public_ip"] == "203.0.113.10"
    assert run.exports["subnet_ids"]["private"] == [
        run.named("cloudtap-private-1").id,
        run.named("cloudtap-private-2").id,
    ]
    assert set(run.exports["subnet_ids"]) == {"public", "private", "monitor", "management"}


def test_without_network_config_the_defaults_are_built(mocks: StrictMocks) -> None:
    run = run_main(mocks, {"cloudtap:cloud": "aws"})
    assert run.named("cloudtap-vpc").inputs["cidrBlock"] == "10.0.0.0/16"


@pytest.mark.parametrize("cloud", [None, "gcp", "AWS"])
def test_an_unsupported_cloud_is_refused_naming_the_config_key(
    mocks: StrictMocks, cloud: str | None
) -> None:
    config = {} if cloud is None else {"cloudtap:cloud": cloud}
    with pytest.raises(CloudtapInputError) as error:
        run_main(mocks, config)
    assert error.value.field == "cloudtap:cloud"
    assert mocks.registrations == []


def test_a_network_that_is_not_a_mapping_is_refused_naming_the_config_key(
    mocks: StrictMocks,
) -> None:
    with pytest.raises(CloudtapInputError) as error:
        run_main(mocks, {"cloudtap:cloud": "aws", "cloudtap:network": ["10.0.0.0/16"]})
    assert error.value.field == "cloudtap:network"
    assert mocks.registrations == []


def test_the_aws_dev_stack_mirrors_its_server_natively_to_its_sensor(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines: list[str] = []
    monkeypatch.setattr(pulumi.log, "info", lambda message, *_, **__: lines.append(message))
    run = run_main(mocks, stack_config("aws-dev"), preview=True)
    sensor_eni = run.named("cloudtap-sensor-eni")
    assert sensor_eni.inputs["privateIps"] == ["10.0.128.10"]
    assert run.named("cloudtap-sensor-logs").inputs["size"] == 500
    target = run.named("cloudtap-mirror-target")
    assert target.inputs["networkInterfaceId"] == sensor_eni.id
    session = run.named("cloudtap-mirror-rdp-server-1")
    assert session.inputs["networkInterfaceId"] == "eni-0123456789abcdef0"
    assert session.inputs["trafficMirrorTargetId"] == target.id
    assert [r.name for r in run.of_type(SESSION)] == ["cloudtap-mirror-rdp-server-1"]
    # The stack's cost line is tested in tests/test_costs.py.
    assert [line for line in lines if line.startswith("sensor IDS:")] == [
        "sensor IDS: suricata on cloudtap0 (AF_PACKET), HOME_NET [10.0.64.0/20, 10.0.80.0/20], "
        "rules ET Open (suricata-update at boot and daily), "
        "EVE JSON in /var/log/cloudtap/suricata/eve.json"
    ]
    assert [line for line in lines if not line.startswith(("cost estimate", "sensor IDS:"))] == [
        "rdp-server (m5.large): native mirroring of 1 interface (eni-0123456789abcdef0) — "
        "m5 is a Nitro type AWS mirrors (instance-type data of 2026-11-21)",
    ]
    assert run.exports["sensor_private_ip"] == "10.0.128.10"
    assert run.exports["mirror_native_sources"] == ["rdp-server"]


def test_the_aws_gateway_stack_copies_at_the_gateway_to_its_sensor(
    mocks: StrictMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines: list[str] = []
    monkeypatch.setattr(
        pulumi.log,
        "info",
        lambda message, *_, **__: (
            None if message.startswith("sensor IDS:") else lines.append(message)
        ),
    )
    run = run_main(mocks, stack_config("aws-gateway"))
    assert not [r for r in run.resources if r.type in MIRROR_TYPES]
    # The sensor sits where the gateway sends its copies, and the feed may reach it.
    assert run.named("cloudtap-sensor-eni").inputs["privateIps"] == ["10.0.128.10"]
    assert run.exports["sensor_private_ip"] == "10.0.128.10"
    acl = run.named("cloudtap-monitor-nacl").inputs["ingress"]
    assert {"udp", 4789, "10.0.0.0/20"} <= {
        value
        for entry in acl
        if entry["ruleNo"] == 50
        for value in (entry["protocol"], entry["fromPort"], entry["cidrBlock"])
    }
    gateway_settings = run.named("cloudtap-gateway-settings").inputs["insecureValue"]
    assert 'MIRROR_MODE="vxlan"' in gateway_settings
    assert 'MIRROR_SENSOR="10.0.128.10"' in gateway_settings
    assert run.exports["mirror_gateway_sources"] == ["legacy-app"]
    assert run.exports["mirror_session_ids"] == {}
    # The stack's cost line is tested in tests/test_costs.py.
    assert [line for line in lines if not line.startswith("cost estimate")] == [
        "legacy-app (t2.micro): gateway mirror — method is gateway; only traffic crossing the "
        "gateway (north-south) is seen"
    ]


def test_a_mirror_without_a_sensor_or_target_is_refused_naming_the_config_key(
    mocks: StrictMocks,
) -> None:
    config = {
        "cloudtap:cloud": "aws",
        "cloudtap:mirror": {
            "sources": [{"instance_type": "m5.large", "network_interface_ids": ["eni-01234567"]}]
        },
    }
    with pytest.raises(CloudtapInputError) as error:
        run_main(mocks, config)
    assert error.value.field == "cloudtap:mirror.target"
    assert mocks.registrations == []


def test_a_mirror_to_an_explicit_target_needs_no_sensor(mocks: StrictMocks) -> None:
    config = {
        "cloudtap:cloud": "aws",
        "cloudtap:mirror": {
            "target": {"gateway_load_balancer_endpoint_id": "vpce-0123456789abcdef0"},
            "sources": [{"instance_type": "m5.large", "network_interface_ids": ["eni-01234567"]}],
        },
    }
    run = run_main(mocks, config)
    assert [r.name for r in run.of_type(SESSION)] == ["cloudtap-mirror-eni-01234567-1"]
    assert "sensor_private_ip" not in run.exports


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("cloudtap:sensor", ["c5n.large"], "cloudtap:sensor"),
        ("cloudtap:mirror", 7, "cloudtap:mirror"),
        ("cloudtap:sensor", {"network": "vpc-1"}, "cloudtap:sensor.network"),
    ],
)
def test_sensor_and_mirror_config_must_be_mappings_without_a_network(
    mocks: StrictMocks, key: str, value: Any, field: str
) -> None:
    with pytest.raises(CloudtapInputError) as error:
        run_main(mocks, {"cloudtap:cloud": "aws", key: value})
    assert error.value.field == field
    assert mocks.registrations == []


def test_cloudtap_fleet_builds_a_fleet_that_the_mirror_targets_by_default(
    mocks: StrictMocks,
) -> None:
    config = stack_config("aws-dev")
    del config["cloudtap:sensor"]
    config["cloudtap:fleet"] = {"expected_gbps": 5, "ids": "suricata"}
    run = run_main(mocks, config)
    balancer = run.named("cloudtap-fleet-lb")
    assert run.exports["fleet_load_balancer_arn"] == balancer.id
    assert run.exports["fleet_endpoint_ids"] == []
    [target] = run.of_type("aws:ec2/trafficMirrorTarget:TrafficMirrorTarget")
    assert target.inputs["networkLoadBalancerArn"] == balancer.id
    # 5 Gbit/s over the stack's 2 zones: 2 c5n.large per zone.
    assert run.named("cloudtap-fleet-group").inputs["desiredCapacity"] == 4
    assert run.exports["cost_estimate"]["items"]["4 fleet sensors c5n.large"] is not None


@pytest.mark.parametrize(
    ("stack", "fleet", "field"),
    [
        ("aws-dev", {"expected_gbps": 0}, "cloudtap:fleet.expected_gbps"),
        ("aws-dev", {"network": {}}, "cloudtap:fleet.network"),
        ("aws-dev", ["nlb"], "cloudtap:fleet"),
        ("azure-dev", {}, "cloudtap:fleet"),
        ("openstack-dev", {}, "cloudtap:fleet"),
    ],
)
def test_a_bad_fleet_fails_naming_its_key(
    mocks: StrictMocks, stack: str, fleet: Any, field: str
) -> None:
    config = {**stack_config(stack), "cloudtap:fleet": fleet}
    with pytest.raises(CloudtapInputError) as error:
        run_main(mocks, config)
    assert error.value.field == field
    assert not [r for r in mocks.registrations if r.custom]


def test_host_feeds_reach_the_stacks_sensor_which_carries_and_admits_the_listener(
    mocks: StrictMocks,
) -> None:
    config = stack_config("aws-dev")
    config["cloudtap:host_feeds"] = {
        "hosts": {"web-1": {"transport": "tls"}, "db-1": {}},
        "host_cidrs": ["198.51.100.0/24"],
    }
    run = run_main(mocks, config)
    (feeds,) = run.of_type("cloudtap:HostFeeds")
    assert feeds.name == "cloudtap-host-feeds"
    sensor_address = run.exports["sensor_private_ip"]
    (credentials,) = run.of_type("pulumi-python:dynamic:Resource")
    assert credentials.inputs["sensor_names"] == [sensor_address]
    ingress = run.named("cloudtap-sensor-sg").inputs["ingress"]
    assert [r["cidrBlocks"] for r in ingress if r["fromPort"] == 3005] == [["198.51.100.0/24"]]
    parts = run.resolve(run.exports["host_feed_user_data_parts"])
    assert set(parts) == {"web-1", "db-1"}
    assert f'SENSOR_ADDRESS="{sensor_address}"' in parts["db-1"]


def test_a_fleet_behind_an_nlb_gets_the_gateway_mirrors_copies_when_no_sensor_does(
    mocks: StrictMocks,
) -> None:
    config = stack_config("aws-dev")
    del config["cloudtap:sensor"]
    config["cloudtap:network"] = {**config["cloudtap:network"], "gateway_mirror": {}}
    config["cloudtap:fleet"] = {"ids": "suricata"}
    config["cloudtap:mirror"] = {
        "method": "gateway",
        "sources": [
            {
                "name": "legacy",
                "instance_type": "t2.micro",
                "network_interface_ids": ["eni-0a1b2c3d"],
            }
        ],
    }
    run = run_main(mocks, config)
    settings = run.named("cloudtap-gateway-settings").inputs["insecureValue"]
    assert 'MIRROR_SENSOR=""' in settings
    assert 'MIRROR_SENSOR_BY_ZONE="10.0.0.0/20:10.0.128.11 10.0.16.0/20:10.0.144.11"' in settings
    assert run.exports["fleet_load_balancer_addresses"] == ["10.0.128.11", "10.0.144.11"]
    # With a sensor in the stack the gateway keeps sending to it.
    config["cloudtap:sensor"] = {"ids": "suricata"}
    del config["cloudtap:mirror"]
    run = run_main(StrictMocks(), config)
    settings = run.named("cloudtap-gateway-settings").inputs["insecureValue"]
    assert 'MIRROR_SENSOR="10.0.128.10"' in settings


def test_a_sensor_on_the_fleets_load_balancer_address_is_refused(mocks: StrictMocks) -> None:
    config = stack_config("aws-dev")
    config["cloudtap:sensor"] = {"ids": "suricata", "private_ip": "10.0.128.11"}
    config["cloudtap:fleet"] = {"ids": "suricata"}
    with pytest.raises(CloudtapInputError) as error:
        run_main(mocks, config)
    assert error.value.field == "cloudtap:sensor.private_ip"
    assert not [r for r in mocks.registrations if r.custom]
