"""A client of the Distribution API v2 (OCI distribution-spec): manifests and blobs.

Transport is stdlib ``http.client``, one connection per request so that worker threads
never share one. HTTPS is used unless the registry may be reached in plain HTTP
(loopback, or listed in ``$STACKR_ROOT/config.json`` ``insecure-registries``); such a
registry is tried in HTTPS first and in HTTP when TLS fails, as Docker does.

Authentication follows the registry's ``WWW-Authenticate`` answer to ``GET /v2/``:

* ``Bearer`` — ask the token endpoint (``realm``) for a token for
  ``repository:<name>:pull``, with the user's credentials when it has some, then retry;
* ``Basic`` — send the credentials from ``~/.docker/config.json``.

Every byte is verified: manifests by the digest asked for or announced, blobs by digest
and size before the store uses them. Layer blobs are downloaded into
``downloads/<hex>.partial`` and resumed with an HTTP ``Range`` request when a previous
download was interrupted.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import json
import os
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from stackr.images.auth import Challenge, Credentials, credentials_for, parse_www_authenticate
from stackr.images.errors import (
    AuthenticationError,
    DigestMismatchError,
    ImageNotFoundError,
    RegistryError,
)
from stackr.images.platform import select_platform
from stackr.images.progress import Phase, ProgressCallback, ProgressEvent
from stackr.images.reference import DEFAULT_DOMAIN, Reference, is_sha256_digest
from stackr.images.settings import RegistrySettings

DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST)
INDEX_TYPES = (MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST)
ACCEPT = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
MAX_MANIFEST = 4 << 20
MAX_REDIRECTS = 5
CHUNK = 1 << 20
PROGRESS_STEP = 512 << 10
TIMEOUT = 60.0


@dataclass(frozen=True)
class ResolvedImage:
    """The manifest of one image (after choosing a platform) and what it names."""

    manifest_bytes: bytes
    manifest_digest: str
    config_descriptor: Mapping[str, Any]
    layers: tuple[Mapping[str, Any], ...]

    @property
    def config_digest(self) -> str:
        return str(self.config_descriptor["digest"])


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _checked_digest(descriptor: Mapping[str, Any], what: str) -> str:
    digest = descriptor.get("digest")
    if not is_sha256_digest(digest):
        raise RegistryError(f"{what}: unsupported or malformed digest {digest!r}")
    return str(digest)


def _error_text(body: bytes) -> str:
    """The ``errors`` of a registry's JSON error body, as one line."""
    try:
        document = json.loads(body)
        messages = [f"{e.get('code')}: {e.get('message')}" for e in document.get("errors", [])]
        if messages:
            return "; ".join(messages)
    except (ValueError, AttributeError):
        pass
    return body[:200].decode("utf-8", "replace").strip()


