"""factory_boy factories and helpers for ledger tests."""
import factory

from flashpay.ledger import services
from flashpay.ledger.models import Account, AccountKind


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    kind = AccountKind.CARD
    reference = factory.Sequence(lambda n: f"ref-{n}")
    name = factory.LazyAttribute(lambda o: f"{o.kind} {o.reference}")
    allow_negative = factory.LazyAttribute(lambda o: o.kind not in services.NON_NEGATIVE_KINDS)


def external_account() -> Account:
    return services.account_get_or_create(kind=AccountKind.EXTERNAL, reference="world")


def funded_account(msat: int, *, kind: str = AccountKind.CARD, **kwargs) -> Account:
    """A non-negative account holding ``msat``, topped up from the external account."""
    account = AccountFactory(kind=kind, **kwargs)
    if msat:
        services.transaction_post(
            entries=[(external_account(), -msat), (account, msat)],
            idempotency_key=f"fund:{account.pk}",
            description="test funding",
        )
    account.refresh_from_db()
    return account
