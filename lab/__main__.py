"""``python -m lab [--stack PATH]``: see :mod:`lab.cli`."""

import sys

from .cli import main

sys.exit(main())
