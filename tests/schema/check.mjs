// Judges every timeline fixture with ajv (draft 2020-12, strict mode, all errors): an
// independent validator for the JSON Schema the server publishes and checks documents against.
//   node check.mjs [SCHEMA.json | -]    (default: ../../clients/typescript/project.schema.json;
//                                        `-` reads the schema from stdin)
// Fixtures (../fixtures/timeline): every `valid/*.json` is a document; every `invalid/*.json` is
// `{description, document, expect, schema: "reject" | "accept", limits?}`.
// Prints one JSON line per fixture, `{"fixture", "expected", "verdict", "pointers", "errors"}`:
// `expected` is what the schema must say ("accept" for valid fixtures, the fixture's `schema`
// otherwise), `verdict` what ajv said, `pointers` where ajv found errors, as the server points
// (a missing or unknown field at the field, not at its object). Exits 1 if any verdict differs,
// 2 on a setup error.
// crates/studio-core/tests/timeline_corpus.rs runs it with the server's live schema on stdin.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, "../fixtures/timeline");
const schemaArg = process.argv[2] ?? join(here, "../../clients/typescript/project.schema.json");

let validate;
try {
  const schema = JSON.parse(readFileSync(schemaArg === "-" ? 0 : schemaArg, "utf8"));
  // strict: unknown keywords, formats or ambiguous types in the schema are errors, not silently
  // ignored (a schema ajv only half understands would prove nothing). The schema has no
  // `format` keywords, so ajv-formats is not needed.
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  validate = ajv.compile(schema);
} catch (err) {
  console.error(`check.mjs: cannot compile the schema ${schemaArg}: ${err.message}`);
  process.exit(2);
}

const cases = [];
for (const group of ["valid", "invalid"]) {
  const files = readdirSync(join(fixtures, group))
    .filter((name) => name.endsWith(".json"))
    .sort();
  for (const name of files) {
    const fixture = JSON.parse(readFileSync(join(fixtures, group, name), "utf8"));
    if (group === "valid") {
      cases.push({ fixture: `valid/${name}`, expected: "accept", document: fixture });
    } else {
      if (fixture.schema !== "accept" && fixture.schema !== "reject") {
        console.error(`check.mjs: invalid/${name}: "schema" must be "accept" or "reject"`);
        process.exit(2);
      }
      cases.push({ fixture: `invalid/${name}`, expected: fixture.schema, document: fixture.document });
    }
  }
}

/** RFC 6901: `~` → `~0`, `/` → `~1`. */
function escape(segment) {
  return String(segment).replaceAll("~", "~0").replaceAll("/", "~1");
}

/** Where the server points for an ajv error: ajv reports missing and unknown fields at their
 * object, the server at the field itself. */
function pointerOf(error) {
  const field = error.params?.missingProperty ?? error.params?.additionalProperty;
  return field === undefined ? error.instancePath : `${error.instancePath}/${escape(field)}`;
}

let mismatches = 0;
for (const { fixture, expected, document } of cases) {
  const verdict = validate(document) ? "accept" : "reject";
  const found = validate.errors ?? [];
  const errors = found.map(
    (e) => `${e.instancePath || "/"} ${e.message}${e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ""}`,
  );
  const pointers = [...new Set(found.map(pointerOf))].sort();
  if (verdict !== expected) mismatches += 1;
  console.log(JSON.stringify({ fixture, expected, verdict, pointers, errors }));
}
if (mismatches > 0) {
  console.error(`check.mjs: ajv disagrees with ${mismatches} of ${cases.length} fixtures`);
  process.exit(1);
}
console.error(`check.mjs: ajv agrees on all ${cases.length} fixtures`);
