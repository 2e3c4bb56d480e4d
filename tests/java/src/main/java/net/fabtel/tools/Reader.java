package net.fabtel.tools;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.MissingSchemaException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads fabtel topics with nothing of fabtel but its .avsc files: Kafka's Java
 * client, and Apache Avro's BinaryMessageDecoder for single-object encoded
 * values (Avro finds the schema by its fingerprint) or, for the Confluent wire
 * format, the schema the registry serves for the id. Prints one JSON line per
 * record: topic, partition, offset, the schema's name and the value.
 *
 * Usage: Reader BOOTSTRAP SCHEMA_DIR REGISTRY_URL|- TOPIC...
 */
public final class Reader {
    private Reader() {}

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        Path schemaDir = Path.of(args[1]);
        String registry = args[2].equals("-") ? null : args[2];
        List<BinaryMessageDecoder<GenericRecord>> decoders = new ArrayList<>();
        try (var files = Files.list(schemaDir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".avsc")).sorted().collect(Collectors.toList())) {
                Schema schema = new Schema.Parser().parse(f.toFile());
                decoders.add(new BinaryMessageDecoder<>(GenericData.get(), schema));
            }
        }
        Map<Integer, Schema> byId = new HashMap<>();
        HttpClient http = HttpClient.newHttpClient();
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("key.deserializer", ByteArrayDeserializer.class.getName());
        props.put("value.deserializer", ByteArrayDeserializer.class.getName());
        props.put("enable.auto.commit", "false");
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            for (int t = 3; t < args.length; t++) {
                String topic = args[t];
                List<TopicPartition> parts = new ArrayList<>();
                for (PartitionInfo p : consumer.partitionsFor(topic, Duration.ofSeconds(15))) {
                    parts.add(new TopicPartition(topic, p.partition()));
                }
                consumer.assign(parts);
                consumer.seekToBeginning(parts);
                Map<TopicPartition, Long> end = consumer.endOffsets(parts);
                long deadline = System.currentTimeMillis() + 60_000;
                while (parts.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
                    if (System.currentTimeMillis() > deadline) {
                        throw new IllegalStateException("timed out reading " + topic);
                    }
                    for (ConsumerRecord<byte[], byte[]> rec : consumer.poll(Duration.ofMillis(500))) {
                        GenericRecord value = decode(rec.value(), decoders, byId, http, registry);
                        System.out.println("{\"topic\":" + quote(rec.topic()) + ",\"partition\":" + rec.partition()
                                + ",\"offset\":" + rec.offset() + ",\"type\":" + quote(value.getSchema().getName())
                                + ",\"value\":" + json(value) + "}");
                    }
                }
            }
        }
    }

    static GenericRecord decode(byte[] value, List<BinaryMessageDecoder<GenericRecord>> decoders,
                                Map<Integer, Schema> byId, HttpClient http, String registry) throws Exception {
        if (value.length > 5 && value[0] == 0) {                        // Confluent wire format
            int id = ByteBuffer.wrap(value, 1, 4).getInt();
            Schema schema = byId.get(id);
            if (schema == null) {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(registry + "/schemas/ids/" + id))
                        .build(), HttpResponse.BodyHandlers.ofString());
                String body = r.body();
                if (r.statusCode() != 200) {
                    throw new IOException("registry: schema id " + id + ": " + r.statusCode() + " " + body);
                }
                // {"schema":"<escaped JSON>", ...}: Avro's own JSON parser reads the string back
                var node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(body);
                schema = new Schema.Parser().parse(node.get("schema").asText());
                byId.put(id, schema);
            }
            return new GenericDatumReader<GenericRecord>(schema).read(null,
                    DecoderFactory.get().binaryDecoder(value, 5, value.length - 5, null));
        }
        for (BinaryMessageDecoder<GenericRecord> d : decoders) {
            try {
                return d.decode(value);
            } catch (MissingSchemaException e) {
                // another schema's fingerprint: try the next decoder
            }
        }
        throw new IOException("no schema for this single-object encoded value");
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    /** Avro values as JSON: records as objects, bytes as hex, longs as they are (two's complement). */
    static String json(Object v) {
        if (v == null) {
            return "null";
        }
        if (v instanceof GenericRecord r) {
            List<String> parts = new ArrayList<>();
            for (Schema.Field f : r.getSchema().getFields()) {
                parts.add(quote(f.name()) + ":" + json(r.get(f.name())));
            }
            return "{" + String.join(",", parts) + "}";
        }
        if (v instanceof List<?> list) {
            return "[" + list.stream().map(Reader::json).collect(Collectors.joining(",")) + "]";
        }
        if (v instanceof ByteBuffer buf) {
            StringBuilder b = new StringBuilder("\"");
            ByteBuffer d = buf.duplicate();
            while (d.hasRemaining()) {
                b.append(String.format("%02x", d.get() & 0xff));
            }
            return b.append('"').toString();
        }
        if (v instanceof CharSequence s) {
            return quote(s.toString());
        }
        if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            return Double.isFinite(d) ? Double.toString(d) : quote(Double.toString(d));
        }
        return v.toString();
    }
}
