"""The program's stack keys: unknown keys and wrong shapes refused by key, inner fields prefixed."""

from __future__ import annotations

import pytest

from components import CloudtapInputError
from components.aws.mirror_support import NonMirrorableInstanceType, mirror_support
from components.stack_config import parse_stack_config, under


def test_a_misspelt_key_is_refused_with_the_key_it_resembles() -> None:
    with pytest.raises(CloudtapInputError) as error:
        parse_stack_config({"cloudtap:cloud": "aws", "cloudtap:netwrok": '{"cidr_block": "x"}'})
    assert error.value.field == "cloudtap:netwrok"
    assert "did you mean cloudtap:network?" in error.value.expected


def test_an_unknown_key_lists_every_key_the_program_reads() -> None:
    with pytest.raises(CloudtapInputError) as error:
        parse_stack_config({"cloudtap:zzz": "1"})
    for key in ("cloudtap:cloud", "cloudtap:network", "cloudtap:sensor", "cloudtap:mirror"):
        assert key in error.value.expected


@pytest.mark.parametrize("text", ["10.0.0.0/16", '"10.0.0.0/16"', "[1, 2]", "7", "true"])
def test_a_section_that_is_not_a_mapping_is_refused_naming_its_key(text: str) -> None:
    with pytest.raises(CloudtapInputError) as error:
        parse_stack_config({"cloudtap:network": text})
    assert error.value.field == "cloudtap:network"
    assert "a mapping of network fields" in error.value.expected


def test_other_namespaces_belong_to_the_providers() -> None:
    stack = parse_stack_config(
        {"aws:region": "eu-west-1", "azure-native:location": "x", "cloudtap:cloud": "aws"}
    )
    assert stack.cloud == "aws"
    assert stack.sections == {}


def test_sections_are_parsed_and_null_means_unset() -> None:
    stack = parse_stack_config(
        {
            "cloudtap:sensor": "{}",
            "cloudtap:network": '{"cidr_block": "10.1.0.0/16"}',
            "cloudtap:mirror": "null",
        }
    )
    assert stack.section("sensor") == {}
    assert stack.section("network") == {"cidr_block": "10.1.0.0/16"}
    assert stack.section("mirror") is None


def test_a_section_is_a_copy_the_program_may_change() -> None:
    stack = parse_stack_config({"cloudtap:mirror": '{"sources": []}'})
    stack.section("mirror")["target"] = 1  # type: ignore[index]
    assert stack.section("mirror") == {"sources": []}


@pytest.mark.parametrize(
    ("inner", "full"),
    [
        ("instance_type", "cloudtap:sensor.instance_type"),
        ("sources[0].name", "cloudtap:sensor.sources[0].name"),
        ("args", "cloudtap:sensor"),
        ("cloudtap:mirror.target", "cloudtap:mirror.target"),
    ],
)
def test_errors_inside_a_section_are_named_from_the_stack_key_down(inner: str, full: str) -> None:
    with pytest.raises(CloudtapInputError) as error, under("sensor"):
        raise CloudtapInputError(inner, "bad", "good")
    assert error.value.field == full
    assert str(error.value).startswith(f"{full}: got 'bad'")


def test_a_named_error_keeps_its_class_under_a_stack_key() -> None:
    with pytest.raises(NonMirrorableInstanceType) as error, under("mirror"):
        raise NonMirrorableInstanceType("sources[1].instance_type", mirror_support("t2.micro"))
    assert error.value.field == "cloudtap:mirror.sources[1].instance_type"


def test_a_field_of_an_argument_the_program_passed_is_named_where_the_user_wrote_it() -> None:
    with pytest.raises(CloudtapInputError) as error, under("mirror", passed={"network": "network"}):
        raise CloudtapInputError("network.gateway_mirror", None, "the gateway mirror on")
    assert error.value.field == "cloudtap:network.gateway_mirror"


def test_only_the_passed_argument_itself_is_renamed() -> None:
    with pytest.raises(CloudtapInputError) as error, under("mirror", passed={"network": "network"}):
        raise CloudtapInputError("network_load_balancer_arn", "x", "an ARN")
    assert error.value.field == "cloudtap:mirror.network_load_balancer_arn"
