"""A backup's signature: that the file is the one this server wrote.

An account's administrators may download its backup (``/export/account.json``), and an
operator restores one at the console (``roster account import``). Without a signature an
administrator could edit the file in between (drop audit entries, rewrite history, add
rows the API would never have written in that order) and have it restored as the account's
past. So the exporter ends every backup with a member of its own,

    ,"signature":{"algorithm":"HMAC-SHA256","key":"<key id>","value":"<hex>"}}

an HMAC of every byte before it, under a key derived from the server's encryption key
(``ROSTER_ENCRYPTION_KEYS``: the first one signs, every one listed verifies, as for
encrypted fields). A restore verifies it once the file reads as a backup (JSON, its format
and version) and before anything of its content is checked or written, and refuses a file
without one, one signed under a key this server does not hold, or one changed after it
was signed, unless the operator restores it knowingly unsigned (``--unsigned``: a backup
from before signatures, or from a server with other keys).

What it proves is that this server wrote the file, not that it is the latest: an older
backup of the account verifies as well as the last one (restoring it loses what happened
since, the audit log's entries included). A backup verifies while its key is listed in
``ROSTER_ENCRYPTION_KEYS``: keep a rotated-out key listed (it then only decrypts and
verifies) for as long as its backups should restore signed. The development key is
public: a server running on it (``ENV=development``) proves nothing by its signatures,
and production refuses to start with it, under any key id.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import orjson

from app.accounts.errors import BackupRejected
from app.security.crypto import Keyring

ALGORITHM = "HMAC-SHA256"
_DIGEST = re.compile(r"[0-9a-f]{64}")  # as hexdigest() writes one (compare_digest: ASCII only)
MEMBER = b',"signature":'
_PURPOSE = b"roster account backup signature"
UNSIGNED_HINT = "restore it with --unsigned to do so anyway, if you know where it came from"


def _key(keyring: Keyring, kid: str) -> bytes:
    """The signing key of encryption key ``kid``: derived, never the key itself."""
    return hmac.new(keyring.keys[kid], _PURPOSE, hashlib.sha256).digest()


class Signer:
    """Signs a backup as it is streamed: ``update`` with every chunk of the document but
    its closing brace, then ``end`` gives the signature member and that brace."""

    def __init__(self, keyring: Keyring):
        self.kid = keyring.primary
        self._mac = hmac.new(_key(keyring, self.kid), digestmod=hashlib.sha256)

    def update(self, chunk: bytes) -> bytes:
        self._mac.update(chunk)
        return chunk

    def end(self) -> bytes:
        signature = {"algorithm": ALGORITHM, "key": self.kid, "value": self._mac.hexdigest()}
        return MEMBER + orjson.dumps(signature) + b"}"


def signed(document: bytes, keyring: Keyring) -> bytes:
    """A whole backup document (a JSON object without a signature) with its signature."""
    if not document.endswith(b"}"):
        raise ValueError("not a JSON object")
    signer = Signer(keyring)
    return signer.update(document[:-1]) + signer.end()


def verify(raw: bytes, document: dict, keyring: Keyring) -> None:
    """Refuses (``BackupRejected``) a backup whose last member is not a signature of
    everything before it under a key of ``keyring``. ``document``: ``raw`` parsed."""
    if "signature" not in document:
        raise BackupRejected(f"this backup is not signed; {UNSIGNED_HINT}")
    changed = BackupRejected(
        f"this backup's signature does not match it: it was changed after it was made; "
        f"{UNSIGNED_HINT}"
    )
    body = raw.rstrip()  # a line end added by an editor or a shell is no change
    at = body.rfind(MEMBER)
    try:
        signature = orjson.loads(body[at + len(MEMBER) : -1]) if at >= 0 else None
    except orjson.JSONDecodeError:
        signature = None
    if (  # the exporter's last member, as it writes it (a file written again has moved it)
        not isinstance(signature, dict)
        or not body.endswith(b"}")
        or set(signature) != {"algorithm", "key", "value"}
        or signature["algorithm"] != ALGORITHM
        or not all(isinstance(v, str) for v in signature.values())
        or not _DIGEST.fullmatch(signature["value"])
    ):
        raise changed
    if signature["key"] not in keyring.keys:
        raise BackupRejected(
            f"this backup was signed under key {signature['key']!r}, which this server does "
            f"not hold (made by another server?); {UNSIGNED_HINT}"
        )
    expected = hmac.new(_key(keyring, signature["key"]), body[:at], hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature["value"]):
        raise changed
