// Tests of the generated client, run by `npm test` here and by
// crates/studio-core/tests/timeline_corpus.rs (so `cargo test` and `make test` cover them):
//   1. src/project.ts and src/project.zod.ts are what generate.mjs makes of project.schema.json
//      today (the fresh files are written to a temp dir to diff against). That
//      project.schema.json is what the server publishes is the Rust test's half.
//   2. They type-check, and the TypeScript types and the Zod schema's type agree (test/types.ts).
//   3. The Zod schema accepts every valid fixture of tests/fixtures/timeline, rejects every
//      fixture with a shape error (`"schema": "reject"`) and accepts every one whose error only
//      the server's rules can find (`"schema": "accept"`): it judges documents as the JSON
//      Schema does.
// Exits 1 on any failure, listing them all.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import { generate } from "../generate.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const fixtures = join(root, "../../tests/fixtures/timeline");
const failures = [];
const read = (path) => readFileSync(join(root, path), "utf8");

// 1. Not stale.
const fresh = await generate(JSON.parse(read("project.schema.json")));
const stale = Object.keys(fresh).filter((path) => read(path) !== fresh[path]);
if (stale.length > 0) {
  const out = mkdtempSync(join(tmpdir(), "studio-client-"));
  for (const path of stale) {
    mkdirSync(dirname(join(out, path)), { recursive: true });
    writeFileSync(join(out, path), fresh[path]);
  }
  failures.push(
    `stale: ${stale.join(", ")} ${stale.length === 1 ? "differs" : "differ"} from what the generators make of project.schema.json ` +
      `(fresh copies in ${out}). Run scripts/gen-clients.sh and commit clients/typescript.`,
  );
}

// 2. Types.
const tsc = spawnSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", root], {
  encoding: "utf8",
});
if (tsc.status !== 0) {
  failures.push(`tsc --noEmit failed:\n${tsc.stdout}${tsc.stderr}`);
}

// 3. The Zod schema against the corpus. Node 20 runs no TypeScript: the committed
// src/project.zod.ts is transpiled (types only are stripped) into a temp dir, its `zod` import
// pointed at this package's copy.
const scratch = mkdtempSync(join(tmpdir(), "studio-zod-"));
let projectSchema;
try {
  const { outputText } = ts.transpileModule(read("src/project.zod.ts"), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  const zodUrl = import.meta.resolve("zod");
  const module = join(scratch, "project.zod.mjs");
  writeFileSync(module, outputText.replace(/from "zod"/g, `from ${JSON.stringify(zodUrl)}`));
  ({ projectSchema } = await import(pathToFileURL(module).href));
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
if (!projectSchema) {
  failures.push("src/project.zod.ts exports no `projectSchema`");
} else {
  let judged = 0;
  for (const group of ["valid", "invalid"]) {
    const files = readdirSync(join(fixtures, group)).filter((name) => name.endsWith(".json")).sort();
    for (const name of files) {
      const fixture = JSON.parse(readFileSync(join(fixtures, group, name), "utf8"));
      const [document, want] = group === "valid" ? [fixture, "accept"] : [fixture.document, fixture.schema];
      const result = projectSchema.safeParse(document);
      const got = result.success ? "accept" : "reject";
      judged += 1;
      if (got !== want) {
        const why = result.success
          ? ""
          : `: ${result.error.issues.map((i) => `/${i.path.join("/")} ${i.message}`).join("; ")}`;
        failures.push(`${group}/${name}: the Zod schema should ${want} it, it did ${got}${why}`);
      }
    }
  }
  console.error(`check.mjs: the Zod schema judged ${judged} fixtures`);
}

if (failures.length > 0) {
  console.error(failures.map((f) => `FAIL ${f}`).join("\n"));
  process.exit(1);
}
console.error("check.mjs: the client is current, type-checks, and its Zod schema agrees with the corpus");
