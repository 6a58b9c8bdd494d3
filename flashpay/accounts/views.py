"""HTML pages of the accounts: sign in and out (any active user, store members too) and the API-key authorization page.

The pages carry their own Content-Security-Policy (our static files only, no inline code) and are
never framed. The authorization page's answer holds a new key's secret: it is not cached, not
logged and, with a redirect, sent only to the address the user was shown.
"""
from __future__ import annotations

import logging

from django import forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from flashpay.accounts import policies, services
from flashpay.accounts.authorization import (
    AuthorizationRequest,
    AuthorizationRequestError,
    authorization_request_parse,
    permission_title,
)
from flashpay.accounts.models import StoreMember
from flashpay.accounts.selectors import user_get_for_login
from flashpay.errors import ApplicationError, FieldError
from flashpay.ratelimit.clients import client_ip
from flashpay.ratelimit.services import ratelimit_hit

logger = logging.getLogger(__name__)

CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
# failed sign-ins per client address and minute before the form refuses to check more
LOGIN_ATTEMPTS_PER_MINUTE = 10


def _secure(response: HttpResponse, *, form_action: str | None = None) -> HttpResponse:
    csp = CSP if form_action is None else CSP.replace("form-action 'self'", f"form-action {form_action}")
    response["Content-Security-Policy"] = csp
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


class LoginForm(AuthenticationForm):
    """Username or e-mail (BTCPay signs in by e-mail) and password; any active user, not only staff."""

    username = forms.CharField(label="E-mail or username", max_length=254)

    def clean(self):
        login = (self.cleaned_data.get("username") or "").strip()
        user = user_get_for_login(login=login) if login else None
        if user is not None:
            self.cleaned_data["username"] = user.get_username()
        if self.request is not None:
            key = f"login:{client_ip(self.request) or 'unknown'}"
            if not ratelimit_hit(key=key, limit=LOGIN_ATTEMPTS_PER_MINUTE):
                raise forms.ValidationError("Too many attempts: wait a minute and try again.", code="rate-limited")
        return super().clean()


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def render_to_response(self, context, **kwargs):
        return _secure(super().render_to_response(context, **kwargs))


class LogoutView(auth_views.LogoutView):
    template_name = "accounts/logged_out.html"

    def render_to_response(self, context, **kwargs):
        return _secure(super().render_to_response(context, **kwargs))


def _member_stores(user) -> list[StoreMember]:
    return list(StoreMember.objects.filter(user=user).select_related("store").order_by("store__name", "store_id"))


def _page(request: HttpRequest, auth: AuthorizationRequest, *, error: str | None = None, status: int = 200) -> HttpResponse:
    memberships = _member_stores(request.user)
    needs_store = auth.selective_stores and bool(auth.store_permissions)
    rows = []
    for policy in auth.permissions:
        unavailable = policies.is_server_policy(policy) and not request.user.is_superuser
        rows.append({"policy": policy, "title": permission_title(policy), "unavailable": unavailable})
    context = {
        "auth": auth,
        "rows": rows,
        "memberships": memberships,
        "needs_store": needs_store,
        "chosen_store": request.POST.get("storeId", ""),
        "error": error,
        "blocked": (auth.strict and any(r["unavailable"] for r in rows)) or (needs_store and not memberships),
    }
    return _secure(render(request, "accounts/authorize.html", context, status=status))


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
@login_required
def api_key_authorize(request: HttpRequest) -> HttpResponse:
    """GET: the consent page. POST (the page's form, CSRF-checked): make the key and hand it over."""
    try:
        auth = authorization_request_parse(request.GET)
    except AuthorizationRequestError as error:
        return _secure(render(request, "accounts/authorize_error.html", {"message": error.message}, status=400))
    if request.method == "GET":
        return _page(request, auth)
    if request.POST.get("command") == "cancel":
        return _secure(render(request, "accounts/authorize_done.html", {"auth": auth, "cancelled": True}))
    granted = list(auth.permissions) if auth.strict else request.POST.getlist("grant")
    try:
        api_key, secret = services.api_key_authorize(
            user=request.user, request=auth, granted=granted, store_id=request.POST.get("storeId") or None
        )
    except FieldError as error:
        return _page(request, auth, error=error.message, status=400)
    except ApplicationError as error:
        return _page(request, auth, error=error.message, status=error.status_code)
    logger.info("user %s authorized API key #%s for %r", request.user.pk, api_key.pk, auth.application_name)
    context = {"auth": auth, "secret": secret, "user_id": str(request.user.pk), "permissions": api_key.permissions}
    if auth.redirect:
        origin = f"{auth.redirect.split('://', 1)[0]}://{auth.redirect_host}"
        return _secure(render(request, "accounts/authorize_redirect.html", context), form_action=origin)
    return _secure(render(request, "accounts/authorize_done.html", context))
