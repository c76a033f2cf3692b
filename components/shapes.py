"""Shape checks of what users write: one rule per kind of value, shared by every cloud.

Each ``check_*`` function takes the field's name and the value as written, returns the value and
raises :class:`~components.errors.CloudtapInputError` naming the field, the value and the rule.
Every pattern is applied with ``fullmatch``: ``re.match`` with a trailing ``$`` also accepts a
value followed by a newline (``"t3.small\\n"``), which then reaches a cloud API, a settings file
or fstab.

Pure Python: no cloud SDK is imported with this module. The EC2 instance types come from the
installed botocore's EC2 service model, loaded on the first instance-type check.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypeGuard

from .errors import CloudtapInputError

# -- free text -------------------------------------------------------------------------------

# C0 and C1 control characters and DEL: a newline or NUL in a name splits a settings line, an
# fstab entry or a log line, and clouds refuse them in names and descriptions.
_CONTROL_CHARACTER: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
NO_CONTROL_CHARACTERS: Final = "no control characters (newline, tab, carriage return, NUL)"


def has_control_character(text: str) -> bool:
    return _CONTROL_CHARACTER.search(text) is not None


def check_text(
    field: str, value: Any, *, max_length: int, expected: str, min_length: int = 0
) -> str:
    """A string of ``min_length`` to ``max_length`` characters without control characters.

    ``expected`` describes the length rule; the control-character rule is added to it only when
    that rule is what the value breaks, so messages about lengths stay as they were.
    """
    if not isinstance(value, str) or not min_length <= len(value) <= max_length:
        raise CloudtapInputError(field, value, expected)
    if has_control_character(value):
        raise CloudtapInputError(
            field, value, f"{expected}, with {NO_CONTROL_CHARACTERS}: it reaches names and files"
        )
    return value


# Source names become part of child resource names (Pulumi's and the clouds'): short, and free
# of the separators they dislike.
_SOURCE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
SOURCE_NAME_RULE: Final = "1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"


def is_source_name(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and _SOURCE_NAME.fullmatch(value) is not None


def check_source_name(field: str, value: Any) -> str:
    if not is_source_name(value):
        raise CloudtapInputError(
            field, value, f"{SOURCE_NAME_RULE} (it becomes part of child resource names)"
        )
    return str(value)


# -- EC2 instance types ----------------------------------------------------------------------

# `family.size`: t3.small, c7gn.2xlarge, m7i-flex.large, u-6tb1.metal, m7i.metal-24xl.
_INSTANCE_TYPE: Final = re.compile(r"(?P<family>[a-z][a-z0-9-]*)\.(?P<size>[a-z0-9-]+)")
# The longest type AWS lists is 20 characters (u7inh-32tb.480xlarge): room for new ones.
_INSTANCE_TYPE_MAX_LENGTH: Final = 64
INSTANCE_TYPE_EXAMPLE: Final = "t3.small"
UNLISTED_INSTANCE_TYPES: Final = "unlisted_instance_types"
"""The field of every AWS component that takes instance types: types newer than botocore."""


def split_instance_type(value: Any) -> tuple[str, str] | None:
    """``(family, size)`` of a well-formed instance type, else ``None``."""
    if not isinstance(value, str) or len(value) > _INSTANCE_TYPE_MAX_LENGTH:
        return None
    found = _INSTANCE_TYPE.fullmatch(value)
    return (found["family"], found["size"]) if found else None


def check_instance_type_shape(field: str, value: Any) -> str:
    if split_instance_type(value) is None:
        raise CloudtapInputError(
            field,
            value,
            "an EC2 instance type of the form family.size, e.g. t3.small or t4g.small",
        )
    return str(value)


# Graviton families carry a "g" right after the generation digit (t4g, c7g, m6gd, c6gn, im4gn,
# is4gen, hpc7g); a1 is the first-generation Graviton and the one exception to the pattern.
_GRAVITON_FAMILY: Final = re.compile(r"a1|[a-z]+[0-9]+g[a-z]*")


def is_graviton_family(family: str) -> bool:
    """Whether an instance family runs on Graviton (arm64) processors."""
    return _GRAVITON_FAMILY.fullmatch(family) is not None


@dataclass(frozen=True)
class Ec2InstanceTypes:
    botocore_version: str
    names: frozenset[str]


@functools.cache
def ec2_instance_types() -> Ec2InstanceTypes:
    """The instance types of the installed botocore's EC2 service model: the ``InstanceType``
    enum of botocore's ``data/ec2/<api version>/service-2.json``, AWS's own API model as of that
    botocore release, so every type EC2 offered then (types launched later are missing until
    botocore is upgraded). Loaded on first use and kept: the model is a multi-megabyte JSON
    file, so a program pays for it once."""
    import botocore  # noqa: PLC0415 - only a program that checks an instance type loads it
    from botocore.loaders import create_loader  # noqa: PLC0415

    model = create_loader().load_service_model("ec2", "service-2")
    names: Sequence[str] = model["shapes"]["InstanceType"]["enum"]
    return Ec2InstanceTypes(str(botocore.__version__), frozenset(names))


def check_instance_type(field: str, value: Any, unlisted: Collection[str] = ()) -> str:
    """A ``family.size`` type that the installed botocore lists, or that ``unlisted`` names.

    A typo (``m5.superlarge``) fails here instead of at ``pulumi up``; a type launched after the
    installed botocore goes in the component's ``unlisted_instance_types``.
    """
    instance_type = check_instance_type_shape(field, value)
    known = ec2_instance_types()
    if instance_type in known.names or instance_type in unlisted:
        return instance_type
    close = difflib.get_close_matches(instance_type, sorted(known.names), n=3)
    hint = f" (close: {', '.join(close)})" if close else ""
    raise CloudtapInputError(
        field,
        value,
        f"an EC2 instance type the installed botocore (version {known.botocore_version}) knows, "
        f"such as {INSTANCE_TYPE_EXAMPLE}{hint}; for a type newer than it, list it in "
        f"{UNLISTED_INSTANCE_TYPES}",
    )


def check_unlisted_instance_types(field: str, value: Any) -> frozenset[str]:
    """``unlisted_instance_types``: a list of ``family.size`` types (default: none)."""
    if value is None:
        return frozenset()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise CloudtapInputError(
            field, value, "a list of EC2 instance types newer than botocore, e.g. ['m9z.large']"
        )
    return frozenset(
        check_instance_type_shape(f"{field}[{index}]", text) for index, text in enumerate(value)
    )


MIRRORABLE_INSTANCE_TYPES: Final = "mirrorable_instance_types"
"""The AWS mirror's override: types or families AWS mirrors although cloudtap's data says not."""


def check_instance_types_or_families(field: str, value: Any) -> frozenset[str]:
    """A list of ``family.size`` types or bare families (``m7i``), default none."""
    if value is None:
        return frozenset()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise CloudtapInputError(
            field, value, "a list of EC2 instance types or families, e.g. ['m7i', 'c7i.large']"
        )
    checked = []
    for index, text in enumerate(value):
        family_only = isinstance(text, str) and "." not in text
        if split_instance_type(f"{text}.large" if family_only else text) is None:
            raise CloudtapInputError(
                f"{field}[{index}]", text, "an EC2 instance type (family.size) or family (m7i)"
            )
        checked.append(str(text))
    return frozenset(checked)


# -- Linux: interfaces, paths, packages ------------------------------------------------------

# The kernel's dev_valid_name(): shorter than IFNAMSIZ (16, with the terminating NUL), not "." or
# "..", and no '/', ':' or whitespace. cloudtap also keeps to characters that need no quoting,
# since the names are written into settings files and scripts.
IFNAMSIZ: Final = 16
_INTERFACE_NAME: Final = re.compile(r"[A-Za-z0-9_.-]+")


def check_interface_name(field: str, value: Any) -> str:
    if (
        not _fullmatch(_INTERFACE_NAME, value)
        or len(value.encode()) >= IFNAMSIZ
        or value in (".", "..")
    ):
        raise CloudtapInputError(
            field,
            value,
            f"a Linux interface name: 1-{IFNAMSIZ - 1} bytes of letters, digits, '.', '_' or "
            "'-', not '.' or '..' (the kernel refuses '/', ':' and whitespace; anything else "
            "would need quoting in the files it is written to)",
        )
    return str(value)


# Stricter than the kernel: the name is written unquoted into the sensor's scripts and rules.
_CAPTURE_INTERFACE: Final = re.compile(r"[a-zA-Z][a-zA-Z0-9_-]*")


def check_capture_interface_name(field: str, value: Any, suffix_length: int) -> str:
    """An interface that gets a sibling named after it plus ``suffix_length`` characters."""
    longest = IFNAMSIZ - 1 - suffix_length
    if (
        not isinstance(value, str)
        or len(value) > longest
        or _CAPTURE_INTERFACE.fullmatch(value) is None
    ):
        raise CloudtapInputError(
            field,
            value,
            f"an interface name of 1-{longest} letters, digits, - or _ starting with a letter "
            f"(the feeder end adds a {suffix_length}-character suffix within Linux's "
            f"{IFNAMSIZ - 1})",
        )
    return check_interface_name(field, value)


# Mount points go into /etc/fstab, which splits on whitespace, and into the sensor's settings
# file, which its boot script sources: only characters that need no quoting anywhere.
_MOUNT_POINT: Final = re.compile(r"(/[A-Za-z0-9._-]+)+/?")
MOUNT_POINT_MAX_LENGTH: Final = 255


def check_mount_point(field: str, value: Any) -> str:
    """An absolute directory other than ``/``; returned without a trailing ``/``."""
    segments = value.strip("/").split("/") if isinstance(value, str) else []
    if (
        not isinstance(value, str)
        or len(value) > MOUNT_POINT_MAX_LENGTH
        or _MOUNT_POINT.fullmatch(value) is None
        or any(segment in (".", "..") for segment in segments)
    ):
        raise CloudtapInputError(
            field,
            value,
            f"an absolute directory path other than / of at most {MOUNT_POINT_MAX_LENGTH} "
            "characters, made of letters, digits, '.', '_', '-' and single '/' separators, "
            "without '.' or '..' segments: fstab splits its entries on whitespace and the path "
            "is written into the sensor's boot files",
        )
    return value.rstrip("/")


_SSM_PARAMETER_NAME: Final = re.compile(r"(/[A-Za-z0-9_.-]+){1,15}")
SSM_PARAMETER_NAME_MAX_LENGTH: Final = 1011


def check_ssm_parameter_name(field: str, value: Any) -> str:
    """A fully qualified SSM parameter name: ``/a/b``, at most 15 levels of letters, digits,
    ``_ . -``, not under ``/aws`` or ``/ssm`` (reserved by AWS)."""
    if (
        not isinstance(value, str)
        or len(value) > SSM_PARAMETER_NAME_MAX_LENGTH
        or _SSM_PARAMETER_NAME.fullmatch(value) is None
        or value.lower().startswith(("/aws", "/ssm"))
    ):
        raise CloudtapInputError(
            field,
            value,
            "an SSM parameter name /a/b of at most 15 levels and "
            f"{SSM_PARAMETER_NAME_MAX_LENGTH} characters: letters, digits, '_', '.', '-' "
            "between single '/', not starting with /aws or /ssm",
        )
    return value


_SSM_DOCUMENT_NAME: Final = re.compile(r"[A-Za-z0-9_.-]{3,128}")


def is_ssm_document_name(value: Any) -> TypeGuard[str]:
    return _fullmatch(_SSM_DOCUMENT_NAME, value)


_INSTALLED_PATH: Final = re.compile(r"(/[A-Za-z0-9_][A-Za-z0-9_.-]*)+")
_FILE_MODE: Final = re.compile(r"0[0-7]{3}")
_BASE64_TEXT: Final = re.compile(r"[A-Za-z0-9+/=]+")


def is_shell_safe_file(path: Any, mode: Any, base64_text: Any) -> bool:
    """A file an SSM document writes: an absolute path of plain components (none starting
    with a dot, so no ``..``), an octal mode and base64 data; nothing else reaches its shell."""
    return (
        _fullmatch(_INSTALLED_PATH, path)
        and _fullmatch(_FILE_MODE, mode)
        and _fullmatch(_BASE64_TEXT, base64_text)
    )


class PackageGrammar(StrEnum):
    """How a distribution spells its package names."""

    DEBIAN = "debian"
    """Debian policy 5.6.1: at least two of a-z, 0-9, '+', '-', '.', starting alphanumeric."""
    RPM = "rpm"
    """Fedora's naming guidelines (dnf): letters of either case, digits, '+', '-', '.', '_';
    here starting alphanumeric, so a name is never read as an option."""


_PACKAGE_NAMES: Final = {
    PackageGrammar.DEBIAN: re.compile(r"[a-z0-9][a-z0-9+.-]+"),
    PackageGrammar.RPM: re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]*"),
}
_PACKAGE_GRAMMAR_TEXT: Final = {
    PackageGrammar.DEBIAN: "Debian's (apt): [a-z0-9][a-z0-9+.-]+",
    PackageGrammar.RPM: "RPM's (dnf): [A-Za-z0-9][A-Za-z0-9+._-]*",
}
PACKAGE_NAME_MAX_LENGTH: Final = 128


def check_package_name(
    field: str,
    value: Any,
    grammars: Iterable[PackageGrammar] = (PackageGrammar.RPM, PackageGrammar.DEBIAN),
) -> str:
    """A package name valid in at least one of ``grammars`` (default: either)."""
    wanted = tuple(grammars)
    if (
        not isinstance(value, str)
        or len(value) > PACKAGE_NAME_MAX_LENGTH
        or not any(_PACKAGE_NAMES[grammar].fullmatch(value) for grammar in wanted)
    ):
        raise CloudtapInputError(
            field,
            value,
            f"a distribution package name, e.g. suricata, of at most {PACKAGE_NAME_MAX_LENGTH} "
            f"characters in {' or '.join(_PACKAGE_GRAMMAR_TEXT[g] for g in wanted)} grammar",
        )
    return value


# -- AWS ---------------------------------------------------------------------------------------

# EC2 resource ids: a prefix and 8 (older resources) or 17 lower-case hex digits.
_EC2_ID_SUFFIX: Final = "(?:[0-9a-f]{8}|[0-9a-f]{17})"
_ENI_ID: Final = re.compile(f"eni-{_EC2_ID_SUFFIX}")
_SUBNET_ID: Final = re.compile(f"subnet-{_EC2_ID_SUFFIX}")
_VPC_ID: Final = re.compile(f"vpc-{_EC2_ID_SUFFIX}")
_INSTANCE_ID: Final = re.compile(f"i-{_EC2_ID_SUFFIX}")
_VPC_ENDPOINT_ID: Final = re.compile(f"vpce-{_EC2_ID_SUFFIX}")
_AMI_ID: Final = re.compile(f"ami-{_EC2_ID_SUFFIX}")
# arn:<partition>:elasticloadbalancing:<region>:<account>:loadbalancer/<type>/<name>/<id>; names
# are 1-32 alphanumerics and hyphens. "app" too: moto, which the tests use, labels every load
# balancer "app"; an application load balancer then fails the UDP listener check by name.
_LOAD_BALANCER_ARN: Final = re.compile(
    r"arn:aws(?:-[a-z]+)*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:"
    r"loadbalancer/(?:net|app)/[A-Za-z0-9-]{1,32}/[0-9a-f]{1,32}"
)
ENI_ID_EXAMPLE: Final = "eni-0123456789abcdef0"
SUBNET_ID_EXAMPLE: Final = "subnet-0123456789abcdef0"
INSTANCE_ID_EXAMPLE: Final = "i-0123456789abcdef0"
VPC_ENDPOINT_ID_EXAMPLE: Final = "vpce-0123456789abcdef0"
AMI_ID_EXAMPLE: Final = "ami-0123456789abcdef0"
LOAD_BALANCER_ARN_EXAMPLE: Final = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/sensors/0123"
)


def _fullmatch(pattern: re.Pattern[str], value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def is_eni_id(value: Any) -> TypeGuard[str]:
    return _fullmatch(_ENI_ID, value)


def is_subnet_id(value: Any) -> TypeGuard[str]:
    return _fullmatch(_SUBNET_ID, value)


def is_vpc_id(value: Any) -> TypeGuard[str]:
    return _fullmatch(_VPC_ID, value)


def check_eni_id(
    field: str, value: Any, expected: str = f"an interface id such as {ENI_ID_EXAMPLE}"
) -> str:
    if not is_eni_id(value):
        raise CloudtapInputError(field, value, expected)
    return str(value)


def check_instance_id(
    field: str, value: Any, expected: str = f"an instance id such as {INSTANCE_ID_EXAMPLE}"
) -> str:
    if not _fullmatch(_INSTANCE_ID, value):
        raise CloudtapInputError(field, value, expected)
    return str(value)


def check_vpc_endpoint_id(
    field: str, value: Any, expected: str = f"an id such as {VPC_ENDPOINT_ID_EXAMPLE}"
) -> str:
    if not _fullmatch(_VPC_ENDPOINT_ID, value):
        raise CloudtapInputError(field, value, expected)
    return str(value)


def check_ami_id(
    field: str, value: Any, expected: str = f"an AMI id such as {AMI_ID_EXAMPLE}"
) -> str:
    if not _fullmatch(_AMI_ID, value):
        raise CloudtapInputError(field, value, expected)
    return str(value)


def check_load_balancer_arn(
    field: str, value: Any, expected: str = f"an id such as {LOAD_BALANCER_ARN_EXAMPLE}"
) -> str:
    if not _fullmatch(_LOAD_BALANCER_ARN, value):
        raise CloudtapInputError(field, value, expected)
    return str(value)


# Availability zone names: the region's name and a letter (eu-west-1a), or a Local or Wavelength
# Zone's longer name (us-west-2-lax-1a, us-east-1-wl1-bos-wlz-1).
_ZONE_NAME: Final = re.compile(r"[a-z]{2}(?:-[a-z0-9]+)+")
_ZONE_NAME_MAX_LENGTH: Final = 64


def check_aws_zone_name(field: str, value: Any) -> str:
    if not _fullmatch(_ZONE_NAME, value) or len(value) > _ZONE_NAME_MAX_LENGTH:
        raise CloudtapInputError(field, value, "a zone name such as eu-west-1a")
    return str(value)


# EC2 key pair names: "up to 255 ASCII characters".
_KEY_NAME: Final = re.compile(r"[\x20-\x7e]{1,255}")


def check_aws_key_name(field: str, value: Any) -> str:
    if not _fullmatch(_KEY_NAME, value):
        raise CloudtapInputError(
            field, value, "the name of an EC2 key pair (1-255 printable ASCII characters)"
        )
    return str(value)


# Tags, AWS: the gateway's and the sensor's IAM roles carry them, and IAM's rule is the strictest
# of every tagged resource (EC2 accepts more): keys 1-128 and values 0-256 Unicode characters of
# letters, digits, spaces and _ . : / = + - @; 50 tags per resource; keys starting with "aws:"
# are AWS's. IAM's pattern is [\p{L}\p{Z}\p{N}_.:/=+\-@]; of \p{Z}, only space separators (Zs)
# are taken: the line and paragraph separators are line breaks.
AWS_TAG_KEY_MAX: Final = 128
AWS_TAG_VALUE_MAX: Final = 256
AWS_MAX_TAGS: Final = 50
_IAM_TAG_SYMBOLS: Final = frozenset("_.:/=+-@")
IAM_TAG_CHARACTERS: Final = "Unicode letters, digits, spaces and _ . : / = + - @"


def _iam_tag_text(text: str) -> bool:
    return all(
        char in _IAM_TAG_SYMBOLS
        or unicodedata.category(char)[0] in ("L", "N")
        or unicodedata.category(char) == "Zs"
        for char in text
    )


def check_aws_tags(field: str, value: Any) -> dict[str, str]:
    """User tags of an AWS component; cloudtap adds ``Name`` to every resource itself."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CloudtapInputError(field, value, "a mapping of tag name to string value")
    if len(value) >= AWS_MAX_TAGS:
        raise CloudtapInputError(
            field,
            dict(value),
            f"at most {AWS_MAX_TAGS - 1} tags: AWS allows {AWS_MAX_TAGS} per resource and "
            "cloudtap adds Name",
        )
    tags: dict[str, str] = {}
    for key, text in value.items():
        if not isinstance(key, str) or not 0 < len(key) <= AWS_TAG_KEY_MAX:
            raise CloudtapInputError(field, key, f"tag names of 1-{AWS_TAG_KEY_MAX} characters")
        if not _iam_tag_text(key):
            # The key itself names no field: it may hold the very characters that are wrong.
            raise CloudtapInputError(
                field,
                key,
                f"tag names of {IAM_TAG_CHARACTERS} (IAM's tag rule: the IAM roles cloudtap "
                "creates carry the tags)",
            )
        if key.lower().startswith("aws:"):
            raise CloudtapInputError(f"{field}.{key}", key, "a tag name not starting with aws:")
        if key == "Name":
            raise CloudtapInputError(
                f"{field}.Name",
                text,
                "no Name tag: cloudtap names every resource itself after its Pulumi name",
            )
        if not isinstance(text, str) or len(text) > AWS_TAG_VALUE_MAX:
            raise CloudtapInputError(
                f"{field}.{key}", text, f"a string of at most {AWS_TAG_VALUE_MAX} characters"
            )
        if not _iam_tag_text(text):
            raise CloudtapInputError(
                f"{field}.{key}",
                text,
                f"a tag value of at most {AWS_TAG_VALUE_MAX} {IAM_TAG_CHARACTERS} (IAM's tag "
                "rule: the IAM roles cloudtap creates carry the tags)",
            )
        tags[key] = text
    return tags


