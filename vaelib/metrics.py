"""`python -m vaelib.metrics`: the evaluation step of one or more runs (the code is vaelib.evaluation.metrics)."""

from .evaluation.metrics import main

if __name__ == "__main__":
    raise SystemExit(main())
