"""The boot bundles of a monitored VPC's instances in S3 (see :mod:`components.boot_bundle`).

One private bucket per :class:`~components.aws.monitored_vpc.MonitoredVpc` holds the gateway's
bundle and those of the sensors in it (an AWS :class:`~components.aws.sensor.Sensor` always
lives in a MonitoredVpc): public access blocked, TLS only, SSE-S3 (AES256), no versioning (a new
bundle is a new key; the object of a replaced instance goes with it). Each instance role may
``s3:GetObject`` exactly its own bundle's object and nothing else in the bucket.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ..boot_bundle import LONGEST_BUCKET_NAME, BootBundle
from ..cloud_config import WrittenFile
from ..user_data import check_user_data_fits, gzip_deterministic

BUCKET_PREFIX = "cloudtap-boot-"
"""The engine adds a random suffix: bucket names are global, stacks must never collide."""


@dataclass(frozen=True)
class BootBucket:
    bucket: aws.s3.Bucket
    public_access_block: aws.s3.BucketPublicAccessBlock
    encryption: aws.s3.BucketServerSideEncryptionConfiguration
    policy: aws.s3.BucketPolicy


def tls_only_policy(bucket_arn: str) -> str:
    """The bucket refuses every request that does not come over TLS."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyWithoutTls",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def bundle_read_policy(object_arn: str) -> str:
    """An instance role may read exactly its own bundle's object."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": object_arn}],
        }
    )


def boot_bucket(
    prefix: str, *, parent: pulumi.Resource, tags: Callable[[str], dict[str, str]]
) -> BootBucket:
    """``{prefix}-boot`` and its public access block, encryption and TLS-only policy."""
    child = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(
        f"{prefix}-boot",
        bucket_prefix=BUCKET_PREFIX,
        # It holds only copies of cloudtap's own files: destroying the stack may empty it.
        force_destroy=True,
        tags=tags(f"{prefix}-boot"),
        opts=child,
    )
    block = aws.s3.BucketPublicAccessBlock(
        f"{prefix}-boot-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    encryption = aws.s3.BucketServerSideEncryptionConfiguration(
        f"{prefix}-boot-encryption",
        bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
        opts=child,
    )
    policy = aws.s3.BucketPolicy(
        f"{prefix}-boot-tls-only",
        bucket=bucket.id,
        policy=bucket.arn.apply(tls_only_policy),
        # S3 refuses a policy while the public access block is being written.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[block]),
    )
    return BootBucket(bucket, block, encryption, policy)


def bundled_user_data(
    bundle: BootBundle,
    bucket_name: str,
    field: str,
    value: object,
    direct: Sequence[WrittenFile] = (),
) -> bytes:
    """The small user data, gzip-compressed, checked against EC2's 16 KB (naming ``field``)."""
    compressed = gzip_deterministic(bundle.user_data(bucket_name, direct).encode("utf-8"))
    check_user_data_fits("aws", bundle.role, compressed, field, value)
    return compressed


def check_bundled_user_data(bundle: BootBundle, field: str, value: object = None) -> None:
    """At preview, before the bucket's name exists: measured with the longest name."""
    bundled_user_data(bundle, LONGEST_BUCKET_NAME, field, value)


@dataclass(frozen=True)
class StoredBundle:
    object: aws.s3.BucketObjectv2
    read_policy: aws.iam.RolePolicy
    """Instances depend on it and on the object: the boot's first command reads it."""
    user_data_base64: pulumi.Output[str]
    """For the instance's ``user_data_base64`` (EC2 counts the bytes before base64)."""


Bundle = BootBundle | pulumi.Output[BootBundle]
"""A bundle known at preview, or one with files known only at ``up`` (a sensor's listener
certificate): the object's key, content and policy then follow it."""


def _lifted(bundle: Bundle) -> pulumi.Output[BootBundle]:
    if isinstance(bundle, pulumi.Output):
        return bundle
    return pulumi.Output.from_input(0).apply(lambda _: bundle)


def store_bundle_object(
    prefix: str,
    bundle: Bundle,
    *,
    bucket: BootBucket,
    parent: pulumi.Resource,
    tags: Callable[[str], dict[str, str]],
) -> aws.s3.BucketObjectv2:
    """``{prefix}-boot-bundle``: the archive, at its sha256 key."""
    if isinstance(bundle, BootBundle):
        key: pulumi.Input[str] = bundle.key
        content: pulumi.Input[str] = base64.b64encode(bundle.archive).decode("ascii")
    else:
        key = pulumi.Output.unsecret(bundle.apply(lambda known: known.key))  # a sha256
        content = bundle.apply(lambda known: base64.b64encode(known.archive).decode("ascii"))
    return aws.s3.BucketObjectv2(
        f"{prefix}-boot-bundle",
        bucket=bucket.bucket.id,
        key=key,
        content_base64=content,
        content_type="application/gzip",
        server_side_encryption="AES256",
        tags=tags(f"{prefix}-boot-bundle"),
        # The bucket refuses plain HTTP and public access before anything is in it.
        opts=pulumi.ResourceOptions(
            parent=parent, depends_on=[bucket.policy, bucket.public_access_block]
        ),
    )


def read_bundle(
    prefix: str,
    bundle: Bundle,
    stored: aws.s3.BucketObjectv2,
    *,
    bucket: BootBucket,
    role: aws.iam.Role,
    parent: pulumi.Resource,
    field: str = "user_data",
    value: object = None,
    direct: pulumi.Input[Sequence[WrittenFile]] = (),
) -> StoredBundle:
    """``{prefix}-boot-read`` (``role`` may get exactly that object) and the small user data
    that fetches it, with ``direct`` (the instance's own :attr:`BootBundle.direct_paths`)."""
    known = _lifted(bundle)
    # The key is not secret (a sha256), though a bundle with a key in it is.
    key = pulumi.Output.unsecret(known.apply(lambda b: b.key))
    policy = aws.iam.RolePolicy(
        f"{prefix}-boot-read",
        role=role.id,
        policy=pulumi.Output.all(bucket.bucket.arn, key).apply(
            lambda args: bundle_read_policy(f"{args[0]}/{args[1]}")
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    user_data = pulumi.Output.all(known, bucket.bucket.bucket, direct).apply(
        lambda args: base64.b64encode(
            bundled_user_data(args[0], args[1], field, value, args[2])
        ).decode()
    )
    if isinstance(bundle, pulumi.Output):
        # The user data names the object and its files, and holds no key of its own.
        user_data = pulumi.Output.unsecret(user_data)
    return StoredBundle(stored, policy, user_data)


def store_bundle(
    prefix: str,
    bundle: Bundle,
    *,
    bucket: BootBucket,
    role: aws.iam.Role,
    parent: pulumi.Resource,
    tags: Callable[[str], dict[str, str]],
    field: str = "user_data",
    value: object = None,
) -> StoredBundle:
    """``{prefix}-boot-bundle`` (the object) and ``{prefix}-boot-read`` (``role``'s policy)."""
    stored = store_bundle_object(prefix, bundle, bucket=bucket, parent=parent, tags=tags)
    return read_bundle(
        prefix, bundle, stored, bucket=bucket, role=role, parent=parent, field=field, value=value
    )
