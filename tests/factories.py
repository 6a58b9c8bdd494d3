"""Shared factories: users, stores, store members and API keys (use these from every test area)."""
from __future__ import annotations

import factory

from flashpay.accounts import services
from flashpay.accounts.models import APIKey, Store, StoreMember, StoreRole, User

DEFAULT_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    """A user whose password is DEFAULT_PASSWORD (pass ``password=`` to choose another)."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password(DEFAULT_PASSWORD)


class StoreFactory(factory.django.DjangoModelFactory):
    """A store; ``StoreFactory(owner=user)`` also makes ``user`` its Owner."""

    class Meta:
        model = Store
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Store {n}")

    @factory.post_generation
    def owner(store, create, extracted, **kwargs):
        if create and extracted is not None:
            add_member(store=store, user=extracted, role=StoreRole.OWNER)


def add_member(*, store: Store, user: User, role: str) -> StoreMember:
    """Give ``user`` a role (Owner, Manager, Employee, Guest) in ``store``."""
    return StoreMember.objects.create(store=store, user=user, role=role)


def create_api_key(
    *, user: User | None = None, permissions: list[str] | None = None, label: str = "test key"
) -> tuple[APIKey, str]:
    """An API key through the real service; returns (key, secret). Default: unrestricted."""
    return services.api_key_create(
        user=user or UserFactory(),
        label=label,
        permissions=["unrestricted"] if permissions is None else permissions,
    )


def token_header(secret: str) -> dict[str, str]:
    """Keyword arguments for the test client: ``client.get(url, **token_header(secret))``."""
    return {"HTTP_AUTHORIZATION": f"token {secret}"}
