"""Web views by resource; `generic` holds the list base the staff console reuses."""
from .access_keys import access_key_remove, access_keys
from .auth import signup
from .instances import (
    InstanceListView,
    instance_detail,
    instance_do,
    instance_progress,
    instance_reveal_credentials,
)
from .keypairs import keypair_download, keypair_remove, keypairs
from .launch import launch, launch_quota, launch_rule_row
from .marketplace import MarketplaceView, appliance_detail, favicon

__all__ = [
    "access_key_remove", "access_keys", "InstanceListView", "MarketplaceView", "appliance_detail", "favicon",
    "instance_detail", "instance_do",
    "instance_progress", "instance_reveal_credentials", "keypair_download", "keypair_remove", "keypairs",
    "launch", "launch_quota", "launch_rule_row", "signup",
]
