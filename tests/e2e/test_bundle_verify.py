"""Release-bundle verification: every file at any depth is listed, nothing is added, and who signed is pinned.

Red-team findings of issue #18: files named like the three top-level bundle files but hidden in a
subfolder, added files and empty folders, symlinks, and a bundle re-signed with an attacker's key.
Bundles are built with :func:`write_bundle` on small dummy folders (no release gate: fast).
"""

import hashlib
import json
import os
import shutil

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harmonie.cli import app
from harmonie.errors import HarmonieError
from privacy.release.bundle import verify_bundle, write_bundle
from privacy.release.signing import fingerprint, public_pem, sign

SIGNER = Ed25519PrivateKey.generate()
ATTACKER = Ed25519PrivateKey.generate()


def _sources(tmp_path):
    src = tmp_path / "src"
    for folder, files in {"synthetic": {"patients.parquet": b"PAR1 synthetic patients PAR1",
                                        "stays.parquet": b"PAR1 synthetic stays PAR1"},
                          "utility": {"utility.json": b'{"verdict": "good"}'},
                          "risk": {"risk.json": b'{"passed": true}', "risk.html": b"<html></html>"}}.items():
        (src / folder).mkdir(parents=True)
        for name, data in files.items():
            (src / folder / name).write_bytes(data)
    return src


@pytest.fixture()
def bundle(tmp_path):
    src = _sources(tmp_path)
    (tmp_path / "signer.pub").write_bytes(public_pem(SIGNER))
    return write_bundle(tmp_path / "bundle", contents={n: src / n for n in ("synthetic", "utility", "risk")},
                        policy_text="[risk]\n", manifest={"verdict": "released"}, signing_key=SIGNER)


@pytest.fixture()
def pinned(tmp_path, bundle):
    return tmp_path / "signer.pub"


def _copy(bundle, tmp_path):
    copy = tmp_path / f"copy{len(list(tmp_path.glob('copy*')))}"
    shutil.copytree(bundle, copy, symlinks=True)
    return copy


def _refused(bundle, pub) -> str:
    with pytest.raises(HarmonieError) as err:
        verify_bundle(bundle, pub)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_an_intact_bundle_verifies_pinned_and_unpinned(bundle, pinned):
    manifest = verify_bundle(bundle, pinned)
    assert set(manifest["files"]) == {"synthetic/patients.parquet", "synthetic/stays.parquet", "utility/utility.json",
                                      "risk/risk.json", "risk/risk.html", "policy.toml"}
    assert verify_bundle(bundle)["signer_fingerprint"] == fingerprint(public_pem(SIGNER))


@pytest.mark.parametrize("hidden", ["risk/signer.pub", "risk/manifest.json", "synthetic/manifest.sig",
                                    "synthetic/manifest.json", "utility/deeper/signer.pub"])
def test_files_named_like_the_bundle_files_in_a_subfolder_are_detected(bundle, pinned, tmp_path, hidden):
    copy = _copy(bundle, tmp_path)
    (copy / hidden).parent.mkdir(parents=True, exist_ok=True)
    (copy / hidden).write_bytes(b"nir;nom;date_naissance\n1850775123456;DUPONT;1985-07-01\n")  # "real rows"
    message = _refused(copy, pinned)
    assert "does not list" in message and hidden in message
    assert "DUPONT" not in message and "1850775123456" not in message  # never quote data


def test_added_top_level_and_nested_files_are_detected(bundle, pinned, tmp_path):
    for name in ("extra.csv", "synthetic/extra.csv", ".hidden", "risk/.DS_Store"):
        copy = _copy(bundle, tmp_path)
        (copy / name).write_text("x")
        assert "does not list" in _refused(copy, pinned)


@pytest.mark.parametrize("folder", ["empty", "synthetic/empty", "risk/a/b/c", "manifest.d"])
def test_an_added_empty_folder_is_detected(bundle, pinned, tmp_path, folder):
    copy = _copy(bundle, tmp_path)
    (copy / folder).mkdir(parents=True)
    message = _refused(copy, pinned)
    assert "folders the manifest does not account for" in message and folder.split("/")[-1] in message


