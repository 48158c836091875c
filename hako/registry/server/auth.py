"""Registry access control: htpasswd (bcrypt) basic auth, or a built-in bearer-token issuer.

Basic mode: every request needs valid ``Authorization: Basic`` credentials; a missing or
wrong one gets 401 with ``WWW-Authenticate: Basic realm="hako-registry"``.

Token mode (``--token-realm URL``): the registry answers 401 with
``Bearer realm=URL,service=S,scope=repository:NAME:ACTIONS``; the token endpoint (``GET
/token`` on this server) grants the asked actions to users whose basic credentials check
out, ``pull`` to anonymous callers when ``--anonymous-pull`` is given and nothing otherwise
(wrong credentials: 401). With ``--acl FILE`` (``acl.py``), a user gets only the actions
the first matching rule allows: basic mode answers 403 ``DENIED`` past that, token mode
grants no more than that. Tokens are HMAC-signed claims (issuer-local secret, 5 minutes),
opaque to clients, as the distribution token spec allows.

Layer 4. May import: errors, support, registry.protocol, registry.server.acl.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from typing import Any

from hako.errors import InvalidArgument
from hako.registry.protocol import (RegistryError, bearer_challenge, parse_basic, parse_scope)

TOKEN_TTL = 300


class Htpasswd:
    """``user:bcrypt-hash`` lines (Apache htpasswd -B), read once at start."""

    def __init__(self, path: str = "") -> None:
        self.users: dict[str, bytes] = {}
        self.internal: dict[str, str] = {}  # accounts of this process (autobuild), never on disk
        if not path:
            return
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                user, sep, hashed = line.partition(":")
                if not sep or not hashed.startswith("$2"):
                    raise InvalidArgument(f"{path}: only bcrypt entries are supported ({user})")
                self.users[user] = hashed.encode()

    def check(self, user: str, password: str) -> bool:
        import bcrypt

        internal = self.internal.get(user)
        if internal is not None:
            return hmac.compare_digest(internal.encode(), password.encode())
        hashed = self.users.get(user)
        if hashed is None:
            return False
        try:
            return bcrypt.checkpw(password.encode(), hashed.replace(b"$2y$", b"$2b$", 1))
        except ValueError:
            return False


def add_internal_account(auth: "BasicAuth | TokenAuth") -> tuple[str, str]:
    """A user only this process knows (random name and password), allowed everything the ACL
    would refuse too: the registry's own autobuilder pushes as it."""
    if auth.htpasswd is None:
        auth.htpasswd = Htpasswd()
    user, password = f"autobuild-{os.urandom(6).hex()}", os.urandom(24).hex()
    auth.htpasswd.internal[user] = password
    auth.internal_user = user
    return user, password


def _is_internal(auth: Any, user: str) -> bool:
    """The autobuilder's in-process account (never the anonymous caller, whose name is "")."""
    return bool(auth.internal_user) and user == auth.internal_user


def _unauthorized(challenge: str, detail: Any = None, message: str = "") -> RegistryError:
    err = RegistryError("UNAUTHORIZED", message or "authentication required", detail)
    err.challenge = challenge  # type: ignore[attr-defined]
    return err


class BasicAuth:
    internal_user = ""

    def __init__(self, htpasswd: Htpasswd, realm: str = "hako-registry", acl: Any = None) -> None:
        self.htpasswd, self.realm, self.acl = htpasswd, realm, acl

    def check(self, headers: Any, scope_type: str, name: str, actions: tuple[str, ...],
              mount_from: str = "") -> str:
        creds = parse_basic(headers.get("Authorization", ""))
        if creds is None or not self.htpasswd.check(*creds):
            detail = [{"Type": scope_type, "Name": name, "Action": a} for a in actions] or None
            raise _unauthorized(f'Basic realm="{self.realm}"', detail)
        if self.acl is not None and scope_type == "repository" and not _is_internal(self, creds[0]) \
                and not self.acl.permits(creds[0], name, actions):
            raise RegistryError("DENIED", detail=[{"Type": scope_type, "Name": name, "Action": a}
                                                  for a in actions])
        return creds[0]


