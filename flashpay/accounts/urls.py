"""Greenfield routes for API keys, stores and store users."""
from django.urls import path

from flashpay.accounts import apis, views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("api-keys/authorize", views.api_key_authorize, name="api-keys-authorize"),
    path("api/v1/api-keys", apis.ApiKeyCreateApi.as_view(), name="api-keys"),
    path("api/v1/api-keys/current", apis.ApiKeyCurrentApi.as_view(), name="api-keys-current"),
    path("api/v1/api-keys/<str:apikey>", apis.ApiKeyDeleteApi.as_view(), name="api-key"),
    path("api/v1/users/me", apis.UserMeApi.as_view(), name="users-me"),
    path("misc/permissions", apis.PermissionMetadataApi.as_view(), name="misc-permissions"),
    path("api/v1/stores", apis.StoresApi.as_view(), name="stores"),
    path("api/v1/stores/<str:storeId>", apis.StoreDetailApi.as_view(), name="store"),
    path("api/v1/stores/<str:storeId>/roles", apis.StoreRolesApi.as_view(), name="store-roles"),
    path("api/v1/stores/<str:storeId>/users", apis.StoreUsersApi.as_view(), name="store-users"),
    path(
        "api/v1/stores/<str:storeId>/users/<str:idOrEmail>",
        apis.StoreUserDetailApi.as_view(),
        name="store-user",
    ),
]
