from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from citygrid.models import ApiToken


class Command(BaseCommand):
    help = "Issue an API token for a user and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="what or who uses the token")
        parser.add_argument("--days", type=int, default=90, help="days until it expires (0: never)")

    def handle(self, *args, **opts):
        user = get_user_model().objects.filter(username=opts["username"]).first()
        if user is None:
            raise CommandError(f"no user {opts['username']!r}")
        _, key = ApiToken.issue(user, opts["name"], days=opts["days"] or None)
        self.stdout.write(key)