class TokenAuth:
    internal_user = ""

    def __init__(self, realm: str, service: str, htpasswd: Htpasswd | None,
                 anonymous_pull: bool, acl: Any = None) -> None:
        self.realm, self.service = realm, service
        self.htpasswd, self.anonymous_pull, self.acl = htpasswd, anonymous_pull, acl
        self._secret = os.urandom(32)

    # -- the token endpoint ---------------------------------------------------------------------
    def issue(self, headers: Any, query: dict[str, list[str]]) -> dict[str, Any]:
        """Answer ``GET /token?service=&scope=...`` (scopes may repeat or be space-separated)."""
        user = ""
        if headers.get("Authorization"):
            creds = parse_basic(headers["Authorization"])
            if creds is None or self.htpasswd is None or not self.htpasswd.check(*creds):
                raise _unauthorized(f'Basic realm="{self.service}"', message="invalid credentials")
            user = creds[0]
        access = []
        for text in (s for item in query.get("scope", []) for s in item.split()):
            scope = parse_scope(text)
            if scope is None:
                continue
            granted = self._grant(user, scope.actions)
            if self.acl is not None and scope.type == "repository" and not _is_internal(self, user):
                granted = self.acl.allowed(user, scope.name, scope.actions)
            if granted:
                access.append({"type": scope.type, "name": scope.name, "actions": granted})
        now = int(time.time())
        claims = {"sub": user, "access": access, "iat": now, "exp": now + TOKEN_TTL,
                  "aud": self.service}
        token = self._sign(claims)
        return {"token": token, "access_token": token, "expires_in": TOKEN_TTL,
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}

    def _grant(self, user: str, actions: tuple[str, ...]) -> list[str]:
        if user:
            return list(actions)
        return ["pull"] if self.anonymous_pull and "pull" in actions else []

    def _sign(self, claims: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(claims, sort_keys=True).encode()).decode().rstrip("=")
        mac = hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()
        return f"{body}.{mac}"

    def _verify(self, token: str) -> dict[str, Any] | None:
        body, _, mac = token.rpartition(".")
        want = hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()
        if not body or not hmac.compare_digest(mac, want):
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            return None
        if claims.get("exp", 0) < time.time() or claims.get("aud") != self.service:
            return None
        return claims

    # -- the registry side ------------------------------------------------------------------
    def check(self, headers: Any, scope_type: str, name: str, actions: tuple[str, ...],
              mount_from: str = "") -> str:
        header = headers.get("Authorization", "")
        scope = f"{scope_type}:{name}:{','.join(actions)}" if scope_type else ""
        claims = self._verify(header[7:].strip()) if header.lower().startswith("bearer ") else None
        if claims is not None and self._allows(claims, scope_type, name, actions):
            return str(claims.get("sub") or "")
        error = "insufficient_scope" if claims is not None else ("invalid_token" if header else "")
        detail = [{"Type": scope_type, "Name": name, "Action": a} for a in actions] or None
        raise _unauthorized(bearer_challenge(self.realm, self.service, scope, error), detail)

    @staticmethod
    def _allows(claims: dict[str, Any], scope_type: str, name: str, actions: tuple[str, ...]) -> bool:
        if not scope_type:
            return True
        for item in claims.get("access") or []:
            if item.get("type") == scope_type and item.get("name") == name:
                have = set(item.get("actions") or [])
                if "*" in have or set(actions) <= have:
                    return True
        return False


def make_auth(htpasswd: str, token_realm: str, service: str, anonymous_pull: bool,
              acl_path: str = ""):
    """The auth of ``serve``'s flags.

    Raises:
        InvalidArgument: ``--acl`` without an auth mode, or with ``--anonymous-pull`` (anonymous
        pulls are then rules of the ACL), or a bad htpasswd or ACL file.
    """
    acl = None
    if acl_path:
        from hako.registry.server import acl as aclmod

        if not (htpasswd or token_realm):
            raise InvalidArgument("--acl needs --htpasswd or --token-realm (who is asking?)")
        if anonymous_pull:
            raise InvalidArgument("--anonymous-pull cannot be combined with --acl: give anonymous "
                                  "pulls as a rule (\"account\": \"anonymous\")")
        acl = aclmod.load(acl_path)
    users = Htpasswd(htpasswd) if htpasswd else None
    if token_realm:
        return TokenAuth(token_realm, service, users, anonymous_pull, acl)
    return BasicAuth(users, acl=acl)  # type: ignore[arg-type]
