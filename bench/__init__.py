"""Benchmark scripts, run by `fabtel bench NAME [--json]`. Each prints a
progress line on stderr and its figures (JSON with --json) on stdout. They
use the real local stack; none is a timed test."""
