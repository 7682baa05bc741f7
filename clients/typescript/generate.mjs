// Generates the TypeScript client of the project timeline from its JSON Schema:
//   src/project.ts      types, by json-schema-to-typescript
//   src/project.zod.ts  a Zod 4 schema, by json-schema-to-zod (on the schema with its `$ref`s
//                       inlined: json-schema-to-zod does not follow them itself)
//   node generate.mjs [SCHEMA.json] [OUT_DIR]   (defaults: project.schema.json, this directory)
// scripts/gen-clients.sh first writes project.schema.json with `studio schema`, then runs this;
// test/check.mjs calls `generate` to find committed files that are stale.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import $RefParser from "@apidevtools/json-schema-ref-parser";
import { compile } from "json-schema-to-typescript";
import { jsonSchemaToZod } from "json-schema-to-zod";
import * as prettier from "prettier";

const here = dirname(fileURLToPath(import.meta.url));

const BANNER = `/* Generated from project.schema.json (\`studio schema\`) by scripts/gen-clients.sh.
 * Do not edit: change the Rust model (crates/studio-core/src/timeline/model.rs) and regenerate. */`;

/** The generated files, by path relative to the package root, for `schema`. */
export async function generate(schema) {
  const types = await compile(structuredClone(schema), "Project", {
    bannerComment: BANNER,
    // The schema closes every object itself; nothing to add where it does not say.
    additionalProperties: false,
    // Read no other file: the schema is self-contained.
    declareExternallyReferenced: true,
  });
  const inlined = await $RefParser.dereference(structuredClone(schema));
  const zod = jsonSchemaToZod(inlined, { module: "esm", name: "projectSchema", zodVersion: 4 });
  const zodFile = await prettier.format(`${BANNER}\n\n${zod}\n`, { parser: "typescript" });
  return { "src/project.ts": types, "src/project.zod.ts": zodFile };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const schemaPath = process.argv[2] ?? join(here, "project.schema.json");
  const outDir = process.argv[3] ?? here;
  const files = await generate(JSON.parse(readFileSync(schemaPath, "utf8")));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(outDir, path)), { recursive: true });
    writeFileSync(join(outDir, path), text);
    console.error(`generate.mjs: wrote ${join(outDir, path)}`);
  }
}
