"""Photo evidence (证据照片): uploads are checked by decoding them (JPEG, PNG or WebP, whole, not a
decompression bomb), stored once per content under the data directory by their SHA-256, and recorded per
village in an append-only table. The bytes are named by their hash, so the audit trail (and its chain) that
records the hash pins the evidence: a swapped file no longer matches its name.

Before it is hashed, a photo loses what a phone writes beside the picture — EXIF (the GPS position of the
villager's home above all), XMP, comments, text chunks — with its orientation applied to the pixels, so the
stored bytes are the picture as the villager saw it and nothing else. The same picture sent twice with
different metadata becomes the same bytes, and is stored once."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import tempfile
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import service as audit
from jifen.auth.actor import Actor
from jifen.kit.errors import Conflict, JifenError
from jifen.photos import repository

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# 40 megapixels: any phone camera's photo, far below what would take the server's memory (a small file
# that decodes to a huge image, a "decompression bomb", is refused before it is decoded)
MAX_PIXELS = 40_000_000


class PhotoTooLarge(JifenError, code="too_large", status=413, detail="照片文件太大"): ...


class UnsupportedImage(
    JifenError, code="unsupported_image", status=415, detail="只能上传完整的 JPEG、PNG 或 WebP 格式照片"
): ...


class UnknownPhoto(Conflict, code="unknown_photo", detail="找不到该照片：证据照片必须先上传到本村"): ...


def too_large(max_bytes: int) -> PhotoTooLarge:
    limit = f"{max_bytes / (1024 * 1024):g} MB" if max_bytes >= 1024 * 1024 else f"{max_bytes // 1024} KB"
    return PhotoTooLarge(f"照片不能超过 {limit}，请压缩后重新上传")


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int
    height: int


def inspect_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> ImageInfo:
    """What the bytes really are, by decoding them whole: a name or a declared type proves nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(CONTENT_TYPES)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    limit = max_pixels // 10000
                    raise PhotoTooLarge(f"照片像素太多（{width}×{height}），最多 {limit} 万像素")
                image.load()  # a truncated or corrupt file fails here
                kind = image.format
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise PhotoTooLarge(f"照片像素太多，最多 {max_pixels // 10000} 万像素") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            raise UnsupportedImage() from None
    if kind not in CONTENT_TYPES:
        raise UnsupportedImage()
    return ImageInfo(CONTENT_TYPES[kind], width, height)


# JPEG segments that carry no metadata: JFIF (APP0), the ICC colour profile (APP2, kept so colours stay right)
# and Adobe's colour transform (APP14); any other APPn (EXIF, XMP, MPF, Photoshop …) or a comment is dropped
_JPEG_PLAIN = {"APP0", "APP14"}
ORIENTATION = 0x0112  # the EXIF tag
# PNG information that is about the pixels, not about where and by whom
_PNG_PLAIN = {"dpi", "gamma", "transparency", "icc_profile", "srgb", "chromaticity", "aspect"}


def _has_metadata(image: Image.Image) -> bool:
    if image.format == "JPEG":
        markers = {
            marker
            for marker, payload in getattr(image, "applist", [])
            if not (marker == "APP2" and payload.startswith(b"ICC_PROFILE"))
        }
        return bool(markers - _JPEG_PLAIN) or "comment" in image.info
    if image.format == "PNG":
        return bool(set(image.info) - _PNG_PLAIN) or bool(getattr(image, "text", None))
    return any(key in image.info for key in ("exif", "xmp", "XML:com.adobe.xmp"))


def strip_metadata(data: bytes) -> bytes:
    """The photo without EXIF, XMP, comments or text, its orientation applied; the bytes unchanged when
    there is nothing to remove (no needless re-encoding of a clean photo)."""
    with Image.open(io.BytesIO(data), formats=list(CONTENT_TYPES)) as image:
        if not _has_metadata(image):
            return data
        kind = image.format
        icc_profile = image.info.get("icc_profile")
        turned = image.getexif().get(ORIENTATION, 1) != 1
        picture = ImageOps.exif_transpose(image) if turned else image
        picture.info = {}  # nothing carried over into the new file but what is passed below
        out = io.BytesIO()
        if kind == "JPEG":
            # upright already: the original's quantisation tables and sampling, so no visible loss
            picture.save(
                out,
                format="JPEG",
                quality=92 if turned else "keep",
                subsampling=0 if turned else "keep",
                icc_profile=icc_profile,
                comment=b"",
            )
        elif kind == "PNG":
            picture.save(out, format="PNG", icc_profile=icc_profile)
        else:
            lossless = bool(getattr(image, "_lossless", False))
            picture.save(out, format="WEBP", quality=92, lossless=lossless, icc_profile=icc_profile)
        return out.getvalue()


def photo_path(data_dir: Path, sha256: str) -> Path:
    return data_dir / "photos" / sha256[:2] / sha256


def store_bytes(data_dir: Path, sha256: str, data: bytes) -> Path:
    """Write the bytes once under their hash: a temporary file in the same directory, renamed into place,
    so a reader never sees half a photo and two uploads of the same bytes never collide."""
    path = photo_path(data_dir, sha256)
    if path.is_file() and path.stat().st_size == len(data):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


Photo = repository.Photo


async def upload_photo(
    session: AsyncSession,
    actor: Actor,
    village_id: uuid.UUID,
    *,
    data: bytes,
    data_dir: Path,
    max_bytes: int,
) -> Photo:
    """Check, store and record one photo for the village."""
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    if not data:
        raise UnsupportedImage("照片文件是空的")
    info = await asyncio.to_thread(inspect_image, data)  # decoding takes a while: off the event loop
    # what is kept, hashed and measured is the picture alone (no GPS position), upright
    stripped = await asyncio.to_thread(strip_metadata, data)
    if stripped is not data:
        data, info = stripped, await asyncio.to_thread(inspect_image, stripped)
    sha256 = hashlib.sha256(data).hexdigest()
    await asyncio.to_thread(store_bytes, data_dir, sha256, data)
    photo = await repository.insert_photo(
        session,
        village_id=village_id,
        sha256=sha256,
        content_type=info.content_type,
        size=len(data),
        width=info.width,
        height=info.height,
        uploaded_by=actor.user_id,
    )
    await audit.record(
        session,
        actor,
        village_id=village_id,
        action="photo.upload",
        record_type="photo",
        record_id=photo.id,
        after={
            "sha256": sha256,
            "content_type": info.content_type,
            "size": len(data),
            "width": info.width,
            "height": info.height,
        },
    )
    return photo


async def get_photo(session: AsyncSession, photo_id: uuid.UUID) -> Photo | None:
    return await repository.get_photo(session, photo_id)
