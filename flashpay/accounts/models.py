"""Users, stores, store membership with roles, and API keys."""
from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person who logs in: an operator, a merchant's staff member or a cardholder."""
