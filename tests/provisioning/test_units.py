"""The one MiB formatter."""
import pytest

from provisioning.units import mib_label, size_label


@pytest.mark.parametrize(("mib", "kw", "text"), [
    (512, {}, "512 MiB"), (1536, {}, "1.5 GiB"), (10240, {}, "10 GiB"), (1024, {}, "1 GiB"),
    (512, {"gib_only": True}, "0.5 GiB"), (1280, {}, "1.25 GiB"), (-5, {}, "0 MiB"),
])
def test_mib_label(mib, kw, text):
    assert mib_label(mib, **kw) == text


def test_size_label():
    assert size_label(2, 4096, 40) == "2 vCPU / 4 GiB memory / 40 GiB disk"
    assert size_label(1, 512) == "1 vCPU / 0.5 GiB memory"
