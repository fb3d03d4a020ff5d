"""`python -m vaelib.writeup`: REPORT.md from results/ (the code is vaelib.analysis.writeup)."""

from .analysis.writeup import main

if __name__ == "__main__":
    raise SystemExit(main())
