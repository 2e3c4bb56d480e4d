"""`fabtel collect sflow`: the UDP receive loop. Each datagram is decoded,
its agent mapped to a device (an unknown agent is kept under its address),
its sequence tracked, and each sample produced to Kafka as one Avro
`SflowSample` keyed by device. The pipeline's sFlow normalizer turns them
into interface counters and LAG member state (connectors/sflow/normalize.py),
which keeps this hot loop to one record per sample. Flow samples also feed
the flow estimates (connectors/sflow/flows.py): one FlowWindow record per
interface and window (sflow.flow_samples: both, raw or aggregate). The
windows name their interfaces by each device's ifIndex map, which a thread
follows on the compacted interface_index topic (the gNMI collectors write it);
a number no map names is kept as "ifIndexN" and counted.

Memory is bounded: the producer's local queue has a fixed size and a full
queue drops the datagram and counts it, as the network would.

The per-datagram work runs compiled (fabtel.native: the datagram to its
samples' Avro values and the flow windows' per-sample work in one call) when
the extension is there; the Python codec and aggregator are the reference
and run otherwise (FABTEL_NATIVE=off), with the same records.
"""
from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import KafkaException

from fabtel import native
from fabtel.config import Config
from fabtel.connectors.sflow.agents import AgentTracker
from fabtel.connectors.sflow.codec import SFlowDecodeError, decode_datagram, drop_reason
from fabtel.connectors.sflow.flows import FlowAggregator, HandedOver, window_record
from fabtel.connectors.sflow.normalize import MAP_WAIT_NS, Inventory
from fabtel.connectors.sflow.receiver import DropWatch, Receiver, open_socket, run_workers
from fabtel.kafka import KafkaUnavailable, RecordProducer, dead_letter, read_topic
from fabtel.metrics import Metrics
from fabtel.partitioning import DomainPartitioner
from fabtel.records import InterfaceIndexes
from fabtel.serde import RegistryUnavailable

log = logging.getLogger("fabtel.sflow")

REJECT_REASONS = ["truncated header", "wrong version", "bad agent address type", "sample count does not fit",
                  "truncated sample header", "sample length past the end", "truncated sample", "record count does not fit",
                  "truncated record header", "record length past the sample", "record length disagrees with format",
                  "sample length disagrees with its records", "bad address type", "AS path too long"]
# Kept and counted: the rest of the datagram was good.
PARTIAL_REASONS = ["trailing bytes after the samples"]


def collector_metrics(agents: list[str] = ()) -> Metrics:
    """The collector's metrics; per-agent series start at 0 for the inventory's agents."""
    zero = [(a,) for a in agents]
    m = Metrics("sflow")
    m.declare("datagrams_total", "Datagrams received.")
    m.declare("samples_total", "Samples decoded, by type.", ("type",), zero_for=[("counters",), ("flow",)])
    m.declare("rejected_total", "Datagrams rejected, by reason.", ("reason",), zero_for=[(r,) for r in REJECT_REASONS])
    m.declare("skipped_total", "Samples or records of unknown enterprise:format, skipped by length.", ("what",))
    m.declare("partial_total", "Datagrams decoded in part (the good part kept), by reason.", ("reason",),
              zero_for=[(r,) for r in PARTIAL_REASONS])
    m.declare("discards_total", "Flow samples of discarded packets (output format 1), by device, input interface "
              "and drop code.", ("device", "interface", "reason"))
    m.declare("lost_datagrams_total", "Datagrams missing from an agent's sequence.", ("agent",), zero_for=zero)
    m.declare("agent_restarts_total", "Agent restarts seen (sequence or uptime going backwards).", ("agent",),
              zero_for=zero)
    m.declare("dropped_total", "Records dropped because the Kafka queue was full.", ("reason",), zero_for=[("kafka_queue_full",)])
    m.declare("unknown_agents_total", "Datagrams from agents not in the inventory.", ("agent",))
    m.declare("flow_windows_total", "Flow estimate windows produced.")
    m.declare("undersampled_windows_total", "Flow windows whose agent dropped or lost samples.")
    m.declare("unresolved_ifindex_total", "Interface numbers no ifIndex map names (kept as ifIndexN), by device "
              "and reason.", ("device", "reason"))
    m.declare("interface_index_maps", "Devices whose ifIndex map the collector holds.", kind="gauge")
    m.declare("kernel_drops_total", "Datagrams the kernel dropped because the socket's receive buffer was full "
              "(/proc/net/udp).")
    return m


