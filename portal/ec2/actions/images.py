"""The catalog and the map: DescribeImages, DescribeInstanceTypes, DescribeAvailabilityZones, DescribeRegions."""
from __future__ import annotations

from django.db.models import Q

from provisioning.selectors import appliance_list, availability_zone_list, instance_type_list

from ..errors import Ec2Error
from ..filters import apply, match, page
from ..params import check_ids
from . import Call, action

CATALOG_OWNER = "000000000000"  # the marketplace's images belong to no tenant


def image_item(app) -> dict:
    windows = app.os_family == "windows"
    return {
        "imageId": app.public_id,
        "imageLocation": f"skyport-marketplace/{app.slug}",
        "imageState": "available",
        "imageOwnerId": CATALOG_OWNER,
        "creationDate": app.created_at,
        "isPublic": app.is_public,
        "architecture": app.architecture,
        "imageType": "machine",
        "platform": "windows" if windows else None,
        "platformDetails": "Windows" if windows else "Linux/UNIX",
        "imageOwnerAlias": "skyport",
        "name": app.slug,
        "description": f"{app.name}: {app.os_name} {app.os_version}" + (f", {app.stack}" if app.stack else ""),
        "rootDeviceType": "ebs",
        "rootDeviceName": "/dev/sda1" if windows else "/dev/xvda",
        "blockDeviceMapping": [{"deviceName": "/dev/sda1" if windows else "/dev/xvda",
                                "ebs": {"volumeSize": app.min_disk_gib, "deleteOnTermination": True}}],
        "virtualizationType": "paravirtual" if app.supported_modes == ["paravirtualization"] else "hvm",
        "tagSet": [],
    }


@action("DescribeImages")
def describe_images(call: Call) -> dict:
    p = call.params
    ids = check_ids("ami", p.list("ImageId"))
    known = {
        "image-id": lambda v: match("public_id", v),
        "name": lambda v: match("slug", v),
        "architecture": lambda v: match("architecture", v),
        "platform": lambda v: Q(os_family="windows") if "windows" in v else Q(pk__in=[]),
        "state": lambda v: Q() if "available" in v else Q(pk__in=[]),
        "is-public": lambda v: Q(is_public__in=[x == "true" for x in v]),
        "owner-alias": lambda v: Q() if "skyport" in v else Q(pk__in=[]),
    }
    filters = p.filters(set(known))
    qs = appliance_list()
    owners = p.list("Owner")
    if owners and not {"skyport", CATALOG_OWNER, "amazon"} & set(owners):
        qs = qs.none()  # the caller owns no images ("self")
    if ids:
        found = set(qs.filter(public_id__in=ids).values_list("public_id", flat=True))
        missing = [i for i in ids if i not in found]
        if missing:
            raise Ec2Error("InvalidAMIID.NotFound", f"The image id '[{', '.join(missing)}]' does not exist")
        qs = qs.filter(public_id__in=ids)
    rows, token = page(apply(qs, filters, known), max_results=p.int("MaxResults", low=5, high=1000),
                       next_token=p.str("NextToken"))
    return {"imagesSet": [image_item(app) for app in rows], "nextToken": token}


@action("DescribeInstanceTypes")
def describe_instance_types(call: Call) -> dict:
    p = call.params
    names = p.list("InstanceType")
    known = {
        "instance-type": lambda v: match("name", v),
        "vcpu-info.default-vcpus": lambda v: Q(vcpus__in=[int(x) for x in v if x.isdigit()]),
        "memory-info.size-in-mib": lambda v: Q(memory_mib__in=[int(x) for x in v if x.isdigit()]),
    }
    filters = p.filters(set(known))
    qs = instance_type_list()
    if names:
        found = set(qs.filter(name__in=names).values_list("name", flat=True))
        missing = [n for n in names if n not in found]
        if missing:
            raise Ec2Error("InvalidInstanceType", f"The following supplied instance types do not exist: "
                                                  f"[{', '.join(missing)}]")
        qs = qs.filter(name__in=names)
    rows, token = page(apply(qs, filters, known), max_results=p.int("MaxResults", low=5, high=100),
                       next_token=p.str("NextToken"))
    return {"instanceTypeSet": [{
        "instanceType": it.name,
        "currentGeneration": True,
        "supportedUsageClasses": ["on-demand"],
        "supportedRootDeviceTypes": ["ebs"],
        "supportedVirtualizationTypes": ["hvm", "paravirtual"],
        "bareMetal": False,
        "processorInfo": {"supportedArchitectures": ["x86_64", "i386"]},
        "vCpuInfo": {"defaultVCpus": it.vcpus},
        "memoryInfo": {"sizeInMiB": it.memory_mib},
        "instanceStorageSupported": True,
        "instanceStorageInfo": {"totalSizeInGB": it.disk_gib},
        "networkInfo": {"enaSupport": "required" if it.nic == "sriov" else "unsupported"},
        "hibernationSupported": False,
        "burstablePerformanceSupported": False,
    } for it in rows], "nextToken": token}


@action("DescribeAvailabilityZones")
def describe_availability_zones(call: Call) -> dict:
    p = call.params
    zones = availability_zone_list()
    wanted = p.list("ZoneName") + p.list("ZoneId")
    unknown = [z for z in wanted if z not in zones]
    if unknown:
        raise Ec2Error("InvalidParameterValue", f"The zone '{unknown[0]}' does not exist; zones: {', '.join(zones)}.")
    for name, values in p.filters({"zone-name", "zone-id", "region-name", "state"}):
        if name in ("zone-name", "zone-id"):
            zones = [z for z in zones if z in values]
        elif name == "region-name" and call.region not in values or name == "state" and "available" not in values:
            zones = []
    if wanted:
        zones = [z for z in zones if z in wanted]
    return {"availabilityZoneInfo": [{
        "zoneName": z, "zoneId": z, "zoneState": "available", "regionName": call.region, "messageSet": [],
        "optInStatus": "opt-in-not-required", "groupName": call.region, "networkBorderGroup": call.region,
        "zoneType": "availability-zone",
    } for z in zones]}


@action("DescribeRegions")
def describe_regions(call: Call) -> dict:
    p = call.params
    names = p.list("RegionName")
    unknown = [n for n in names if n != call.region]
    if unknown:
        raise Ec2Error("InvalidParameterValue", f"Invalid region: {unknown[0]}; this endpoint serves region "
                                                f"{call.region} only.")
    regions = [call.region]
    for name, values in p.filters({"region-name", "endpoint", "opt-in-status"}):
        if name == "region-name" and call.region not in values:
            regions = []
    return {"regionInfo": [{"regionName": r, "regionEndpoint": "", "optInStatus": "opt-in-not-required"}
                           for r in regions]}