def test_a_listed_folder_emptied_is_detected(bundle, pinned, tmp_path):
    copy = _copy(bundle, tmp_path)
    (copy / "utility" / "utility.json").unlink()
    assert "missing from the bundle" in _refused(copy, pinned)


def test_symlinks_are_refused(bundle, pinned, tmp_path):
    copy = _copy(bundle, tmp_path)
    (copy / "synthetic" / "link.parquet").symlink_to(copy / "synthetic" / "patients.parquet")
    assert "symlink" in _refused(copy, pinned)
    copy = _copy(bundle, tmp_path)  # a listed file replaced by a symlink to identical bytes
    target = tmp_path / "outside.parquet"
    shutil.copy(copy / "synthetic" / "patients.parquet", target)
    (copy / "synthetic" / "patients.parquet").unlink()
    (copy / "synthetic" / "patients.parquet").symlink_to(target)
    assert "symlink" in _refused(copy, pinned)
    copy = _copy(bundle, tmp_path)  # a symlinked folder
    (copy / "linked").symlink_to(copy / "risk", target_is_directory=True)
    assert "symlink" in _refused(copy, pinned)
    copy = _copy(bundle, tmp_path)  # a top-level bundle file as a symlink
    (copy / "signer.pub").unlink()
    (copy / "signer.pub").symlink_to(pinned)
    assert "not a regular file" in _refused(copy, pinned)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_in_a_bundle_is_refused_without_blocking(bundle, pinned, tmp_path):
    copy = _copy(bundle, tmp_path)
    os.mkfifo(copy / "risk" / "pipe")
    assert "not a regular file" in _refused(copy, pinned)


def test_file_names_cannot_break_the_one_line_error(bundle, pinned, tmp_path):
    copy = _copy(bundle, tmp_path)
    (copy / "risk" / "x\nbundle verified: all good").write_text("x")
    message = _refused(copy, pinned)
    assert "does not list" in message and "\\n" in message


def _forge(bundle, tmp_path, key=ATTACKER, *, claimed_signer=None):
    """Replace the replica's patients, rewrite the listing and re-sign with ``key``: what an attacker can do."""
    forged = _copy(bundle, tmp_path)
    (forged / "synthetic" / "patients.parquet").write_bytes(b"PAR1 real patients, not synthetic PAR1")
    manifest = json.loads((forged / "manifest.json").read_text())
    manifest["files"]["synthetic/patients.parquet"] = hashlib.sha256(
        (forged / "synthetic" / "patients.parquet").read_bytes()).hexdigest()
    manifest["signer_fingerprint"] = claimed_signer or fingerprint(public_pem(key))
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    (forged / "manifest.json").write_text(text)
    (forged / "manifest.sig").write_text(sign(key, text.encode()))
    (forged / "signer.pub").write_bytes(public_pem(key))
    return forged


def test_a_forged_re_signed_bundle_is_caught_only_by_pinning(bundle, pinned, tmp_path):
    forged = _forge(bundle, tmp_path)
    assert verify_bundle(forged)["signer_fingerprint"] == fingerprint(public_pem(ATTACKER))  # integrity holds
    assert "not by the pinned key" in _refused(forged, pinned)
    with pytest.raises(HarmonieError, match="authenticity NOT checked"):
        verify_bundle(forged, strict=True)
    with pytest.raises(HarmonieError, match="names another signer"):  # the manifest still claims the real signer
        verify_bundle(_forge(bundle, tmp_path, claimed_signer=fingerprint(public_pem(SIGNER))))


