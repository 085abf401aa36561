from django.core.management.commands.flush import Command as DjangoFlush

from citygrid.dbroles import as_owner


class Command(DjangoFlush):
    """Django's flush, logged in as the owner role: it TRUNCATEs, which the runtime role may not (the tests'
    transactional cases flush between tests this way)."""

    help = DjangoFlush.help + " Runs as the owner role (DATABASE_OWNER_URL)."

    def handle(self, **options):
        with as_owner(options["database"]):
            return super().handle(**options)
