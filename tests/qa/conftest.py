"""QA tests reuse the web tests' fixtures (a logged-in client, a public key to import)."""
from tests.web.conftest import public_key, web, web_other  # noqa: F401 - fixtures
