"""The release gate: policy, remediation, signed bundles and their verification."""