# -- Azure -------------------------------------------------------------------------------------

_GUID: Final = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# ARM names never hold '/' (it separates the path), whitespace or control characters; their
# finer rules differ per resource type and are Azure's to enforce.
_ARM_NAME_PART: Final = r"[^/\s\x00-\x1f\x7f-\x9f]+"
_ARM_NETWORK: Final = (
    rf"/subscriptions/(?P<subscription>{_GUID})/resourceGroups/(?P<resource_group>{_ARM_NAME_PART})"
    r"/providers/Microsoft\.Network/"
)
# ARM treats the fixed segments case-insensitively (ids come back as "resourcegroups" too).
_NIC_ID: Final = re.compile(
    _ARM_NETWORK + rf"networkInterfaces/(?P<nic>{_ARM_NAME_PART})", re.IGNORECASE
)
_NIC_IP_CONFIGURATION_ID: Final = re.compile(
    _ARM_NETWORK
    + rf"networkInterfaces/(?P<nic>{_ARM_NAME_PART})/ipConfigurations/(?P<child>{_ARM_NAME_PART})",
    re.IGNORECASE,
)
_LB_FRONTEND_ID: Final = re.compile(
    _ARM_NETWORK + rf"loadBalancers/(?P<lb>{_ARM_NAME_PART})"
    rf"/frontendIPConfigurations/(?P<child>{_ARM_NAME_PART})",
    re.IGNORECASE,
)
_ARM_NAME: Final = re.compile(_ARM_NAME_PART)
# Azure region names as ARM spells them once normalised ("westeurope", "eastus2euap").
_AZURE_REGION: Final = re.compile(r"[a-z][a-z0-9]*")


