"""WSGI entry point for the web process (served by granian; any WSGI server works)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flashpay.settings")

# Keys a WSGI server sets for the request itself (PEP 3333 and the CGI variables it names).
_REQUEST_KEYS = frozenset(
    {
        "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
        "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT", "REMOTE_HOST",
        "GATEWAY_INTERFACE", "SERVER_SOFTWARE", "RAW_URI", "REQUEST_URI",
    }
)


def request_only(app):
    """Drop the process environment a server copied into the WSGI environ (granian does, as wsgiref).

    Django keeps the environ as ``request.META``, which error reports and debug pages print:
    DATABASE_URL, SECRET_KEY and the node credentials must not ride along with every request.
    What stays: the CGI request variables, the ``HTTP_*`` headers and the server's own
    ``wsgi.*``/extension keys (lower-case by convention).
    """
    process_keys = frozenset(os.environ) - _REQUEST_KEYS

    def application(environ, start_response):
        for key in process_keys.intersection(environ):
            if not key.startswith("HTTP_"):
                del environ[key]
        return app(environ, start_response)

    return application


application = request_only(get_wsgi_application())
