"""Seed the demo marketplace, instance types, fleet and users (`make run` does this once)."""
from django.conf import settings
from django.core.management.base import BaseCommand

from provisioning.fixtures.demo import demo_seed
from provisioning.models import Appliance

NOT_THE_DEMO = (
    "Not creating the demo accounts demo/demo and admin/admin: this is not the demo (SKYPORT_DEMO is off, as it "
    "is by default with DJANGO_DEBUG=0). Create a staff account with `manage.py createsuperuser`, or set "
    "SKYPORT_DEMO=1 if this really is a demo."
)


class Command(BaseCommand):
    help = ("Create demo appliances, instance types, a 20-host fleet in 2 zones, and (in the demo only, "
            "SKYPORT_DEMO=1) the users demo/demo and admin/admin.")

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="do nothing when the catalog has entries")
        parser.add_argument("--no-users", action="store_true", help="skip the demo and admin users")

    def handle(self, *args, if_empty=False, no_users=False, **options):
        if if_empty and Appliance.objects.exists():
            self.stdout.write("Catalog already seeded; leaving it as it is.")
            return
        if not no_users and not settings.SKYPORT_DEMO:
            self.stderr.write(NOT_THE_DEMO)
            no_users = True
        made = demo_seed(with_users=not no_users)
        self.stdout.write(self.style.SUCCESS(
            "Seeded: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in made.items())))