def _fullmatch_groups(pattern: re.Pattern[str], value: Any) -> re.Match[str] | None:
    return pattern.fullmatch(value) if isinstance(value, str) else None


def match_nic_id(value: Any) -> re.Match[str] | None:
    """Groups ``subscription``, ``resource_group``, ``nic``; ``None`` if not a NIC's ARM id."""
    return _fullmatch_groups(_NIC_ID, value)


def match_nic_ip_configuration_id(value: Any) -> re.Match[str] | None:
    """Groups ``subscription``, ``resource_group``, ``nic``, ``child``."""
    return _fullmatch_groups(_NIC_IP_CONFIGURATION_ID, value)


def match_lb_frontend_id(value: Any) -> re.Match[str] | None:
    """Groups ``subscription``, ``resource_group``, ``lb``, ``child``."""
    return _fullmatch_groups(_LB_FRONTEND_ID, value)


def is_arm_name(value: Any) -> TypeGuard[str]:
    return _fullmatch(_ARM_NAME, value)


def is_azure_region(value: Any) -> TypeGuard[str]:
    return _fullmatch(_AZURE_REGION, value)


# Tags, Azure: names 1-512 characters without < > % & \ ? /, values at most 256 characters, 50
# tags per resource ("Use tags to organize your Azure resources", limitations).
AZURE_TAG_NAME_MAX: Final = 512
AZURE_TAG_VALUE_MAX: Final = 256
AZURE_MAX_TAGS: Final = 50
_AZURE_TAG_NAME_FORBIDDEN: Final = re.compile(r"[<>%&\\?/]")


