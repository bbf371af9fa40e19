"""The archive: a plain tar of `database.dump`, `photos/<ab>/<sha256>`, `manifest.json` and
`manifest.sha256`, in that order.

The manifest names every other member with its SHA-256 and size, and `manifest.sha256` pins the manifest,
so every byte that carries data is covered by a checksum; the reader also insists that the tar's padding and
end blocks are zeros. A truncated archive or one altered byte anywhere is therefore refused before anything
is restored.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from jifen.backup.errors import ArchiveDamaged

DUMP = "database.dump"
MANIFEST = "manifest.json"
MANIFEST_DIGEST = "manifest.sha256"
FORMAT = "jifen-backup/1"
_PHOTO_MEMBER = re.compile(r"^photos/([0-9a-f]{2})/([0-9a-f]{64})$")
_CHUNK = 1024 * 1024


def file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class ArchiveWriter:
    """Writes the archive to a temporary file beside `target`; `commit` fsyncs and renames it into place."""

    def __init__(self, target: Path) -> None:
        self.target = target
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
        os.close(handle)
        self.partial = Path(name)
        self.tar = tarfile.open(self.partial, "w", format=tarfile.USTAR_FORMAT)
        self.files: dict[str, dict[str, Any]] = {}

    def add_file(self, name: str, path: Path, *, expected_sha256: str | None = None) -> dict[str, Any]:
        """Add a file under `name`, hashing it as it is read (so the manifest describes the bytes stored)."""
        digest = hashlib.sha256()
        size = path.stat().st_size
        info = tarfile.TarInfo(name)
        info.size = size
        info.mtime = int(time.time())
        info.mode = 0o600
        with path.open("rb") as source:
            self.tar.addfile(info, _HashingReader(source, digest))
        entry = {"sha256": digest.hexdigest(), "size": size}
        if expected_sha256 is not None and entry["sha256"] != expected_sha256:
            raise ValueError(f"{path} does not hash to its name")
        self.files[name] = entry
        return entry

    def add_manifest(self, manifest: dict[str, Any]) -> None:
        text = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode()
        for name, data in ((MANIFEST, text), (MANIFEST_DIGEST, hashlib.sha256(text).hexdigest().encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o600
            self.tar.addfile(info, _BytesReader(data))

    def commit(self) -> None:
        self.tar.close()
        with self.partial.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(self.partial, self.target)
        with contextlib.suppress(OSError):  # make the rename itself durable
            directory = os.open(self.target.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.tar.close()
        self.partial.unlink(missing_ok=True)


class _HashingReader:
    def __init__(self, source: BinaryIO, digest: Any) -> None:
        self.source = source
        self.digest = digest

    def read(self, size: int = -1) -> bytes:
        chunk = self.source.read(size)
        self.digest.update(chunk)
        return chunk


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.position + size
        chunk = self.data[self.position : end]
        self.position += len(chunk)
        return chunk


@dataclass
class Unpacked:
    """A checked archive, unpacked into a scratch directory: the dump, the photos and the manifest."""

    directory: Path
    manifest: dict[str, Any]

    @property
    def dump(self) -> Path:
        return self.directory / DUMP

    def photos(self) -> Iterator[tuple[str, Path]]:
        for name in self.manifest["files"]:
            found = _PHOTO_MEMBER.match(name)
            if found:
                yield found.group(2), self.directory / name


def _damaged(path: Path, why: str) -> ArchiveDamaged:
    return ArchiveDamaged(
        f"备份文件 {path} 已损坏或不完整（{why}），没有写入任何数据；请换一份备份（例如前一天的）再恢复"
    )


def unpack(path: Path, into: Path) -> Unpacked:
    """Check every member of the archive against the manifest while copying it into `into`.

    Raises ArchiveDamaged naming the first problem; the caller discards `into` then.
    """
    if not path.is_file():
        raise ArchiveDamaged(f"找不到备份文件 {path}")
    seen: dict[str, dict[str, Any]] = {}
    raw: dict[str, bytes] = {}
    try:
        with path.open("rb") as handle, tarfile.open(fileobj=handle, mode="r:") as tar:
            for member in tar:
                name = member.name
                if not member.isfile() or name in seen:
                    raise _damaged(path, f"意外的条目 {name!r}")
                if name not in (DUMP, MANIFEST, MANIFEST_DIGEST) and not _PHOTO_MEMBER.match(name):
                    raise _damaged(path, f"意外的条目 {name!r}")
                source = tar.extractfile(member)
                assert source is not None
                digest = hashlib.sha256()
                size = 0
                if name in (MANIFEST, MANIFEST_DIGEST):
                    data = source.read()
                    if len(data) != member.size:
                        raise _damaged(path, f"{name} 不完整")
                    raw[name] = data
                    digest.update(data)
                    size = len(data)
                else:
                    destination = into / name
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    with destination.open("wb") as out:
                        while chunk := source.read(_CHUNK):
                            digest.update(chunk)
                            size += len(chunk)
                            out.write(chunk)
                    if size != member.size:
                        raise _damaged(path, f"{name} 不完整")
                seen[name] = {"sha256": digest.hexdigest(), "size": size}
                _check_padding(handle, member, path)
            _check_end(handle, tar.offset, path)
    except tarfile.TarError as exc:
        raise _damaged(path, f"不是完整的 tar 文件：{exc}") from exc
    except (EOFError, OSError) as exc:
        raise _damaged(path, f"读取失败：{exc}") from exc
    if MANIFEST not in raw or MANIFEST_DIGEST not in raw:
        raise _damaged(path, "缺少清单 manifest.json，文件可能被截断")
    if hashlib.sha256(raw[MANIFEST]).hexdigest().encode() != raw[MANIFEST_DIGEST].strip():
        raise _damaged(path, "清单 manifest.json 的校验和不符")
    try:
        manifest = json.loads(raw[MANIFEST])
    except ValueError as exc:
        raise _damaged(path, "清单 manifest.json 无法解析") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _damaged(path, f"不是 jifen 的备份（格式应为 {FORMAT}）")
    expected: dict[str, dict[str, Any]] = manifest.get("files", {})
    for name, entry in expected.items():
        if name not in seen:
            raise _damaged(path, f"缺少 {name}，文件可能被截断")
        if seen[name] != {"sha256": entry.get("sha256"), "size": entry.get("size")}:
            raise _damaged(path, f"{name} 的 SHA-256 或大小与清单不符")
    extra = set(seen) - set(expected) - {MANIFEST, MANIFEST_DIGEST}
    if extra:
        raise _damaged(path, f"清单里没有的条目 {sorted(extra)[0]}")
    if DUMP not in expected:
        raise _damaged(path, "缺少数据库转储 database.dump")
    return Unpacked(directory=into, manifest=manifest)


def _check_padding(handle: BinaryIO, member: tarfile.TarInfo, path: Path) -> None:
    """The bytes between a member's data and the next 512-byte block carry nothing and must be zero."""
    end = member.offset_data + member.size
    padding = -member.size % tarfile.BLOCKSIZE
    if padding:
        position = handle.tell()
        handle.seek(end)
        if handle.read(padding).strip(b"\0"):
            raise _damaged(path, f"{member.name} 之后的填充字节被改动")
        handle.seek(position)


def _check_end(handle: BinaryIO, offset: int, path: Path) -> None:
    """After the last member come at least two zero blocks and nothing else."""
    handle.seek(offset)
    tail = handle.read()
    # the writer pads the archive to whole 10 KiB records: any other length means bytes were cut or added
    if len(tail) < 2 * tarfile.BLOCKSIZE or handle.tell() % tarfile.RECORDSIZE:
        raise _damaged(path, "文件末尾不完整，可能被截断")
    if tail.strip(b"\0"):
        raise _damaged(path, "文件末尾有多余或被改动的字节")
