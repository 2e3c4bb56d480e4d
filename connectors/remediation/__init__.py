"""Remediation: the executor that applies commands over gNMI (fabtel's gNMI client), per device, once."""
