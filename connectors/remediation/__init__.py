"""Remediation: the executor that applies commands over gNMI (pygnmi), per device, once."""
