"""Saving a folder atomically, and the ``manifest.json`` that says what the folder holds.

Every saved index, policy and converted benchmark is a folder. A reader must see either the old
folder or the new one, never half of each, and a crash mid-save must leave the old one intact;
so writers fill a temporary sibling folder and ``swap_into`` renames it into place, moving the
old folder aside first and putting it back if the rename fails.

Every saved index (each retriever's and the query understander's) describes itself the same
way, so the code that writes and checks that description lives here once: ``new_manifest``
starts it (format, format version, ltrr version, then the writer's own keys in its order),
``write_manifest`` writes it, ``read_manifest`` checks format and version, ``check_files`` the
``sha256`` of every listed file and ``stale_params`` the parameters that shaped the files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from ltrr import __version__
from ltrr.errors import StorageError

MANIFEST = "manifest.json"


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def replace_file(path: Path, data: bytes) -> Path:
    """Write ``data`` beside ``path``, fsync it, then rename it into place: a reader sees the
    old file or the new one, never half of either, and nothing half-written is left behind."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


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
    write_manifest(folder, {**manifest, "sha256": checksums(folder, sorted(names))})


def read_arrays(
    directory: Path, manifest: Mapping[str, Any], remedy: str
) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
    """The arrays and documents ``write_arrays`` wrote, each checked against its sha256.

    ``remedy`` ends the error for a missing or altered file ("rebuild the index").
    """
    check_files(directory, manifest, remedy)
    arrays: dict[str, NDArray[Any]] = {}
    documents: dict[str, Any] = {}
    for name in manifest["sha256"]:
        file = directory / name
        stem, _, ext = name.rpartition(".")
        if ext == "npy":
            arrays[stem] = np.load(file, allow_pickle=False)
        else:
            documents[stem] = orjson.loads(file.read_bytes())
    return arrays, documents


# -- manifests ----------------------------------------------------------------------------


def new_manifest(fmt: str | None, version: int, **fields: Any) -> dict[str, Any]:
    """``format``, ``format_version`` and ``ltrr_version``, then ``fields`` in the order given.

    ``fmt`` is ``None`` for a format that predates the ``format`` key (the dense index): its
    manifest starts at ``format_version``. Key order is kept so a manifest stays byte-identical.
    """
    head: dict[str, Any] = {} if fmt is None else {"format": fmt}
    return {**head, "format_version": version, "ltrr_version": __version__, **fields}


def checksums(folder: Path, names: Iterable[str]) -> dict[str, str]:
    """File name -> sha256 of the files ``names`` in ``folder``, in the order given."""
    return {name: sha256(folder / name) for name in names}


def write_manifest(folder: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest`` as ``folder/manifest.json`` (indented JSON, keys in their order)."""
    (folder / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))


def read_manifest(
    directory: Path, fmt: str | None, version: int, *, holds: str, remedy: str
) -> dict[str, Any]:
    """The manifest of ``directory``, checked to be format ``fmt`` at ``version``.

    Raises
    ------
    StorageError
        If there is no manifest (the folder "holds no ``holds``"), it cannot be read or is not
        JSON, or it names another format or version; ``remedy`` ends that last message.
    """
    path = directory / MANIFEST
    if not path.is_file():
        raise StorageError(f"{directory} holds no {holds} (no {MANIFEST})")
    try:
        manifest: dict[str, Any] = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise StorageError(f"{path} is not valid JSON: {exc}") from exc
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc}") from exc
    if manifest.get("format") != fmt or manifest.get("format_version") != version:
        raise StorageError(
            f"{path}: format {manifest.get('format')!r} version {manifest.get('format_version')!r}"
            f" is not {fmt or holds} version {version}; {remedy}"
        )
    return manifest


def check_files(directory: Path, manifest: Mapping[str, Any], remedy: str) -> None:
    """Raise ``StorageError`` (ending with ``remedy``) for a file of ``manifest["sha256"]`` that
    is missing or whose bytes changed since it was written."""
    for name, digest in manifest["sha256"].items():
        file = directory / name
        if not file.is_file() or sha256(file) != digest:
            raise StorageError(f"{file}: missing or corrupt (checksum mismatch); {remedy}")


def stale_params(saved: Mapping[str, Any], params: object, names: Iterable[str]) -> list[str]:
    """The ``names`` whose value in ``saved`` (a manifest's ``params``) differs from the
    attribute of ``params``: the parameters that shaped the files changed, so they are stale.

    JSON gives tuples back as lists, so both sides compare as lists; a missing name is stale.
    """
    return [name for name in names if _plain(saved.get(name)) != _plain(getattr(params, name))]


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple | list) else value
