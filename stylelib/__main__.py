"""``python -m stylelib``: the command line (see stylelib.cli)."""

import sys

from .cli import main

sys.exit(main())
