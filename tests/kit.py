"""The test kit: declarative cross-tenant cases per resource and surface, and a lock-holding thread.

Tenancy (NetBox `utilities/testing/views.py:ViewTestCases` / `api.py:APIViewTestCases`, used by
`dcim/tests/test_views.py:SiteTestCase`): a test module declares one class per resource and surface,

    class TestKeyPairsOnRest(kit.OwnedResourceCases):
        surface = kit.REST
        create = staticmethod(lambda user: keypair_factory(user, "kit-key"))
        lists = (kit.Call("get", "/api/v1/keypairs/"),)
        calls = (kit.Call("get", "/api/v1/keypairs/{id}/"), kit.Call("delete", "/api/v1/keypairs/{name}/"))
        uses = (kit.Use(kit.Call("post", "/api/v1/instances/", {..., "key_name": "{name}"}), "key_name"),)

and the kit makes one test per case: alice owns the object; bob (another user) gets the surface's
"not found" on every call (detail, action, htmx partial) and the object's row is unchanged; bob's
lists do not show it; bob cannot name it in a request of his own (the request is refused naming
the field, nothing is created); an anonymous client is sent to log in. Each case also makes the
same request as the owner and checks it is NOT refused, so a wrong URL cannot pass for tenancy.

Paths and request data are templates over the object's references (`{id}` is the public id,
`{name}` the name; `refs` says which a resource has).

Extension point: a surface is a `Surface` (how to make a client for a user, send a `Call`, and
what "not found", "hidden", "refused field" and "log in first" look like there). `WEB` and `REST`
are the two today; the EC2 Query API adds `EC2 = Ec2Surface()` (send: `Action=...` form posts to
its endpoint; not found: its `Invalid*.NotFound` error codes) and the staff console its own, and
their resource classes are declared exactly like the ones in tests/web and tests/api.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from django.db import connections, transaction
from django.test import Client


# --------------------------------------------------------------------------- declarations
@dataclass(frozen=True)
class Call:
    """One request: method, path template, data template, and whether htmx asks (a partial)."""

    method: str
    path: str
    data: dict | None = None
    htmx: bool = False

    def label(self) -> str:
        return f"{self.method.upper()} {self.path}{' (htmx)' if self.htmx else ''}"


@dataclass(frozen=True)
class Use:
    """A request in which another user names the object (by `{id}` or `{name}`): refused on `field`."""

    call: Call
    field: str


def each_ref(path: str, *methods: str, refs: tuple[str, ...] = ("id", "name")) -> tuple[Call, ...]:
    """One call per method and per way of naming the object: `each_ref("/api/v1/keypairs/{ref}/", "get")`."""
    return tuple(Call(method, path.replace("{ref}", f"{{{ref}}}")) for ref in refs for method in methods)


def _fill(template, refs: dict[str, str]):
    if isinstance(template, str):
        return template.format(**refs)
    if isinstance(template, list | tuple):
        return [_fill(v, refs) for v in template]
    if isinstance(template, dict):
        return {k: _fill(v, refs) for k, v in template.items()}
    return template


# --------------------------------------------------------------------------- surfaces
class Surface:
    """How one surface is driven and how it refuses. Subclass for a new surface (EC2, console)."""

    name = "surface"
    not_found = 404

    def client(self, user):
        raise NotImplementedError

    def send(self, client, call: Call, refs: dict[str, str]):
        raise NotImplementedError

    def assert_refused(self, resp, status: int) -> None:
        assert resp.status_code == status, (resp.status_code, resp.content[:300])

    def assert_admitted(self, resp, refused: int) -> None:
        """The owner's request reached the object (a refusal by the lifecycle is fine)."""
        assert resp.status_code not in (refused, 401, 403, 404, 405) and resp.status_code < 500, (
            resp.status_code, resp.content[:300])

    def assert_hidden(self, resp, refs: dict[str, str]) -> None:
        assert resp.status_code == 200, resp.status_code
        body = resp.content.decode()
        assert not [r for r in refs.values() if r in body], body[:500]

    def assert_shown(self, resp, refs: dict[str, str]) -> None:
        assert resp.status_code == 200 and refs["id"] in resp.content.decode(), resp.status_code

    def assert_field_refused(self, resp, field: str) -> None:
        raise NotImplementedError

    def assert_accepted(self, resp) -> None:
        raise NotImplementedError

    def assert_login_required(self, resp) -> None:
        raise NotImplementedError