class RegistryClient:
    def __init__(
        self,
        domain: str,
        *,
        plain_http_allowed: bool = False,
        credentials: Credentials | None = None,
        tls: ssl.SSLContext | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        """``tls`` is the context for the registry's own host (its CA, client certificate,
        or no verification for an insecure registry); other hosts it redirects to (blob
        storage) always get the default, verifying context."""
        self.domain = domain
        self.endpoint = DOCKER_HUB_ENDPOINT if domain == DEFAULT_DOMAIN else domain
        self._plain_http_allowed = plain_http_allowed
        self._credentials = credentials
        self._tls = tls or ssl.create_default_context()
        self._timeout = timeout
        self._scheme: str | None = None
        self._challenge: Challenge | None = None
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_domain(cls, domain: str, settings: RegistrySettings | None = None) -> RegistryClient:
        settings = settings or RegistrySettings.load()
        return cls(
            domain,
            plain_http_allowed=settings.allows_plain_http(domain),
            credentials=credentials_for(domain),
            tls=settings.tls_context(domain),
        )

    # -- transport ---------------------------------------------------------------------
    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        if scheme == "https":
            context = self._tls if netloc == self.endpoint else ssl.create_default_context()
            return http.client.HTTPSConnection(netloc, timeout=self._timeout, context=context)
        return http.client.HTTPConnection(netloc, timeout=self._timeout)

    def _send(
        self, method: str, url: str, headers: Mapping[str, str]
    ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
        """One request, following redirects; Authorization is kept on the same host only."""
        current_headers = dict(headers)
        origin = urlsplit(url).netloc
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            connection = self._connection(parts.scheme, parts.netloc)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            try:
                connection.request(method, target or "/", headers=current_headers)
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as error:  # ssl.SSLError too
                connection.close()
                raise RegistryError(
                    f"{self.domain}: cannot reach {parts.netloc}: {error}"
                ) from error
            if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                location = response.getheader("Location") or ""
                response.read()
                connection.close()
                url = urljoin(url, location)
                if urlsplit(url).netloc != origin:
                    current_headers.pop("Authorization", None)
                continue
            return response, connection
        raise RegistryError(f"{self.domain}: too many redirects for {method} {url}")

    def _base_url(self) -> str:
        """``https://host`` or ``http://host``, found by pinging ``/v2/`` once."""
        with self._lock:
            if self._scheme is not None:
                return f"{self._scheme}://{self.endpoint}"
        schemes = ["https", "http"] if self._plain_http_allowed else ["https"]
        last_error: Exception | None = None
        for scheme in schemes:
            try:
                response, connection = self._send("GET", f"{scheme}://{self.endpoint}/v2/", {})
            except RegistryError as error:  # TLS refused or no answer: try the next scheme
                last_error = error
                continue
            try:
                response.read()
                challenge = self._pick_challenge(response)
            finally:
                connection.close()
            if response.status not in (200, 401):
                raise RegistryError(
                    f"{self.domain}: /v2/ answered {response.status}; is this a registry?"
                )
            with self._lock:
                self._scheme = scheme
                self._challenge = challenge
            return f"{scheme}://{self.endpoint}"
        import ssl

        # Only a TLS failure suggests a plain-HTTP registry; no DNS answer or a refused
        # connection is said as it is.
        tls_failed = isinstance(last_error and last_error.__cause__, ssl.SSLError)
        hint = (
            " (if it serves plain HTTP, list it under insecure-registries in the stackr config)"
            if tls_failed and not self._plain_http_allowed
            else ""
        )
        raise RegistryError(f"{self.domain}: cannot connect: {last_error}{hint}") from last_error

    @staticmethod
    def _pick_challenge(response: http.client.HTTPResponse) -> Challenge | None:
        if response.status != 401:
            return None
        challenges = parse_www_authenticate(response.getheader("WWW-Authenticate") or "")
        for wanted in ("bearer", "basic"):
            for challenge in challenges:
                if challenge.scheme == wanted:
                    return challenge
        return None

    def _authorization(self, scope: str, challenge: Challenge | None) -> str | None:
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            if self._credentials is None:
                raise AuthenticationError(
                    f"{self.domain} requires a login: no credentials for it in "
                    "~/.docker/config.json"
                )
            return self._credentials.basic_header()
        key = f"{challenge.params.get('realm')}|{challenge.params.get('service')}|{scope}"
        with self._lock:
            token = self._tokens.get(key)
        if token is None:
            token = self._fetch_token(challenge, scope)
            with self._lock:
                self._tokens[key] = token
        return f"Bearer {token}"

    def _fetch_token(self, challenge: Challenge, scope: str) -> str:
        realm = challenge.params.get("realm")
        if not realm:
            raise AuthenticationError(f"{self.domain}: Bearer challenge without a realm")
        query = {"scope": scope}
        if challenge.params.get("service"):
            query["service"] = challenge.params["service"]
        separator = "&" if "?" in realm else "?"
        headers = {}
        if self._credentials is not None:
            headers["Authorization"] = self._credentials.basic_header()
        response, connection = self._send("GET", f"{realm}{separator}{urlencode(query)}", headers)
        try:
            body = response.read(MAX_MANIFEST)
        finally:
            connection.close()
        if response.status in (401, 403):
            raise AuthenticationError(
                f"{self.domain}: the token service refused the credentials ({_error_text(body)})"
            )
        if response.status != 200:
            raise AuthenticationError(
                f"{self.domain}: token service answered {response.status}: {_error_text(body)}"
            )
        try:
            document = json.loads(body)
            token = document.get("token") or document.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise AuthenticationError(f"{self.domain}: the token service gave no token")
        return token

    def _get(
        self, path: str, scope: str, headers: Mapping[str, str] | None = None
    ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
        """GET ``/v2/<path>`` with authentication: once, and again after a fresh 401."""
        url = self._base_url() + path
        challenge = self._challenge
        for attempt in range(2):
            request_headers = dict(headers or {})
            authorization = self._authorization(scope, challenge)
            if authorization:
                request_headers["Authorization"] = authorization
            response, connection = self._send("GET", url, request_headers)
            if response.status != 401:
                return response, connection
            body = response.read(MAX_MANIFEST)
            connection.close()
            fresh = self._pick_challenge(response)
            if attempt == 0 and fresh is not None:
                with self._lock:  # a token for another scope, or an expired one: ask again
                    self._tokens.clear()
                    self._challenge = challenge = fresh
                continue
            raise AuthenticationError(
                f"{self.domain}: access to {path} denied ({_error_text(body)})"
                + ("" if self._credentials else "; no credentials in ~/.docker/config.json")
            )
        raise AssertionError("unreachable")

    # -- manifests ---------------------------------------------------------------------
    def _manifest(self, reference: Reference, ref: str) -> tuple[bytes, str, str]:
        scope = f"repository:{reference.path}:pull"
        response, connection = self._get(
            f"/v2/{reference.path}/manifests/{ref}", scope, {"Accept": ACCEPT}
        )
        try:
            body = response.read(MAX_MANIFEST + 1)
        finally:
            connection.close()
        if response.status == 404:
            raise ImageNotFoundError(f"{reference} (the registry has no manifest {ref})")
        if response.status != 200:
            raise RegistryError(
                f"{reference}: manifest request answered {response.status}: {_error_text(body)}"
            )
        if len(body) > MAX_MANIFEST:
            raise RegistryError(f"{reference}: manifest larger than {MAX_MANIFEST} bytes")
        digest = _sha256(body)
        if ref.startswith("sha256:") and digest != ref:
            raise DigestMismatchError(f"{reference}: manifest hashes to {digest}, asked for {ref}")
        announced = response.getheader("Docker-Content-Digest")
        if announced and announced.startswith("sha256:") and announced != digest:
            raise DigestMismatchError(
                f"{reference}: manifest hashes to {digest}, the registry says {announced}"
            )
        media_type = (response.getheader("Content-Type") or "").split(";")[0].strip()
        return body, digest, media_type

    def resolve_image(
        self, reference: Reference, progress: ProgressCallback | None = None
    ) -> ResolvedImage:
        """The manifest for ``reference`` on linux/<host arch>, verified."""
        if progress:
            progress(ProgressEvent(Phase.RESOLVING, detail=str(reference)))
        body, digest, media_type = self._manifest(reference, reference.registry_reference)
        document = self._parse_manifest(body, reference)
        media_type = str(document.get("mediaType") or media_type)
        if media_type in INDEX_TYPES or ("manifests" in document and "layers" not in document):
            chosen = select_platform(document.get("manifests") or [], what=str(reference))
            chosen_digest = _checked_digest(chosen, f"{reference}: index entry")
            body, digest, media_type = self._manifest(reference, chosen_digest)
            if isinstance(chosen.get("size"), int) and chosen["size"] != len(body):
                raise DigestMismatchError(f"{reference}: manifest size differs from the index")
            document = self._parse_manifest(body, reference)
            media_type = str(document.get("mediaType") or media_type)
        if media_type and media_type not in MANIFEST_TYPES:
            raise RegistryError(f"{reference}: unsupported manifest type {media_type!r}")
        config = document.get("config")
        layers = document.get("layers")
        if not isinstance(config, dict) or not isinstance(layers, list):
            raise RegistryError(f"{reference}: the manifest has no config or layers")
        _checked_digest(config, f"{reference}: config")
        for layer in layers:
            _checked_digest(layer, f"{reference}: layer")
            if not isinstance(layer.get("size"), int):
                raise RegistryError(f"{reference}: a layer descriptor has no size")
        return ResolvedImage(body, digest, config, tuple(layers))

    @staticmethod
    def _parse_manifest(body: bytes, reference: Reference) -> dict[str, Any]:
        try:
            document = json.loads(body)
        except ValueError as error:
            raise RegistryError(f"{reference}: the manifest is not JSON: {error}") from error
        if not isinstance(document, dict):
            raise RegistryError(f"{reference}: the manifest is not an object")
        if document.get("schemaVersion") == 1:
            raise RegistryError(f"{reference}: schema 1 manifests are not supported")
        return document

    # -- blobs -------------------------------------------------------------------------
    def read_blob(self, repository_path: str, descriptor: Mapping[str, Any], what: str) -> bytes:
        """A small blob (an image config) in memory, verified."""
        digest = _checked_digest(descriptor, what)
        response, connection = self._get(
            f"/v2/{repository_path}/blobs/{digest}", f"repository:{repository_path}:pull"
        )
        try:
            body = response.read(MAX_MANIFEST + 1)
        finally:
            connection.close()
        if response.status != 200:
            raise RegistryError(f"{what} {digest}: answered {response.status}: {_error_text(body)}")
        if _sha256(body) != digest or len(body) != descriptor.get("size", len(body)):
            raise DigestMismatchError(f"{what} {digest}: the registry sent different content")
        return body

    def download_blob(
        self,
        repository_path: str,
        descriptor: Mapping[str, Any],
        directory: Path,
        progress: ProgressCallback | None = None,
        stop: threading.Event | None = None,
    ) -> Path:
        """Download a layer blob to ``directory/<hex>``, resuming a partial download.

        Setting ``stop`` (the pull failed elsewhere, or Ctrl-C) ends the download at the
        next chunk; what arrived stays in the partial file for the next pull.

        Returns the complete, verified file. On a digest or size mismatch the partial
        file is deleted (it cannot be resumed) and DigestMismatchError raised.
        """
        digest = _checked_digest(descriptor, "layer")
        size = int(descriptor["size"])
        final = directory / digest.removeprefix("sha256:")
        partial = directory / f"{final.name}.partial"
        if final.exists():
            # left by a pull that ended before unpacking it; blobs are not fsynced (they
            # are unpacked and deleted at once), so after a crash it is checked again
            if _file_matches(final, digest, size):
                return final
            with contextlib.suppress(FileNotFoundError):
                final.unlink()
        with open(partial, "ab+") as out:
            fcntl.flock(out.fileno(), fcntl.LOCK_EX)  # one download per blob across processes
            if final.exists():  # another process finished it while we waited
                with contextlib.suppress(FileNotFoundError):
                    partial.unlink()
                return final
            hasher = hashlib.sha256()
            out.seek(0)
            offset = 0
            while chunk := out.read(CHUNK):
                hasher.update(chunk)
                offset += len(chunk)
            if offset > size:
                out.truncate(0)
                hasher, offset = hashlib.sha256(), 0
            if offset < size or size == 0:
                hasher, offset = self._fetch_into(
                    repository_path, digest, size, out, hasher, offset, progress, stop
                )
            if progress:
                progress(ProgressEvent(Phase.VERIFYING, digest, offset, size))
            if offset != size or "sha256:" + hasher.hexdigest() != digest:
                with contextlib.suppress(FileNotFoundError):
                    partial.unlink()
                raise DigestMismatchError(
                    f"layer {digest} of {repository_path}: received {offset} bytes hashing to "
                    f"sha256:{hasher.hexdigest()}, expected {size} bytes with that digest"
                )
            out.flush()
            os.rename(partial, final)
        return final

    def _fetch_into(
        self,
        repository_path: str,
        digest: str,
        size: int,
        out: Any,
        hasher: Any,
        offset: int,
        progress: ProgressCallback | None,
        stop: threading.Event | None = None,
    ) -> tuple[Any, int]:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response, connection = self._get(
            f"/v2/{repository_path}/blobs/{digest}", f"repository:{repository_path}:pull", headers
        )
        try:
            if response.status == 200 and offset:  # no range support: start again
                out.truncate(0)
                hasher, offset = hashlib.sha256(), 0
            elif response.status == 416 and offset:
                response.read()
                raise DigestMismatchError(f"layer {digest}: the registry refused to resume")
            elif response.status not in (200, 206):
                body = response.read(MAX_MANIFEST)
                raise RegistryError(
                    f"layer {digest} of {repository_path}: answered {response.status}: "
                    f"{_error_text(body)}"
                )
            out.seek(0, os.SEEK_END)
            reported = offset
            if progress:
                progress(ProgressEvent(Phase.DOWNLOADING, digest, offset, size))
            while True:
                if stop is not None and stop.is_set():
                    raise RegistryError(f"layer {digest}: download stopped")
                try:
                    chunk = response.read(min(CHUNK, size + 1 - offset))
                except (OSError, http.client.HTTPException) as error:
                    raise RegistryError(f"layer {digest}: download interrupted: {error}") from error
                if not chunk:
                    break
                out.write(chunk)
                hasher.update(chunk)
                offset += len(chunk)
                if offset > size:
                    break  # more than the manifest said: the check after this fails
                if progress and (offset - reported >= PROGRESS_STEP or offset == size):
                    reported = offset
                    progress(ProgressEvent(Phase.DOWNLOADING, digest, offset, size))
        finally:
            connection.close()
        return hasher, offset


def _file_matches(path: Path, digest: str, size: int) -> bool:
    """Whether the file at ``path`` has ``size`` bytes hashing to ``digest``."""
    hasher = hashlib.sha256()
    try:
        with open(path, "rb") as blob:
            while chunk := blob.read(CHUNK):
                hasher.update(chunk)
            length = blob.tell()
    except OSError:
        return False
    return length == size and "sha256:" + hasher.hexdigest() == digest
