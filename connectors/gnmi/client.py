"""The one gNMI client: a device's channel, credentials and TLS resolved in
one place, the encoding agreed from the device's Capabilities, and the
Capabilities, Get, Set and Subscribe calls the collector and the executor
make. Raw gRPC with pygnmi's compiled stubs (not pygnmi's client: it sends a
Python string in a Set as raw bytes, which devices reject as invalid JSON,
pygnmi #169).

Values are sent as JSON text in the agreed encoding's field (`json_ietf_val`
or `json_val`): a string is quoted, a boolean is `true`/`false`.
May import: connectors.gnmi.normalize, fabtel.config, fabtel.platforms, fabtel.gnmi_paths, grpc,
pygnmi's stubs.
"""
from __future__ import annotations

import json
import logging
import ssl
import threading

import grpc
from pygnmi.spec.v080 import gnmi_pb2, gnmi_pb2_grpc

from fabtel.connectors.gnmi.normalize import value_of
from fabtel import gnmi_paths as gp
from fabtel.config import Device, resolve_secret
from fabtel.platforms import platform

# What fabtel asks for, best first: JSON_IETF is the RFC 7951 encoding every
# platform fabtel knows offers; PROTO (typed values) needs no JSON parsing.
PREFERRED = ("JSON_IETF", "JSON", "PROTO")
CHANNEL_OPTIONS = [("grpc.keepalive_time_ms", 10_000), ("grpc.keepalive_timeout_ms", 5_000),
                   ("grpc.max_receive_message_length", 64 << 20)]


log = logging.getLogger("fabtel.gnmi")
_warned_clear: set[str] = set()          # devices whose plaintext credentials were said, once per process
_warned_lock = threading.Lock()


def warn_credentials_in_clear(device: Device, has_credentials: bool) -> bool:
    """One WARNING per device and process when its gNMI runs without TLS
    (`insecure: true`) and a password is sent; True when it was said now."""
    if device.gnmi is None or not device.gnmi.insecure or not has_credentials:
        return False
    with _warned_lock:
        if device.name in _warned_clear:
            return False
        _warned_clear.add(device.name)
    log.warning("gnmi %s: insecure: true, so its username and password cross the network to %s in clear "
                "(give tls_ca for TLS)", device.name, device.gnmi.address)
    return True


class GnmiError(Exception):
    """A gNMI call failed; `code` is the gRPC status name when there is one."""

    def __init__(self, message: str, code: str | None = None):
        self.code = code
        super().__init__(message)


def describe(exc: grpc.RpcError) -> str:
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    return f"{code.name if code else 'ERROR'}: {details}"