class WebSurface(Surface):
    """Server-rendered pages and their htmx partials (Django test client, session login)."""

    name = "web"

    def client(self, user) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    def send(self, client, call: Call, refs: dict[str, str]):
        headers = {"HX-Request": "true"} if call.htmx else {}
        return getattr(client, call.method)(_fill(call.path, refs), _fill(call.data, refs) or {}, headers=headers)

    def assert_field_refused(self, resp, field: str) -> None:
        assert resp.status_code == 200 and f'id="id_{field}_error"' in resp.content.decode(), resp.status_code

    def assert_accepted(self, resp) -> None:
        assert resp.status_code == 302, resp.status_code

    def assert_login_required(self, resp) -> None:
        assert resp.status_code == 302 and resp["Location"].startswith("/login/?next="), resp.status_code


class RestSurface(Surface):
    """The REST API (DRF test client, token-or-session auth; JSON errors with a `code`)."""

    name = "rest"

    def client(self, user):
        from rest_framework.test import APIClient

        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    def send(self, client, call: Call, refs: dict[str, str]):
        kwargs = {} if call.method == "get" else {"format": "json"}
        if call.htmx:
            kwargs["headers"] = {"HX-Request": "true"}
        return getattr(client, call.method)(_fill(call.path, refs), _fill(call.data, refs), **kwargs)

    def assert_refused(self, resp, status: int) -> None:
        super().assert_refused(resp, status)
        assert resp.json()["code"] == {404: "not_found", 403: "permission_denied"}[status], resp.json()

    def assert_hidden(self, resp, refs: dict[str, str]) -> None:
        super().assert_hidden(resp, refs)
        assert resp.json()["count"] == 0  # the other user owns nothing

    def assert_field_refused(self, resp, field: str) -> None:
        assert resp.status_code == 400 and field in resp.json(), (resp.status_code, resp.content[:300])

    def assert_accepted(self, resp) -> None:
        assert resp.status_code in (200, 201, 202), (resp.status_code, resp.content[:300])

    def assert_login_required(self, resp) -> None:
        assert resp.status_code == 401 and resp.json()["code"] == "not_authenticated", resp.status_code


WEB = WebSurface()
REST = RestSurface()


# --------------------------------------------------------------------------- the cases
def _snapshot(obj) -> dict | None:
    return type(obj).objects.filter(pk=obj.pk).values().first()


def _counts() -> dict[str, int]:
    from provisioning.models import Claim, Instance, KeyPair, Reservation, SecurityGroup

    return {m.__name__: m.objects.count() for m in (Instance, Claim, Reservation, KeyPair, SecurityGroup)}


@dataclass(frozen=True)
class _Case:
    kind: str  # "other" | "anonymous" | "list" | "use"
    call: Call
    field: str = ""

    @property
    def id(self) -> str:
        named = f" [{self.field}={(self.call.data or {}).get(self.field)}]" if self.field else ""
        return f"{self.kind}: {self.call.label()}{named}"


