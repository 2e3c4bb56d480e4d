package net.fabtel.tools;

import java.io.File;
import java.util.ArrayList;
import java.util.List;

import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;
import org.apache.avro.SchemaCompatibility.SchemaPairCompatibility;

/**
 * Avro FULL compatibility (Apache Avro's SchemaCompatibility): each schema in
 * NEW_DIR against the file of the same name in OLD_DIR, both ways (new readers
 * read old data: backward; old readers read new data: forward). One line per
 * schema; exit 1 when any is incompatible. A schema new in NEW_DIR is "added".
 *
 * Usage: Compat OLD_DIR NEW_DIR
 */
public final class Compat {
    private Compat() {}

    public static void main(String[] args) throws Exception {
        File oldDir = new File(args[0]);
        File newDir = new File(args[1]);
        File[] files = newDir.listFiles((d, n) -> n.endsWith(".avsc"));
        java.util.Arrays.sort(files);
        List<String> failures = new ArrayList<>();
        for (File f : files) {
            File old = new File(oldDir, f.getName());
            if (!old.exists()) {
                System.out.println(f.getName() + ": added");
                continue;
            }
            Schema writerOld = new Schema.Parser().parse(old);
            Schema writerNew = new Schema.Parser().parse(f);
            SchemaPairCompatibility backward = SchemaCompatibility.checkReaderWriterCompatibility(writerNew, writerOld);
            SchemaPairCompatibility forward = SchemaCompatibility.checkReaderWriterCompatibility(writerOld, writerNew);
            boolean ok = backward.getType() == SchemaCompatibilityType.COMPATIBLE
                    && forward.getType() == SchemaCompatibilityType.COMPATIBLE;
            if (ok) {
                System.out.println(f.getName() + ": FULL compatible");
            } else {
                String why = (backward.getType() != SchemaCompatibilityType.COMPATIBLE
                        ? "new readers cannot read old data: " + backward.getResult().getIncompatibilities() : "")
                        + (forward.getType() != SchemaCompatibilityType.COMPATIBLE
                        ? " old readers cannot read new data: " + forward.getResult().getIncompatibilities() : "");
                System.out.println(f.getName() + ": INCOMPATIBLE " + why.trim());
                failures.add(f.getName());
            }
        }
        for (File old : oldDir.listFiles((d, n) -> n.endsWith(".avsc"))) {
            if (!new File(newDir, old.getName()).exists()) {
                System.out.println(old.getName() + ": INCOMPATIBLE removed (a released schema must stay)");
                failures.add(old.getName());
            }
        }
        System.exit(failures.isEmpty() ? 0 : 1);
    }
}
