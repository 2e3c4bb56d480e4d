"""`fabtel collect bmp`: a BMP collector that routers connect to (FRR:
`bmp connect ADDR port PORT`). Each BMP message becomes a BmpMessage record
keyed by the router, produced to the bmp_messages topic.

Per session it remembers the router's name (sysName of the Initiation), its
BGP identifier (from the OPEN it sent, in Peer Up) and, per peer, what the
two OPENs of the Peer Up negotiated (add-path, 4-byte AS), which later
messages about that peer need to decode. An UPDATE with a malformed attribute
or NLRI is kept as RFC 7606 says (its announced routes withdrawn, or the
attribute ignored), with its `problems`, and counted. A message that does not
decode is counted by reason and dead-lettered, and the session goes on; only
a broken framing (wrong version, impossible length) ends the session, since
the stream cannot be resynchronised; the router reconnects by itself.
Messages decode in compiled code (fabtel.native) when it is built, else in
codec.py, its reference.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
import time

from fabtel import native
from fabtel.connectors.bmp.codec import (COMMON_HEADER, BmpError, Message, Negotiated, compiled_decoder, decode,
                                         frame_length)
from fabtel.config import Config
from fabtel.kafka import RecordProducer, dead_letter
from fabtel.metrics import Metrics
from fabtel.records import BmpMessage, BmpRoute

log = logging.getLogger("fabtel.bmp")


def collector_metrics() -> Metrics:
    m = Metrics("bmp")
    m.declare("sessions", "Routers connected now.", kind="gauge")
    m.declare("sessions_total", "BMP sessions accepted.")
    m.declare("messages_total", "BMP messages decoded, by type.", ("type",),
              zero_for=[(t,) for t in ("route_monitoring", "route_mirroring", "peer_up", "peer_down", "statistics",
                                       "initiation", "termination")])
    m.declare("malformed_total", "BMP messages that did not decode (dead-lettered), by reason.", ("reason",))
    m.declare("framing_errors_total", "Sessions ended because their framing broke.")
    m.declare("attribute_problems_total", "Malformed attributes and NLRI of UPDATEs kept as RFC 7606 says (routes "
              "withdrawn, or the attribute ignored), by attribute and fault.", ("reason",))
    m.declare("routes_total", "Routes decoded, by family and action.", ("family", "action"))
    return m


class Session:
    """One router's BMP session: what it said about itself, and record building."""

    def __init__(self, address: str):
        self.address = address
        self.router = address
        self.bgp_id: str | None = None
        self.peers: dict[tuple, Negotiated] = {}       # PeerHeader.key -> its session's negotiated capabilities

    def remember(self, msg: Message) -> None:
        """Keep a peer's negotiated capabilities from its Peer Up; forget them at its Peer Down."""
        if msg.type == "peer_up":
            self.peers[msg.peer.key] = Negotiated.of(msg.open_sent, msg.open_received)
        elif msg.type == "peer_down":
            self.peers.pop(msg.peer.key, None)

    def record(self, msg: Message, receive_ts_ns: int) -> BmpMessage:
        if msg.type == "initiation" and msg.info.get("sysName"):
            self.router = msg.info["sysName"]
        peer, bgp = msg.peer, msg.bgp
        rec = BmpMessage(router=self.router, router_address=self.address, type=msg.type,
                         ts_ns=peer.ts_ns if peer and peer.ts_ns else receive_ts_ns, receive_ts_ns=receive_ts_ns,
                         size=bgp.size if bgp else msg.length, router_bgp_id=self.bgp_id,
                         peer_down_reason=msg.peer_down_reason,
                         info=",".join(f"{k}={v}" for k, v in msg.info.items()) or None)
        if peer:
            rec.peer_address, rec.peer_as, rec.peer_bgp_id, rec.post_policy = (
                peer.address, peer.asn, peer.bgp_id, peer.post_policy)
        if bgp:
            rec.bgp_type, rec.announced, rec.withdrawn, rec.as_path, rec.next_hop = (
                bgp.type, bgp.announced, bgp.withdrawn, bgp.as_path, bgp.next_hop)
            rec.routes = [BmpRoute(**vars(r)) for r in bgp.routes]      # asdict (deep copies): half the collector's time
            rec.end_of_rib, rec.problems = bgp.end_of_rib, bgp.problems
        return rec

    def learn_own_id(self, raw: bytes) -> None:
        """A Peer Up's sent OPEN (right after the 42-byte per-peer header and 20 bytes of
        addresses and ports) carries this router's BGP identifier."""
        start = COMMON_HEADER + 42 + 20
        if len(raw) >= start + 29:
            self.bgp_id = str(ipaddress.IPv4Address(raw[start + 24:start + 28]))


