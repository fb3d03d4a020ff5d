"""`python -m vaelib.reference`: the reference run (make reference) (the code is vaelib.pipeline.reference)."""

from .pipeline.reference import main

if __name__ == "__main__":
    raise SystemExit(main())