def check_azure_tags(field: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(key, str) and isinstance(text, str) for key, text in value.items()
    ):
        raise CloudtapInputError(field, value, "a mapping of strings to strings")
    if len(value) > AZURE_MAX_TAGS:
        raise CloudtapInputError(
            field, dict(value), f"at most {AZURE_MAX_TAGS} tags: Azure's limit per resource"
        )
    for key, text in value.items():
        if (
            not 0 < len(key) <= AZURE_TAG_NAME_MAX
            or _AZURE_TAG_NAME_FORBIDDEN.search(key)
            or has_control_character(key)
        ):
            raise CloudtapInputError(
                field,
                key,
                f"tag names of 1-{AZURE_TAG_NAME_MAX} characters without < > % & \\ ? / or "
                "control characters (Azure's tag rule)",
            )
        if len(text) > AZURE_TAG_VALUE_MAX or has_control_character(text):
            raise CloudtapInputError(
                f"{field}.{key}",
                text,
                f"a tag value of at most {AZURE_TAG_VALUE_MAX} characters without control "
                "characters (Azure's tag rule)",
            )
    return dict(value)


# -- OpenStack ---------------------------------------------------------------------------------

# Neutron's ``type:uuid`` accepts what oslo's ``is_uuid_like`` does; cloudtap accepts only the
# canonical form that Neutron itself returns, so a port name or a truncated id fails at preview.
_UUID: Final = re.compile(_GUID)
UUID_EXAMPLE: Final = "3f1c6a52-8d5b-4d0e-9a57-0c2b1e6f7a10"
# neutron-lib vlan_filter.RANGE_REGEX without its anchors: comma-separated ids and inclusive
# ranges, matched whole.
_VLAN_FILTER: Final = re.compile(r"([0-9]+(-[0-9]+)?)(,([0-9]+(-[0-9]+)?))*")


