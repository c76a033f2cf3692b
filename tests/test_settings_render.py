"""Settings files are rendered only from values the boot scripts' reader accepts as data."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace

import pytest

from components import gateway, sensor
from components.cloud_config import SETTINGS_VALUE_CHARACTERS, render_settings_file
from components.network_plan import plan_network

KEYS = ("MODE", "CIDRS", "MTU")
HOSTILE_VALUES = [
    "/var/log/$(reboot)",
    "`reboot`",
    "off;reboot",
    "off|reboot",
    "off&reboot",
    'x" ; reboot ; "',
    "x\nreboot",
    "x\rreboot",
    "x\treboot",
    "it's",
    "a\\b",
    "<x>",
    "*",
    "?",
    "~root",
    "a=b",
    "caf\u00e9",
    "\u00a0",
    "x\x00y",
]


def test_entries_become_quoted_lines_and_comments_stay_as_they_are() -> None:
    rendered = render_settings_file(
        ["# a comment", ("MODE", "vxlan"), ("CIDRS", "10.0.0.0/20 10.0.16.0/20"), ("MTU", 9001)],
        keys=KEYS,
    )
    assert rendered == '# a comment\nMODE="vxlan"\nCIDRS="10.0.0.0/20 10.0.16.0/20"\nMTU="9001"\n'


def test_every_character_of_the_grammar_and_an_empty_value_pass() -> None:
    rendered = render_settings_file([("MODE", SETTINGS_VALUE_CHARACTERS), ("MTU", "")], keys=KEYS)
    assert rendered == f'MODE="{SETTINGS_VALUE_CHARACTERS}"\nMTU=""\n'


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_a_value_outside_the_grammar_is_a_bug_upstream_and_raises(value: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"settings value for 'MODE': {value!r}")):
        render_settings_file([("MODE", value)], keys=KEYS)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([("EVIL", "1")], "settings key 'EVIL': not one of"),
        ([("mode", "1")], "settings key 'mode': not one of"),
        ([("MODE", "off"), ("MODE", "vxlan")], "settings key 'MODE': given twice"),
        ([("MODE", True)], "settings value for 'MODE': True is a bool"),
        (["not a comment"], "settings comment 'not a comment'"),
        (["# two\nMODE=x"], "settings comment '# two\\nMODE=x'"),
    ],
    ids=["unknown-key", "lowercase-key", "duplicate", "bool", "comment-without-hash", "newline"],
)
def test_keys_and_comments_the_reader_would_refuse_raise(
    lines: list[str | tuple[str, str | int]], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        render_settings_file(lines, keys=KEYS)


def test_the_sensor_renderer_refuses_a_value_that_slipped_past_validation() -> None:
    planned = sensor.plan_sensor(None, default_feed_sources=[ipaddress.IPv4Network("10.0.0.0/16")])
    hostile = replace(planned, log_mount_point="/var/log/$(reboot)")
    with pytest.raises(ValueError, match=re.escape("'LOG_MOUNT_POINT': '/var/log/$(reboot)'")):
        sensor.render_settings(hostile)


def test_the_gateway_renderer_writes_only_its_own_keys() -> None:
    rendered = gateway.render_settings(plan_network({"gateway_mirror": {}}), underlay_mtu=9001)
    keys = [line.split("=", 1)[0] for line in rendered.splitlines() if not line.startswith("#")]
    assert keys == list(gateway.SETTINGS_KEYS)


def test_the_sensor_renderer_writes_only_its_own_keys() -> None:
    """Every key once; VLAN_BY_VNI (last) only when the sensor tags by VNI, so that a sensor
    without it keeps the settings file it had."""
    sources = [ipaddress.IPv4Network("10.0.0.0/16")]
    planned = sensor.plan_sensor(None, default_feed_sources=sources)
    rendered = sensor.render_settings(planned)
    keys = [line.split("=", 1)[0] for line in rendered.splitlines() if not line.startswith("#")]
    assert keys == [key for key in sensor.SETTINGS_KEYS if key != "VLAN_BY_VNI"]
    tagging = sensor.plan_sensor({"vlan_by_vni": {4242: 100}}, default_feed_sources=sources)
    rendered = sensor.render_settings(tagging)
    keys = [line.split("=", 1)[0] for line in rendered.splitlines() if not line.startswith("#")]
    assert keys == list(sensor.SETTINGS_KEYS)
