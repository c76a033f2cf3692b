"""``GeneratedSshKey``: an Ed25519 key pair made once and kept in the stack's state.

Azure refuses a Linux VM without an SSH public key (password authentication is off), even when
SSH is closed. A key made anew at every run would change the VMs' ``os_profile`` and so replace
them; this dynamic resource makes its key when it is created and never again: its ``diff`` reports
no change, so later runs read the key back from the state. The private half is a secret output.
"""

from __future__ import annotations

from typing import Any

import pulumi
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider

PUBLIC_KEY = "public_key_openssh"
PRIVATE_KEY = "private_key_openssh"


def new_key_pair(comment: str) -> dict[str, str]:
    """A fresh Ed25519 key pair as OpenSSH text: ``{public_key_openssh, private_key_openssh}``."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return {PUBLIC_KEY: f"{public.decode()} {comment}", PRIVATE_KEY: private.decode()}


class Ed25519KeyProvider(ResourceProvider):
    """Makes the key at create; any later run keeps it (no diff, no update)."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        comment = str(props.get("comment") or "cloudtap")
        pair = new_key_pair(comment)
        return CreateResult(id_=pair[PUBLIC_KEY].split()[1][-16:], outs={**props, **pair})

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        # The comment is cosmetic: a new one must not replace the key (and every VM using it).
        return DiffResult(changes=False)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)


class GeneratedSshKey(pulumi.dynamic.Resource):
    """An Ed25519 key pair kept in state; ``public_key_openssh`` and the secret
    ``private_key_openssh``."""

    public_key_openssh: pulumi.Output[str]
    private_key_openssh: pulumi.Output[str]

    def __init__(self, name: str, comment: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(
            Ed25519KeyProvider(),
            name,
            {"comment": comment, PUBLIC_KEY: None, PRIVATE_KEY: None},
            pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(additional_secret_outputs=[PRIVATE_KEY])
            ),
        )
