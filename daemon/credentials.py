"""Credential references (``env:VAR``, ``file:/path``, ``credential:NAME``) and their secrets.

Secrets never live in the config file: the file only says where to read them from. A resolved
:class:`Secret` hides its value from ``repr``/``str`` so that it cannot leak into a log line,
an error message or a status answer by accident; code that really needs the value calls
:meth:`Secret.reveal`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_REFERENCE = re.compile(r"(env|file|credential):(.+)")
REFERENCE_FORMS = "env:VAR, file:/path or credential:NAME"


class Secret:
    """A credential value that refuses to print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class CredentialRef:
    """Where a secret is read from: an environment variable, a file, or a systemd credential."""

    __slots__ = ("kind", "target")

    def __init__(self, text: str) -> None:
        match = _REFERENCE.fullmatch(text)
        if match is None:
            # The text may be the secret itself pasted inline: never echo it.
            raise ValueError(f"must be a reference ({REFERENCE_FORMS}); inline secrets are refused")
        self.kind, self.target = match.group(1), match.group(2)
        if self.kind == "credential" and "/" in self.target:
            raise ValueError("a systemd credential name cannot contain '/'")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CredentialRef) and (other.kind, other.target) == (
            self.kind,
            self.target,
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.target))

    def __repr__(self) -> str:
        return f"CredentialRef('{self.kind}:{self.target}')"

    def resolve(self, environ: dict[str, str] | None = None) -> Secret:
        """Read the secret now.

        Raises ``ValueError`` with a message that names the reference but never the value.
        """
        env = os.environ if environ is None else environ
        if self.kind == "env":
            if self.target not in env:
                raise ValueError(f"environment variable {self.target} is not set")
            return Secret(env[self.target])
        if self.kind == "file":
            return Secret(_read_secret_file(Path(self.target)))
        directory = env.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise ValueError(
                f"credential:{self.target} needs $CREDENTIALS_DIRECTORY "
                "(set by systemd's LoadCredential=)"
            )
        return Secret(_read_secret_file(Path(directory) / self.target))


def _read_secret_file(path: Path) -> str:
    try:
        # A trailing newline is an artefact of `echo secret > file`, not part of the secret.
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
