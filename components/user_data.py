"""User data that fits the cloud's limit: the limits as data, deterministic gzip, the check.

Cloud-neutral and pure. Every cloud's component compresses the rendered cloud-config (cloud-init
decompresses gzip user data on every datasource) and checks the result here at preview, so a
stack whose boot would not fit fails before anything exists, naming the field that made it grow.
"""

from __future__ import annotations

import base64
import binascii
import gzip
from dataclasses import dataclass
from enum import StrEnum

from .errors import CloudtapInputError
from .packed_boot import packed_boot

OWN_BOOT_FILES = ("user_data", "cloudtap's own boot files")
"""(field, value) blamed for a boot that nothing in the stack made grow: no stack field can
fix it (a bug of cloudtap's, which the tests of every stack would catch first)."""


class Counted(StrEnum):
    """What a cloud measures its user data limit in."""

    BYTES = "bytes"
    """The user data's own bytes (EC2 base64-encodes them itself, after the check)."""
    DECODED_BYTES = "decoded bytes"
    """The bytes the base64 text the API takes decodes to."""
    BASE64_CHARACTERS = "base64 characters"
    """The characters of the base64 text the API takes."""


@dataclass(frozen=True)
class UserDataLimit:
    cloud: str
    field: str
    """The API field that carries the user data."""
    counted: Counted
    limit: int
    documented: str

    def size(self, payload: bytes | str) -> int:
        """How the cloud counts ``payload``: bytes for :attr:`Counted.BYTES`, the base64 text
        the API takes otherwise."""
        if self.counted is Counted.BYTES:
            if not isinstance(payload, bytes):
                raise TypeError(f"{self.cloud} user data is counted in bytes: pass bytes")
            return len(payload)
        if not isinstance(payload, str):
            raise TypeError(f"{self.cloud} user data is base64 text: pass a str")
        if self.counted is Counted.BASE64_CHARACTERS:
            return len(payload)
        try:
            return len(base64.b64decode(payload, validate=True))
        except binascii.Error as error:
            raise ValueError(f"{self.cloud} user data is not base64: {error}") from None


LIMITS: dict[str, UserDataLimit] = {
    limit.cloud: limit
    for limit in (
        UserDataLimit(
            "aws",
            "UserData",
            Counted.BYTES,
            16384,
            "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/user-data.html "
            "(16 KB, in raw form, before it is base64-encoded)",
        ),
        UserDataLimit(
            "azure",
            "osProfile.customData",
            Counted.DECODED_BYTES,
            65535,
            "https://learn.microsoft.com/azure/virtual-machines/custom-data "
            "(at most 64 KB, the base64 string decoding to 65,535 bytes at most)",
        ),
        UserDataLimit(
            "openstack",
            "user_data",
            Counted.BASE64_CHARACTERS,
            65535,
            "https://docs.openstack.org/api-ref/compute/#create-server "
            "(user_data: base64-encoded, at most 65,535 characters)",
        ),
    )
}


