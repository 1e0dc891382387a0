"""Web forms by page; `filtersets` holds the list pages' filter bars."""
from .auth import LoginForm, SignupForm
from .filtersets import ChoiceFilterField, FilterForm, InstanceFilterForm, MarketplaceFilterForm
from .keypairs import KeyPairCreateForm, KeyPairImportForm
from .launch import PROTOCOL_CHOICES, LaunchForm, RuleRow, type_shortfall

__all__ = [
    "PROTOCOL_CHOICES", "ChoiceFilterField", "FilterForm", "InstanceFilterForm", "KeyPairCreateForm",
    "KeyPairImportForm", "LaunchForm", "LoginForm", "MarketplaceFilterForm", "RuleRow", "SignupForm",
    "type_shortfall",
]
