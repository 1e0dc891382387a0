"""Seed the demo marketplace, instance types, fleet and users (`make run` does this once)."""
from django.core.management.base import BaseCommand

from provisioning.fixtures.demo import demo_seed
from provisioning.models import Appliance


class Command(BaseCommand):
    help = "Create demo appliances, instance types, a 20-host fleet in 2 zones, and users demo/admin."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="do nothing when the catalog has entries")
        parser.add_argument("--no-users", action="store_true", help="skip the demo and admin users")

    def handle(self, *args, if_empty=False, no_users=False, **options):
        if if_empty and Appliance.objects.exists():
            self.stdout.write("Catalog already seeded; leaving it as it is.")
            return
        made = demo_seed(with_users=not no_users)
        self.stdout.write(self.style.SUCCESS(
            "Seeded: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in made.items())))