class GnmiClient:
    """One device's gNMI session. Credentials are read when the client is
    built (SecretError if they cannot be) and sent as call metadata."""

    def __init__(self, device: Device, timeout_s: float = 5.0):
        if device.gnmi is None:
            raise ValueError(f"{device.name} has no gNMI target in the inventory")
        self.device, self.target, self.timeout_s = device, device.gnmi, timeout_s
        self.capabilities_seen: gnmi_pb2.CapabilityResponse | None = None     # what the device said it serves
        self.address = self.target.address
        self.platform = platform(device.platform)
        user = self.target.username if isinstance(self.target.username, str) else resolve_secret(self.target.username)
        password = resolve_secret(self.target.password)
        self.metadata = [("username", user), ("password", password)] if user and password else []
        warn_credentials_in_clear(device, bool(self.metadata))
        self._channel: grpc.Channel | None = None
        self.encoding: int | None = None            # agreed with the device (gnmi_pb2 Encoding)
        self._get_unimplemented = False

    # ------------------------------------------------------------ channel

    def channel(self) -> grpc.Channel:
        if self._channel is None:
            self._channel = self._open()
        return self._channel

    def _open(self) -> grpc.Channel:
        t = self.target
        if t.insecure:
            return grpc.insecure_channel(self.address, options=CHANNEL_OPTIONS)
        options = list(CHANNEL_OPTIONS)
        root = _read(t.tls_ca)
        if t.skip_verify and root is None:
            # Trust the certificate the device presents (a self-signed one),
            # by the name it carries: pygnmi's and gnmic's --skip-verify.
            host, _, port = self.address.rpartition(":")
            root = ssl.get_server_certificate((host.strip("[]"), int(port)), timeout=self.timeout_s).encode()
            name = _certificate_name(root)
            if name:
                options.append(("grpc.ssl_target_name_override", name))
        creds = grpc.ssl_channel_credentials(root_certificates=root, private_key=_read(t.tls_key),
                                             certificate_chain=_read(t.tls_cert))
        return grpc.secure_channel(self.address, creds, options=options)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        self._channel = None
        self.encoding = None

    @property
    def stub(self) -> gnmi_pb2_grpc.gNMIStub:
        return gnmi_pb2_grpc.gNMIStub(self.channel())

    # ------------------------------------------------------------ RPCs

    def capabilities(self) -> gnmi_pb2.CapabilityResponse:
        return self.stub.Capabilities(gnmi_pb2.CapabilityRequest(), metadata=self.metadata, timeout=self.timeout_s)

    def agree_encoding(self) -> int:
        """The first of PREFERRED that the device offers (Capabilities);
        JSON_IETF when the device does not answer Capabilities."""
        if self.encoding is None:
            try:
                self.capabilities_seen = self.capabilities()
                offered = set(self.capabilities_seen.supported_encodings)
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                    raise
                offered = {gnmi_pb2.JSON_IETF}
            # the platform's order (Junos: PROTO, its JSON_IETF streams can come back empty), then ours
            wanted = [gnmi_pb2.Encoding.Value(e) for e in (*self.platform.encodings, *PREFERRED)]
            self.encoding = next((e for e in wanted if e in offered), gnmi_pb2.JSON_IETF)
        return self.encoding

    def path(self, text: str) -> gnmi_pb2.Path:
        """A path of this device's platform, with the origin its text names
        ("sonic-db:/APPL_DB/...": SONiC's native tables), else the platform's."""
        return gp.to_proto(gp.parse(text), gnmi_pb2, gp.origin_of(text) or self.platform.origin)

    @property
    def prefix(self) -> gnmi_pb2.Path | None:
        return gnmi_pb2.Path(target=self.target.target) if self.target.target else None

    def get(self, path: str) -> object:
        """The value of one leaf, decoded. A device without the Get RPC (the
        OpenConfig reference device answers UNIMPLEMENTED) is read with a
        ONCE subscription instead, as gnmic does."""
        if not self._get_unimplemented:
            req = gnmi_pb2.GetRequest(prefix=self.prefix, path=[self.path(path)], encoding=self.agree_encoding(),
                                      type=gnmi_pb2.GetRequest.ALL)
            try:
                reply = self.stub.Get(req, metadata=self.metadata, timeout=self.timeout_s)
                notifications = list(reply.notification)
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                    raise
                self._get_unimplemented = True
        if self._get_unimplemented:
            once = self.subscription([(path, "on_change")], 0, mode=gnmi_pb2.SubscriptionList.ONCE)
            notifications = [r.update for r in self.stub.Subscribe(iter([once]), metadata=self.metadata,
                                                                   timeout=self.timeout_s) if r.HasField("update")]
        for notification in notifications:
            for update in notification.update:
                return value_of(update.val)
        raise GnmiError(f"{self.device.name} returned no value at {path}", "NOT_FOUND")

    def set_update(self, path: str, json_text: str) -> None:
        """Set one leaf to the value given as JSON text (an update)."""
        json.loads(json_text)            # never send what is not JSON
        req = gnmi_pb2.SetRequest(prefix=self.prefix, update=[gnmi_pb2.Update(
            path=self.path(path), val=typed_json(json_text, self.agree_encoding()))])
        self.stub.Set(req, metadata=self.metadata, timeout=self.timeout_s)

    def subscribe(self, requests):
        """A Subscribe call over `requests` (an iterator of SubscribeRequest),
        yielding each SubscribeResponse as its bytes: the collector reads them
        without a message object per update (normalize.DeviceNormalizer.read)."""
        call = self.channel().stream_stream("/gnmi.gNMI/Subscribe",
                                            request_serializer=gnmi_pb2.SubscribeRequest.SerializeToString,
                                            response_deserializer=None)
        return call(requests, metadata=self.metadata)

    def subscription(self, paths, sample_interval_ns: int, mode=gnmi_pb2.SubscriptionList.STREAM,
                     updates_only: bool = False) -> gnmi_pb2.SubscribeRequest:
        """A SubscribeRequest for [(path, 'on_change' | 'sample')] in the agreed encoding."""
        subs = []
        for path, how in paths:
            proto = self.path(path)
            if how == "sample":
                subs.append(gnmi_pb2.Subscription(path=proto, mode=gnmi_pb2.SAMPLE, sample_interval=sample_interval_ns))
            else:
                subs.append(gnmi_pb2.Subscription(path=proto, mode=gnmi_pb2.ON_CHANGE))
        return gnmi_pb2.SubscribeRequest(subscribe=gnmi_pb2.SubscriptionList(
            prefix=self.prefix, subscription=subs, mode=mode, encoding=self.agree_encoding(), updates_only=updates_only))


def typed_json(json_text: str, encoding: int) -> gnmi_pb2.TypedValue:
    """JSON text in the field of the agreed encoding (JSON_IETF unless the
    device only speaks JSON)."""
    if encoding == gnmi_pb2.JSON:
        return gnmi_pb2.TypedValue(json_val=json_text.encode())
    return gnmi_pb2.TypedValue(json_ietf_val=json_text.encode())


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


def _certificate_name(pem: bytes) -> str | None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    cert = x509.load_pem_x509_certificate(pem)
    try:
        dns = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        if dns:
            return dns[0]
    except x509.ExtensionNotFound:
        pass
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return cn[0].value if cn else None
