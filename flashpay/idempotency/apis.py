"""The ``@idempotent`` decorator for API write handlers (``Idempotency-Key`` header).

Usage, on any APIView POST handler (after authentication, so the principal is known)::

    from flashpay.idempotency.apis import idempotent

    class StoreCreateApi(APIView):
        @idempotent
        def post(self, request): ...

Without the header the handler just runs. With it: the first request claims the key (a unique row
committed before the handler runs), runs, and its response (status + JSON body) is stored; a
repeat with the same key and the same method, path and body gets the stored response again with
``Idempotent-Replayed: true``; the same key with another request gets 422
``idempotency-key-reused``; a repeat while the first is still running gets 409
``idempotency-key-in-use``. If the handler raises (validation error, domain error, crash) the
claim is released: the service it called ran in a transaction that rolled back, so nothing
happened and the client may retry with the same key. Responses of 5xx are not stored either.
Stored bodies are encrypted (they may hold a new API key's secret). A process killed mid-request leaves the key "in progress" (409) until it expires after 24 h:
refusing is safer than running a payment twice. Keys are per user; on an endpoint open to
anonymous callers the header is ignored for them.
"""
from __future__ import annotations

import functools
import hashlib
import json

from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from flashpay.errors import FieldError
from flashpay.idempotency.services import (
    idempotency_claim,
    idempotency_complete,
    idempotency_release,
    idempotency_stored_response,
)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


def _request_hash(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256()
    for part in (request.method, request.path, body):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _principal(request) -> str:
    return f"user:{request.user.pk}"


def idempotent(handler):
    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        # Keys are per user: anonymous callers (public invoice forms) cannot be told apart, and
        # sharing one key space among them would replay one stranger's response to another.
        if key is None or not request.user.is_authenticated:
            return handler(view, request, *args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise FieldError(HEADER, f"Must be 1 to {MAX_KEY_LENGTH} printable characters")
        record, claimed = idempotency_claim(
            principal=_principal(request), key=key, request_hash=_request_hash(request)
        )
        if not claimed:
            status, body = idempotency_stored_response(record=record)
            return Response(body, status=status, headers={REPLAYED_HEADER: "true"})
        try:
            response = handler(view, request, *args, **kwargs)
        except BaseException:
            idempotency_release(record=record)
            raise
        if response.status_code >= 500:
            idempotency_release(record=record)
            return response
        # Store exactly what the client would have received (Decimals, dates as JSON text).
        body = json.loads(JSONRenderer().render(response.data)) if response.data is not None else None
        idempotency_complete(record=record, status=response.status_code, body=body)
        return response

    return wrapper
