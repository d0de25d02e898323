"""Archives of the spoken-word data sets: hashing, safe extraction, atomic placement, fetch records.

Downloads themselves go through :func:`bench.data.download.download_verified`
(mirrors in turn, a temporary file, the caller's check, an atomic rename).
This module does what comes after: unpacking a verified archive without
letting it write outside the folder it is unpacked into, and moving the
result into place only once it is complete and checked.

Safety of tar archives (:func:`extract_tar`): every member is checked before
it is written. A member whose name is absolute, has a drive, or has a ``..``
component is refused and the whole extraction fails, naming the member and
the archive; so is any member that is neither a regular file nor a folder
(symbolic and hard links, devices, FIFOs), since none of the official
archives holds one. Members are then extracted one by one with tarfile's
``filter="data"`` where the running Python has it (3.10.12+, 3.11.4+, 3.12),
which repeats these checks and strips unsafe permission bits. Extraction goes
into a hidden staging folder beside the target (same file system); the
target appears, by one rename, only after the caller's checks of the staged
copy pass. A failed extraction leaves neither a target nor a staging folder.

Fetch records: a data set whose official files have no published per-file
hashes (Speech Commands, SHD) gets, when ``rcbench data fetch`` has verified
its archive and unpacked it, a small hidden JSON file beside the data: the
archive's name, URL and hash, and the SHA-256 digest of what was unpacked
(:func:`tree_digest`). ``rcbench data check`` recomputes the digest, so damage
after the fetch is found; data unpacked by hand has no record and is reported
as present but unverified.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from bench.data.download import Progress, download_verified

CHUNK_BYTES = 1 << 20


class UnsafeArchiveError(ValueError):
    """An archive holds a member that could write outside its folder, or a link or device; names both."""


def file_hash(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of the file's bytes (read in 1 MB chunks, so any size fits in memory)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def tree_files(folder: Path) -> list[Path]:
    """Every regular file under ``folder``, recursively, sorted by relative path; hidden names are skipped."""
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(Path(root) / name for name in names if not name.startswith("."))
    return sorted((p for p in files if p.is_file()), key=lambda p: p.relative_to(folder).as_posix())


def tree_digest(folder: Path) -> tuple[str, int]:
    """SHA-256 of the sorted lines ``"<sha256 of file>  <relative POSIX path>\\n"`` of :func:`tree_files`,
    and the number of files.

    For a flat folder this is the digest :mod:`bench.data.fsdd` pins for the FSDD recordings.
    """
    lines = [f"{file_hash(path)}  {path.relative_to(folder).as_posix()}\n" for path in tree_files(folder)]
    return hashlib.sha256("".join(lines).encode()).hexdigest(), len(lines)


def member_parts(name: str, archive: Path | str) -> tuple[str, ...]:
    """The path components of a member name, without ``.`` components.

    Raises:
        UnsafeArchiveError: the name is absolute, has a Windows drive, or a ``..`` component.
    """
    posix = PurePosixPath(name.replace("\\", "/"))
    parts = tuple(part for part in posix.parts if part not in (".", ""))
    if posix.is_absolute() or (parts and ":" in parts[0]) or ".." in parts:
        raise UnsafeArchiveError(f"{archive}: refusing member {name!r}: its path leaves the extraction folder "
                                 f"(absolute, a drive, or a '..' component); the archive is not the official one")
    return parts


HAS_DATA_FILTER = hasattr(tarfile, "data_filter")


def extract_tar(
    archive: Path,
    destination: Path,
    select: Callable[[tuple[str, ...]], tuple[str, ...] | None] = lambda parts: parts,
) -> int:
    """Extract the regular files of ``archive`` (any compression tarfile reads) chosen by ``select``.

    Args:
        archive: the tar file.
        destination: an existing, empty folder to extract into.
        select: maps a member's path components to where it goes under
            ``destination`` (components), or None to skip it. Every member is
            checked for safety whether or not it is selected.

    Returns:
        The number of files extracted.

    Raises:
        UnsafeArchiveError: a member's path leaves the folder, or a member is a link, device or FIFO.
        tarfile.TarError, OSError, EOFError: the archive is truncated or not a tar archive.
    """
    count = 0
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            parts = member_parts(member.name, archive)
            if not (member.isfile() or member.isdir()):
                raise UnsafeArchiveError(f"{archive}: refusing member {member.name!r}: it is a link, device or "
                                         f"FIFO, which the official archive does not hold")
            if not member.isfile() or not parts:
                continue
            target = select(parts)
            if target is None:
                continue
            member_parts("/".join(target), archive)  # select's output must be as safe as its input
            member.name = "/".join(target)
            if HAS_DATA_FILTER:  # repeats the checks above and drops unsafe permission bits
                tar.extract(member, destination, set_attrs=False, filter="data")
            else:  # pragma: no cover - Pythons without extraction filters
                tar.extract(member, destination, set_attrs=False)
            count += 1
    return count


def staging_folder(target: Path) -> Path:
    """A new, empty hidden folder beside ``target`` (same file system, so it can be renamed onto it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    staging.mkdir()
    return staging


def place_folder(staging: Path, target: Path) -> None:
    """Move the complete ``staging`` folder to ``target``, replacing any folder there.

    The old folder is first renamed aside, then ``staging`` is renamed to
    ``target``, then the old one is deleted: ``target`` is never a mix of
    the two.
    """
    old = None
    if target.exists() or target.is_symlink():
        old = target.with_name(f".{target.name}.{secrets.token_hex(4)}.old")
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        remove(old)


def remove(path: Path) -> None:
    """Delete a file or a folder tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def record_path(data: Path, folder: bool) -> Path:
    """Where the fetch record of ``data`` lies: ``data/.rcbench-fetch.json`` for a folder, else
    ``.<name>.rcbench-fetch.json`` beside the file."""
    return data / ".rcbench-fetch.json" if folder else data.with_name(f".{data.name}.rcbench-fetch.json")


def write_record(data: Path, folder: bool, fields: dict[str, Any]) -> Path:
    """Write the fetch record of ``data`` (atomically), with the time of writing added."""
    path = record_path(data, folder)
    content = dict(fields, fetched=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    temporary = path.with_name(f"{path.name}.{secrets.token_hex(4)}.part")
    temporary.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path


def read_record(data: Path, folder: bool) -> dict[str, Any] | None:
    """The fetch record of ``data``, or None if there is none or it is not readable JSON."""
    path = record_path(data, folder)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None



@dataclass(frozen=True)
class Status:
    """One line of ``rcbench data check`` for a spoken-word data set.

    Attributes:
        item: the folder or file checked.
        state: ``ok`` (present and verified), ``present`` (present and in
            the official layout, but nothing to verify it against: no fetch
            record), ``missing`` or ``BAD``.
        detail: what was found, or what is wrong.
    """

    item: Path
    state: str
    detail: str

    @property
    def failed(self) -> bool:
        return self.state in ("missing", "BAD")


def obtain(urls: Sequence[str], target: Path, check: Callable[[Path], None], progress: Progress) -> str:
    """Make ``target`` a verified copy of the file at ``urls``: reuse it if it is there and passes ``check``.

    A file already at ``target`` (say, downloaded by hand) that passes is
    kept without downloading; one that fails is deleted and downloaded
    again with :func:`bench.data.download.download_verified`.

    Returns:
        The URL the file came from, or ``"local file <target>"``.
    """
    if target.is_file():
        try:
            check(target)
        except (OSError, ValueError) as error:
            progress(f"removing {target}: {error}")
            target.unlink()
        else:
            progress(f"{target}: present and verified; not downloading it again")
            return f"local file {target}"
    return download_verified(urls, target, check, progress)
