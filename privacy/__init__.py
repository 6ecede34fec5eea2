"""Keys, keyed encodings, re-identification risk, disclosure control, the release gate and the audit trail.

    key = generate_key(); save_key(key, "project.key", passphrase)    # holders only
    DisclosureRule(min_cell=11)                                       # what may leave the secure area

The release gate is :mod:`privacy.release` (``release``, ``assess``, ``verify_bundle``...).

Every keyed primitive comes from ``cryptography``/``hashlib``/``hmac``; nothing here
prints, logs or writes a secret or a plaintext identifier.
"""

from harmonie.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "LinkageKey": "privacy.keys", "generate_key": "privacy.keys", "save_key": "privacy.keys",
    "load_key": "privacy.keys",
    "write_risk_report": "privacy.risk.report",
    "DisclosureRule": "privacy.disclosure", "scan_folder": "privacy.disclosure",
    "run_attack": "privacy.audit.attack",
})
