"""``python -m components.lab [--stack PATH]``: see :mod:`components.lab.cli`."""

import sys

from .cli import main

sys.exit(main())
