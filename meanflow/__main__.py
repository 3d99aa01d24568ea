"""`python -m meanflow ...`: see meanflow.cli."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while torch imports: nothing has started
    print("meanflow: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
