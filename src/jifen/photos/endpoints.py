from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile as AnyUpload

from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.error_sets import READ_ERRORS
from jifen.kit.errors import NotAuthenticated, NotFound, create_route, error_responses
from jifen.kit.limits import BodyLimit, body_limit
from jifen.photos import service
from jifen.photos.auth import PhotoReader, PhotoUploader
from jifen.photos.schemas import PhotoOut
from jifen.settings import Settings

CHUNK = 64 * 1024
MULTIPART_OVERHEAD = 16 * 1024  # boundaries and part headers around the file


def photo_limit(settings: Settings) -> BodyLimit:
    """One photo and the multipart boundaries and part headers around it."""
    return BodyLimit(
        settings.upload_max_bytes + MULTIPART_OVERHEAD, service.too_large(settings.upload_max_bytes).detail
    )


router = APIRouter(tags=["photos"], route_class=AutoCommitRoute)


async def read_limited(upload: AnyUpload, max_bytes: int) -> bytes:
    """The upload's bytes, read in chunks and refused as soon as they pass the limit (whatever the
    request's Content-Length claimed)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise service.too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


@create_route(
    router,
    "/villages/{village_id}/photos",
    PhotoOut,
    *READ_ERRORS,
    service.PhotoTooLarge,
    service.UnsupportedImage,
)
@body_limit(photo_limit)
async def upload_photo(
    request: Request,
    access: PhotoUploader,
    session: Session,
    file: Annotated[UploadFile, File(description="a JPEG, PNG or WebP photo")],
) -> PhotoOut:
    """证据照片: upload a photo to attach to awards and self-reports (`photo_ids`). Its real type is checked
    by decoding it; the same bytes are stored once."""
    settings: Settings = request.app.state.settings
    data = await read_limited(file, settings.upload_max_bytes)
    photo = await service.upload_photo(
        session,
        access.actor,
        access.village.id,
        data=data,
        data_dir=settings.data_dir,
        max_bytes=settings.upload_max_bytes,
    )
    return PhotoOut.model_validate(photo, from_attributes=True)


@router.get(
    "/photos/{photo_id}",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}},
            "description": "the photo's bytes",
        },
        **error_responses(NotAuthenticated, NotFound),
    },
)
async def get_photo(request: Request, access: PhotoReader) -> FileResponse:
    """A photo's bytes, for the users of its village; they never change, so clients may keep them."""
    return photo_file(request.app.state.settings, access.photo)


def photo_file(settings: Settings, photo: service.Photo, max_age: int = 31536000) -> FileResponse:
    """A stored photo's bytes as a response (the API's and the pages')."""
    path = service.photo_path(settings.data_dir, photo.sha256)
    if not path.is_file():
        raise NotFound("照片文件已不在服务器上，请联系村管理员")
    return FileResponse(
        path,
        media_type=photo.content_type,
        headers={
            "Cache-Control": f"private, max-age={max_age}, immutable",
            "ETag": f'"{photo.sha256}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
