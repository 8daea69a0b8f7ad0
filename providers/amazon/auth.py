"""The OAuth2 client-credentials token the Creators API takes, from Cognito (2.x credentials)
or Login with Amazon (3.x), cached until shortly before it expires."""
from __future__ import annotations

import base64
import time
from typing import Any

import requests
from pydantic import ValidationError

from providers.amazon.settings import AmazonSettings
from providers.amazon.wire import OAuthError, TokenAnswer
from providers.base import AuthFailed, ProviderError
from providers.http import Http, parse_as, safe_label

TOKEN_URLS = {
    "2.1": "https://creatorsapi.auth.us-east-1.amazoncognito.com/oauth2/token",
    "2.2": "https://creatorsapi.auth.eu-south-2.amazoncognito.com/oauth2/token",
    "2.3": "https://creatorsapi.auth.us-west-2.amazoncognito.com/oauth2/token",
    "3.1": "https://api.amazon.com/auth/o2/token",
    "3.2": "https://api.amazon.co.uk/auth/o2/token",
    "3.3": "https://api.amazon.co.jp/auth/o2/token",
}
_TOKEN_MARGIN_SECONDS = 60


class Token:
    """The OAuth2 client-credentials token, cached until shortly before it expires."""

    def __init__(self, settings: AmazonSettings):
        self.settings = settings
        self.url = settings.token_url or TOKEN_URLS[settings.credential_version]
        self.http = Http(settings.timeout_seconds, classify=token_refused)
        self._value: str | None = None
        self._expires = 0.0

    def header(self) -> str:
        """The Authorization value: v2.x credentials name their version, v3.x do not."""
        token = self._current()
        if self.settings.credential_version.startswith("2."):
            return f"Bearer {token}, Version {self.settings.credential_version}"
        return f"Bearer {token}"

    def drop(self) -> None:
        self._value = None

    def _current(self) -> str:
        if self._value is None or time.monotonic() >= self._expires:
            answer = parse_as(TokenAnswer, self._request(), safe_label(self.url))
            self._value = answer.access_token
            self._expires = time.monotonic() + answer.expires_in - _TOKEN_MARGIN_SECONDS
        return self._value

    def _request(self) -> Any:
        credential_id = self.settings.credential_id.get_secret_value()
        secret = self.settings.credential_secret.get_secret_value()
        if self.settings.credential_version.startswith("2."):
            # Cognito takes the credentials as HTTP Basic: they stay out of the body.
            basic = base64.b64encode(f"{credential_id}:{secret}".encode()).decode()
            return self.http.json("POST", self.url, headers={"Authorization": f"Basic {basic}"},
                                  data={"grant_type": "client_credentials",
                                        "scope": "creatorsapi/default"})
        return self.http.json("POST", self.url, json={
            "grant_type": "client_credentials", "client_id": credential_id,
            "client_secret": secret, "scope": "creatorsapi::default"})


def token_refused(response: requests.Response, label: str) -> ProviderError | None:
    """400/401 from the token endpoint mean the credentials were refused, not a bad request."""
    if response.status_code not in (400, 401):
        return None
    try:
        code = OAuthError.model_validate_json(response.content).error
    except ValidationError:
        code = "no OAuth error code"
    return AuthFailed(f"{label}: HTTP {response.status_code}: the token endpoint refused the "
                      f"credentials ({code})")