class BmpCollector:
    def __init__(self, cfg: Config, producer: RecordProducer | None = None):
        self.cfg = cfg
        self.producer = producer or RecordProducer(cfg.kafka)
        self.metrics = collector_metrics()
        compiled = compiled_decoder()
        self.decode = compiled.decode if compiled is not None else decode
        native.say_once("bmp collector")

    def handle(self, session: Session, raw: bytes) -> None:
        now = time.time_ns()
        try:
            msg = self.decode(raw, session.peers)
        except BmpError as exc:
            self.metrics.inc("malformed_total", exc.reason)
            log.debug("bmp: %s from %s: %s", exc.reason, session.router, exc)
            self.producer.send(dead_letter("bmp-collector", f"malformed BMP message: {exc}", raw,
                                                           f"tcp:{session.address}"))
            return
        if msg.type == "peer_up":
            session.learn_own_id(raw)
        session.remember(msg)
        self.metrics.inc("messages_total", msg.type)
        if msg.bgp is not None:
            for problem in msg.bgp.problems:
                self.metrics.inc("attribute_problems_total", problem.split(" (")[0])
            for r in msg.bgp.routes:
                self.metrics.inc("routes_total", r.family, r.action)
        self.producer.send(session.record(msg, now))

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = writer.get_extra_info("peername")[0]
        session = Session(address)
        self.metrics.inc("sessions_total")
        self.metrics.inc("sessions", by=1)
        log.info("bmp: session from %s", address)
        try:
            while True:
                header = await reader.readexactly(COMMON_HEADER)
                length = frame_length(header, self.cfg.bmp.max_message_bytes)
                raw = header + await reader.readexactly(length - COMMON_HEADER)
                self.handle(session, raw)
                self.producer.poll(0)
        except asyncio.IncompleteReadError:
            log.info("bmp: %s (%s) closed its session", session.router, address)
        except BmpError as exc:
            self.metrics.inc("framing_errors_total")
            self.metrics.inc("malformed_total", exc.reason)
            log.warning("bmp: ending the session of %s (%s): %s; it will reconnect", session.router, address, exc)
            self.producer.send(dead_letter("bmp-collector", f"broken BMP framing: {exc}", header,
                                                           f"tcp:{address}"))
        except (ConnectionError, OSError) as exc:
            log.info("bmp: session of %s (%s) lost: %s", session.router, address, exc)
        finally:
            self.metrics.inc("sessions", by=-1)
            writer.close()

    def run(self, listen: str, stop: threading.Event, ready: threading.Event | None = None) -> None:
        asyncio.run(self._serve(listen, stop, ready))

    async def _serve(self, listen: str, stop: threading.Event, ready: threading.Event | None) -> None:
        host, _, port = listen.rpartition(":")
        server = await asyncio.start_server(self._session, host.strip("[]"), int(port))
        log.info("bmp collector: listening on %s", listen)
        if ready:
            ready.set()
        async with server:
            while not stop.is_set():
                await asyncio.sleep(0.1)
                self.producer.poll(0)
        server.close()
        pending = self.producer.flush(10)
        log.info("bmp collector stopped (%d records still undelivered)", pending)


def run_collector(cfg: Config, listen: str, metrics_listen: str | None) -> int:
    from fabtel.stats import run_until_stopped
    return run_until_stopped(cfg, metrics_listen, BmpCollector(cfg), listen)


