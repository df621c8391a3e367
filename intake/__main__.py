"""`python -m intake` is the `intake` command."""

import sys

from .cli import main

sys.exit(main())
