"""Which code made a result: a fingerprint of the code that decides it, the git commit, torch, device.

A cached thing (a run, its metrics, the classifier, a reference bound) is reused only when the
fingerprint of the code that made it equals today's, or today's code reproduced its numbers (`is_fresh`,
the one rule for all of them; `vouch` records a reproduction). The
fingerprint covers what decides the numbers, not file names: the definitions (functions, classes,
constants) of every vaelib module that the step's entry module imports, directly or through others,
read with `ast` and hashed as a sorted set, without docstrings, comments or import lines, and with
`module.name` read as `name`. So moving a function from one module of the closure to another, or
rewording a docstring, keeps every run fresh; editing the loss does not; and a module the step never
imports (the download routes in `vaelib.data.fetch`, the plots) can change freely.
"""

from __future__ import annotations

import ast
import hashlib
import subprocess
from functools import lru_cache
from pathlib import Path

import torch

PACKAGE = Path(__file__).resolve().parent.parent
# The entry modules of each kind of cached result; the fingerprint follows their imports.
TRAINING = ("vaelib.training.engine",)
# A run's evaluation and NLL estimates depend on the run (checked by its own freshness and the `run_code` each
# records) and on their own code, not on the training code: their fingerprints follow their own imports only,
# so that a change of the training step that keeps the runs fresh keeps their evaluations fresh too.
EVALUATION = ("vaelib.evaluation.metrics",)
CLASSIFIER = ("vaelib.evaluation.classifier",)
NLL = ("vaelib.evaluation.nll",)
# Until 2026-12 the evaluation followed the training code too: a metrics.json made then is fresh when that
# wider closure's fingerprint, computed from today's code, is still the one it records (legacy_fresh). The NLL
# estimates need no such rule: their replay recomputes their first images.
LEGACY = {EVALUATION: TRAINING + EVALUATION}
# Where results go, never what they are: not followed (a new lock or a new message retrains nothing).
NOT_DECIDING = ("vaelib.infra.provenance", "vaelib.infra.atomic", "vaelib.infra.locks", "vaelib.infra.paths",
                "vaelib.infra.faults", "vaelib.training.runs")


def module_file(name: str, root: Path = PACKAGE) -> Path | None:
    """The source file of vaelib module `name` under `root` (a package's __init__.py), or None."""
    parts = name.split(".")[1:]
    base = root.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(name: str, tree: ast.Module, is_package: bool) -> set[str]:
    """The vaelib modules that module `name` imports (submodules named in `from X import y` included)."""
    package = name if is_package else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "vaelib"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "vaelib":
                continue
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}
    return found


def closure(entries, root: Path = PACKAGE) -> dict[str, Path]:
    """Every vaelib module the entry modules import, directly or not: name -> file (NOT_DECIDING left out)."""
    todo, seen = list(entries), {}
    while todo:
        name = todo.pop()
        if name in seen or name in NOT_DECIDING:
            continue
        path = module_file(name, root)
        if path is None:
            continue          # a name imported from a module, not a module
        seen[name] = path
        todo += sorted(_imports(name, ast.parse(path.read_text()), path.name == "__init__.py"))
    return seen


class _Normalize(ast.NodeTransformer):
    """Drop docstrings and imports; read `module.name` as `name` for imported vaelib modules."""

    def __init__(self, module_aliases: set[str]):
        self.aliases = module_aliases

    def visit_Import(self, node):
        return None

    visit_ImportFrom = visit_Import

    def generic_visit(self, node):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return super().generic_visit(node)

    def visit_Attribute(self, node):
        if isinstance(node.value, ast.Name) and node.value.id in self.aliases:
            return ast.copy_location(ast.Name(id=node.attr, ctx=node.ctx), node)
        return self.generic_visit(node)


def _module_aliases(tree: ast.Module, imported: set[str], root: Path) -> set[str]:
    """Local names bound to vaelib modules (`from . import runs`, `... import datasets as data`)."""
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                local = a.asname or a.name.split(".")[0]
                if any(m.rsplit(".", 1)[-1] == a.name.rsplit(".", 1)[-1] and module_file(m, root) for m in imported):
                    aliases.add(local)
    return aliases


