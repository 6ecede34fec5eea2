"""Linkage secrets: encrypted at rest, subkeys by HKDF, public fingerprint, clear errors."""

import hashlib
import hmac
import json

import pytest
from click.testing import CliRunner

from harmonie.cli import _assemble
from privacy.keys import KeyFileError, LinkageKey, generate_key, load_key, save_key

FAST = 2**12  # scrypt cost for tests; real key files use 2^17
PASS = "a long enough passphrase"


def test_roundtrip_gives_the_same_secret(tmp_path):
    key = generate_key()
    save_key(key, tmp_path / "k.key", PASS, scrypt_n=FAST)
    loaded = load_key(tmp_path / "k.key", PASS)
    assert loaded.fingerprint == key.fingerprint
    assert loaded.subkey("p", "f", "token") == key.subkey("p", "f", "token")
    assert key._secret.hex() not in (tmp_path / "k.key").read_text()
    assert key._secret.hex() not in repr(key) and key.fingerprint in repr(key)


def test_wrong_passphrase_and_tampering_are_clear_errors(tmp_path):
    path = tmp_path / "k.key"
    save_key(generate_key(), path, PASS, scrypt_n=FAST)
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_key(path, PASS + "!")
    document = json.loads(path.read_text())
    for field, value in (("ciphertext", document["ciphertext"][:-4] + "AAA="), ("nonce", "AAAAAAAAAAAAAAAA")):
        (tmp_path / "t.key").write_text(json.dumps({**document, field: value}))
        with pytest.raises(KeyFileError, match="wrong passphrase, or the file was altered"):
            load_key(tmp_path / "t.key", PASS)
    bad_kdf = {**document, "kdf": {**document["kdf"], "n": 2**13}}  # header is authenticated too
    (tmp_path / "t.key").write_text(json.dumps(bad_kdf))
    with pytest.raises(KeyFileError):
        load_key(tmp_path / "t.key", PASS)
    for content, message in (("{not json", "not a readable"), (json.dumps({"format": "x"}), "not a Harmonie key"),
                             (json.dumps({**document, "version": 9}), "version"),
                             (json.dumps({k: v for k, v in document.items() if k != "kdf"}), "corrupted")):
        (tmp_path / "t.key").write_text(content)
        with pytest.raises(KeyFileError, match=message):
            load_key(tmp_path / "t.key", PASS)
    with pytest.raises(KeyFileError, match="not found"):
        load_key(tmp_path / "absent.key", PASS)


def test_short_passphrases_and_overwrites_are_refused(tmp_path):
    with pytest.raises(KeyFileError, match="at least 12"):
        save_key(generate_key(), tmp_path / "k.key", "short", scrypt_n=FAST)
    save_key(generate_key(), tmp_path / "k.key", PASS, scrypt_n=FAST)
    with pytest.raises(KeyFileError, match="never overwritten"):
        save_key(generate_key(), tmp_path / "k.key", PASS, scrypt_n=FAST)


def _rfc5869(secret: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """An independent HKDF-SHA-256 (RFC 5869) to check the library call against."""
    prk = hmac.new(salt, secret, hashlib.sha256).digest()
    out, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
    return out[:length]


def test_subkeys_are_hkdf_with_domain_separation():
    key = LinkageKey(bytes(range(32)))
    info = b"harmonie/v1" + b"".join(len(p).to_bytes(2, "big") + p for p in (b"subkey", b"proj", b"name", b"token"))
    assert key.subkey("proj", "name", "token") == _rfc5869(bytes(range(32)), b"harmonie/v1/hkdf-salt", info, 32)
    # known-answer vectors: any change to the derivation would silently break old encodings
    assert key.subkey("proj", "name", "token").hex() == \
        "b8ddfa114e902be31deb06431facbac9c3f71fa86a26da7ced66106ff5262274"
    assert key.fingerprint == "050e714b85eed3bbb1317f359b610fbf"
    derived = {key.subkey(p, f, u) for p in ("a", "b") for f in ("x", "y") for u in ("token", "bloom")}
    assert len(derived) == 8
    assert key.subkey("a|b", "c", "token") != key.subkey("a", "b|c", "token")
    assert generate_key().fingerprint != generate_key().fingerprint


def test_cli_reads_the_passphrase_from_the_environment_never_from_argv(tmp_path, monkeypatch):
    cli = _assemble()
    runner = CliRunner()
    assert "passphrase" not in " ".join(p.name or "" for p in cli.commands["keys"].commands["new"].params)
    monkeypatch.delenv("HARMONIE_KEY_PASSPHRASE", raising=False)
    result = runner.invoke(cli, ["keys", "new", "--out", str(tmp_path / "k.key")])
    assert result.exit_code == 2 and "HARMONIE_KEY_PASSPHRASE" in result.output
    monkeypatch.setenv("HARMONIE_KEY_PASSPHRASE", PASS)
    result = runner.invoke(cli, ["keys", "new", "--out", str(tmp_path / "k.key")])
    assert result.exit_code == 0, result.output
    printed = result.output.split("fingerprint ")[1].strip()
    again = runner.invoke(cli, ["keys", "fingerprint", str(tmp_path / "k.key")])
    assert again.output.strip() == printed
    monkeypatch.setenv("HARMONIE_KEY_PASSPHRASE", "another long passphrase")
    wrong = runner.invoke(cli, ["keys", "fingerprint", str(tmp_path / "k.key")])
    assert wrong.exit_code == 2 and wrong.output.startswith("error: cannot open") and wrong.output.count("\n") == 1


def test_a_scrypt_cost_that_is_not_a_power_of_two_is_a_clear_error(tmp_path):
    path = tmp_path / "k.key"
    save_key(generate_key(), path, PASS, scrypt_n=FAST)
    document = json.loads(path.read_text())
    (tmp_path / "t.key").write_text(json.dumps({**document, "kdf": {**document["kdf"], "n": 3000}}))
    with pytest.raises(KeyFileError, match="unsupported key-derivation"):
        load_key(tmp_path / "t.key", PASS)
