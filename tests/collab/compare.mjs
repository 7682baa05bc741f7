// Runs the client scenarios that make sense for a server without auth against the reference
// y-websocket server (@y/websocket-server, started in-process) and, when given, against another
// server, and prints a pass/fail table with timings.
//
//   node compare.mjs                                  # reference server only
//   node compare.mjs --url ws://127.0.0.1:8080/api/collab --room <project id> --token <editor JWT>
//                    [--url <second node> ...] [--token2 <second editor JWT>] [--viewer-token <JWT>]
//                    [--timeout 20000] [--no-reference] [--json]
//
// Each scenario runs as `node scenario.mjs <name> <config>` (a child process, like a test harness
// would). --url may be repeated: clients are spread round-robin over the urls. Against the
// reference server every scenario gets a fresh room; against the other server all use --room.
// Exit 0 when every scenario passed on every server, 1 otherwise.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { startReferenceServer } from './reference-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const opts = { urls: [], timeout: 20000, reference: true, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (argv[i + 1] === undefined) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--url') opts.urls.push(val());
    else if (a === '--room') opts.room = val();
    else if (a === '--token') opts.token = val();
    else if (a === '--token2') opts.token2 = val();
    else if (a === '--viewer-token') opts.viewerToken = val();
    else if (a === '--timeout') opts.timeout = Number(val());
    else if (a === '--no-reference') opts.reference = false;
    else if (a === '--json') opts.json = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write(`usage: node compare.mjs [--url URL ... --room R --token T [--token2 T2] [--viewer-token V]] [--timeout MS] [--no-reference] [--json]\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (opts.urls.length > 0 && !opts.room) throw new Error('--url needs --room (the project id)');
  if (!opts.reference && opts.urls.length === 0) throw new Error('--no-reference needs --url');
  return opts;
}

// [label, scenario, extra config, needs a viewer token, summary of the observations]
const CASES = [
  ['converge (3 clients)', 'converge', { clients: 3 }, false,
    (r) => `converged ${r.timings.convergedMs - r.timings.editedMs} ms after the last edit`],
  ['converge (6 clients)', 'converge', { clients: 6, rounds: 10 }, false,
    (r) => `converged ${r.timings.convergedMs - r.timings.editedMs} ms after the last edit`],
  ['late-joiner', 'late-joiner', {}, false,
    (r) => `B saw everything ${r.timings.bAfterJoinMs} ms after joining`],
  ['late-joiner (A leaves first)', 'late-joiner', { disconnectFirst: true }, false,
    (r) => `B saw everything ${r.timings.bAfterJoinMs} ms after joining`],
  ['awareness', 'awareness', {}, false, awarenessSummary],
  ['awareness (B drops abruptly)', 'awareness', { abrupt: true }, false, awarenessSummary],
  ['write', 'write', { key: 'compare', value: { n: 1, s: 'x' } }, false, () => ''],
  ['dump', 'dump', {}, false,
    (r) => `kv ${Object.keys(r.kv).length} keys, notes ${r.notes.length} chars, list ${r.list.length}, project ${Object.keys(r.project).length} keys`],
  ['viewer (read-only)', 'viewer', {}, true,
    (r) => `viewer write blocked for ${r.quietMs} ms`],
];

function awarenessSummary(r) {
  const t = r.timings;
  const extra = r.serverStates.length ? `, ${r.serverStates.length} state(s) without user` : '';
  const echo = r.loneClientEcho ? `lone client echoed in ${t.loneEchoMs} ms` : 'NO echo to a lone client';
  return `seen ${t.aSeesBAfterJoinMs}/${t.bSeesAAfterJoinMs} ms after join, removed ${t.removalMs} ms after B left, ${echo}${extra}`;
}

function runScenario(name, config) {
  return new Promise((resolve) => {
    const start = Date.now();
    const child = spawn(process.execPath, [path.join(here, 'scenario.mjs'), name, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (code) => {
      const ms = Date.now() - start;
      if (code === 0) {
        try {
          resolve({ ok: true, ms, result: JSON.parse(out.trim()) });
        } catch (e) {
          resolve({ ok: false, ms, error: `exit 0 but stdout is not one JSON line: ${e.message}: ${out.slice(0, 200)}` });
        }
      } else {
        resolve({ ok: false, ms, error: err.trim() || `exit ${code}` });
      }
    });
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const targets = [];
  let ref = null;
  if (opts.reference) {
    ref = await startReferenceServer();
    const tag = Math.random().toString(36).slice(2, 8);
    targets.push({
      name: 'reference',
      config: (i) => ({ urls: [ref.url], room: `compare-${tag}-${i}` }),
      viewer: false,
    });
  }
  if (opts.urls.length > 0) {
    const tokens = {};
    if (opts.token !== undefined) tokens.editor = opts.token;
    if (opts.token2 !== undefined) tokens.editor2 = opts.token2;
    if (opts.viewerToken !== undefined) tokens.viewer = opts.viewerToken;
    targets.push({
      name: 'studio',
      config: () => ({ urls: opts.urls, room: opts.room, tokens }),
      viewer: opts.viewerToken !== undefined,
    });
  }

  const rows = [];
  for (const [i, [label, scenario, extra, needsViewer, summary]] of CASES.entries()) {
    const row = { label, scenario, extra, results: {} };
    for (const t of targets) {
      if (needsViewer && !t.viewer) {
        row.results[t.name] = { skipped: true };
        continue;
      }
      const r = await runScenario(scenario, { ...t.config(i), ...extra, timeoutMs: opts.timeout });
      if (r.ok) {
        try { r.summary = summary(r.result); } catch { r.summary = ''; }
      }
      row.results[t.name] = r;
    }
    rows.push(row);
  }
  if (ref) await ref.close();

  const allOk = rows.every((row) => Object.values(row.results).every((r) => r.skipped || r.ok));
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ targets: targets.map((t) => t.name), rows })}\n`);
  } else {
    printTable(rows, targets);
  }
  process.exit(allOk ? 0 : 1);
}

function printTable(rows, targets) {
  const cell = (r) => (r.skipped ? 'n/a' : `${r.ok ? 'PASS' : 'FAIL'} ${String(r.ms).padStart(5)} ms${r.ok && r.summary ? `  ${r.summary}` : ''}`);
  const header = ['scenario', ...targets.map((t) => t.name)];
  const body = rows.map((row) => [row.label, ...targets.map((t) => cell(row.results[t.name]))]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((b) => b[c].length)));
  const line = (cols) => `| ${cols.map((c, j) => c.padEnd(widths[j])).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)];
  const failures = [];
  for (const row of rows) {
    for (const t of targets) {
      const r = row.results[t.name];
      if (!r.skipped && !r.ok) failures.push(`\n${row.label} on ${t.name}:\n${r.error}`);
    }
  }
  let passed = 0;
  let failed = 0;
  for (const row of rows) for (const r of Object.values(row.results)) if (!r.skipped) (r.ok ? passed++ : failed++);
  process.stdout.write(`${out.join('\n')}\n${failures.join('\n')}${failures.length ? '\n' : ''}\n${passed} passed, ${failed} failed\n`);
}

main().catch((e) => {
  process.stderr.write(`compare: ${e.message}\n`);
  process.exit(1);
});
