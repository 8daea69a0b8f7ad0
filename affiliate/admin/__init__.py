"""The operator's side of the service: the console at /admin (HTML, login with a password,
CSRF-checked forms) and the admin JSON API at /admin/api/v1 (bearer tokens), both calling
the same refresh, catalog and curation functions as the CLI.

Every response under /admin forbids framing, loading anything but images from elsewhere, and
caching.
"""
