"""The component package: the schema the SDK's analyzer infers, and construct through the provider.

The schema is compared whole with ``tests/golden/schema.json`` (regenerate with
``python -m tools.generate``), and its parts are checked against the code itself: every public
component, every argument with its type, description and default, every output.
"""

from __future__ import annotations

import inspect
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.provider.experimental.util import camel_case
from pulumi.provider.server import ComponentInitError, ProviderServicer
from pulumi.runtime import rpc
from pulumi.runtime.sync_await import _sync_await

import components
from components import CloudtapInputError, package
from components.field_docs import field_docs
from tests.mocks import COMPONENT_TYPES, ProgramRun, StrictMocks, run_program
from tools.generate import GOLDEN_SCHEMA, schema_text
from tools.readme_tables import args_type

ROOT = Path(__file__).resolve().parent.parent
HOSTED_TYPES = frozenset(f"cloudtap:index:{c.__name__}" for c in package.public_components())
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE = "aws:ec2/route:Route"
VPC = "aws:ec2/vpc:Vpc"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return package.schema()


def test_schema_matches_the_golden_copy() -> None:
    assert GOLDEN_SCHEMA.read_text() == schema_text(), (
        "the package schema changed: review it and run `python -m tools.generate`"
    )


def test_every_public_component_is_served(schema: dict[str, Any]) -> None:
    components_in_all = {
        name
        for name in components.__all__
        if isinstance(getattr(components, name), type)
        and issubclass(getattr(components, name), pulumi.ComponentResource)
    }
    # MirrorSession picks a backend at construction; the backends are served instead.
    assert components_in_all - {c.__name__ for c in package.public_components()} == {
        "MirrorSession"
    }
    assert set(schema["resources"]) == HOSTED_TYPES
    assert {"cloudtap:index:MonitoredVpc", "cloudtap:index:Sensor"} <= HOSTED_TYPES
    assert all(resource["isComponent"] for resource in schema["resources"].values())


