"""`python -m vaelib.report`: the runner behind make report (the code is vaelib.pipeline.report)."""

from .pipeline.report import main

if __name__ == "__main__":
    raise SystemExit(main())
