"""Random public identifiers in base58, shaped like BTCPay's store and invoice ids."""
import secrets

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rest = divmod(number, 58)
        out.append(_ALPHABET[rest])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def new_id(nbytes: int = 16) -> str:
    """A random id; 16 bytes gives an invoice-like id, 32 bytes a store-like id."""
    return base58(secrets.token_bytes(nbytes))
