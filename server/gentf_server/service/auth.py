"""Bearer tokens: who a caller is (its owner), and the interceptor that turns strangers away.

With a token file, every call except health must carry ``authorization: Bearer <token>``
with one of the file's tokens (one a line; blank lines and ``#`` comments ignored); the
token names its owner. Without one, every caller is the single owner ``"anonymous"``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import grpc

__all__ = ["ANONYMOUS", "AuthInterceptor", "Authenticator", "load_tokens"]

log = logging.getLogger("gentf_server.auth")

ANONYMOUS = "anonymous"
"""The one owner of every call on a worker without a token file."""

_OPEN_PREFIXES = ("/grpc.health.v1.Health/",)


def load_tokens(path: str) -> list[str]:
    """The tokens in ``path``; ValueError naming the file when it has none or is unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise ValueError(f"--token-file {path}: cannot read it ({exc.strerror})") from None
    tokens = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not tokens:
        raise ValueError(f"--token-file {path}: the file holds no token (one token a line)")
    for token in tokens:
        if len(token) < 16 or any(c.isspace() for c in token):
            raise ValueError(f"--token-file {path}: tokens must be at least 16 characters "
                             "with no spaces")
    return tokens


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    """Maps a call's metadata to its owner (None: not allowed in)."""

    def __init__(self, tokens: Sequence[str] | None = None) -> None:
        self.required = bool(tokens)
        # Owners are named by a prefix of the token's hash: logs never show a token.
        self._owners = {_digest(t): f"owner-{_digest(t)[:12]}" for t in tokens or ()}
        self._digests = {owner: digest for digest, owner in self._owners.items()}

    def token_sha256(self, owner: str) -> str:
        """Hex SHA-256 of ``owner``'s token ("" when no token is required), for a session
        process that checks its owner's calls itself (``supervisor.direct``)."""
        return self._digests.get(owner, "") if self.required else ""

    def owner(self, metadata: Sequence[tuple[str, Any]] | None) -> str | None:
        """The owner the call's ``authorization`` metadata names, ``"anonymous"`` when no
        token is required, None when a required token is missing or unknown."""
        if not self.required:
            return ANONYMOUS
        for key, value in metadata or ():
            if key == "authorization":
                text = value if isinstance(value, str) else value.decode(errors="replace")
                scheme, _, token = text.partition(" ")
                if scheme.lower() == "bearer":
                    return self._owners.get(_digest(token.strip()))
        return None


def _deny_unary(request: Any, context: grpc.ServicerContext) -> Any:
    context.abort(grpc.StatusCode.UNAUTHENTICATED,
                  "this worker needs a token: metadata 'authorization: Bearer <token>' "
                  "with a token from its --token-file (client: tf.Session(token=...) or "
                  "$GENTF_TOKEN)")


def _deny_stream(request_iterator: Any, context: grpc.ServicerContext) -> Any:
    _deny_unary(None, context)


class AuthInterceptor(grpc.ServerInterceptor):
    """Answers UNAUTHENTICATED to every call but health that carries no valid token."""

    def __init__(self, auth: Authenticator) -> None:
        self._auth = auth
        self._unary = grpc.unary_unary_rpc_method_handler(_deny_unary)
        self._stream = grpc.stream_stream_rpc_method_handler(_deny_stream)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if method.startswith(_OPEN_PREFIXES) or self._auth.owner(
                handler_call_details.invocation_metadata) is not None:
            return continuation(handler_call_details)
        log.warning("refused %s: no valid token", method)
        streaming = "Reflection" in method or method.endswith(("/PutBlob", "/GetBlob"))
        return self._stream if streaming else self._unary