def gzip_deterministic(data: bytes) -> bytes:
    """gzip -9 with no time stamp or name: the same input gives the same bytes, so an unchanged
    boot never shows as a change (and never replaces an instance)."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def gzip_base64_bytes(data: bytes) -> str:
    """base64 of :func:`gzip_deterministic`."""
    return base64.b64encode(gzip_deterministic(data)).decode("ascii")


def gzip_base64(cloud_config: str) -> str:
    """base64(gzip(cloud-config)): Azure's customData, Nova's user_data (gophercloud passes a
    string that is already base64 as it is)."""
    return gzip_base64_bytes(cloud_config.encode("utf-8"))


def check_user_data_fits(
    cloud: str,
    role: str,
    payload: bytes | str,
    field: str,
    value: object = None,
) -> int:
    """The size of ``payload`` as ``cloud`` counts it; a preview error naming ``field`` (the
    stack field that made the user data grow, with its ``value``) when it is over the limit.

    ``payload`` is what the API field takes: the compressed bytes on AWS, the base64 text on
    Azure and OpenStack.
    """
    limit = LIMITS[cloud]
    size = limit.size(payload)
    if size > limit.limit:
        raise CloudtapInputError(
            field,
            value,
            f"less boot content: the {role}'s user data would be {size} {limit.counted} "
            f"(gzip-compressed), over the {limit.limit} {limit.counted} {cloud} allows in "
            f"{limit.field} ({limit.documented})",
        )
    return size


PACKED_BOOTS = frozenset({("openstack", "sensor")})
"""(cloud, role) whose boot files travel as one xz tar (:mod:`components.packed_boot`): the
OpenStack sensor's files gzip to 65,444 of Nova's 65,535 base64 characters, and packed they leave
about 6,000 for the stack's IDS rules. The OpenStack gateway's gzip to under half the limit, and
packing would cost it the unpacker's 1,200 characters, so it stays plain, as Azure's roles do."""


def sent_cloud_config(cloud: str, role: str, cloud_config: str) -> str:
    """The cloud-config ``cloud``'s component sends for ``role``: packed (see
    :data:`PACKED_BOOTS`) or as it is. The boot writes the same files either way."""
    return packed_boot(cloud_config) if (cloud, role) in PACKED_BOOTS else cloud_config


def compressed_user_data(
    cloud: str, role: str, cloud_config: str, field: str, value: object = None
) -> str:
    """base64(gzip(cloud-config)) for Azure's customData or Nova's user_data (packed where
    :data:`PACKED_BOOTS` says), checked against ``cloud``'s limit (naming ``field`` when over
    it)."""
    encoded = gzip_base64(sent_cloud_config(cloud, role, cloud_config))
    check_user_data_fits(cloud, role, encoded, field, value)
    return encoded


def measured_user_data(cloud: str) -> dict[str, int]:
    """Role -> the size of its user data on ``cloud`` as the cloud counts it, rendered as the
    cloud's components render it by default (the sensor with a log volume, no custom rules;
    on AWS with the longest bucket name). For the README's table (``python -m
    tools.generate``); the stacks' own sizes are checked by ``tests/test_user_data_fits.py``."""
    # Imported here: the renderers import this module.
    from . import gateway, sensor  # noqa: PLC0415
    from .boot_bundle import LONGEST_BUCKET_NAME, boot_bundle  # noqa: PLC0415
    from .os_family import OsFamily  # noqa: PLC0415
    from .settings_delivery import SettingsSource  # noqa: PLC0415

    if cloud == "aws":
        source = SettingsSource.aws_ssm("/cloudtap/cloudtap/aws-dev/cloudtap/gateway")
        boots = {
            "gateway": gateway.render_boot_cloud_config(source=source),
            "sensor": sensor.render_boot_cloud_config(
                source=SettingsSource.aws_ssm("/cloudtap/cloudtap/aws-dev/cloudtap-sensor/sensor"),
                os_family=OsFamily.DEBIAN,
                log_volume=sensor.LogVolume(),
            ),
        }
        return {
            role: LIMITS[cloud].size(
                gzip_deterministic(
                    boot_bundle(role, boot).user_data(LONGEST_BUCKET_NAME).encode("utf-8")
                )
            )
            for role, boot in boots.items()
        }
    source = SettingsSource.pushed() if cloud == "azure" else SettingsSource.openstack_metadata()
    boots = {
        "gateway": gateway.render_boot_cloud_config(source=source, os_family=OsFamily.DEBIAN),
        "sensor": sensor.render_boot_cloud_config(
            source=source, os_family=OsFamily.DEBIAN, log_volume=sensor.LogVolume()
        ),
    }
    return {
        role: LIMITS[cloud].size(gzip_base64(sent_cloud_config(cloud, role, boot)))
        for role, boot in boots.items()
    }
