"""Device platforms, one module each: `srlinux` (Nokia SR Linux native),
`openconfig`, and the vendors that speak OpenConfig their own way: `eos`
(Arista), `junos` (Juniper) and `sonic`. A module owns everything fabtel knows about that kind of
device's gNMI tree (see `base.Platform`); adding a platform is adding a
module here and a line to PLATFORMS. May import: fabtel.platforms.*,
fabtel.gnmi_paths, fabtel.lacp.
"""
from __future__ import annotations

from fabtel.platforms import eos, junos, openconfig, sonic, srlinux
from fabtel.platforms.base import Platform

PLATFORMS: dict[str, Platform] = {p.name: p for p in (srlinux.PLATFORM, openconfig.PLATFORM, eos.PLATFORM,
                                                      junos.PLATFORM, sonic.PLATFORM)}


def platform(name: str) -> Platform:
    """The platform called `name` (the configuration checks the name first)."""
    return PLATFORMS[name]
