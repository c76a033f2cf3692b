"""The AWS ``Sensor`` given ``host_feeds``: the listener's files (its certificate and key) in
the boot bundle, the listener's port admitted from the feeds' networks only, and every
mismatch between the feeds and the sensor refused before anything is registered."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509

from components import CloudtapInputError, MonitoredVpc
from components.aws.sensor import Sensor
from components.host_feed import (
    LISTENER_CERT_DIR,
    LISTENER_PATH,
    LISTENER_SETTINGS_PATH,
    LISTENER_UNIT_PATH,
)
from components.host_feeds import HostFeeds, HostFeedsArgs
from tests.bundles import bundled_boot
from tests.mocks import ProgramRun, StrictMocks, run_program
from tests.test_aws_sensor import FEED_PORTS

SECRET_SIG = "4dabf18193072939515e22adb298388d"
FEEDS: HostFeedsArgs = {
    "sensor_address": "10.0.128.10",  # the sensor's default address
    "hosts": {"edge-1": {"transport": "tls"}},
    "host_cidrs": ["198.51.100.0/24", "203.0.113.0/25"],
}


def build(
    mocks: StrictMocks, feeds: dict[str, Any] | None = None, **sensor: Any
) -> ProgramRun[Sensor]:
    def program() -> Sensor:
        vpc = MonitoredVpc("net")
        host_feeds = HostFeeds("feeds", {**FEEDS, **(feeds or {})})  # type: ignore[typeddict-item]
        return Sensor("sensor", {"network": vpc, "host_feeds": host_feeds, **sensor})  # type: ignore[typeddict-item]

    return run_program(program, mocks)


def test_the_listener_rides_in_the_boot_bundle_with_the_sensors_certificate(
    mocks: StrictMocks,
) -> None:
    run = build(mocks)
    stored = run.named("sensor-boot-bundle").inputs
    secret = stored["contentBase64"]  # the engine's secret envelope: the sensor's key is in it
    assert isinstance(secret, dict) and SECRET_SIG in secret
    stored["contentBase64"] = secret["value"]
    _, files = bundled_boot(run, "sensor-instance", "sensor-boot-bundle")
    for path in (LISTENER_SETTINGS_PATH, LISTENER_PATH, LISTENER_UNIT_PATH):
        assert path in files, path
    assert files[f"{LISTENER_CERT_DIR}/sensor.key"].permissions == "0600"
    assert 'ALLOW="198.51.100.0/24 203.0.113.0/25"' in files[LISTENER_SETTINGS_PATH].content
    ca = x509.load_pem_x509_certificate(files[f"{LISTENER_CERT_DIR}/ca.pem"].content.encode())
    own = x509.load_pem_x509_certificate(files[f"{LISTENER_CERT_DIR}/sensor.pem"].content.encode())
    assert own.issuer == ca.subject
    names = own.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "10.0.128.10" in {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    # The key is in the bundle object (secret in state), never in the user data.
    user_data = run.named("sensor-instance").inputs["userDataBase64"]
    assert "PRIVATE KEY" not in str(user_data)
    key = run.named("sensor-boot-bundle").inputs["key"]
    assert key.startswith("sensor/") and key.endswith(".tar.gz")
    policy = run.named("sensor-boot-read").inputs["policy"]
    assert key in policy


def test_the_security_group_admits_the_listener_from_the_host_networks_only(
    mocks: StrictMocks,
) -> None:
    run = build(mocks)
    rules = run.named("sensor-sg").inputs["ingress"]
    listener = [r for r in rules if (r["protocol"], r["fromPort"]) == ("tcp", 3005)]
    assert [(r["toPort"], r["cidrBlocks"]) for r in listener] == [
        (3005, ["198.51.100.0/24", "203.0.113.0/25"])
    ]
    assert {(r["protocol"], r["fromPort"]) for r in rules} >= FEED_PORTS
    assert not run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")


def test_without_host_feeds_nothing_of_the_listener_is_there(mocks: StrictMocks) -> None:
    def program() -> Sensor:
        return Sensor("sensor", {"network": MonitoredVpc("net")})

    run = run_program(program, mocks)
    _, files = bundled_boot(run, "sensor-instance", "sensor-boot-bundle")
    assert LISTENER_SETTINGS_PATH not in files
    assert all(r["fromPort"] != 3005 for r in run.named("sensor-sg").inputs["ingress"])


@pytest.mark.parametrize(
    ("feeds", "sensor", "expected"),
    [
        ({"sensor_address": "10.0.128.11"}, {}, "this sensor's address 10.0.128.10"),
        ({"hosts": {"edge-1": {}}}, {}, "with tls hosts"),
        ({"sensor_security_group_id": "sg-0123456789abcdef0"}, {}, "sensor's own group"),
        ({"capture_interface": "tap9"}, {}, "capture interface cloudtap0"),
    ],
)
def test_feeds_that_do_not_fit_the_sensor_are_refused(
    mocks: StrictMocks, feeds: dict[str, Any], sensor: dict[str, Any], expected: str
) -> None:
    with pytest.raises(CloudtapInputError) as raised:
        build(mocks, feeds, **sensor)
    assert raised.value.field == "host_feeds"
    assert expected in raised.value.expected
    assert not [r for r in mocks.registrations if r.name.startswith("sensor")]
