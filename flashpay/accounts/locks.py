"""Row-lock helpers for stores, taken before changing who may act on a store."""
from flashpay.accounts.models import Store


def store_lock(*, store_id: str) -> Store:
    """Lock one store row (inside transaction.atomic) so membership changes run one at a time."""
    return Store.objects.select_for_update(no_key=True, of=("self",)).get(pk=store_id)
