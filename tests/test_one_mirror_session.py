"""One ``components.MirrorSession`` for every cloud: the backend follows the network (or
``cloud=``), each backend keeps its type token, other clouds' fields are refused by name, and
programs written against the old class names still run."""

from __future__ import annotations

from typing import Any

import pytest

import components
from components import Cloud, CloudtapInputError, MirrorSession, NetworkDesign, plan_network
from components.aws.mirror_session import AwsMirrorSession
from components.azure.mirror_session import AzureMirrorSession
from components.mirror_args import fields_of, reject_fields_of_other_clouds
from components.mirror_session import choose_cloud
from components.openstack.mirror_session import OpenStackMirrorSession
from tests.fakes.azure import args as azure_args
from tests.fakes.azure import azure_mocks
from tests.fakes.openstack import args as openstack_args
from tests.fakes.openstack import openstack_mocks
from tests.mocks import StrictMocks, run_program

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:openstack")

AWS_ARGS: dict[str, Any] = {
    "target": {"network_interface_id": "eni-0123456789abcdef9"},
    "sources": [
        {
            "name": "web",
            "instance_type": "m5.large",
            "network_interface_ids": ["eni-0123456789abcdef0"],
        }
    ],
    "method": "native",
}


def design(cloud: Cloud) -> NetworkDesign:
    return NetworkDesign(cloud=cloud, plan=plan_network({}), underlay_mtu=1500)


def test_every_cloud_is_built_through_the_one_entry_point() -> None:
    cases = [
        (StrictMocks(), AWS_ARGS, None, AwsMirrorSession, "cloudtap:aws:MirrorSession"),
        (azure_mocks(), azure_args(), "azure", AzureMirrorSession, "cloudtap:azure:MirrorSession"),
        (
            openstack_mocks(),
            openstack_args(),
            "openstack",
            OpenStackMirrorSession,
            "cloudtap:openstack:MirrorSession",
        ),
    ]
    for mocks, session_args, cloud, backend, token in cases:

        def program(a: Any = session_args, c: str | None = cloud) -> MirrorSession:
            return MirrorSession("m", a, cloud=c)

        run = run_program(program, mocks)
        assert type(run.result) is backend
        assert isinstance(run.result, MirrorSession)
        (component,) = [r for r in mocks.registrations if r.type == token]
        assert component.name == "m"
        assert run.result.native_sources
        assert run.result.gateway_sources == []
        assert run.result.sessions
        given = {key for key, value in run.result.cloud_outputs.items() if value is not None}
        assert given <= set(run.outputs_of(component.urn))


def test_programs_written_against_the_old_names_still_run() -> None:
    assert components.AzureMirrorSession is AzureMirrorSession
    assert components.OpenStackMirrorSession is OpenStackMirrorSession
    from components.aws.mirror_session import MirrorSession as OldAws  # noqa: PLC0415
    from components.azure.mirror_session import MirrorSession as OldAzure  # noqa: PLC0415

    aws_run = run_program(lambda: OldAws("m", AWS_ARGS), StrictMocks())  # type: ignore[arg-type]
    assert type(aws_run.result) is AwsMirrorSession
    azure_run = run_program(lambda: OldAzure("m", azure_args()), azure_mocks())  # type: ignore[arg-type]
    assert type(azure_run.result) is AzureMirrorSession
    openstack_run = run_program(
        lambda: components.OpenStackMirrorSession("m", openstack_args()),  # type: ignore[arg-type]
        openstack_mocks(),
    )
    assert type(openstack_run.result) is OpenStackMirrorSession


@pytest.mark.parametrize("cloud", list(Cloud))
def test_the_network_decides_the_cloud(cloud: Cloud) -> None:
    assert choose_cloud({"network": design(cloud)}) is cloud
    assert choose_cloud({"network": design(cloud)}, cloud.value) is cloud


def test_a_target_sensor_s_network_decides_when_no_network_is_given() -> None:
    class Sensor:
        network = design(Cloud.AZURE)

    assert choose_cloud({"target": {"sensor": Sensor()}}) is Cloud.AZURE


def test_without_a_network_the_cloud_is_aws_unless_named() -> None:
    assert choose_cloud({}) is Cloud.AWS
    assert choose_cloud(None) is Cloud.AWS
    assert choose_cloud({}, "openstack") is Cloud.OPENSTACK


def test_a_cloud_that_contradicts_the_network_is_refused() -> None:
    with pytest.raises(CloudtapInputError) as error:
        choose_cloud({"network": design(Cloud.AWS)}, "azure")
    assert (error.value.field, error.value.value) == ("cloud", "azure")
    assert "the network is on aws" in error.value.expected


@pytest.mark.parametrize("cloud", [Cloud.AWS, "gcp", "AWS"])
def test_a_backend_built_directly_refuses_another_cloud(cloud: Any) -> None:
    with pytest.raises(CloudtapInputError) as error:
        run_program(lambda: AzureMirrorSession("m", azure_args(), cloud=cloud), azure_mocks())  # type: ignore[arg-type]
    assert error.value.field == "cloud"


def test_another_cloud_s_field_is_refused_naming_the_clouds_that_have_it() -> None:
    with pytest.raises(CloudtapInputError) as error:
        reject_fields_of_other_clouds({"location": "westeurope"}, Cloud.AWS)
    assert error.value.field == "location"
    assert "a field of azure mirror sessions" in error.value.expected
    with pytest.raises(CloudtapInputError) as error:
        reject_fields_of_other_clouds({"mirror_type": "gre"}, Cloud.AZURE)
    assert "a field of openstack mirror sessions" in error.value.expected


def test_a_field_of_no_cloud_is_an_unknown_field() -> None:
    with pytest.raises(CloudtapInputError) as error:
        reject_fields_of_other_clouds({"sourcez": []}, Cloud.OPENSTACK)
    assert error.value.field == "sourcez"
    assert "one of the fields" in error.value.expected


def test_a_new_aws_field_is_refused_on_the_other_clouds_without_listing_it_there() -> None:
    # Every AWS field the Azure and OpenStack sessions do not share is refused there by name.
    for cloud in (Cloud.AZURE, Cloud.OPENSTACK):
        for field in sorted(fields_of(Cloud.AWS) - fields_of(cloud)):
            with pytest.raises(CloudtapInputError) as error:
                reject_fields_of_other_clouds({field: 1}, cloud)
            assert error.value.field == field
            assert "one of the fields" not in error.value.expected


def test_the_argument_modules_load_no_cloud_sdk() -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    code = (
        "import sys; from components.mirror_args import fields_of; from components import Cloud; "
        "[fields_of(c) for c in Cloud]; "
        "print([m for m in ('pulumi_aws', 'pulumi_azure_native', 'pulumi_openstack') "
        "if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
