"""Linkage secrets: encrypted at rest, subkeys by HKDF, public fingerprint, clear errors."""

import hashlib
import hmac
import json

import pytest
from click.testing import CliRunner

from harmonie.cli import app
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
    cli = app()
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


# --- red-team findings (issue #18): file mode, concurrent creation, weak passphrases, hostile key files ---

import os  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import privacy.keys as keys_module  # noqa: E402
from harmonie.errors import HarmonieError  # noqa: E402
from privacy.keys import PASSPHRASE_RULE, check_passphrase  # noqa: E402
from privacy.release.signing import load_signing_key, new_signing_key  # noqa: E402


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _record_creations(monkeypatch) -> list:
    """Every os.open that creates a file, as (path, flags, mode); and os.chmod is forbidden."""
    created, real_open = [], os.open

    def recording_open(path, flags, mode=0o777, *args, **kwargs):
        if flags & os.O_CREAT:
            created.append((str(path), flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    def no_chmod(*args, **kwargs):
        raise AssertionError("a key file must be created with its mode, never chmod-ed afterwards")

    monkeypatch.setattr(os, "open", recording_open)
    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    return created


def test_key_files_are_created_0600_from_the_first_byte(tmp_path, monkeypatch):
    created = _record_creations(monkeypatch)
    old_umask = os.umask(0)  # a permissive umask must not make the file readable by others
    try:
        save_key(generate_key(), tmp_path / "k.key", PASS, scrypt_n=FAST)
        pub, _ = new_signing_key(tmp_path / "signer", PASS)
    finally:
        os.umask(old_umask)
    assert _mode(tmp_path / "k.key") == 0o600
    assert _mode(tmp_path / "signer") == 0o600
    assert _mode(pub) == 0o644  # the public key is meant to be handed out
    secret_creations = [c for c in created if not c[0].endswith(".pub") and ".pub." not in c[0]]
    assert secret_creations and all(flags & os.O_EXCL and mode == 0o600 for _, flags, mode in secret_creations)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.key", "signer", "signer.pub"]  # no temp file left


def _race(monkeypatch, create, n: int = 2) -> list:
    """Run ``create(i)`` in ``n`` threads that all reach os.link at the same moment; return results or errors."""
    barrier, real_link, waited = threading.Barrier(n, timeout=10), os.link, threading.local()

    def synchronised_link(*args, **kwargs):
        if not getattr(waited, "done", False):  # each thread's first link (the secret file) waits for the others
            waited.done = True
            barrier.wait()  # everyone passed the "does it exist?" check: only link decides now
        return real_link(*args, **kwargs)

    monkeypatch.setattr(os, "link", synchronised_link)
    results: list = [None] * n

    def run(i):
        try:
            results[i] = create(i)
        except HarmonieError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_two_concurrent_key_creations_exactly_one_wins_and_its_key_survives(tmp_path, monkeypatch):
    candidates = [generate_key(), generate_key()]
    results = _race(monkeypatch, lambda i: save_key(candidates[i], tmp_path / "k.key", PASS, scrypt_n=FAST))
    winners = [i for i, r in enumerate(results) if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1 and len(losers) == 1
    assert "already exists" in str(losers[0])
    assert load_key(tmp_path / "k.key", PASS).fingerprint == candidates[winners[0]].fingerprint
    assert [p.name for p in tmp_path.iterdir()] == ["k.key"]


def test_two_concurrent_signing_keygens_exactly_one_wins(tmp_path, monkeypatch):
    results = _race(monkeypatch, lambda i: new_signing_key(tmp_path / "signer", PASS))
    winners = [r for r in results if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1 and len(losers) == 1 and "already exists" in str(losers[0])
    from privacy.release.signing import fingerprint, public_pem

    assert fingerprint(public_pem(load_signing_key(tmp_path / "signer", PASS))) == winners[0][1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signer", "signer.pub"]


def test_two_concurrent_keys_new_processes_exactly_one_reports_created(tmp_path):
    env = {**os.environ, "HARMONIE_KEY_PASSPHRASE": PASS}
    command = [sys.executable, "-m", "harmonie", "--quiet", "keys", "new", "--out", str(tmp_path / "k.key")]
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outcomes = [(p.wait(120), *p.communicate()) for p in processes]
    succeeded = [out for code, out, _ in outcomes if code == 0]
    failed = [err for code, _, err in outcomes if code != 0]
    assert len(succeeded) == 1 and len(failed) == 1, outcomes
    assert "already exists" in failed[0] and failed[0].count("\n") == 1 and "Traceback" not in failed[0]
    reported = succeeded[0].split("fingerprint ")[1].strip()
    assert load_key(tmp_path / "k.key", PASS).fingerprint == reported
    assert _mode(tmp_path / "k.key") == 0o600


WEAK = [" " * 12, "\t \n" * 5, "aaaaaaaaaaaaaaaa", "abcabcabcabc", "abcdefghabcdefgh", "aabbccddeeff",
        "short", "Ab1!Ab1!Ab1!Ab1!", " \u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008 "]


@pytest.mark.parametrize("weak", WEAK)
def test_weak_passphrases_are_refused_with_the_rule_and_never_quoted(tmp_path, weak):
    for create in (lambda: save_key(generate_key(), tmp_path / "k.key", weak, scrypt_n=FAST),
                   lambda: new_signing_key(tmp_path / "signer", weak)):
        with pytest.raises(HarmonieError, match="too weak") as err:
            create()
        assert PASSPHRASE_RULE in str(err.value) and "\n" not in str(err.value)
        if weak.strip():  # (the rule's own example aside, the message never quotes the passphrase)
            assert weak not in str(err.value).replace(PASSPHRASE_RULE, "")
    assert list(tmp_path.iterdir()) == []


def test_the_passphrase_rule_accepts_ordinary_passphrases():
    for good in (PASS, "correct horse battery staple", "Tr0ub4dor&3xyz", "release signing passphrase for tests"):
        check_passphrase(good)


def test_cli_states_the_passphrase_rule_in_help_and_error(tmp_path, monkeypatch):
    cli, runner = app(), CliRunner()
    rule = " ".join(PASSPHRASE_RULE.split())
    for path in (["keys", "new"], ["release", "keygen"]):
        help_text = runner.invoke(cli, [*path, "--help"]).output
        assert rule.replace("at least 12 characters,", "") in " ".join(help_text.split()), path
    monkeypatch.setenv("HARMONIE_KEY_PASSPHRASE", " " * 12)
    monkeypatch.setenv("HARMONIE_SIGNING_PASSPHRASE", " " * 12)
    for args in (["keys", "new", "--out", str(tmp_path / "k.key")],
                 ["release", "keygen", "--out", str(tmp_path / "s")]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2 and result.output.startswith("error: the passphrase is too weak")
        assert result.output.count("\n") == 1 and PASSPHRASE_RULE in result.output
    assert list(tmp_path.iterdir()) == []


def _document(tmp_path) -> dict:
    save_key(generate_key(), tmp_path / "good.key", PASS, scrypt_n=FAST)
    return json.loads((tmp_path / "good.key").read_text())


@pytest.mark.parametrize("kdf_change", [{"n": 2**22}, {"n": 2**21}, {"n": 2**40}, {"n": 2**9}, {"n": True},
                                        {"n": float(2**12)}, {"n": "4096"}, {"r": 16}, {"r": 8.0}, {"p": 2},
                                        {"p": 0}, {"r": 2**30}, {"name": "pbkdf2"}])
def test_out_of_range_scrypt_parameters_are_refused_before_deriving(tmp_path, monkeypatch, kdf_change):
    document = _document(tmp_path)

    def no_scrypt(*args, **kwargs):
        raise AssertionError("scrypt must not run for a refused key file")

    monkeypatch.setattr(keys_module, "Scrypt", no_scrypt)
    (tmp_path / "t.key").write_text(json.dumps({**document, "kdf": {**document["kdf"], **kdf_change}}))
    started = time.perf_counter()
    with pytest.raises(KeyFileError, match="unsupported key-derivation parameters") as err:
        load_key(tmp_path / "t.key", PASS)
    assert time.perf_counter() - started < 1.0
    assert str(tmp_path / "t.key") in str(err.value) and "\n" not in str(err.value)


def test_scrypt_cost_of_2_22_is_a_one_line_cli_error_not_a_memory_error(tmp_path, monkeypatch):
    document = _document(tmp_path)
    (tmp_path / "t.key").write_text(json.dumps({**document, "kdf": {**document["kdf"], "n": 2**22}}))
    monkeypatch.setenv("HARMONIE_KEY_PASSPHRASE", PASS)
    started = time.perf_counter()
    result = CliRunner().invoke(app(), ["keys", "fingerprint", str(tmp_path / "t.key")])
    assert time.perf_counter() - started < 5.0
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "unsupported key-derivation parameters" in result.output and not isinstance(result.exception, MemoryError)


def test_save_key_refuses_an_unsafe_scrypt_cost(tmp_path):
    for n in (2**22, 2**9, 3000):
        with pytest.raises(KeyFileError, match="power of two"):
            save_key(generate_key(), tmp_path / "k.key", PASS, scrypt_n=n)
    assert not (tmp_path / "k.key").exists()


def _malformed(document: dict) -> list:
    drop = lambda name: {k: v for k, v in document.items() if k != name}  # noqa: E731
    return [
        ("list", b"[1, 2, 3]"), ("string", b'"harmonie-linkage-key"'), ("null", b"null"),
        ("invalid utf-8", b'{"format": "\xff\xfe"}'), ("binary", bytes(range(256))),
        ("deep nesting", b"[" * 200_000), ("huge number", b'{"version": 1' + b"0" * 5000 + b"}"),
        ("no nonce", json.dumps(drop("nonce")).encode()), ("no ciphertext", json.dumps(drop("ciphertext")).encode()),
        ("kdf is a list", json.dumps({**document, "kdf": [1]}).encode()),
        ("kdf without salt", json.dumps({**document, "kdf": {k: v for k, v in document["kdf"].items()
                                                            if k != "salt"}}).encode()),
        ("salt is a number", json.dumps({**document, "kdf": {**document["kdf"], "salt": 123}}).encode()),
        ("invalid base64", json.dumps({**document, "nonce": "!!!not base64!!!"}).encode()),
        ("non-ascii base64", json.dumps({**document, "ciphertext": "é" * 64}).encode()),
        ("short nonce", json.dumps({**document, "nonce": "AAAA"}).encode()),
        ("ciphertext a dict", json.dumps({**document, "ciphertext": {"a": 1}}).encode()),
        ("version a string", json.dumps({**document, "version": "1"}).encode()),
        ("version a float", json.dumps({**document, "version": 1.0}).encode()),
        ("other cipher", json.dumps({**document, "cipher": "ChaCha20"}).encode()),
        ("too large", b" " * (keys_module.MAX_KEY_FILE_BYTES + 1) + json.dumps(document).encode()),
    ]


def test_malformed_key_files_are_one_line_errors_naming_the_file(tmp_path, monkeypatch):
    document = _document(tmp_path)
    cli, runner = app(), CliRunner()
    monkeypatch.setenv("HARMONIE_KEY_PASSPHRASE", PASS)
    for label, content in _malformed(document):
        path = tmp_path / "t.key"
        path.write_bytes(content)
        with pytest.raises(KeyFileError) as err:
            load_key(path, PASS)
        assert str(path) in str(err.value) and "\n" not in str(err.value), label
        result = runner.invoke(cli, ["keys", "fingerprint", str(path)])
        assert result.exit_code == 2 and result.output.startswith("error: "), (label, result.output)
        assert result.output.count("\n") == 1 and "Traceback" not in result.output, label
    (tmp_path / "folder.key").mkdir()
    with pytest.raises(KeyFileError, match="folder.key"):
        load_key(tmp_path / "folder.key", PASS)
    if hasattr(os, "mkfifo"):  # a FIFO must not block the reader
        os.mkfifo(tmp_path / "fifo.key")
        with pytest.raises(KeyFileError, match="not a regular file"):
            load_key(tmp_path / "fifo.key", PASS)


def test_a_passphrase_that_is_not_utf8_is_a_clear_error(tmp_path):
    save_key(generate_key(), tmp_path / "k.key", PASS, scrypt_n=FAST)
    with pytest.raises(KeyFileError, match="UTF-8"):
        load_key(tmp_path / "k.key", "bad \udcff surrogate passphrase")
    with pytest.raises(KeyFileError, match="UTF-8"):
        save_key(generate_key(), tmp_path / "k2.key", "bad \udcff surrogate passphrase", scrypt_n=FAST)


def test_malformed_signing_key_files_are_one_line_errors(tmp_path):
    for content in (b"", b"not a pem", bytes(range(256)), b"x" * (2**20),
                    b"-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----\n"):
        (tmp_path / "s").write_bytes(content)
        with pytest.raises(HarmonieError) as err:
            load_signing_key(tmp_path / "s", PASS)
        assert str(tmp_path / "s") in str(err.value) and "\n" not in str(err.value)
    new_signing_key(tmp_path / "good", PASS)
    with pytest.raises(HarmonieError, match="wrong passphrase"):
        load_signing_key(tmp_path / "good", PASS + "!")
    with pytest.raises(HarmonieError, match="never overwritten"):
        new_signing_key(tmp_path / "good", PASS)
    Path(tmp_path / "good").unlink()
    with pytest.raises(HarmonieError, match="never overwritten"):  # the stale .pub alone also blocks
        new_signing_key(tmp_path / "good", PASS)
