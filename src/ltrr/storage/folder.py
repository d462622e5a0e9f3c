"""Saving a folder atomically: write beside it, then swap it into place whole.

Every saved index, policy and converted benchmark is a folder. A reader must see either the old
folder or the new one, never half of each, and a crash mid-save must leave the old one intact;
so writers fill a temporary sibling folder and ``swap_into`` renames it into place, moving the
old folder aside first and putting it back if the rename fails. Checksums in manifests use
``sha256``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from ltrr.errors import StorageError


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def swap_into(tmp: Path, directory: Path, *, own_names: Collection[str] | None = None) -> None:
    """Rename folder ``tmp`` to ``directory``, replacing an earlier save whole.

    With ``own_names``, an existing ``directory`` is replaced only if it holds nothing but
    those names (an earlier output of the same writer), never a user's unrelated files.
    """
    if not directory.exists():
        os.replace(tmp, directory)
        return
    if not directory.is_dir():
        raise StorageError(f"{directory} exists and is not a directory")
    if own_names is not None:
        foreign = sorted(p.name for p in directory.iterdir() if p.name not in own_names)
        if foreign:
            raise StorageError(
                f"{directory} holds files this command does not write ({', '.join(foreign[:5])}); "
                "choose an empty or new directory"
            )
    old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old-", dir=directory.parent))
    os.replace(directory, old / directory.name)
    try:
        os.replace(tmp, directory)
    except OSError:
        os.replace(old / directory.name, directory)  # put the earlier save back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staged(directory: Path, *, own_names: Collection[str] | None = None) -> Iterator[Path]:
    """A temporary sibling of ``directory`` to fill; swapped into place if the block succeeds."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    tmp.chmod(0o755)  # mkdtemp's 0o700 would hide the saved folder from other users
    try:
        yield tmp
        swap_into(tmp, directory, own_names=own_names)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_arrays(
    folder: Path,
    manifest: Mapping[str, Any],
    arrays: Mapping[str, NDArray[Any]],
    documents: Mapping[str, Any],
) -> None:
    """Write ``arrays`` as npy and ``documents`` as JSON into ``folder``, then ``manifest.json``
    (``manifest`` plus a sha256 per file): the plain-file save format of indexes and policies.
    """
    names = []
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        names.append(f"{name}.npy")
    for name, doc in documents.items():
        (folder / f"{name}.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY))
        names.append(f"{name}.json")
    full = {**manifest, "sha256": {n: sha256(folder / n) for n in sorted(names)}}
    (folder / "manifest.json").write_bytes(orjson.dumps(full, option=orjson.OPT_INDENT_2))


def read_arrays(
    directory: Path, manifest: Mapping[str, Any], remedy: str
) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
    """The arrays and documents ``write_arrays`` wrote, each checked against its sha256.

    ``remedy`` ends the error for a missing or altered file ("rebuild the index").
    """
    arrays: dict[str, NDArray[Any]] = {}
    documents: dict[str, Any] = {}
    for name, digest in manifest["sha256"].items():
        file = directory / name
        if not file.is_file() or sha256(file) != digest:
            raise StorageError(f"{file}: missing or checksum mismatch; {remedy}")
        stem, _, ext = name.rpartition(".")
        if ext == "npy":
            arrays[stem] = np.load(file, allow_pickle=False)
        else:
            documents[stem] = orjson.loads(file.read_bytes())
    return arrays, documents
