"""Top-level URL map: admin, API schema and docs, and each app's routes."""
from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from flashpay import apis

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/health", apis.HealthApi.as_view(), name="health"),
    path("misc/lang", apis.LanguagesApi.as_view(), name="misc-lang"),
    path("", include("flashpay.accounts.urls")),
    path("cards/", include("cards.urls")),
    path("api/app/v1/", include("cards.app_urls")),
    path("api/app/v1/", include("rewards.app_urls")),
    path("", include("invoices.urls")),
    path("", include("invoices.webhooks.urls")),
    path("", include("invoices.checkout.urls")),
]
# staticfiles_urlpatterns() is empty unless DEBUG; production serves static files elsewhere.
urlpatterns += staticfiles_urlpatterns()
