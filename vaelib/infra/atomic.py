"""Atomic, checksummed writes: a crash, a kill or a full disk leaves the old file or the new one, never
half of one; a torch file carries the SHA-256 of its contents and is verified when loaded."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import torch

from .faults import DamagedFile, disk_full, FULL_DISK

MAGIC = b"VAELIB-SHA256\n"      # then 64 hex digits and a newline, then torch.save's bytes


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file beside `path`, then rename: a crash leaves the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno in FULL_DISK:
            raise disk_full(path, e) from e
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_torch_save(obj, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    payload = buf.getvalue()
    atomic_write_bytes(path, MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)


def torch_load(path: Path | str, map_location="cpu", weights_only: bool = True):
    """Load a file written by atomic_torch_save, verifying its checksum first (DamagedFile if it fails).
    A file without the checksum header (written by older code) loads as it is."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DamagedFile(f"{path} is missing") from None
    payload = raw
    if raw.startswith(MAGIC):
        digest, payload = raw[len(MAGIC):len(MAGIC) + 64].decode(errors="replace"), raw[len(MAGIC) + 65:]
        if hashlib.sha256(payload).hexdigest() != digest:
            raise DamagedFile(f"{path} is damaged: its contents do not match the checksum written with it "
                              f"({len(raw):,} bytes; truncated or altered)")
    try:
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=weights_only)
    except Exception as e:   # noqa: BLE001 - torch raises many kinds for a file it cannot read
        raise DamagedFile(f"{path} is damaged: torch cannot read it ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:120]})") from e
