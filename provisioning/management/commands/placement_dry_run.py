"""Staff what-if from the shell: where would this request go, and why not elsewhere (claims nothing)."""
import json

from django.core.management.base import BaseCommand, CommandError

from provisioning.models import Appliance, InstanceType, PlacementGroup
from provisioning.placement import PlacementRequest, dry_run
from provisioning.selectors import ref_lookup
from provisioning.units import mib_label


class Command(BaseCommand):
    help = "Dry-run placement: ranked candidate hosts and, per filter, how many hosts were refused and why."

    def add_arguments(self, parser):
        parser.add_argument("--appliance", required=True, help="ami- id or slug")
        parser.add_argument("--instance-type", required=True, help="e.g. m5.large")
        parser.add_argument("--availability-zone", default="")
        parser.add_argument("--virt-mode", default="")
        parser.add_argument("--placement-group", default="", help="placement group pg- id")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args, **o):
        app = ref_lookup(Appliance.objects.all(), o["appliance"], alt="slug")
        if app is None:
            raise CommandError(f"No appliance '{o['appliance']}' (give an ami- id or slug).")
        it = InstanceType.objects.filter(name=o["instance_type"]).first()
        if it is None:
            names = ", ".join(InstanceType.objects.values_list("name", flat=True))
            raise CommandError(f"No instance type '{o['instance_type']}'; choose one of: {names}.")
        group = None
        if o["placement_group"]:
            group = PlacementGroup.objects.filter(public_id=o["placement_group"]).first()
            if group is None:
                raise CommandError(f"No placement group '{o['placement_group']}'.")
        result = dry_run(PlacementRequest(appliance=app, instance_type=it, availability_zone=o["availability_zone"],
                                          virt_mode=o["virt_mode"], placement_group=group))
        if o["json"]:
            self.stdout.write(json.dumps(result, indent=2))
            return
        expl = result["explanation"]
        if result["chosen"]:
            self.stdout.write(self.style.SUCCESS(f"Would place on {result['chosen']} in {result['virt_mode']} mode."))
        else:
            self.stdout.write(self.style.ERROR(expl["message"]))
        self.stdout.write(expl["summary"])
        for c in result["candidates"]:
            weights = ", ".join(f"{k} {v:g}" for k, v in c["weights"].items() if v)
            free = f"{c['free']['vcpus']} vCPU / {mib_label(c['free']['memory_mib'], gib_only=True)}"
            self.stdout.write(f"  {c['rank']:>2}. {c['host']:<16} {c['availability_zone']:<8} {c['virt_mode']:<20} "
                              f"weight {c['weight']:<7g} free {free}" + (f"  ({weights})" if weights else ""))
        for r in expl["refusals"]:
            self.stdout.write(f"  refused by {r['filter']}: {r['hosts']} {r['text']}")
