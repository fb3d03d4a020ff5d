"""vaelib's code lines by subpackage: lines holding code, without docstrings, comments or blank lines.

    python -m benchmarks.codelines              # this checkout
    python -m benchmarks.codelines --at 2a642a5 # another commit (git show), for a before/after
    python -m benchmarks.codelines --functions  # and the plumbing's code lines by top-level function or class

The plumbing is pipeline/, infra/ and training/runs.py (what runs, places and caches the work, not the VAE);
issue 45 asked for it at most 900 lines, and vaelib outside site/ and analysis/ at most 2,700.
"""

from __future__ import annotations

import argparse
import ast
import io
import subprocess
import textwrap
import tokenize
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUMBING = ("pipeline", "infra", "training/runs.py", "training/replay.py")


def code_lines(source: str) -> int:
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
    skip = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in skip:
            lines.update(n for n in range(tok.start[0], tok.end[0] + 1) if n not in docstrings)
    return len(lines)


def sources(at: str | None) -> dict[str, str]:
    """vaelib's .py files, path -> text, in the working tree or at commit `at`."""
    if at is None:
        return {str(p.relative_to(ROOT / "vaelib")): p.read_text() for p in (ROOT / "vaelib").rglob("*.py")}
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", at, "vaelib"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    return {n.removeprefix("vaelib/"): subprocess.run(["git", "show", f"{at}:{n}"], cwd=ROOT, check=True,
                                                      capture_output=True, text=True).stdout
            for n in names if n.endswith(".py")}


def by_definition(source: str) -> list[tuple[int, str]]:
    """Code lines of each top-level function or class of a module (decorators included), largest first."""
    lines = source.splitlines(keepends=True)
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            found.append((code_lines(textwrap.dedent("".join(lines[start - 1:node.end_lineno]))), node.name))
    return sorted(found, reverse=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--at", default=None, help="a git commit (default: the working tree)")
    parser.add_argument("--functions", action="store_true", help="also each plumbing file's top-level definitions")
    args = parser.parse_args(argv)
    texts = sources(args.at)
    counts = {path: code_lines(text) for path, text in texts.items()}
    by = Counter()
    for path, n in counts.items():
        by[path.split("/")[0] if "/" in path else "(top)"] += n
    for name, n in sorted(by.items()):
        print(f"{name:12s} {n:6d}")
    print(f"{'total':12s} {sum(by.values()):6d} in {len(counts)} files")
    plumbing = sum(n for path, n in counts.items() if path.startswith(PLUMBING))
    print(f"plumbing ({', '.join(PLUMBING)}): {plumbing}")
    print(f"outside site/ and analysis/: {sum(n for k, n in by.items() if k not in ('site', 'analysis'))}")
    if args.functions:
        for path in sorted(p for p in counts if p.startswith(PLUMBING) and counts[p]):
            parts = ", ".join(f"{name} {n}" for n, name in by_definition(texts[path]))
            print(f"  {path} {counts[path]}: {parts}")


if __name__ == "__main__":
    main()
