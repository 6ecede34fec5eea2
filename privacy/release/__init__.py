"""The release gate: policy, remediation, signed bundles and their verification.

    risk, checks = assess(train, replica, control, load_policy(None)[0], seed=0)   # measure only
    manifest = release("replica/", "train/", "control/", "bundle/",
                       signing_key=load_signing_key("team.key", passphrase))       # or ReleaseRefused
    verify_bundle("bundle/", "team.key.pub")
"""

from harmonie.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "assess": "privacy.release.gate", "release": "privacy.release.gate", "ReleaseRefused": "privacy.release.gate",
    "load_policy": "privacy.release.policy", "verify_bundle": "privacy.release.bundle",
    "new_signing_key": "privacy.release.signing", "load_signing_key": "privacy.release.signing",
})
