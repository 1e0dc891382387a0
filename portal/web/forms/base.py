"""What every web form shares."""
from __future__ import annotations


class NoColonMixin:
    """Labels without Django's trailing colon (the layout sets labels apart already)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
