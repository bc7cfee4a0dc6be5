"""A fake Bot Framework identity service on 127.0.0.1: signs channel tokens the bot validates, and issues bot tokens.

botbuilder fetches both sides with synchronous `requests` (JwtTokenExtractor's OpenID refresh, msal's discovery and
token calls) straight on the event loop, so this fake serves from its own thread and event loop: a test loop blocked
in botbuilder still gets its answers.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import datetime
import hashlib
import ipaddress
import secrets
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import certifi
import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from jwt.algorithms import RSAAlgorithm

CHANNEL_ISSUER = "https://api.botframework.com"
LOGIN_TENANT = "adfs"  # see `login_url`


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """One client-credentials request msal made to the token endpoint."""

    tenant: str
    client_id: str | None
    scope: str | None
    grant_type: str | None
    at: float  # time.monotonic() on arrival
    status: int


@dataclass(frozen=True, slots=True)
class _SigningKey:
    private_key: rsa.RSAPrivateKey
    kid: str
    jwk: dict[str, Any]


class FakeIdentityProvider:
    """Plays the Bot Framework channel (signs inbound JWTs) and Entra ID (issues outbound tokens) on localhost.

    Inbound: TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = fake.metadata_url; sign with fake.channel_token(...).
    Outbound: TO_CHANNEL_FROM_BOT_LOGIN_URL = fake.login_url, and requests must trust fake.ca_bundle
    (REQUESTS_CA_BUNDLE): msal only accepts an https authority.
    """

    def __init__(self, *, access_token: str | None = None, endorsements: Sequence[str] = ("msteams",),
                 app_id: str | None = None, app_password: str | None = None) -> None:
        self.access_token = access_token or f"fake-bf-token-{secrets.token_urlsafe(16)}"
        self.endorsements = list(endorsements)
        self.app_id = app_id  # when set, the token endpoint refuses other client ids ...
        self.app_password = app_password  # ... and other secrets, as Entra ID does with invalid_client
        self.token_log: list[TokenRequest] = []
        self.hits: list[tuple[str, str]] = []  # (HTTP method, path) of every request, in order
        self._lock = threading.Lock()
        self._key = _signing_key()
        self._ca_pem = b""
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._http_port: int | None = None
        self._https_port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeIdentityProvider:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        """Serve http and https on two free ports of 127.0.0.1, from a thread of its own."""
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-identity-")
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="fake-identity", daemon=True)
        self._thread.start()
        await asyncio.wrap_future(ready)

    async def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and self._runner is not None:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop))
            loop.call_soon_threadsafe(loop.stop)
            await asyncio.to_thread(thread.join, 5)
        self._runner = self._loop = self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _serve(self, ready: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            assert self._tmp is not None
            self._ca_pem, tls = _tls_context()
            bundle = Path(self._tmp.name, "ca-bundle.pem")
            bundle.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + self._ca_pem)  # keep the public roots
            loop.run_until_complete(self._listen(tls))
        except BaseException as error:  # hand any start-up failure to the awaiting test
            ready.set_exception(error)
            loop.close()
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _listen(self, tls: ssl.SSLContext) -> None:
        app = web.Application(middlewares=[self._log_hit])
        app.router.add_get("/v1/.well-known/openidconfiguration", self._on_openid_metadata)
        app.router.add_get("/v1/keys", self._on_keys)
        app.router.add_get("/common/discovery/instance", self._on_instance_discovery)
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._on_tenant_discovery)
        app.router.add_get("/{tenant}/.well-known/openid-configuration", self._on_tenant_discovery)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._on_token)
        app.router.add_post("/{tenant}/oauth2/token", self._on_token)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        plain, secure = _free_socket(), _free_socket()
        self._http_port, self._https_port = plain.getsockname()[1], secure.getsockname()[1]
        await web.SockSite(self._runner, plain).start()
        await web.SockSite(self._runner, secure, ssl_context=tls).start()

    # -- addresses -------------------------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        if self._http_port is None:
            raise RuntimeError("FakeIdentityProvider is not started; use `async with FakeIdentityProvider() as f:`")
        return f"http://127.0.0.1:{self._http_port}"

    @property
    def https_origin(self) -> str:
        if self._https_port is None:
            raise RuntimeError("FakeIdentityProvider is not started; use `async with FakeIdentityProvider() as f:`")
        return f"https://127.0.0.1:{self._https_port}"

    @property
    def metadata_url(self) -> str:
        """TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL: plain http, so inbound validation needs no CA bundle."""
        return f"{self.origin}/v1/.well-known/openidconfiguration"

    @property
    def login_url(self) -> str:
        """TO_CHANNEL_FROM_BOT_LOGIN_URL.

        msal: botbuilder 4.17 builds ConfidentialClientApplication without passing VALIDATE_AUTHORITY on, so an
        authority msal doesn't know triggers instance discovery at login.microsoftonline.com (the internet). An
        authority whose tenant is "adfs" counts as known to the developer and skips it (2026-05).
        """
        return self.authority_url(LOGIN_TENANT)

    def authority_url(self, tenant: str = "botframework.com") -> str:
        """An https authority for msal built directly with validate_authority=False or instance_discovery=False."""
        return f"{self.https_origin}/{tenant}"

    @property
    def instance_discovery_url(self) -> str:
        """What msal's instance_discovery= may point at, instead of login.microsoftonline.com."""
        return f"{self.https_origin}/common/discovery/instance"

    @property
    def ca_bundle(self) -> str:
        """A CA bundle (certifi's roots plus this fake's CA) for REQUESTS_CA_BUNDLE."""
        if self._tmp is None:
            raise RuntimeError("FakeIdentityProvider is not started")
        return str(Path(self._tmp.name, "ca-bundle.pem"))

    @property
    def ca_pem(self) -> bytes:
        """This fake's CA certificate alone, PEM."""
        return self._ca_pem

    @property
    def token_requests(self) -> int:
        """How many times msal asked for a token."""
        with self._lock:
            return len(self.token_log)

    def hits_to(self, path_suffix: str) -> int:
        """How many requests reached a path ending with `path_suffix`."""
        with self._lock:
            return sum(1 for _, path in self.hits if path.endswith(path_suffix))

    # -- inbound: the channel's tokens -----------------------------------------------------------------------

    @property
    def kid(self) -> str:
        return self._key.kid

    def channel_token(self, *, app_id: str, service_url: str, issuer: str = CHANNEL_ISSUER, kid: str | None = None,
                      expires_in: int = 3600, signed_by_unknown_key: bool = False) -> str:
        """An RS256 JWT as the Bot Connector sends the bot: aud = app_id, the serviceurl claim, nbf/exp."""
        now = int(time.time())
        claims = {"serviceurl": service_url, "nbf": min(now, now + expires_in) - 5, "exp": now + expires_in,
                  "iss": issuer, "aud": app_id}
        key = _signing_key().private_key if signed_by_unknown_key else self._key.private_key
        headers = {"kid": kid or self._key.kid, "x5t": self._key.jwk["x5t"], "typ": "JWT"}
        return jwt.encode(claims, key, algorithm="RS256", headers=headers)

    # -- HTTP ------------------------------------------------------------------------------------------------

    @web.middleware
    async def _log_hit(self, request: web.Request, handler: Any) -> web.StreamResponse:
        with self._lock:
            self.hits.append((request.method, request.path))
        response: web.StreamResponse = await handler(request)
        return response

    async def _on_openid_metadata(self, request: web.Request) -> web.Response:
        origin = f"{request.scheme}://{request.host}"
        return web.json_response({
            "issuer": CHANNEL_ISSUER,
            "authorization_endpoint": "https://invalid.botframework.com",
            "jwks_uri": f"{origin}/v1/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        })

    async def _on_keys(self, request: web.Request) -> web.Response:
        return web.json_response({"keys": [{**self._key.jwk, "endorsements": list(self.endorsements)}]})

    async def _on_instance_discovery(self, request: web.Request) -> web.Response:
        host = f"127.0.0.1:{self._https_port}"
        # msal: the authorization_endpoint it asks about names the host without its port
        path = urlsplit(request.query.get("authorization_endpoint", "")).path
        tenant = path.strip("/").split("/")[0] or "common"
        return web.json_response({
            "tenant_discovery_endpoint": f"https://{host}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        })

    async def _on_tenant_discovery(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        base = f"{self.https_origin}/{tenant}"
        if tenant == "adfs":  # msal: an ADFS authority has no /v2.0 segment and the v1 token path
            token, authorize, issuer = f"{base}/oauth2/token", f"{base}/oauth2/authorize", base
        else:
            token, authorize, issuer = f"{base}/oauth2/v2.0/token", f"{base}/oauth2/v2.0/authorize", f"{base}/v2.0"
        return web.json_response({
            "token_endpoint": token,
            "authorization_endpoint": authorize,
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "issuer": issuer,
            "jwks_uri": f"{self.https_origin}/v1/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "EU",
        })

    async def _on_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client_id, secret = _text(form.get("client_id")), _text(form.get("client_secret"))
        grant_type, scope = _text(form.get("grant_type")), _text(form.get("scope"))
        status, body = 200, {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                             "access_token": self.access_token}
        if grant_type != "client_credentials":
            status, body = 400, {"error": "unsupported_grant_type",
                                 "error_description": f"AADSTS70003: grant_type {grant_type!r} is not supported."}
        elif (self.app_id is not None and client_id != self.app_id) or (
                self.app_password is not None and secret != self.app_password):
            status, body = 401, {"error": "invalid_client",
                                 "error_description": "AADSTS7000215: Invalid client secret provided."}
        with self._lock:
            self.token_log.append(TokenRequest(tenant=request.match_info["tenant"], client_id=client_id, scope=scope,
                                               grant_type=grant_type, at=time.monotonic(), status=status))
        return web.json_response(body, status=status)


# -- keys and certificates ----------------------------------------------------------------------------------------

def _signing_key() -> _SigningKey:
    """An RSA key with a self-signed certificate, published the way login.botframework.com publishes its keys."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.botframework.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private_key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(private_key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    x5t = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()
    jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    jwk.update({"use": "sig", "kid": x5t, "x5t": x5t, "x5c": [base64.b64encode(der).decode()]})
    return _SigningKey(private_key=private_key, kid=x5t, jwk=jwk)


def _tls_context() -> tuple[bytes, ssl.SSLContext]:
    """A throwaway CA and a 127.0.0.1 server certificate it signed; returns the CA's PEM and the server context."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mentorbot fake identity CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory(prefix="fake-identity-tls-") as tmp:  # ssl loads a chain from files only
        cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + ca_pem)
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context.load_cert_chain(cert_file, key_file)
    return ca_pem, context


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


__all__ = ["CHANNEL_ISSUER", "FakeIdentityProvider", "TokenRequest"]