class SflowCollector:
    DEAD_LETTERS_PER_S = 10

    def __init__(self, cfg: Config, producer: RecordProducer | None = None, metrics: Metrics | None = None,
                 reuse_port: bool = False):
        self.cfg = cfg
        self.reuse_port = reuse_port              # one of several receivers on the port (--workers)
        self.inventory = Inventory(cfg.fabric, cfg.sflow.lacp_bit_order)
        self.producer = producer or RecordProducer(
            cfg.kafka, partitioner=DomainPartitioner(cfg),
            **{"queue.buffering.max.messages": cfg.sflow.queue_limit * 10, "linger.ms": 20})
        self.metrics = metrics or collector_metrics([d.sflow_agent for d in cfg.fabric.devices if d.sflow_agent])
        self.tracker = AgentTracker()
        self._dl_window = (0, 0)      # (second, dead letters sent in it)
        s = cfg.sflow
        self.raw_flows, self.aggregate = s.flow_samples in ("raw", "both"), s.flow_samples in ("aggregate", "both")
        self.flows = FlowAggregator(s.flow_window_ms, s.flow_table_size, s.top_flows, self.interface)
        self.topic = cfg.kafka.topic("sflow_samples")
        self.held: list[tuple] = []          # closed windows: (key, window, start, end), some waiting for a map
        self.native = None                   # the compiled decoder, built at the first datagram (fabtel.native)
        native.say_once("sflow collector")

    def _native_decoder(self):
        """The compiled decoder, once the sample's Avro header is known (with a
        registry: once the registry answers; meanwhile the Python path)."""
        if self.native is None and native.available():
            try:
                header = self.producer.codec.header_for("SflowSample", self.topic)
            except RegistryUnavailable:
                return None
            s = self.cfg.sflow
            self.native = native.module().SflowDecoder(header, dict(self.inventory.device_of_agent), s.flow_window_ms,
                                                       s.flow_table_size, self.aggregate, self.raw_flows)
        return self.native

    def interface(self, device: str, ifindex: int) -> str:
        """The name the device's map gives `ifindex`, or the number kept as one (counted)."""
        name, why = self.inventory.resolve(device, ifindex)
        if why is not None:
            self.metrics.inc("unresolved_ifindex_total", device, why)
        return name or f"ifIndex{ifindex}"

    def follow_indexes(self, stop: threading.Event) -> None:
        """Learn each device's ifIndex map from the interface_index topic, from
        its start (compacted: the latest map of each device), then as maps
        change; read again from the start after a broker outage."""
        topic = self.cfg.kafka.topic("interface_index")
        while not stop.is_set():
            try:
                for read in read_topic(self.cfg.kafka, topic, "beginning", follow=True, stop=stop):
                    if isinstance(read.record, InterfaceIndexes):
                        self.inventory.learn(read.record)
                        self.metrics.set("interface_index_maps", value=len(self.inventory.learned))
            except (KafkaUnavailable, KafkaException) as exc:      # a broker outage or a slow one: never give up
                log.warning("sflow collector: cannot read %s (%s); trying again in 2 s", topic, exc)
                stop.wait(2)

    def handle(self, data: bytes, receive_ts_ns: int) -> int:
        """Decode one datagram, produce its records and the flow windows that
        ended; return the records sent."""
        sent = self.take(data, receive_ts_ns) + self.send_windows(receive_ts_ns)
        self.producer.poll(0)
        return sent

    def take(self, data: bytes, receive_ts_ns: int) -> int:
        """Decode one datagram and produce its samples; return samples sent."""
        m = self.metrics
        m.inc("datagrams_total")
        decoder = self._native_decoder()
        if decoder is not None:
            return self._take_native(decoder, data, receive_ts_ns)
        try:
            dg = decode_datagram(data, receive_ts_ns)
        except SFlowDecodeError as exc:
            m.inc("rejected_total", exc.reason)
            self._dead_letter(data, str(exc))
            return 0
        device = self.inventory.device(dg.agent)
        self._datagram_seen(dg.agent, device, dg.sub_agent_id, dg.sequence, dg.uptime_ms, dg.skipped, dg.leftover)
        sent = 0
        for sample in dg.samples:
            sample.device = device
            m.inc("samples_total", sample.sample_type)
            if sample.sample_type == "flow":
                if sample.output_format == 1:
                    m.inc("discards_total", device or dg.agent,
                          self.interface(device or dg.agent, sample.input), drop_reason(sample.output))
                if self.aggregate:
                    self.flows.add_sample(device or dg.agent, sample, receive_ts_ns)
                if not self.raw_flows:
                    continue
            if self.producer.try_send(sample):
                sent += 1
            else:
                m.inc("dropped_total", "kafka_queue_full")
        return sent

    def _take_native(self, decoder, data: bytes, receive_ts_ns: int) -> int:
        """take(), compiled: the same metrics, records and drops."""
        m = self.metrics
        try:
            agent, device, sub, seq, uptime, skipped, leftover, values, counters, flows, discards = \
                decoder.handle(data, receive_ts_ns)
        except native.module().DecodeError as exc:
            reason, offset, fmt, detail = exc.args
            error = SFlowDecodeError(reason, offset, fmt, detail)
            m.inc("rejected_total", error.reason)
            self._dead_letter(data, str(error))
            return 0
        self._datagram_seen(agent, device, sub, seq, uptime, skipped, leftover)
        if counters:
            m.inc("samples_total", "counters", by=counters)
        if flows:
            m.inc("samples_total", "flow", by=flows)
        name = device or agent
        for inp, code in discards:
            m.inc("discards_total", name, self.interface(name, inp), drop_reason(code))
        sent = 0
        if values:
            key = name.encode()
            partition = self.producer.device_partition(self.topic, device)
            sent = self.producer.try_produce_batch(self.topic, key, values, partition)
            if sent < len(values):
                m.inc("dropped_total", "kafka_queue_full", by=len(values) - sent)
        return sent

    def _datagram_seen(self, agent: str, device: str | None, sub: int, seq: int, uptime: int, skipped, leftover) -> None:
        """What a decoded datagram's header says, counted: skipped parts, trailing
        bytes, its agent's sequence (losses, restarts), an agent outside the inventory."""
        for what in skipped:
            self.metrics.inc("skipped_total", what)
        if leftover:
            self.metrics.inc("partial_total", "trailing bytes after the samples")
        event = self.tracker.observe(agent, sub, seq, uptime)
        if event.lost:
            self.metrics.inc("lost_datagrams_total", agent, by=event.lost)
        if event.restarted:
            self.metrics.inc("agent_restarts_total", agent)
            log.info("sflow agent %s restarted (sequence %d, uptime %d ms)", agent, seq, uptime)
        if device is None:
            self.metrics.inc("unknown_agents_total", agent)

    def _windows(self, now_ns: int, every: bool) -> list:
        """The flow windows that ended (every one at shutdown), from whichever
        aggregator ran, as records. A window of a device whose ifIndex map is
        still to come waits for it (at most MAP_WAIT_NS), as the worker's
        samples do: a slow first gNMI sync names its first windows all the same."""
        s, window_ns = self.cfg.sflow, self.cfg.sflow.flow_window_ms * 1_000_000
        self.held += self.flows.closed(now_ns, every)
        if self.native is not None:
            self.held += [(w.key, w, w.start, w.start + window_ns)
                          for w in map(HandedOver, self.native.take_windows(now_ns, s.top_flows))]
            if every:
                self.held += [(w.key, w, w.start, max(now_ns, w.start + 1))
                              for w in map(HandedOver, self.native.take_windows(now_ns, s.top_flows, True))]
        out, waiting = [], []
        for key, w, start, end in self.held:
            if not every and self.inventory.awaits(key[0]) and now_ns - end < MAP_WAIT_NS:
                waiting.append((key, w, start, end))
            else:
                out.append(window_record(key, w, start, end, self.interface, s.flow_table_size, s.top_flows))
        self.held = waiting
        return out

    def send_windows(self, now_ns: int, every: bool = False) -> int:
        """Produce the flow windows that ended (all of them at shutdown)."""
        sent = 0
        for rec in self._windows(now_ns, every):
            self.metrics.inc("flow_windows_total")
            if rec.undersampled:
                self.metrics.inc("undersampled_windows_total")
            if self.producer.try_send(rec):
                sent += 1
            else:
                self.metrics.inc("dropped_total", "kafka_queue_full")
        return sent

    def _dead_letter(self, data: bytes, reason: str) -> None:
        second = int(time.monotonic())
        window, count = self._dl_window
        if window != second:
            window, count = second, 0
        if count < self.DEAD_LETTERS_PER_S:
            self.producer.try_send(dead_letter("sflow-collector", reason, data, "udp"))
            log.warning("sflow datagram rejected: %s", reason)
        self._dl_window = (window, count + 1)

    def run(self, listen: str, stop: threading.Event | None = None, ready: threading.Event | None = None) -> None:
        sock = open_socket(listen, self.cfg.sflow.receive_buffer_bytes, self.reuse_port)
        receiver = Receiver(sock)
        stop = stop or threading.Event()
        self.bound = sock.getsockname()
        log.info("sflow collector listening on %s:%d, producing to %s", self.bound[0], self.bound[1],
                 self.cfg.kafka.bootstrap_servers)
        threading.Thread(target=self.follow_indexes, args=(stop,), name="sflow-ifindex", daemon=True).start()
        drops, next_check = DropWatch(self.metrics), 0.0
        if ready:
            ready.set()
        try:
            while not stop.is_set():
                burst = receiver.burst(0.2)
                now = time.time_ns()
                for data in burst:
                    self.take(data, now)
                self.send_windows(now)
                self.producer.poll(0)
                if time.monotonic() >= next_check:
                    drops.check(sock)
                    next_check = time.monotonic() + 1
        finally:
            sock.close()
            self.send_windows(time.time_ns(), every=True)
            pending = self.producer.flush(10)
            log.info("sflow collector stopped (%d records still undelivered)", pending)


def run_collector(cfg: Config, listen: str, metrics_listen: str | None, workers: int = 1) -> int:
    """`fabtel collect sflow`: one collector, or `workers` of them on one port."""
    from fabtel.stats import run_until_stopped
    if workers <= 1:
        return run_until_stopped(cfg, metrics_listen, SflowCollector(cfg), listen)
    from fabtel.signals import stop_on_signals

    def work(i: int, report) -> None:
        collector = SflowCollector(cfg, reuse_port=True)
        report(collector.metrics)
        run_until_stopped(cfg, None, collector, listen)

    agents = [d.sflow_agent for d in cfg.fabric.devices if d.sflow_agent]
    return run_workers(workers, work, collector_metrics(agents), metrics_listen, stop_on_signals("sflow"))
