"""manage.py refresh_static: collectstatic — hashed names and compressed copies, as production serves them — only
when the sources changed since the last collection into STATIC_ROOT.

Hashing and compressing every file (brotli and gzip of 1,400 files, 50 MB) takes most of a minute of two cores on
each run, and `make run`, `make test`, the live server of the browser tests and every benchmark's server each
collected again, unchanged. A fingerprint of the sources (each file's path, size and modification time, and the
storage that collects them) is kept beside STATIC_ROOT (outside it: nothing to serve); when it matches, nothing is
done."""

import hashlib
import os
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.core.management import call_command
from django.core.management.base import BaseCommand

IGNORE = ["CVS", ".*", "*~"]  # collectstatic's own default ignore patterns


def sources_fingerprint() -> str:
    digest = hashlib.sha256(settings.STORAGES["staticfiles"]["BACKEND"].encode())
    entries = []
    for finder in get_finders():
        for path, storage in finder.list(IGNORE):
            full = storage.path(path)
            st = os.stat(full)
            entries.append(f"{path}\0{full}\0{st.st_size}\0{st.st_mtime_ns}\n")
    for entry in sorted(entries):
        digest.update(entry.encode())
    return digest.hexdigest()


def refresh(force: bool = False) -> bool:
    """Collect when the sources or the storage changed (or when forced); True when it collected."""
    root = Path(settings.STATIC_ROOT)
    stamp = root.parent / f"{root.name}.sources.sha256"
    fingerprint = sources_fingerprint()
    if not force and stamp.is_file() and stamp.read_text() == fingerprint:
        return False
    stamp.unlink(missing_ok=True)  # a collection stopped halfway must not pass for a current one
    call_command("collectstatic", interactive=False, verbosity=0)
    stamp.write_text(fingerprint)
    return True


class Command(BaseCommand):
    help = "Collect the static files (hashed, compressed) unless those in STATIC_ROOT come from the same sources."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="collect even when nothing changed")

    def handle(self, *args, **opts):
        collected = refresh(force=opts["force"])
        if opts["verbosity"] > 0:
            self.stdout.write(f"static files {'collected' if collected else 'current'} in {settings.STATIC_ROOT}")
