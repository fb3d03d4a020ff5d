"""`python -m vaelib.metrics`: the evaluation step of one or more runs (the code is vaelib.evaluation.evaluate)."""

import sys

from .evaluation.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