def definitions(path: Path, imported: set[str], root: Path = PACKAGE) -> list[str]:
    """The module's top-level statements, normalized (see the module docstring), as ast dumps."""
    tree = ast.parse(path.read_text())
    tree = _Normalize(_module_aliases(tree, imported, root)).visit(tree)
    return [ast.dump(stmt) for stmt in tree.body]


@lru_cache(maxsize=None)
def _fingerprint(entries: tuple, root: Path) -> str:
    modules = closure(entries, root)
    statements = sorted(s for name, path in modules.items()
                        for s in definitions(path, _imports(name, ast.parse(path.read_text()),
                                                            path.name == "__init__.py"), root))
    return hashlib.sha256("\n".join(statements).encode()).hexdigest()[:12]


def fingerprint(entries=TRAINING, root: Path | str = PACKAGE) -> str:
    """A short hash of the code that decides the results of `entries` (see the module docstring)."""
    return _fingerprint(tuple(entries), Path(root))


@lru_cache(maxsize=1)
def git_commit() -> dict:
    """The project's commit and whether tracked vaelib files differ from it ({} without git)."""
    root = PACKAGE.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "vaelib"], cwd=root, capture_output=True,
                               text=True, timeout=10, check=True).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": commit, "dirty": dirty}


# The CPU's instruction-set extensions that choose torch's kernels and so can change a float's last bit.
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
             "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve")


@lru_cache(maxsize=1)
def cpu() -> dict:
    """The CPU a result was made on: its model name, its vendor, and which of ISA_FLAGS it has (from
    /proc/cpuinfo; the platform's words elsewhere), beside torch's own choice of kernels."""
    import platform
    info: dict = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set((info.get("flags") or info.get("Features") or "").split())
    return {"model": info.get("model name") or platform.processor() or platform.machine(),
            "vendor": info.get("vendor_id", ""), "flags": [f for f in ISA_FLAGS if f in flags],
            "torch_capability": torch.backends.cpu.get_cpu_capability()}


def record(entries=TRAINING, device: str | torch.device = "cpu", **extra) -> dict:
    """The provenance written beside a result, with the CPU it was made on."""
    from .numerics import state
    return {"code": fingerprint(entries), **git_commit(), "torch": str(torch.__version__), "device": str(device),
            "precision": state(), "cpu": cpu(), **extra}


def is_fresh(saved: dict | None, entries=TRAINING, replay=None, **same) -> bool:
    """The one freshness rule: `saved` (a provenance record, or a result holding one under "provenance")
    was made for the same settings (each of `same` equals the saved field of that name) by code that gives
    its numbers: today's code for `entries` by fingerprint, or code that reproduced them (`vouch`). Where
    the fingerprints differ and the caller can recompute a part of the result, `replay()` does so and says
    whether today's code gives the saved numbers bit for bit: a change that moves or renames code keeps
    the result fresh, one that changes a number makes it stale."""
    if not saved or not all(saved.get(k) == v for k, v in same.items()):
        return False
    made_by = saved.get("provenance", saved)
    today = fingerprint(entries)
    if made_by.get("code") == today or today in made_by.get("reproduced_by", {}):
        return True
    return replay is not None and bool(replay())


def legacy_fresh(saved: dict | None, entries) -> bool:
    """Made under the wider closure `entries` followed before (LEGACY), by code whose statements today's code
    still has: its recorded fingerprint equals that closure's fingerprint computed today."""
    made_by = (saved or {}).get("provenance", saved or {})
    return entries in LEGACY and made_by.get("code") == fingerprint(LEGACY[entries])


def vouch(saved: dict, entries, how: str) -> dict:
    """`saved` with today's code for `entries` recorded as reproducing its numbers (`how`: by what check),
    so that the next freshness check needs no replay."""
    made_by = saved.get("provenance", saved)
    made_by.setdefault("reproduced_by", {})[fingerprint(entries)] = how
    return saved


def describe(saved: dict | None) -> str:
    if not saved:
        return "unknown code (no provenance recorded)"
    commit = saved.get("commit", "no git")
    return f"code {saved.get('code')} (commit {commit}{'+dirty' if saved.get('dirty') else ''})"
