"""``python -m chalicelib.ops``."""

import sys

from chalicelib.ops.cli import main

sys.exit(main())
