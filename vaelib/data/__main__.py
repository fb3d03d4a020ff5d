"""`python -m vaelib.data`: fetch and verify the dataset files."""

import sys

from .fetch import main

sys.exit(main())
