"""The InfluxDB sink: `lineproto` (records -> line protocol, pure), `writer`
(HTTP writes through the v1 or v2 API, bisecting a rejected batch to find
the bad points) and `sink` (the Kafka consumer loop that commits offsets only
after InfluxDB accepted the points). May import: fabtel, influxdb-client."""
