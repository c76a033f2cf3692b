"""The mocks themselves: anything they were not told about fails the program."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pytest

from tests.mocks import StrictMockError, StrictMocks, run_program


def test_an_unknown_resource_type_fails_the_program(mocks: StrictMocks) -> None:
    # (S3 buckets are known now: the boot bundles live in one.)
    with pytest.raises(StrictMockError, match="unknown resource type aws:sqs/queue:Queue"):
        run_program(lambda: aws.sqs.Queue("logs"), mocks)


def test_an_unknown_invoke_fails_the_program(mocks: StrictMocks) -> None:
    with pytest.raises(StrictMockError, match="unknown invoke aws:index/getCallerIdentity"):
        run_program(aws.get_caller_identity, mocks)


def test_an_unknown_component_type_fails_the_program(mocks: StrictMocks) -> None:
    class Stray(pulumi.ComponentResource):
        def __init__(self) -> None:
            super().__init__("cloudtap:test:Stray", "stray")

    with pytest.raises(StrictMockError, match="unknown component type cloudtap:test:Stray"):
        run_program(Stray, mocks)


def test_image_lookups_other_than_amazon_linux_2023_fail(mocks: StrictMocks) -> None:
    def program() -> pulumi.Output[str]:
        ubuntu = aws.ec2.get_ami_output(
            owners=["099720109477"],
            filters=[{"name": "name", "values": ["ubuntu/images/*"]}],
        )
        return ubuntu.apply(lambda image: image.id)

    with pytest.raises(StrictMockError, match="only Amazon's AL2023"):
        run_program(program, mocks)


def test_answers_agree_with_each_other(mocks: StrictMocks) -> None:
    def program() -> aws.ec2.Instance:
        vpc = aws.ec2.Vpc("v", cidr_block="10.9.0.0/16")
        subnet = aws.ec2.Subnet("s", vpc_id=vpc.id, cidr_block="10.9.4.0/24")
        return aws.ec2.Instance(
            "i", ami="ami-0123456789abcdef0", instance_type="t3.micro", subnet_id=subnet.id
        )

    run = run_program(program, mocks)
    instance = run.named("i")
    assert instance.id.startswith("i-")
    assert instance.state["privateIp"].startswith("10.9.4.")
    assert instance.state["primaryNetworkInterfaceId"].startswith("eni-")