def is_uuid(value: Any) -> TypeGuard[str]:
    """A canonical UUID: how an OpenStack id is told from a name."""
    return _fullmatch(_UUID, value)


def check_uuid(field: str, value: Any, what: str) -> str:
    if not _fullmatch(_UUID, value):
        raise CloudtapInputError(field, value, f"{what}: a UUID such as {UUID_EXAMPLE}")
    return str(value)


def is_vlan_list(value: Any) -> TypeGuard[str]:
    return _fullmatch(_VLAN_FILTER, value)


# -- Azure virtual machines -------------------------------------------------------------------

# VM sizes as ARM names them: tier, family and version parts joined by '_' ("Standard_B2s",
# "Standard_D2s_v5", "Standard_DC2as_v5"). Which sizes a region offers is Azure's to say at `up`;
# the shape keeps a typo or a stray newline out of the ARM request.
_AZURE_VM_SIZE: Final = re.compile(r"(Standard|Basic)_[A-Z][A-Za-z0-9]*(_[A-Za-z0-9]+)*")
# Resource group names: 1-90 letters, digits, '_', '-', '.', '(' or ')', not ending in '.'.
_AZURE_RESOURCE_GROUP: Final = re.compile(r"[-\w.()]{0,89}[-\w()]", re.ASCII)
# Linux user names Azure accepts for a VM's admin: a POSIX-ish name of at most 32 characters.
_AZURE_ADMIN_USERNAME: Final = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# Names Azure refuses as a Linux VM's admin user ("Linux VM user name requirements").
AZURE_RESERVED_USERNAMES: Final = frozenset(
    {
        "administrator", "admin", "user", "user1", "test", "user2", "test1", "user3", "admin1",
        "1", "123", "a", "actuser", "adm", "admin2", "aspnet", "backup", "console", "david",
        "guest", "john", "owner", "root", "server", "sql", "support", "support_388945a0", "sys",
        "test2", "test3", "user4", "user5",
    }
)  # fmt: skip
# OpenSSH public keys Azure takes for Linux VMs: RSA (2048 bits or more) and Ed25519.
_SSH_PUBLIC_KEY: Final = re.compile(r"(ssh-rsa|ssh-ed25519) [A-Za-z0-9+/]+={0,3}( [\x21-\x7e]+)?")
# Marketplace image coordinates: publisher, offer and SKU are ARM names of letters, digits,
# '.', '_' and '-'; the version is "latest" or major.minor.patch.
_AZURE_IMAGE_PART: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_AZURE_IMAGE_VERSION: Final = re.compile(r"latest|[0-9]+\.[0-9]+\.[0-9]+")
AZURE_ZONES: Final = ("1", "2", "3")