class OwnedResourceCases:
    """Subclass as `Test<Resource>On<Surface>` and declare; pytest collects one test per case.

    `create(user)` makes one object owned by `user` (through the factories, so through the
    services). `refs(obj)` names it in URL and data templates. `refused` is the status the other
    user gets (the surface's "not found" unless the resource says, e.g. 403 for staff-only);
    `admitted` is the fixture of whom the same request must reach the object (the owner unless
    staff-only). `fixtures` are requested before `create` (the demo catalog by default).
    """

    surface: Surface
    lists: tuple[Call, ...] = ()
    calls: tuple[Call, ...] = ()
    uses: tuple[Use, ...] = ()
    refused: int | None = None
    admitted: str = "user"
    fixtures: tuple[str, ...] = ("catalog",)

    def __init_subclass__(cls, **kwargs) -> None:
        """A resource without lists or uses has no such tests (rather than a skipped empty one)."""
        super().__init_subclass__(**kwargs)
        assert cls.calls, f"{cls.__name__} declares no calls"
        if not cls.lists:
            cls.test_another_users_list_hides_it = None
        if not cls.uses:
            cls.test_another_user_cannot_name_it = None

    @staticmethod
    def create(user):
        raise NotImplementedError

    @staticmethod
    def refs(obj) -> dict[str, str]:
        return {"id": obj.public_id, "name": obj.name}

    @staticmethod
    def other_owns(other_user) -> None:
        """What the other user owns before a `use` case, so that his request is refused for naming
        the owner's object and not for owning nothing (e.g. a key pair of his own)."""

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """pytest calls this for each test method of the class: one case per declared request."""
        if "case" not in metafunc.fixturenames:
            return
        kinds = {"test_another_user_is_refused": ("other", self.calls),
                 "test_another_users_list_hides_it": ("list", self.lists),
                 "test_anonymous_must_log_in": ("anonymous", self.lists + self.calls)}
        if metafunc.function.__name__ == "test_another_user_cannot_name_it":
            cases = [_Case("use", u.call, u.field) for u in self.uses]
        else:
            kind, calls = kinds[metafunc.function.__name__]
            cases = [_Case(kind, c) for c in calls]
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])

    def _owned(self, request: pytest.FixtureRequest, user):
        for name in self.fixtures:
            request.getfixturevalue(name)
        obj = self.create(user)
        return obj, self.refs(obj)

    def test_another_user_is_refused(self, case, request, user, other_user):
        obj, refs = self._owned(request, user)
        before = _snapshot(obj)
        refused = self.refused or self.surface.not_found
        self.surface.assert_refused(self.surface.send(self.surface.client(other_user), case.call, refs), refused)
        assert _snapshot(obj) == before
        admitted = request.getfixturevalue(self.admitted)
        self.surface.assert_admitted(self.surface.send(self.surface.client(admitted), case.call, refs), refused)

    def test_another_users_list_hides_it(self, case, request, user, other_user):
        obj, refs = self._owned(request, user)
        asked = f"{case.call.path} {case.call.data}"  # a page may echo what was asked (a search term)
        unasked = {k: v for k, v in refs.items() if f"{{{k}}}" not in asked}
        self.surface.assert_hidden(self.surface.send(self.surface.client(other_user), case.call, refs), unasked)
        self.surface.assert_shown(self.surface.send(self.surface.client(user), case.call, refs), refs)

    def test_another_user_cannot_name_it(self, case, request, user, other_user):
        obj, refs = self._owned(request, user)
        self.other_owns(other_user)
        before = _counts()
        resp = self.surface.send(self.surface.client(other_user), case.call, refs)
        self.surface.assert_field_refused(resp, case.field)
        assert _counts() == before
        self.surface.assert_accepted(self.surface.send(self.surface.client(user), case.call, refs))

    def test_anonymous_must_log_in(self, case, request, user):
        obj, refs = self._owned(request, user)
        before = _snapshot(obj)
        self.surface.assert_login_required(self.surface.send(self.surface.client(None), case.call, refs))
        assert _snapshot(obj) == before


# --------------------------------------------------------------------------- concurrency
@contextmanager
def held_in_transaction(hold: Callable[[], object], *, timeout: float = 60) -> Iterator[object]:
    """Run `hold()` in a transaction on another thread (its own connection) and keep that
    transaction open, with the row locks it took, until the `with` block ends. Yields what
    `hold()` returned. Needs `transactional_db`: the other connection sees only committed rows."""
    holding, release = threading.Event(), threading.Event()
    result: dict[str, object] = {}

    def run() -> None:
        try:
            with transaction.atomic():
                result["value"] = hold()
                holding.set()
                release.wait(timeout=timeout)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread below
            result["error"] = exc
            holding.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert holding.wait(timeout=timeout), "the holding thread never took its locks"
        if "error" in result:
            raise result["error"]
        yield result.get("value")
    finally:
        release.set()
        thread.join(timeout=timeout)
    assert not thread.is_alive(), "the holding thread did not finish"
