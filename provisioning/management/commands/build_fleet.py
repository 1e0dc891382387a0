"""Build a synthetic fleet for scale tests: `manage.py build_fleet --hosts 10000 --instances 100000`."""
from django.core.management.base import BaseCommand, CommandError

from provisioning.fixtures.fleet import fleet_build
from provisioning.services.claims import ledger_audit


class Command(BaseCommand):
    help = ("Bulk-insert a synthetic fleet: hosts named <prefix>-00000..., running instances with capacity "
            "claims and an exact ledger (PostgreSQL COPY; seconds for 10,000 hosts / 100,000 instances).")

    def add_arguments(self, parser):
        parser.add_argument("--hosts", type=int, default=1000)
        parser.add_argument("--instances", type=int, default=10000)
        parser.add_argument("--zones", type=int, default=4, help="availability zones sky-1a, sky-1b, ...")
        parser.add_argument("--prefix", default="fl", help="host name prefix (and synthetic user names)")
        parser.add_argument("--seed", type=int, default=1, help="random seed for the hardware and guest mix")
        parser.add_argument("--replace", action="store_true", help="delete an existing fleet with this prefix first")
        parser.add_argument("--audit", action="store_true", help="check the capacity ledger afterwards")

    def handle(self, *args, hosts, instances, zones, prefix, seed, replace, audit, **options):
        if hosts < 1 or instances < 0:
            raise CommandError("--hosts must be at least 1 and --instances at least 0.")
        try:
            report = fleet_build(hosts=hosts, instances=instances, zones=zones, prefix=prefix, seed=seed,
                                 replace=replace)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"Built fleet {report.prefix}-*: {report.hosts} hosts, {report.instances} instances "
            f"({report.users} users) in {report.seconds:.1f} s."))
        if audit:
            problems = ledger_audit()
            if problems:
                raise CommandError("Ledger problems:\n" + "\n".join(problems[:20]))
            self.stdout.write("Ledger exact: used = sum of claims on every host, nothing above its limits.")
