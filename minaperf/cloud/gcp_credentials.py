"""Where a Google access token comes from, for every command that calls a Google API over REST.

The order is the pulumi-gcp provider's: `GOOGLE_OAUTH_ACCESS_TOKEN` as is, else `GOOGLE_CREDENTIALS`
(a key file's path or its JSON), else application-default credentials (google-auth).
"""

from __future__ import annotations

import json
import os
import warnings

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
TOKEN_ENV = "GOOGLE_OAUTH_ACCESS_TOKEN"  # noqa: S105 (an environment variable name)
"""An access token, as the pulumi-gcp provider also accepts it; used as is when set."""
KEY_ENV = "GOOGLE_CREDENTIALS"
"""A key file's path or its JSON, as the pulumi-gcp provider reads it."""
API_BASE_ENV = "MINA_ITN_GCP_API_BASE"
"""One base URL for every Google API host (a stand-in, a private endpoint)."""
LOGIN_FIX = f"run `gcloud auth application-default login` or set {TOKEN_ENV}"
"""What to do when no credentials are found (a command for the user, not one we run)."""


def access_token() -> tuple[str | None, str | None]:
    """(token, where it came from), or (None, why not)."""
    token = os.environ.get(TOKEN_ENV)
    if token:
        return token, TOKEN_ENV
    with warnings.catch_warnings():
        return _load_token()


def _load_token() -> tuple[str | None, str | None]:
    import google.auth
    import google.auth.exceptions
    import google.auth.transport.requests

    try:
        key = os.environ.get(KEY_ENV)
        if key:
            # google-auth warns that these loaders do not vet a configuration from an untrusted
            # source; this one is the user's own, as the pulumi-gcp provider also takes it.
            warnings.simplefilter("ignore", DeprecationWarning)
            info = json.loads(key) if key.lstrip().startswith("{") else None
            if info is not None:
                credentials, _ = google.auth.load_credentials_from_dict(info, scopes=SCOPES)
            else:
                credentials, _ = google.auth.load_credentials_from_file(key, scopes=SCOPES)
            source = KEY_ENV
        else:
            credentials, _ = google.auth.default(scopes=SCOPES)
            source = "application-default credentials"
        credentials.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call]
    except (google.auth.exceptions.GoogleAuthError, ValueError, OSError) as error:
        return None, str(error).splitlines()[0] if str(error) else type(error).__name__
    return str(credentials.token), source  # type: ignore[attr-defined]
