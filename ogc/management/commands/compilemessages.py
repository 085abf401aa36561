"""manage.py compilemessages — Django's, and then pygeoapi's labels for the /ogc/ pages (ogc/pygeoapi_locale/,
read by pygeoapi through Babel), so that `make` and the installer compile both with the one command they run.

pygeoapi's catalogue is kept out of any directory named `locale`: makemessages would write the project's own
strings into a django.po there, away from citygrid/locale."""

from pathlib import Path

from django.core.management.commands.compilemessages import Command as DjangoCompileMessages

CATALOGUES = Path(__file__).resolve().parents[2] / "pygeoapi_locale"


def compile_pygeoapi_catalogues() -> int:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    done = 0
    for po in sorted(CATALOGUES.glob("*/LC_MESSAGES/messages.po")):
        with po.open("rb") as source:
            catalogue = read_po(source)
        with po.with_suffix(".mo").open("wb") as target:
            write_mo(target, catalogue)
        done += 1
    return done


class Command(DjangoCompileMessages):
    help = DjangoCompileMessages.help + " Then pygeoapi's labels of the /ogc/ pages (ogc/pygeoapi_locale)."

    def handle(self, **options) -> None:
        super().handle(**options)
        compile_pygeoapi_catalogues()
