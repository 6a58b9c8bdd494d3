"""OpenAPI security schemes for our authentication classes (Greenfield's API key and Basic)."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class GreenfieldTokenScheme(OpenApiAuthenticationExtension):
    target_class = "flashpay.accounts.authentication.APIKeyAuthentication"
    name = "GreenfieldToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Send `Authorization: token <apikey>`. A key's permissions only narrow "
            "its user's rights; store permissions may be scoped as `<permission>:<storeId>`.",
        }


class BasicAuthScheme(OpenApiAuthenticationExtension):
    target_class = "flashpay.accounts.authentication.BasicPasswordAuthentication"
    name = "BasicAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "Username or e-mail and password; implies the `unrestricted` permission.",
        }


class AppTokenScheme(OpenApiAuthenticationExtension):
    target_class = "flashpay.accounts.authentication.AppTokenAuthentication"
    name = "FlashAppToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Flash app token (POST /api/app/v1/auth/token)"}