def check_azure_vm_size(field: str, value: Any) -> str:
    if not _fullmatch(_AZURE_VM_SIZE, value):
        raise CloudtapInputError(
            field, value, "an Azure VM size such as Standard_B2s or Standard_D2s_v5"
        )
    return str(value)


def check_azure_resource_group_name(field: str, value: Any) -> str:
    if not _fullmatch(_AZURE_RESOURCE_GROUP, value):
        raise CloudtapInputError(
            field,
            value,
            "a resource group name: 1-90 letters, digits, '_', '-', '.', '(' or ')', not ending "
            "in '.'",
        )
    return str(value)


def check_azure_admin_username(field: str, value: Any) -> str:
    if not _fullmatch(_AZURE_ADMIN_USERNAME, value) or value in AZURE_RESERVED_USERNAMES:
        raise CloudtapInputError(
            field,
            value,
            "a Linux user name of 1-32 lower-case letters, digits, '_' or '-' starting with a "
            "letter or '_', and not one Azure reserves (root, admin, administrator, ...)",
        )
    return str(value)


def check_ssh_public_key(field: str, value: Any) -> str:
    if not _fullmatch(_SSH_PUBLIC_KEY, value):
        raise CloudtapInputError(
            field,
            value if not isinstance(value, str) or len(value) < 80 else value[:77] + "...",
            "one OpenSSH public key line, 'ssh-ed25519 AAAA... comment' or 'ssh-rsa AAAA...' "
            "(the types Azure accepts for Linux VMs)",
        )
    return str(value)


