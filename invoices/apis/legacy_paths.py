"""BTCPay 1.x payment-method paths, answered as BTCPay 2.x answers them.

BTCPay 2.x (BTCPayServer/Hosting/Startup.cs and GreenfieldObsoleteController.cs):

- ``.../payment-methods/OnChain/{cryptoCode}/preview`` (and ``/generate``) is rewritten to
  ``.../payment-methods/{cryptoCode}-CHAIN/wallet/preview``, and any other
  ``.../payment-methods/OnChain/{cryptoCode}{rest}`` to ``.../payment-methods/{cryptoCode}-CHAIN{rest}``;
  the rewrite matches ``[Oo]n[Cc]hain`` only. ``OnchainConverter`` does the same in the URL map:
  it turns ``OnChain/BTC`` into the ``paymentMethodId`` ``BTC-CHAIN`` for the 2.x views.
- ``.../payment-methods/LightningNetwork``, ``.../LightningNetwork/{cryptoCode}``, ``.../LNURL`` and
  ``.../LNURLPay/{cryptoCode}`` answer 410 ``unsupported-in-v2`` to any authenticated caller.

None of these paths is in the Greenfield fragments, so they stay out of the OpenAPI schema.
"""
from __future__ import annotations

from rest_framework.response import Response
from rest_framework.views import APIView


class OnchainConverter:
    """``OnChain/BTC`` (or ``onchain``, ``Onchain``, ``onChain``) -> the payment method id ``BTC-CHAIN``."""

    regex = "[Oo]n[Cc]hain/[^/]+"

    def to_python(self, value: str) -> str:
        return f"{value.split('/', 1)[1]}-CHAIN"

    def to_url(self, value: str) -> str:
        crypto_code = str(value).removesuffix("-CHAIN")
        return f"OnChain/{crypto_code}"


def without_schema(view: type[APIView]) -> type[APIView]:
    """The same view under an alias path, kept out of the OpenAPI schema."""
    return type(f"Legacy{view.__name__}", (view,), {"schema": None})


class UnsupportedInV2Api(APIView):
    """A 1.x Lightning or LNURL payment-method path: 410, with the 2.x path to use instead."""

    schema = None

    def _gone(self, request, *args, **kwargs) -> Response:
        return Response(
            {
                "code": "unsupported-in-v2",
                "message": "This BTCPay 1.x path is not part of the Greenfield 2.x API: use "
                "/api/v1/stores/{storeId}/payment-methods/{paymentMethodId} with BTC-LN or BTC-LNURL.",
            },
            status=410,
        )

    get = put = delete = _gone


class UnsupportedInV2ListApi(UnsupportedInV2Api):
    """The bare ``.../LightningNetwork`` and ``.../LNURL`` paths, which BTCPay routed for GET only."""

    http_method_names = ["get", "options"]
