"""factory_boy factories for cards tests (users come from here until tests/factories.py exists)."""

import factory
from django.contrib.auth import get_user_model

from cards import services


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"cards-user-{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")


class OperatorFactory(UserFactory):
    username = factory.Sequence(lambda n: f"cards-operator-{n}")
    is_staff = True
    is_superuser = True
    password = factory.django.Password("operator-pass-123")


def make_card(**kwargs):
    """A card issued through the real service (so its invariants hold); returns CardCreated."""
    kwargs.setdefault("name", "Test card")
    return services.card_create(**kwargs)