def check_azure_image_part(field: str, value: Any) -> str:
    if not _fullmatch(_AZURE_IMAGE_PART, value):
        raise CloudtapInputError(
            field, value, "a marketplace name of letters, digits, '.', '_' and '-'"
        )
    return str(value)


def check_azure_image_version(field: str, value: Any) -> str:
    if not _fullmatch(_AZURE_IMAGE_VERSION, value):
        raise CloudtapInputError(field, value, "latest or a version such as 24.04.202511110")
    return str(value)


def check_azure_zones(field: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise CloudtapInputError(field, value, f"a list of zones from {list(AZURE_ZONES)}")
    zones: list[str] = []
    for index, zone in enumerate(value):
        if zone not in AZURE_ZONES:
            raise CloudtapInputError(
                f"{field}[{index}]", zone, f"one of {list(AZURE_ZONES)} (a string)"
            )
        if zone in zones:
            raise CloudtapInputError(f"{field}[{index}]", zone, "a zone not already listed")
        zones.append(zone)
    return tuple(zones)


# Standard_<family letters><vCPUs><feature letters>[_<more>][_v<version>]: "Standard_D2s_v5".
_AZURE_VM_SIZE_PARTS: Final = re.compile(
    r"Standard_(?P<family>[A-Z]+)(?P<vcpus>[0-9]+)[a-z0-9-]*(_[A-Za-z0-9]+)*?(_v(?P<version>[0-9]+))?"
)


@dataclass(frozen=True)
class AzureVmSize:
    family: str
    """The series' letters: ``D`` of ``Standard_D2s_v5``."""
    vcpus: int
    version: int
    """1 for a size without ``_v<n>``."""


def split_azure_vm_size(value: Any) -> AzureVmSize | None:
    """The parts of a Standard VM size, or ``None`` when it is not of that form."""
    match = _fullmatch_groups(_AZURE_VM_SIZE_PARTS, value)
    if match is None:
        return None
    return AzureVmSize(match["family"], int(match["vcpus"]), int(match["version"] or 1))
