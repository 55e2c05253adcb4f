import sys

from rcollapse.cli import main

sys.exit(main())
