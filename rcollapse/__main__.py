"""``python -m rcollapse``: the same as the ``rcollapse`` command."""

import sys

try:
    from rcollapse.cli import main
except KeyboardInterrupt:  # Ctrl-C in the first milliseconds: still one line
    sys.stderr.write("rcollapse: interrupted\n")
    sys.exit(130)

sys.exit(main())