def test_package_name_and_version_are_the_librarys(schema: dict[str, Any]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert (schema["name"], schema["version"]) == ("cloudtap", project["version"])
    assert "runtime: python" in (ROOT / "provider" / "PulumiPlugin.yaml").read_text()


def _resolve_ref(schema: Mapping[str, Any], prop: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = prop.get("$ref", "")
    if ref.startswith("#/types/"):
        found: Mapping[str, Any] = schema["types"][ref.removeprefix("#/types/")]
        return found
    return prop


@pytest.mark.parametrize("component", package.public_components(), ids=lambda c: c.__name__)
def test_every_argument_has_its_type_description_and_default(
    component: type, schema: dict[str, Any]
) -> None:
    resource = schema["resources"][f"cloudtap:index:{component.__name__}"]
    adapted = {a.field for a in package.ADAPTATIONS if a.component == component.__name__}
    fields = field_docs(args_type(component))
    assert set(resource["inputProperties"]) == {camel_case(f.name) for f in fields}
    assert set(resource.get("requiredInputs", [])) == {
        camel_case(f.name) for f in fields if f.required
    }
    for field in fields:
        prop = resource["inputProperties"][camel_case(field.name)]
        assert prop["description"] == field.doc, field.name
        # Every field says what happens without it: required, or its default.
        assert field.required or field.default or "(default)" in field.doc, field.name
        if field.name in adapted:
            assert prop["$ref"] == "pulumi.json#/Any", field.name
        else:
            assert "type" in prop or "$ref" in prop, field.name


def test_argument_types_follow_the_annotations(schema: dict[str, Any]) -> None:
    inputs = schema["resources"]["cloudtap:index:MonitoredVpc"]["inputProperties"]
    assert inputs["cidrBlock"]["type"] == "string"
    assert inputs["availabilityZoneCount"]["type"] == "integer"
    assert inputs["subnetCidrs"]["additionalProperties"]["items"]["type"] == "string"
    # pulumi.Input fields take outputs of other resources (not "plain").
    assert "plain" not in inputs["gatewayAmiId"]
    assert inputs["cidrBlock"]["plain"] is True
    forward = _resolve_ref(schema, inputs["portForwards"]["items"])
    assert forward["properties"]["publicPort"]["type"] == "integer"
    assert forward["required"] == ["privateHost", "publicPort"]
    # Inherited fields keep their docstrings (NetworkArgs under MonitoredVpcArgs).
    assert inputs["cidrBlock"]["description"].startswith("IPv4 CIDR of the whole network")
    # Each cloud's nested argument types are distinct in the one schema module.
    assert {"AwsMirrorTargetArgs", "AzureMirrorTargetArgs", "OpenStackMirrorTargetArgs"} <= {
        token.rsplit(":", 1)[-1] for token in schema["types"]
    }


@pytest.mark.parametrize("component", package.public_components(), ids=lambda c: c.__name__)
def test_every_output_is_in_the_schema_or_named_python_only(
    component: type, schema: dict[str, Any]
) -> None:
    resource = schema["resources"][f"cloudtap:index:{component.__name__}"]
    written = {
        name
        for cls in component.__mro__
        if cls.__module__.startswith("components.")
        for name in inspect.get_annotations(cls)
        if not name.startswith("_")
    }
    python_only = {
        a.field.removeprefix("outputs.")
        for a in package.ADAPTATIONS
        if a.component == component.__name__ and a.field.startswith("outputs.")
    }
    assert set(resource["properties"]) == {camel_case(n) for n in written - python_only}
    assert written & python_only == python_only


def test_monitored_vpc_outputs_refer_to_aws_resources(schema: dict[str, Any]) -> None:
    outputs = schema["resources"]["cloudtap:index:MonitoredVpc"]["properties"]
    assert outputs["vpcId"]["type"] == "string"
    assert outputs["vpc"]["$ref"].endswith("/schema.json#/resources/aws:ec2%2Fvpc:Vpc")
    assert outputs["subnets"]["additionalProperties"]["items"]["$ref"].endswith("Subnet")
    assert "aws" in {dependency["name"] for dependency in schema["dependencies"]}


# -- construct through the provider --------------------------------------------------------


def _wire(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """``inputs`` as the provider receives them from another language's program: serialized to
    the engine's protobuf struct (numbers become floats) and read back by the SDK's server."""

    async def round_trip() -> dict[str, Any]:
        struct = await rpc.serialize_properties(dict(inputs), {})
        return await ProviderServicer._construct_inputs(struct, {})

    wired: dict[str, Any] = _sync_await(round_trip())
    return wired


def _construct(
    mocks: StrictMocks, type_name: str, name: str, inputs: Mapping[str, Any]
) -> ProgramRun[Any]:
    served = package.provider()
    wired = _wire(inputs)
    return run_program(
        lambda: served.construct(name, f"cloudtap:index:{type_name}", wired, None), mocks
    )


def _mocks() -> StrictMocks:
    return StrictMocks(components=COMPONENT_TYPES | HOSTED_TYPES)


def test_construct_builds_a_monitored_vpc_from_another_languages_inputs() -> None:
    run = _construct(
        _mocks(),
        "MonitoredVpc",
        "edge",
        {
            "cidrBlock": "10.1.0.0/16",
            "availabilityZoneCount": 3,
            "portForwards": [{"publicPort": 3389, "privateHost": "10.1.64.10"}],
            "tags": {"team": "netsec"},
        },
    )
    (host,) = run.of_type("cloudtap:index:MonitoredVpc")
    (inner,) = run.of_type("cloudtap:aws:MonitoredVpc")
    assert inner.parent == host.urn
    (vpc,) = run.of_type(VPC)
    assert vpc.inputs["cidrBlock"] == "10.1.0.0/16"
    assert vpc.inputs["tags"] == {"team": "netsec", "Name": "edge-vpc"}
    # The count came over the wire as 3.0 and reached the plan as an int: 3 zones x 4 tiers.
    assert len(run.of_type(SUBNET)) == 12
    private_routes = [r for r in run.of_type(ROUTE) if r.name.startswith("edge-private-")]
    eni = run.named("edge-gateway-eni")
    assert len(private_routes) == 3
    assert all(r.inputs["networkInterfaceId"] == eni.id for r in private_routes)
    state = run.result.state
    assert run.resolve(state["vpcId"]) == vpc.id
    assert run.resolve(state["gatewayNetworkInterfaceId"]) == eni.id
    assert run.mocks.registered_outputs[host.urn]["vpc_id"] == vpc.id


def test_construct_refuses_bad_input_naming_the_field_before_registering() -> None:
    mocks = _mocks()
    forward = {"publicPort": 22, "privateHost": "10.0.64.10"}
    with pytest.raises(ComponentInitError) as failed:
        _construct(mocks, "MonitoredVpc", "edge", {"portForwards": [forward]})
    error = failed.value.inner
    assert isinstance(error, CloudtapInputError)
    assert error.field == "port_forwards[0].public_port"
    assert [r.type for r in mocks.registrations] == ["cloudtap:index:MonitoredVpc"]


def test_a_component_reference_from_another_language_is_refused_by_name() -> None:
    with pytest.raises(ComponentInitError) as failed:
        _construct(_mocks(), "Sensor", "ids", {"network": "urn:pulumi:dev::app::vpc::net"})
    assert isinstance(failed.value.inner, CloudtapInputError)
    assert failed.value.inner.field == "network"


def test_golden_schema_is_valid_json_with_every_component() -> None:
    golden = json.loads(GOLDEN_SCHEMA.read_text())
    assert set(golden["resources"]) == HOSTED_TYPES
