"""The cloudtap policy pack: `pulumi preview --policy-pack policy` (or `pulumi policy publish`)."""

import sys
from pathlib import Path

# The pack runs from its own directory, not as a package.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cloudtap_policies import policies
from pulumi_policy import PolicyPack

PolicyPack(name="cloudtap-security", policies=policies())
