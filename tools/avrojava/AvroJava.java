// AvroJava runs Avro's reference implementation (Avro Java) on Veil's schemas and
// records, so that tests can compare Veil's wire format with it. It is launched in
// source-file mode against the jars scripts/avrojava resolves:
//
//   java -cp "$(scripts/avrojava classpath)" tools/avrojava/AvroJava.java COMMAND ARGS
//
// Commands (one result per line on stdout; a failure of the whole command exits 1):
//
//   fingerprint FILE...
//       For each schema file: FILE, a tab, the 16 hex digits of
//       SchemaNormalization.parsingFingerprint64, a tab, and
//       SchemaNormalization.toParsingForm; or FILE, a tab and "error: " and the
//       exception when Avro Java refuses the schema.
//   encode
//       Reads lines of a schema file, a tab and a record in Avro's JSON encoding
//       from stdin, and writes each record as a single-object encoded message
//       (BinaryMessageEncoder), in hex, one per line.
//   decode
//       Reads lines of a schema file, a tab and a single-object encoded message in
//       hex from stdin, and decodes each with BinaryMessageDecoder for that schema.
//       Writes the record in Avro's JSON encoding, or "error: " and the exception
//       when the decoder refuses the message (an unknown fingerprint, a malformed
//       body), one per line.
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.io.JsonEncoder;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;

public class AvroJava {
  public static void main(String[] args) throws Exception {
    if (args.length < 1 || (args[0].equals("fingerprint") && args.length < 2)) {
      usage();
    }
    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    switch (args[0]) {
      case "fingerprint" -> {
        for (int i = 1; i < args.length; i++) {
          Schema s;
          try {
            s = new Schema.Parser().parse(new File(args[i]));
          } catch (Exception e) {
            out.println(args[i] + "\terror: " + e.toString().replace('\n', ' '));
            continue;
          }
          long fp = SchemaNormalization.parsingFingerprint64(s);
          out.println(args[i] + "\t" + String.format("%016x", fp) + "\t" + SchemaNormalization.toParsingForm(s));
        }
      }
      case "encode" -> {
        for (String[] in : lines()) {
          Schema s = schema(in[0]);
          GenericRecord rec = new GenericDatumReader<GenericRecord>(s).read(null, DecoderFactory.get().jsonDecoder(s, in[1]));
          ByteBuffer msg = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), s).encode(rec);
          byte[] b = new byte[msg.remaining()];
          msg.get(b);
          out.println(HexFormat.of().formatHex(b));
        }
      }
      case "decode" -> {
        for (String[] in : lines()) {
          Schema s = schema(in[0]);
          GenericRecord rec;
          try {
            rec = new BinaryMessageDecoder<GenericRecord>(GenericData.get(), s).decode(HexFormat.of().parseHex(in[1]));
          } catch (Exception e) {
            out.println("error: " + e.toString().replace('\n', ' '));
            continue;
          }
          ByteArrayOutputStream buf = new ByteArrayOutputStream();
          JsonEncoder json = EncoderFactory.get().jsonEncoder(s, buf);
          new GenericDatumWriter<GenericRecord>(s).write(rec, json);
          json.flush();
          out.println(buf.toString(StandardCharsets.UTF_8));
        }
      }
      default -> usage();
    }
    out.flush();
  }

  static final Map<String, Schema> schemas = new HashMap<>();

  // schema parses a schema file once; each file with a parser of its own, since
  // versions of a kind may share names.
  static Schema schema(String file) throws Exception {
    Schema s = schemas.get(file);
    if (s == null) {
      s = new Schema.Parser().parse(new File(file));
      schemas.put(file, s);
    }
    return s;
  }

  // lines reads stdin as lines of SCHEMA, a tab, and a payload.
  static List<String[]> lines() throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    List<String[]> out = new ArrayList<>();
    for (String line : in.lines().filter(l -> !l.isBlank()).toList()) {
      String[] parts = line.split("\t", 2);
      if (parts.length != 2) {
        throw new IllegalArgumentException("input line without a tab: " + line);
      }
      out.add(parts);
    }
    return out;
  }

  static void usage() {
    System.err.println("usage: AvroJava fingerprint FILE... | encode | decode");
    System.exit(2);
  }
}
