"""The local runtime, below everything that starts processes: the local stack
(Apache Kafka or Tansu, InfluxDB, a schema registry) and its state directory,
free loopback ports, and the supervisor that runs fabtel's components as
processes. The shell, the lab, the demo and the benchmarks import it; it
imports only fabtel's core."""
