"""Every backup is signed by the server that made it, and a restore takes only a backup
signed under one of its keys, unchanged since, unless the operator restores it knowingly
unsigned (``--unsigned``)."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.accounts.backup_document import read_document
from app.accounts.backup_signature import signed, verify
from app.accounts.errors import BackupRejected
from app.security.crypto import Keyring
from tests.accounts.test_restore import backup, content, drop_account, restore, row_counts, world
from tests.factories import make_people

__all__ = ["world"]  # the fixture, used by name

NOT_SIGNED = "this backup is not signed"
CHANGED = "was changed after it was made"


async def refused(services, raw: bytes, words: str, **kw) -> None:
    before = await row_counts(services)
    with pytest.raises(BackupRejected, match=words):
        await restore(services, raw, slug="never", unsigned=False, **kw)
    assert await row_counts(services) == before  # nothing written


async def test_a_backup_as_exported_restores_and_an_edited_one_only_unsigned(
    services, world, tmp_path
):
    tenant, *_ = world
    raw = await backup(services, tenant.slug, tmp_path)
    document = json.loads(raw)
    assert document["signature"]["algorithm"] == "HMAC-SHA256"
    assert raw.endswith(b"}}") and list(document)[-1] == "signature"  # the last member

    # an administrator drops the log's history before handing the file over
    edited = json.loads(raw)
    edited["auditLog"] = []
    await refused(services, json.dumps(edited).encode(), CHANGED)
    # the same edit, byte for byte in place (the signature left as it was)
    spliced = raw.replace(b'"auditLog":[', b'"auditLog":[],"x":[', 1)
    assert spliced != raw
    await refused(services, spliced, "")  # refused, whatever it trips on first
    # without the signature
    await refused(services, json.dumps(content(document)).encode(), NOT_SIGNED)
    # something after the signature
    await refused(services, raw[:-1] + b',"account":{}}', CHANGED)
    # a value that is no digest (compare_digest takes ASCII only): refused, not a crash
    value = document["signature"]["value"].encode()
    await refused(services, raw.replace(value, "é".encode() * 32), CHANGED)
    await refused(services, raw.replace(value, value.upper()), CHANGED)

    # as it was exported: restored (a line end added to the file is no change)
    await drop_account(services, tenant.account_id)
    restored = await restore(services, raw + b"\n", unsigned=False)
    assert restored.account.id == tenant.account_id
    # the operator may restore the edited file knowingly
    copy = await restore(services, json.dumps(edited).encode(), slug="edited", unsigned=True)
    assert copy.counts["auditLog"] == 0


async def test_a_backup_of_another_server_needs_unsigned_and_a_rotated_key_verifies(
    services, world, tmp_path
):
    tenant, *_ = world
    raw = await backup(services, tenant.slug, tmp_path)
    ours = services.settings.keyring
    kid = ours.primary
    theirs = Keyring.parse(f"other:{Keyring.generate_key()}")
    with pytest.raises(BackupRejected, match="which this server does not hold"):
        read_document(raw, theirs)
    same_id_other_key = Keyring.parse(f"{kid}:{Keyring.generate_key()}")
    with pytest.raises(BackupRejected, match=CHANGED):
        read_document(raw, same_id_other_key)
    # after `roster keys rotate`, the old key is still listed: its backups still verify
    spec = f"new:{Keyring.generate_key()},{kid}:" + _material(ours, kid)
    rotated = Keyring.parse(spec)
    assert rotated.primary == "new"
    read_document(raw, rotated)
    # and one signed anew is signed under the new key, which the old keyring lacks
    again = signed(json.dumps(content(json.loads(raw))).encode(), rotated)
    assert json.loads(again)["signature"]["key"] == "new"
    read_document(again, rotated)
    with pytest.raises(BackupRejected, match="which this server does not hold"):
        read_document(again, ours)


def _material(keyring: Keyring, kid: str) -> str:
    import base64

    return base64.urlsafe_b64encode(keyring.keys[kid]).decode().rstrip("=")


@pytest.fixture
async def exported(services, tmp_path) -> bytes:
    tenant, _, _ = await make_people(services)
    return await backup(services, tenant.slug, tmp_path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_no_change_to_a_signed_backup_verifies(services, exported, data):
    """Any byte changed, dropped or added anywhere in the file: it no longer verifies."""
    raw = exported
    at = data.draw(st.integers(0, len(raw) - 1), label="at")
    how = data.draw(st.sampled_from(["change", "drop", "add"]), label="how")
    byte = data.draw(st.integers(0, 255), label="byte")
    if how == "change":
        changed = raw[:at] + bytes([(raw[at] + 1 + byte % 255) % 256]) + raw[at + 1 :]
    elif how == "drop":
        changed = raw[:at] + raw[at + 1 :]
    else:
        changed = raw[:at] + bytes([byte]) + raw[at:]
    if changed.rstrip() == raw.rstrip():
        return  # white space at the very end: the same file
    try:
        document = orjson.loads(changed)
    except orjson.JSONDecodeError:
        return  # not JSON: refused before the signature is read (test_restore)
    with pytest.raises(BackupRejected):
        verify(changed, document, services.settings.keyring)
    verify(raw, orjson.loads(raw), services.settings.keyring)
