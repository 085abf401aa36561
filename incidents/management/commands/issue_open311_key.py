from django.core.management.base import BaseCommand

from incidents.open311 import issue_client_key


class Command(BaseCommand):
    help = "Register an Open311 client application and print its api_key once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, **opts):
        _, key = issue_client_key(opts["name"])
        self.stdout.write(key)
