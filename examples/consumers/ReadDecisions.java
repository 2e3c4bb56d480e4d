// Reads fabtel's oper-group decisions with Apache Kafka's Java client and
// Apache Avro only: the values are Avro single-object encoded, so Avro's
// BinaryMessageDecoder finds the schema by its fingerprint. Delivery is
// at-least-once: a decision seen twice has the same decision_id.
// Usage: java ReadDecisions BOOTSTRAP TOPIC oper_group_decision.avsc
import java.io.File;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

public class ReadDecisions {
    public static void main(String[] args) throws Exception {
        Schema schema = new Schema.Parser().parse(new File(args[2]));
        BinaryMessageDecoder<GenericRecord> decoder = new BinaryMessageDecoder<>(GenericData.get(), schema);
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("group.id", "decisions-reader-" + System.nanoTime());
        props.put("auto.offset.reset", "earliest");
        props.put("key.deserializer", StringDeserializer.class.getName());
        props.put("value.deserializer", ByteArrayDeserializer.class.getName());
        Set<String> seen = new HashSet<>();
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(props)) {
            consumer.subscribe(List.of(args[1]));
            long quietSince = System.currentTimeMillis();
            while (System.currentTimeMillis() - quietSince < 5000) {
                for (ConsumerRecord<String, byte[]> rec : consumer.poll(Duration.ofMillis(500))) {
                    quietSince = System.currentTimeMillis();
                    GenericRecord d = decoder.decode(rec.value());
                    if (seen.add(d.get("decision_id").toString())) {      // a replay: same id, skip
                        List<?> links = (List<?>) d.get("down_links");
                        System.out.println(d.get("decision_id") + " " + rec.key() + " " + d.get("action") + " "
                                + String.join(",", links.stream().map(Object::toString).toList())
                                + " suppressed=" + d.get("suppressed"));
                    }
                }
            }
        }
    }
}