def test_cli_warns_loudly_without_a_pinned_key_and_fails_under_strict(bundle, pinned, tmp_path):
    cli, runner = app(), CliRunner()
    forged = _forge(bundle, tmp_path)
    unpinned = runner.invoke(cli, ["--quiet", "release", "verify", str(forged)])
    assert unpinned.exit_code == 0
    assert "authenticity NOT checked" in unpinned.stderr and "--public-key" in unpinned.stderr
    assert "NOT pinned" in unpinned.stdout
    strict = runner.invoke(cli, ["--quiet", "release", "verify", str(forged), "--strict"])
    assert strict.exit_code != 0 and strict.stdout == ""
    assert strict.stderr.startswith("error: authenticity NOT checked") and strict.stderr.count("\n") == 1
    caught = runner.invoke(cli, ["--quiet", "release", "verify", str(forged), "--public-key", str(pinned)])
    assert caught.exit_code == 2 and "not by the pinned key" in caught.stderr and caught.stderr.count("\n") == 1
    good = runner.invoke(cli, ["--quiet", "release", "verify", str(bundle), "--public-key", str(pinned), "--strict"])
    assert good.exit_code == 0 and good.stderr == "" and "6 files intact" in good.stdout
    hidden = _copy(bundle, tmp_path)
    (hidden / "risk" / "signer.pub").write_text("hidden rows")
    result = runner.invoke(cli, ["--quiet", "release", "verify", str(hidden), "--public-key", str(pinned)])
    assert result.exit_code == 2 and "risk/signer.pub" in result.stderr and "Traceback" not in result.output


def test_a_validly_signed_but_malformed_manifest_is_a_one_line_error(bundle, tmp_path):
    for text in (b"\xff\xfe not utf-8", b"[1, 2]", b'{"format": "harmonie-release-bundle/1", "files": [1]}',
                 b"[" * 100_000, b'{"format": "other/9"}'):
        forged = _copy(bundle, tmp_path)
        (forged / "manifest.json").write_bytes(text)
        (forged / "manifest.sig").write_text(sign(ATTACKER, text))
        (forged / "signer.pub").write_bytes(public_pem(ATTACKER))
        with pytest.raises(HarmonieError) as err:
            verify_bundle(forged)
        assert "\n" not in str(err.value)


def test_hostile_top_level_files_are_one_line_errors(bundle, pinned, tmp_path):
    for name, content in (("signer.pub", b"not a key"), ("signer.pub", b"x" * (1 << 20)),
                          ("manifest.sig", b"x" * 5000), ("manifest.sig", b"!!!")):
        copy = _copy(bundle, tmp_path)
        (copy / name).write_bytes(content)
        for pub in (None, pinned):
            with pytest.raises(HarmonieError) as err:
                verify_bundle(copy, pub)
            assert "\n" not in str(err.value)
    copy = _copy(bundle, tmp_path)
    (copy / "manifest.sig").unlink()
    assert "manifest.sig is missing" in _refused(copy, pinned)


def test_written_bundles_list_nested_files_whatever_their_name_and_drop_empty_folders(tmp_path):
    src = _sources(tmp_path)
    (src / "risk" / "signer.pub").write_text("a report that happens to have this name")
    (src / "risk" / "empty" / "nested").mkdir(parents=True)
    out = write_bundle(tmp_path / "b", contents={"risk": src / "risk"}, policy_text="", manifest={},
                       signing_key=SIGNER)
    (tmp_path / "signer.pub").write_bytes(public_pem(SIGNER))
    manifest = verify_bundle(out, tmp_path / "signer.pub", strict=True)
    assert "risk/signer.pub" in manifest["files"] and not (out / "risk" / "empty").exists()
    (out / "risk" / "signer.pub").write_text("changed")
    assert "risk/signer.pub does not match" in _refused(out, tmp_path / "signer.pub")


def test_a_pinned_key_with_other_line_endings_is_the_same_key(bundle, tmp_path):
    (tmp_path / "crlf.pub").write_bytes(public_pem(SIGNER).replace(b"\n", b"\r\n"))
    assert verify_bundle(bundle, tmp_path / "crlf.pub", strict=True)["verdict"] == "released"
