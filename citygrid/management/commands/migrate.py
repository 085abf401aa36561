from django.core.management.commands.migrate import Command as DjangoMigrate

from citygrid.dbroles import as_owner


class Command(DjangoMigrate):
    """Django's migrate, logged in as the owner role (DATABASE_OWNER_URL): the runtime role that serves may not
    change the schema. The grants are set after it (post_migrate, citygrid.dbroles.apply_grants)."""

    help = DjangoMigrate.help + " Runs as the owner role (DATABASE_OWNER_URL)."

    def handle(self, *args, **options):
        with as_owner(options["database"]):
            return super().handle(*args, **options)
