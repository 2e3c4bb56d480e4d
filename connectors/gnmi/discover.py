"""`fabtel discover`'s I/O: ask each device of the seed what it is and
what it has, with the one gNMI client. Capabilities name its platform
(fabtel.discovery.platform_of) and encodings; one Subscribe ONCE over the
platform's subscribed and discovery paths reads everything at once (a
Get would do on most devices, but Junos answers Get for configuration only,
and ONCE is what every gNMI device serves). Each update is classified by
the platform, as the collector does, into the device's facts.

May import: the standard library, fabtel.config, fabtel.discovery, fabtel.gnmi_paths, fabtel.platforms,
fabtel.connectors.gnmi.client, fabtel.connectors.gnmi.normalize, grpc, pygnmi.
"""
from __future__ import annotations

import logging

import grpc
from pygnmi.spec.v080 import gnmi_pb2

from fabtel import gnmi_paths as gp
from fabtel.config import Device, GnmiTarget
from fabtel.connectors.gnmi.client import GnmiClient, describe
from fabtel.connectors.gnmi.normalize import value_of
from fabtel.discovery import DeviceFacts, platform_of
from fabtel.platforms import platform

log = logging.getLogger("fabtel.discover")


class DiscoveryError(Exception):
    """A device that could not be read, with the reason."""


def discover_device(target: GnmiTarget, platform_name: str | None = None, timeout_s: float = 20.0) -> DeviceFacts:
    probe = GnmiClient(Device(target.address, "leaf", "openconfig", target), timeout_s=timeout_s)
    try:
        caps = probe.capabilities()
    except grpc.RpcError as exc:
        raise DiscoveryError(f"{target.address}: Capabilities failed: {describe(exc)}") from None
    finally:
        probe.close()
    name = platform_name or platform_of([m.name for m in caps.supported_models])
    client = GnmiClient(Device(target.address, "leaf", name, target), timeout_s=timeout_s)
    plat = platform(name)
    paths = [(p, "on_change") for p, _ in plat.subscriptions] + [(p, "on_change") for p in plat.discovery]
    facts = DeviceFacts(target.address, name)
    req = client.subscription(paths, 0, mode=gnmi_pb2.SubscriptionList.ONCE)
    for sub in req.subscribe.subscription:
        sub.mode = gnmi_pb2.TARGET_DEFINED
    try:
        for resp in client.stub.Subscribe(iter([req]), metadata=client.metadata, timeout=timeout_s):
            if resp.sync_response:
                break
            for upd in resp.update.update:
                leaf = plat.classify(gp.from_proto(resp.update.prefix, upd.path), value_of(upd.val))
                if leaf is not None:
                    facts.add(leaf)
    except grpc.RpcError as exc:
        raise DiscoveryError(f"{target.address} ({name}): Subscribe ONCE failed: {describe(exc)}") from None
    finally:
        client.close()
    log.info("discover %s: %s %s, %d interfaces, %d LLDP neighbours", target.address, name, facts.name,
             len(facts.interfaces), len(facts.lldp))
    return facts
