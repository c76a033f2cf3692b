"""The smallest program a cloudtap user writes: import the component and build one.

``tests/test_aws_example_program.py`` runs it the way Pulumi's Python host does (``runpy`` with
``__name__ == "__main__"``) under the strict mocks.
"""

from __future__ import annotations

import pulumi

from components import MonitoredVpc


def main() -> MonitoredVpc:
    vpc = MonitoredVpc(
        "example",
        {
            "cidr_block": "10.20.0.0/16",
            "port_forwards": [
                {"protocol": "tcp", "public_port": 443, "private_host": "10.20.64.20"}
            ],
            "tags": {"project": "cloudtap-example"},
        },
    )
    pulumi.export("vpc_id", vpc.vpc_id)
    pulumi.export("gateway_public_ip", vpc.gateway_public_ip)
    return vpc


if __name__ == "__main__":
    main()
