"""`python -m vaelib.classifier`: the digit classifier, trained unless a fresh one is kept (the code is vaelib.evaluation.classifier)."""

from .evaluation.classifier import main

if __name__ == "__main__":
    raise SystemExit(main())
