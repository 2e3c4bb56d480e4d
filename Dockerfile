# fabtel: one image for every component; the Kubernetes manifests choose the
# subcommand (collect sflow, collect gnmi, process, sink influx, remediate).
FROM python:3.11-slim-bookworm AS build
# A C compiler for fabtel._avro_flat (the fast Avro reader); only in this stage.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY fabtel fabtel
COPY pipeline pipeline
COPY connectors connectors
COPY schemas schemas
COPY lab lab
COPY bench bench
RUN pip install --no-cache-dir --prefix=/install ".[registry]"

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 FABTEL_CONFIG=/etc/fabtel/fabric.yaml
COPY --from=build /install /usr/local
RUN groupadd --system --gid 10001 fabtel \
 && useradd --system --uid 10001 --gid fabtel --home-dir /var/lib/fabtel --create-home fabtel
USER 10001:10001
WORKDIR /var/lib/fabtel
# 6343/udp sFlow; 9100 /metrics and /healthz (only when --metrics-listen says so)
EXPOSE 6343/udp 9100
ENTRYPOINT ["fabtel"]
CMD ["--help"]
