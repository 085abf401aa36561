"""Writing photos to storage so that a failed transaction leaves no stray files behind."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.core.files.base import ContentFile

from .models import Case, CaseLog, Photo
from .photos import PreparedPhoto

_written: ContextVar[list | None] = ContextVar("citygrid_written_files", default=None)


@contextmanager
def removed_on_failure() -> Iterator[None]:
    """Files stored inside the block are deleted again if the block raises (its transaction rolled back)."""
    files: list = []
    token = _written.set(files)
    try:
        yield
    except BaseException:
        for field in files:
            field.storage.delete(field.name)
        raise
    finally:
        _written.reset(token)


def store_photo(case: Case, prepared: PreparedPhoto, *, kind: str, log_entry: CaseLog | None, user) -> Photo:
    name = f"{case.number}-{uuid.uuid4().hex[:12]}.jpg"
    photo = Photo(case=case, log_entry=log_entry, kind=kind, width=prepared.width, height=prepared.height,
                  taken_at=prepared.taken_at, taken_location=prepared.taken_location, uploaded_by=user)
    photo.image.save(name, ContentFile(prepared.image), save=False)
    photo.thumbnail.save(name, ContentFile(prepared.thumbnail), save=False)
    files = _written.get()
    if files is not None:
        files.extend([photo.image, photo.thumbnail])
    photo.save()
    return photo
