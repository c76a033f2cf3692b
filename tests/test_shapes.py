"""The shared shape checks, without mocks: what each accepts, and that everything else is refused
with the field named and the bad value kept."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components import shapes
from components.errors import CloudtapInputError

ROOT = Path(__file__).resolve().parent.parent

# What slips through `re.match(...$)` or reaches a shell, fstab or an API if nothing checks it.
HOSTILE_SUFFIXES = ["\n", " ", "\t", "\r", "\x00", "$(id)", "`id`", "'", '"', ";", "\\"]
NOT_STRINGS: list[Any] = [None, 3, True, 1.5, ["a"], {"a": 1}, b"bytes"]


def refused(check: Callable[..., Any], value: Any, *args: Any, field: str = "f") -> str:
    """The message of the refusal; the error names ``field`` and keeps the value as given."""
    with pytest.raises(CloudtapInputError) as raised:
        check(field, value, *args)
    assert raised.value.field == field
    assert raised.value.value is value or raised.value.value == value
    assert str(raised.value).startswith(f"{field}: got {value!r}; expected ")
    return raised.value.expected


def hostile_variants(good: str) -> list[str]:
    """``good`` with every hostile suffix and prefix, and the empty string."""
    return ["", *(good + s for s in HOSTILE_SUFFIXES), *(s + good for s in HOSTILE_SUFFIXES)]


# -- one rule for every shape check -----------------------------------------------------------

STRING_CHECKS: list[tuple[str, Callable[[str, Any], Any], str]] = [
    ("instance type", shapes.check_instance_type, "t3.small"),
    ("instance type shape", shapes.check_instance_type_shape, "t3.small"),
    ("interface name", shapes.check_interface_name, "eth0"),
    ("capture interface", lambda f, v: shapes.check_capture_interface_name(f, v, 3), "ids0"),
    ("mount point", shapes.check_mount_point, "/var/log/cloudtap"),
    ("package name", shapes.check_package_name, "suricata"),
    ("source name", shapes.check_source_name, "web-1"),
    ("eni id", shapes.check_eni_id, "eni-0123456789abcdef0"),
    ("instance id", shapes.check_instance_id, "i-0123456789abcdef0"),
    ("vpc endpoint id", shapes.check_vpc_endpoint_id, "vpce-0123456789abcdef0"),
    ("ami id", shapes.check_ami_id, "ami-0123456789abcdef0"),
    (
        "load balancer arn",
        shapes.check_load_balancer_arn,
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/sensors/0123abcd",
    ),
    ("zone name", shapes.check_aws_zone_name, "eu-west-1a"),
    ("uuid", lambda f, v: shapes.check_uuid(f, v, "a port id"), shapes.UUID_EXAMPLE),
]
# Free text may hold spaces and punctuation: only empty values and control characters go.
TEXT_CHECKS: list[tuple[str, Callable[[str, Any], Any], str]] = [
    ("key pair name", shapes.check_aws_key_name, "ops"),
    (
        "text",
        lambda f, v: shapes.check_text(f, v, max_length=20, min_length=1, expected="a name"),
        "sensor",
    ),
]
ALL_CHECKS = STRING_CHECKS + TEXT_CHECKS


@pytest.mark.parametrize(
    ("what", "check", "good"), STRING_CHECKS, ids=[c[0] for c in STRING_CHECKS]
)
def test_every_check_accepts_its_example_and_refuses_it_padded_or_hostile(
    what: str, check: Callable[[str, Any], Any], good: str
) -> None:
    assert check("f", good) == good
    for bad in hostile_variants(good):
        refused(check, bad)


@pytest.mark.parametrize(("what", "check", "good"), TEXT_CHECKS, ids=[c[0] for c in TEXT_CHECKS])
def test_free_text_checks_refuse_empty_values_and_control_characters(
    what: str, check: Callable[[str, Any], Any], good: str
) -> None:
    assert check("f", good) == good
    assert check("f", f"{good} $(x) 'q'") == f"{good} $(x) 'q'"
    for bad in ["", *(good + c for c in ("\n", "\t", "\r", "\x00", "\x1b", "\x7f"))]:
        refused(check, bad)


@pytest.mark.parametrize(("what", "check", "good"), ALL_CHECKS, ids=[c[0] for c in ALL_CHECKS])
def test_every_check_refuses_values_that_are_not_strings(
    what: str, check: Callable[[str, Any], Any], good: str
) -> None:
    for bad in NOT_STRINGS:
        refused(check, bad)


def test_no_component_module_matches_a_pattern_at_the_start_only() -> None:
    # re.match, and a pattern anchored with "$", accept a trailing newline: patterns are applied
    # whole (fullmatch), and the clouds' modules take theirs from components.shapes.
    offenders = []
    for path in sorted((ROOT / "components").rglob("*.py")):
        where = path.relative_to(ROOT / "components").parts
        if where[0] == "lab":
            continue  # the lab parses command output, never user input
        text = path.read_text()
        for pattern in (r"\.match\(", r"\bre\.search\(", r"\$\"\)"):
            if re.search(pattern, text):
                offenders.append(f"{'/'.join(where)}: {pattern}")
        if where[0] in ("aws", "azure", "openstack") and re.search(r"\bre\.compile\(", text):
            offenders.append(f"{'/'.join(where)}: a pattern of its own")
    assert offenders == []


def test_the_module_imports_no_cloud_sdk() -> None:
    probe = (
        "import sys, components.shapes; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('botocore', 'boto3', 'pulumi', 'pulumi_aws', 'openstack', 'pulumi_azure_native')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"


# -- EC2 instance types -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "good", ["t3.small", "c5n.large", "m7i-flex.large", "u-6tb1.metal", "m7i.metal-24xl"]
)
def test_instance_types_botocore_lists_are_accepted(good: str) -> None:
    assert shapes.check_instance_type("gateway_instance_type", good) == good


def test_an_instance_type_botocore_does_not_list_is_refused_with_the_way_out() -> None:
    expected = refused(shapes.check_instance_type, "m5.superlarge", field="gateway_instance_type")

    version = shapes.ec2_instance_types().botocore_version
    assert f"an EC2 instance type the installed botocore (version {version}) knows" in expected
    assert "such as t3.small" in expected
    assert "m5.large" in expected  # a close match
    assert "list it in unlisted_instance_types" in expected


def test_an_unlisted_type_is_accepted_only_where_listed_and_only_well_formed() -> None:
    unlisted = shapes.check_unlisted_instance_types("unlisted_instance_types", ["m99z.large"])

    assert shapes.check_instance_type("instance_type", "m99z.large", unlisted) == "m99z.large"
    refused(shapes.check_instance_type, "m99z.large", field="instance_type")
    assert shapes.check_unlisted_instance_types("unlisted_instance_types", None) == frozenset()
    with pytest.raises(CloudtapInputError) as raised:
        shapes.check_unlisted_instance_types("unlisted_instance_types", ["m99z.large", "M99Z"])
    assert raised.value.field == "unlisted_instance_types[1]"
    with pytest.raises(CloudtapInputError) as raised:
        shapes.check_unlisted_instance_types("unlisted_instance_types", "m99z.large")
    assert raised.value.field == "unlisted_instance_types"


def test_botocore_is_read_once() -> None:
    assert shapes.ec2_instance_types() is shapes.ec2_instance_types()
    assert "t3.small" in shapes.ec2_instance_types().names


@pytest.mark.parametrize(
    "bad", ["t3", "t3.", ".small", "t3 small", "T3.small", "t3.small.x", "t3..small", "t3.sm@ll"]
)
def test_instance_types_must_be_family_dot_size(bad: str) -> None:
    assert "family.size" in refused(shapes.check_instance_type_shape, bad)
    assert "family.size" in refused(shapes.check_instance_type, bad)


def test_an_overlong_instance_type_is_refused() -> None:
    refused(shapes.check_instance_type_shape, "m" * 60 + ".large")


def test_split_instance_type() -> None:
    assert shapes.split_instance_type("m7i-flex.large") == ("m7i-flex", "large")
    assert shapes.split_instance_type("t3.small\n") is None
    assert shapes.split_instance_type(None) is None


# -- Linux ------------------------------------------------------------------------------------


@pytest.mark.parametrize("good", ["eth0", "ens5", "br-1.100", "a", "x" * 15, "wg_0", "0"])
def test_linux_interface_names(good: str) -> None:
    assert shapes.check_interface_name("interface", good) == good


@pytest.mark.parametrize(
    "bad",
    ["", ".", "..", "x" * 16, "eth/0", "eth:0", "eth 0", "eth0\n", "é" * 8, "eth\x000", "a@b"],
)
def test_linux_refuses_these_interface_names(bad: str) -> None:
    assert "1-15 bytes" in refused(shapes.check_interface_name, bad)


def test_a_capture_interface_leaves_room_for_its_suffix() -> None:
    assert shapes.check_capture_interface_name("capture_interface", "x" * 12, 3) == "x" * 12
    expected = refused(shapes.check_capture_interface_name, "x" * 13, 3)
    assert expected == (
        "an interface name of 1-12 letters, digits, - or _ starting with a letter "
        "(the feeder end adds a 3-character suffix within Linux's 15)"
    )
    for bad in ["0ids", "ids.0", "-ids", "ids0\n"]:
        refused(shapes.check_capture_interface_name, bad, 3)


@pytest.mark.parametrize(
    ("good", "result"),
    [
        ("/var/log/cloudtap", "/var/log/cloudtap"),
        ("/srv/ids/", "/srv/ids"),
        ("/data", "/data"),
        ("/mnt/logs-1/zeek_2.x", "/mnt/logs-1/zeek_2.x"),
    ],
)
def test_mount_points(good: str, result: str) -> None:
    assert shapes.check_mount_point("log_mount_point", good) == result


@pytest.mark.parametrize(
    "bad",
    [
        "/",
        "//",
        "",
        "var/log",
        "/var/log/my logs",
        "/var//log",
        "/var/../etc",
        "/var/./log",
        "/..",
        "/var/log\n",
        "/var/log\t",
        "/var/log;reboot",
        "/var/log/$(id)",
        "/var/log/`id`",
        "/var/'log'",
        '/var/"log"',
        "/var/l#og",
        "/var/lög",
        "/" + "x" * 255,
    ],
)
def test_mount_points_that_fstab_or_the_boot_files_would_mangle_are_refused(bad: str) -> None:
    expected = refused(shapes.check_mount_point, bad, field="log_mount_point")
    assert "fstab splits its entries on whitespace" in expected


@pytest.mark.parametrize(
    "good", ["suricata", "zeek", "g++", "libpcap0.8", "python3-scapy", "Zeek_X"]
)
def test_package_names_of_either_grammar(good: str) -> None:
    assert shapes.check_package_name("ids_packages[0]", good) == good


@pytest.mark.parametrize(
    "bad", ["", "-y", ".hidden", "suricata>=7", "zeek*", "a b", "suricata\n", "x" * 129]
)
def test_package_names_outside_both_grammars_are_refused(bad: str) -> None:
    expected = refused(shapes.check_package_name, bad, field="ids_packages[0]")
    assert "RPM's (dnf)" in expected
    assert "Debian's (apt)" in expected


def test_a_package_grammar_can_be_asked_for_alone() -> None:
    debian = (shapes.PackageGrammar.DEBIAN,)
    assert shapes.check_package_name("p", "zeek", debian) == "zeek"
    for bad in ["Zeek", "z", "zeek_x"]:
        expected = refused(shapes.check_package_name, bad, debian, field="p")
        assert "Debian's (apt)" in expected
        assert "RPM" not in expected


# -- AWS --------------------------------------------------------------------------------------


def test_ec2_ids_take_8_or_17_hex_digits() -> None:
    assert shapes.check_eni_id("f", "eni-01234567") == "eni-01234567"
    for bad in ["eni-0123456", "eni-0123456789abcdef", "eni-0123456789ABCDEF0", "i-01234567"]:
        refused(shapes.check_eni_id, bad)
    assert shapes.is_eni_id("eni-01234567")
    assert not shapes.is_eni_id("eni-01234567\n")


def test_id_messages_can_keep_their_callers_wording() -> None:
    expected = refused(shapes.check_eni_id, "x", "interface ids such as eni-1")
    assert expected == "interface ids such as eni-1"


def test_load_balancer_arns_are_matched_whole() -> None:
    arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/sensors/0123abcd"
    for bad in [arn + "/x", arn + "\n", arn.replace("123456789012", "12345678901"), arn[:-9]]:
        refused(shapes.check_load_balancer_arn, bad)
    gov = arn.replace("arn:aws:", "arn:aws-us-gov:").replace("eu-west-1", "us-gov-west-1")
    assert shapes.check_load_balancer_arn("f", gov) == gov


@pytest.mark.parametrize("good", ["eu-west-1a", "us-west-2-lax-1a", "us-east-1-wl1-bos-wlz-1"])
def test_zone_names(good: str) -> None:
    assert shapes.check_aws_zone_name("availability_zones[0]", good) == good


def test_key_pair_names_are_printable_ascii() -> None:
    assert shapes.check_aws_key_name("key_name", "ops key (2025)") == "ops key (2025)"
    for bad in ["", "x" * 256, "ops\n", "clé"]:
        assert "printable ASCII" in refused(shapes.check_aws_key_name, bad)


def test_aws_tags_follow_iam() -> None:
    good = {"team": "soc", "cost-center": "a_b.c:d/e=f+g-h@i", "Équipe": "sécurité 1", "e": ""}
    assert shapes.check_aws_tags("tags", good) == good
    assert shapes.check_aws_tags("tags", None) == {}


@pytest.mark.parametrize("value", ["a#b", "yes!", "a\nb", "tab\there", "$(id)", "`id`", "'q'"])
def test_aws_tag_values_outside_iams_characters_are_refused(value: str) -> None:
    with pytest.raises(CloudtapInputError) as raised:
        shapes.check_aws_tags("tags", {"team": value})
    assert (raised.value.field, raised.value.value) == ("tags.team", value)
    assert "IAM's tag rule" in raised.value.expected
    assert "_ . : / = + - @" in raised.value.expected


@pytest.mark.parametrize(
    ("tags", "field", "value"),
    [
        ({"a#b": "x"}, "tags", "a#b"),
        ({"a\nb": "x"}, "tags", "a\nb"),
        ({"": "x"}, "tags", ""),
        ({"k" * 129: "x"}, "tags", "k" * 129),
        ({"AWS:x": "y"}, "tags.AWS:x", "AWS:x"),
        ({"Name": "mine"}, "tags.Name", "mine"),
        ({"team": "v" * 257}, "tags.team", "v" * 257),
        ({"team": 7}, "tags.team", 7),
        ({"team": None}, "tags.team", None),
    ],
)
def test_aws_tags_name_the_field_and_keep_the_value(tags: Any, field: str, value: Any) -> None:
    with pytest.raises(CloudtapInputError) as raised:
        shapes.check_aws_tags("tags", tags)
    assert (raised.value.field, raised.value.value) == (field, value)


def test_aws_tags_leave_room_for_name() -> None:
    assert len(shapes.check_aws_tags("tags", {f"k{i}": "v" for i in range(49)})) == 49
    with pytest.raises(CloudtapInputError, match="at most 49 tags"):
        shapes.check_aws_tags("tags", {f"k{i}": "v" for i in range(50)})


@pytest.mark.parametrize("value", [["team"], "team=soc", 3])
def test_aws_tags_are_a_mapping(value: Any) -> None:
    refused(shapes.check_aws_tags, value, field="tags")


# -- Azure ------------------------------------------------------------------------------------

NIC = (
    "/subscriptions/3f1c6a52-8d5b-4d0e-9a57-0c2b1e6f7a10/resourceGroups/apps/providers/"
    "Microsoft.Network/networkInterfaces/web-nic"
)


def test_arm_ids_are_matched_whole() -> None:
    found = shapes.match_nic_id(NIC)
    assert found is not None
    assert (found["resource_group"], found["nic"]) == ("apps", "web-nic")
    for bad in [NIC + "\n", NIC + "/ipConfigurations/x", NIC + " ", NIC + "\x00", None, 3]:
        assert shapes.match_nic_id(bad) is None
    assert shapes.match_nic_ip_configuration_id(NIC + "/ipConfigurations/ipconfig1") is not None
    assert shapes.match_nic_ip_configuration_id(NIC + "/ipConfigurations/ipconfig1\n") is None


def test_arm_names_and_regions() -> None:
    assert shapes.is_arm_name("rg-1")
    for bad in ["", "a/b", "a b", "rg\n", "rg\x00", None]:
        assert not shapes.is_arm_name(bad)
    assert shapes.is_azure_region("westeurope")
    assert not shapes.is_azure_region("westeurope\n")


def test_azure_tags_follow_azure() -> None:
    good = {"team": "soc", "a:b": "c/d?e", "k" * 512: "v" * 256, "empty": ""}
    assert shapes.check_azure_tags("tags", good) == good


@pytest.mark.parametrize(
    ("tags", "field", "value"),
    [
        ({"a/b": "x"}, "tags", "a/b"),
        ({"a?b": "x"}, "tags", "a?b"),
        ({"a%b": "x"}, "tags", "a%b"),
        ({"<b>": "x"}, "tags", "<b>"),
        ({"a&b": "x"}, "tags", "a&b"),
        ({"a\\b": "x"}, "tags", "a\\b"),
        ({"a\nb": "x"}, "tags", "a\nb"),
        ({"": "x"}, "tags", ""),
        ({"k" * 513: "x"}, "tags", "k" * 513),
        ({"team": "v" * 257}, "tags.team", "v" * 257),
        ({"team": "a\nb"}, "tags.team", "a\nb"),
    ],
)
def test_azure_tags_name_the_field_and_keep_the_value(tags: Any, field: str, value: Any) -> None:
    with pytest.raises(CloudtapInputError) as raised:
        shapes.check_azure_tags("tags", tags)
    assert (raised.value.field, raised.value.value) == (field, value)
    assert "Azure's tag rule" in raised.value.expected


def test_azure_tags_are_at_most_fifty() -> None:
    with pytest.raises(CloudtapInputError, match="at most 50 tags"):
        shapes.check_azure_tags("tags", {f"k{i}": "v" for i in range(51)})


# -- OpenStack and free text ------------------------------------------------------------------


def test_uuids_and_vlan_lists_are_matched_whole() -> None:
    assert "a port id: a UUID" in refused(
        lambda f, v: shapes.check_uuid(f, v, "a port id"), shapes.UUID_EXAMPLE.upper() + "0"
    )
    assert shapes.is_vlan_list("1-5,9")
    for bad in ["1-5,9\n", "1-5,", " 1", "1 - 5", ""]:
        assert not shapes.is_vlan_list(bad)


def test_free_text_keeps_its_length_message_and_names_control_characters() -> None:
    assert shapes.check_text("name", "web 1 (prod)", max_length=255, expected="a string") == (
        "web 1 (prod)"
    )
    assert refused(
        lambda f, v: shapes.check_text(f, v, max_length=3, expected="at most 3"), "abcd"
    ) == ("at most 3")
    for bad in ["a\nb", "tab\t", "nul\x00", "cr\r", "del\x7f", "c1\x85"]:
        expected = refused(
            lambda f, v: shapes.check_text(f, v, max_length=255, expected="a string"), bad
        )
        assert expected.startswith("a string, with no control characters (newline, tab")


def test_source_names() -> None:
    assert shapes.check_source_name("sources[0].name", "web-1.a_b") == "web-1.a_b"
    for bad in ["web-1\n", "-web", "web 1", "x" * 64, ""]:
        assert "1-63 letters" in refused(shapes.check_source_name, bad)
