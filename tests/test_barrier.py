"""The barrier: sealed values, wrong root keys, root key rotation, passphrase seals."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from sqlalchemy import select

from bastion.barrier import Barrier, BarrierError, KeyFileSeal, PassphraseSeal
from bastion.crypto.aead import AeadError
from bastion.storage import Store
from bastion.storage.schema import keyring


@pytest.fixture
def store(tmp_path, database_url):
    s = Store(database_url or f"sqlite:///{tmp_path / 'b.db'}")
    s.migrate()
    yield s
    s.dispose()


def test_seal_round_trip_and_identity_binding(store, tmp_path):
    barrier = Barrier(store, KeyFileSeal(tmp_path / "root.key"))
    assert barrier.open() is True
    sealed = barrier.seal("secrets/a/value", b"canary-123")
    assert b"canary-123" not in sealed
    assert barrier.unseal("secrets/a/value", sealed) == b"canary-123"
    with pytest.raises(AeadError):
        barrier.unseal("secrets/b/value", sealed)  # moved to another row
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(AeadError):
        barrier.unseal("secrets/a/value", tampered)


def test_key_file_is_private(store, tmp_path):
    Barrier(store, KeyFileSeal(tmp_path / "root.key")).open()
    assert stat.S_IMODE(os.stat(tmp_path / "root.key").st_mode) == 0o600
    os.chmod(tmp_path / "root.key", 0o644)
    with pytest.raises(BarrierError, match="readable by other users"):
        Barrier(store, KeyFileSeal(tmp_path / "root.key")).open()


def test_wrong_root_key_is_refused(store, tmp_path):
    Barrier(store, KeyFileSeal(tmp_path / "root.key")).open()
    other = tmp_path / "other.key"
    other.write_text(os.urandom(32).hex())
    os.chmod(other, 0o600)
    with pytest.raises(BarrierError, match="does not open"):
        Barrier(store, KeyFileSeal(other)).open()


def test_rotation_rewraps_and_keeps_old_values_readable(store, tmp_path):
    path = tmp_path / "root.key"
    barrier = Barrier(store, KeyFileSeal(path))
    barrier.open()
    old_root = path.read_text()
    sealed = barrier.seal("x", b"before rotation")
    with store.read() as conn:
        wrapped_before = conn.execute(select(keyring.c.wrapped_key)).scalars().all()
    assert barrier.rotate_root_key() == 2
    assert path.read_text() != old_root
    with store.read() as conn:
        wrapped_after = (
            conn.execute(select(keyring.c.wrapped_key).order_by(keyring.c.term)).scalars().all()
        )
    assert wrapped_after[0] != wrapped_before[0]
    reopened = Barrier(store, KeyFileSeal(path))
    reopened.open()
    assert reopened.unseal("x", sealed) == b"before rotation"
    assert reopened.active_term == 2
    new_sealed = reopened.seal("x", b"after")
    assert reopened.unseal("x", new_sealed) == b"after"
    stale = tmp_path / "stale.key"
    stale.write_text(old_root)
    os.chmod(stale, 0o600)
    with pytest.raises(BarrierError):
        Barrier(store, KeyFileSeal(stale)).open()


def test_rotation_interrupted_after_commit_is_completed(store, tmp_path):
    """The DB commit happened, the rename of root.key.new did not: the next open finishes it."""
    path = tmp_path / "root.key"
    barrier = Barrier(store, KeyFileSeal(path))
    barrier.open()
    sealed = barrier.seal("x", b"v")
    seal = KeyFileSeal(path)
    seal.commit_new = lambda: None  # crash before the rename
    Barrier(store, seal).rotate_root_key()
    assert (tmp_path / "root.key.new").exists()
    recovered = Barrier(store, KeyFileSeal(path))
    recovered.open()
    assert not (tmp_path / "root.key.new").exists()
    assert recovered.unseal("x", sealed) == b"v"


def test_passphrase_seal(store):
    barrier = Barrier(store, PassphraseSeal("correct horse battery staple"))
    barrier.open()
    sealed = barrier.seal("p", b"value")
    with pytest.raises(BarrierError, match="does not open"):
        Barrier(store, PassphraseSeal("wrong passphrase")).open()
    rotated = Barrier(store, PassphraseSeal("correct horse battery staple", "a new passphrase"))
    rotated.open()
    rotated.rotate_root_key()
    with pytest.raises(BarrierError):
        Barrier(store, PassphraseSeal("correct horse battery staple")).open()
    again = Barrier(store, PassphraseSeal("a new passphrase"))
    again.open()
    assert again.unseal("p", sealed) == b"value"


def test_seal_kind_mismatch_is_explained(store, tmp_path):
    Barrier(store, PassphraseSeal("pass")).open()
    with pytest.raises(BarrierError, match="passphrase seal"):
        Barrier(store, KeyFileSeal(tmp_path / "root.key")).open()


def test_rotate_root_key_cli(tmp_path):
    env = {**os.environ, "BASTION_DATA_DIR": str(tmp_path / "d")}
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "bastion.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run("init").returncode == 0
    key_before = (tmp_path / "d" / "root.key").read_text()
    out = run("rotate-root-key")
    assert out.returncode == 0, out.stderr
    assert "new data key term 2" in out.stdout
    assert (tmp_path / "d" / "root.key").read_text() != key_before
    assert "Already initialised" in run("init").stdout  # the barrier opens with the new key
