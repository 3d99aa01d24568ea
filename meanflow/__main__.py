"""`python -m meanflow ...`: see meanflow.cli."""

import sys

from .cli import main

sys.exit(main())
