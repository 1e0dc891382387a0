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


def test_units_is_the_only_module_that_turns_mib_into_gib_text():
    """Every page, message and command prints memory through `mib_label`: no second `… / 1024:g` formatter."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"1024\s*:\s*[.\d]*[gf]\}")
    found = [str(path.relative_to(root)) for folder in ("provisioning", "portal")
             for path in (root / folder).rglob("*.py") if pattern.search(path.read_text())]
    assert found == ["provisioning/units.py"]
