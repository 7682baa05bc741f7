// Runs one collaboration scenario with the real y-websocket client against a y-websocket
// compatible server and prints its observations as one JSON line on stdout.
//
//   node scenario.mjs <name> '<json config>'
//
// Exit 0 + one JSON line on success; exit 1 + a message on stderr on failure or on the
// scenario's own timeout (config.timeoutMs, default 20000). Common config: urls (array of base
// URLs, clients are spread round-robin over them), room, tokens ({editor, editor2, viewer}),
// timeoutMs, params (extra URL parameters). See README.md for each scenario's fields.
import fs from 'node:fs';
import { Context, ScenarioError, deepEqual, getPath, short, sleep, toY } from './lib.mjs';

const scenarios = {
  // N editors edit text, map and array concurrently; all docs must converge and hold every edit.
  async converge(ctx) {
    const n = Number(ctx.config.clients ?? 3);
    const rounds = Number(ctx.config.rounds ?? 5);
    const run = ctx.run;
    const clients = [];
    for (let i = 0; i < n; i++) {
      const role = i % 2 === 1 && ctx.tokens.editor2 !== undefined ? 'editor2' : 'editor';
      clients.push(ctx.connect({ label: `client${i}`, index: i, role }));
    }
    await Promise.all(clients.map((c) => c.whenSynced()));
    const syncedMs = ctx.t();

    const marker = (i, r) => `[${run}.c${i}.r${r}]`;
    const metaKey = (i) => `${run}.c${i}`;
    // Each client makes `rounds` edits of each kind at random moments, interleaved with the others.
    await Promise.all(clients.map((c, i) => (async () => {
      for (let r = 0; r < rounds; r++) {
        await sleep(Math.random() * 30);
        const text = c.doc.getText('notes');
        // at either end only, so a marker is never split by another
        text.insert(Math.random() < 0.5 ? 0 : text.length, marker(i, r));
        c.doc.getMap('meta').set(metaKey(i), r);
        c.doc.getArray('list').push([marker(i, r)]);
      }
    })()));
    const editedMs = ctx.t();

    const state = (c) => ({
      notes: c.doc.getText('notes').toJSON(),
      meta: c.doc.getMap('meta').toJSON(),
      list: c.doc.getArray('list').toJSON(),
    });
    const complete = (s) => clients.every((_, i) =>
      s.meta[metaKey(i)] === rounds - 1 &&
      Array.from({ length: rounds }, (_, r) => marker(i, r))
        .every((m) => s.notes.includes(m) && s.list.includes(m)));
    const final = await ctx.waitFor(`all ${n} docs to converge with every client's edits (run ${run})`, () => {
      const states = clients.map(state);
      return states.every((s) => deepEqual(s, states[0])) && complete(states[0]) ? states[0] : null;
    }, {
      detail: () => clients.map((c, i) => {
        const s = state(c);
        const missing = [];
        for (let j = 0; j < n; j++) {
          for (let r = 0; r < rounds; r++) if (!s.list.includes(marker(j, r))) missing.push(marker(j, r));
        }
        return `\n    client${i}: list has ${s.list.length}, missing ${missing.length}: ${short(missing, 200)}`;
      }).join(''),
    });
    return {
      clients: n, rounds, run, state: final,
      timings: { syncedMs, editedMs, convergedMs: ctx.t() },
    };
  },

  // A writes; B joins later (on the next url) and must see it all. disconnectFirst: A leaves first.
  async 'late-joiner'(ctx) {
    const run = ctx.run;
    const disconnectFirst = Boolean(ctx.config.disconnectFirst);
    const a = ctx.connect({ label: 'A', index: 0 });
    await a.whenSynced();
    a.doc.transact(() => {
      a.doc.getText('notes').insert(0, `[${run}.A]`);
      a.doc.getMap('meta').set(`${run}.A`, 'written by A');
      a.doc.getArray('list').push([`${run}.A`]);
    });
    await a.flush();
    const expected = {
      notes: a.doc.getText('notes').toJSON(),
      meta: a.doc.getMap('meta').toJSON(),
      list: a.doc.getArray('list').toJSON(),
    };
    const aSyncedMs = ctx.t();
    if (disconnectFirst) await a.destroy();
    const bStart = ctx.t();
    const b = ctx.connect({ label: 'B', index: 1 });
    await b.whenSynced();
    const seen = () => {
      const m = b.doc.getMap('meta').toJSON();
      return b.doc.getText('notes').toJSON().includes(`[${run}.A]`) &&
        m[`${run}.A`] === 'written by A' &&
        b.doc.getArray('list').toJSON().includes(`${run}.A`);
    };
    await ctx.waitFor(`late joiner B to see A's text, map and array edits (run ${run}${disconnectFirst ? ', A disconnected first: state must come from the server' : ''})`,
      seen, {
        detail: () => short({
          notesHasMarker: b.doc.getText('notes').toJSON().includes(`[${run}.A]`),
          metaValue: b.doc.getMap('meta').get(`${run}.A`) ?? null,
          listHasItem: b.doc.getArray('list').toJSON().includes(`${run}.A`),
          notesLength: b.doc.getText('notes').length,
        }),
      });
    const got = {
      notes: b.doc.getText('notes').toJSON(),
      meta: b.doc.getMap('meta').toJSON(),
      list: b.doc.getArray('list').toJSON(),
    };
    return {
      run, disconnectFirst, state: got,
      sameAsA: deepEqual(got, expected),
      timings: { aSyncedMs, bSyncedMs: b.syncedAt, bSawAllMs: ctx.t(), bAfterJoinMs: ctx.t() - bStart },
    };
  },

  // Awareness between two clients, and its removal when one leaves. A first connects alone, to see
  // whether the server echoes a lone client its own state (the client relies on hearing something
  // every 30 s; with two clients they re-broadcast each other's states, which hides a missing echo).
  async awareness(ctx) {
    const run = ctx.run;
    const abrupt = Boolean(ctx.config.abrupt);
    const nameA = `A-${run}`;
    const nameB = `B-${run}`;
    const a = ctx.connect({ label: 'A', index: 0, awareness: { user: { name: nameA } } });
    await a.whenSynced();
    const echoWait = ctx.t();
    const echoed = () => a.ownAwarenessEchoes > 0;
    if (ctx.config.requireEcho) {
      await ctx.waitFor('the server to echo a lone client its own awareness state (requireEcho)', echoed, { timeoutMs: 1000 });
    } else {
      await ctx.waitFor('', echoed, { timeoutMs: 500 }).catch((e) => { if (ctx.fatal) throw e; });
    }
    const loneEchoMs = echoed() ? ctx.t() - echoWait : null;

    const bStart = ctx.t();
    const b = ctx.connect({ label: 'B', index: 1, awareness: { user: { name: nameB } } });
    const has = (c, name) => c.peers().some((p) => p.state.user?.name === name);
    const names = (c) => () => short(c.peers().map((p) => p.state.user?.name));
    await b.whenSynced();
    const [aSeesB, bSeesA] = await Promise.all([
      ctx.waitFor(`A to see B's awareness state {user:{name:${nameB}}}`, () => has(a, nameB) && ctx.t(), { detail: names(a) }),
      ctx.waitFor(`B to see A's awareness state {user:{name:${nameA}}}`, () => has(b, nameA) && ctx.t(), { detail: names(b) }),
    ]);
    const serverStates = a.otherStates();
    const leftAt = ctx.t();
    if (abrupt) await b.kill(); else await b.destroy();
    const removedAt = await ctx.waitFor(
      `A to see B's awareness state removed after B ${abrupt ? 'dropped its connection (no close frame, no null state: the server must remove it)' : 'disconnected'}`,
      () => !has(a, nameB) && ctx.t(), { detail: names(a) });
    return {
      run, abrupt,
      loneClientEcho: loneEchoMs !== null,
      timings: {
        aSyncedMs: a.syncedAt, loneEchoMs, bSyncedAfterJoinMs: b.syncedAt - bStart,
        aSeesBAfterJoinMs: aSeesB - bStart, bSeesAAfterJoinMs: bSeesA - bStart, removalMs: removedAt - leftAt,
      },
      serverStates,
    };
  },

  // A viewer's writes must not reach anyone; an editor's must reach the viewer; the viewer's awareness must.
  async viewer(ctx) {
    const run = ctx.run;
    const quietMs = Number(ctx.config.quietMs ?? 1500);
    const e = ctx.connect({ label: 'E', index: 0, role: 'editor', awareness: { user: { name: `E-${run}` } } });
    const v = ctx.connect({ label: 'V', index: 1, role: 'viewer', awareness: { user: { name: `V-${run}` } } });
    await Promise.all([e.whenSynced(), v.whenSynced()]);
    const vKey = `${run}.viewer`;
    const eKey = `${run}.editor`;
    v.doc.getMap('kv').set(vKey, 'written by the viewer');
    const leaked = await ctx.staysFalse(quietMs, () => e.doc.getMap('kv').has(vKey));
    if (leaked !== null) {
      throw new ScenarioError(`the editor saw the viewer's write (kv.${vKey}) after ${leaked} ms: the server accepted or relayed a read-only client's update`);
    }
    e.doc.getMap('kv').set(eKey, 'written by the editor');
    await ctx.waitFor(`the viewer to see the editor's write (kv.${eKey})`, () => v.doc.getMap('kv').get(eKey) === 'written by the editor');
    const vSeesEMs = ctx.t();
    await ctx.waitFor(`the editor to see the viewer's awareness state (user.name V-${run})`,
      () => e.peers().some((p) => p.state.user?.name === `V-${run}`),
      { detail: () => short(e.peers()) });
    const eSeesVAwarenessMs = ctx.t();
    // A fresh client must get the editor's write from the server, and not the viewer's.
    const f = ctx.connect({ label: 'F', index: 2, role: 'editor' });
    await f.whenSynced();
    await ctx.waitFor(`a fresh client to see the editor's write (kv.${eKey})`, () => f.doc.getMap('kv').has(eKey));
    if (f.doc.getMap('kv').has(vKey)) {
      throw new ScenarioError(`a fresh client got the viewer's write (kv.${vKey}) from the server: the server applied a read-only client's update`);
    }
    return {
      run, viewerWriteBlocked: true, quietMs,
      timings: { vSeesEditorWriteMs: vSeesEMs, eSeesViewerAwarenessMs: eSeesVAwarenessMs },
    };
  },

  // One editor writes kv[key] = value; a second, fresh client must see it.
  async write(ctx) {
    const { key, value } = ctx.config;
    if (typeof key !== 'string') throw new ScenarioError('config.key (string) is required');
    const w = ctx.connect({ label: 'writer', index: 0, role: ctx.config.as ?? 'editor' });
    await w.whenSynced();
    w.doc.getMap('kv').set(key, value);
    await w.flush();
    const r = ctx.connect({ label: 'reader', index: 1, role: ctx.config.as ?? 'editor' });
    await r.whenSynced();
    await ctx.waitFor(`a fresh client to see kv.${key} = ${short(value)}`, () => deepEqual(r.doc.getMap('kv').get(key), value),
      { detail: () => short(r.doc.getMap('kv').toJSON()) });
    return { ok: true };
  },

  // Waits until kv[key] equals value.
  async expect(ctx) {
    const { key, value } = ctx.config;
    if (typeof key !== 'string') throw new ScenarioError('config.key (string) is required');
    const c = ctx.connect({ label: 'client', index: 0, role: ctx.config.as ?? 'editor' });
    await c.whenSynced();
    await ctx.waitFor(`kv.${key} to equal ${short(value)}`, () => deepEqual(c.doc.getMap('kv').get(key), value),
      { detail: () => short(c.doc.getMap('kv').toJSON()) });
    return c.doc.getMap('kv').toJSON();
  },

  // Prints the root types after syncing.
  async dump(ctx) {
    const c = ctx.connect({ label: 'client', index: 0, role: ctx.config.as ?? 'editor' });
    await c.whenSynced();
    return dumpDoc(c.doc);
  },

  // Writes config.project into the root map `project` in one transaction.
  async 'set-project'(ctx) {
    const project = ctx.config.project;
    if (project === null || typeof project !== 'object' || Array.isArray(project)) {
      throw new ScenarioError('config.project must be a JSON object');
    }
    const c = ctx.connect({ label: 'writer', index: 0, role: ctx.config.as ?? 'editor' });
    await c.whenSynced();
    const map = c.doc.getMap('project');
    c.doc.transact(() => {
      if (!ctx.config.merge) for (const k of [...map.keys()]) if (!Object.hasOwn(project, k)) map.delete(k);
      for (const [k, v] of Object.entries(project)) map.set(k, toY(v));
    });
    await c.flush();
    const want = map.toJSON();
    const r = ctx.connect({ label: 'checker', index: 1, role: ctx.config.as ?? 'editor' });
    await r.whenSynced();
    await ctx.waitFor('a fresh client to see the same project', () => deepEqual(r.doc.getMap('project').toJSON(), want),
      { detail: () => short(r.doc.getMap('project').toJSON()) });
    return { ok: true };
  },

  // Waits until the project map deep-equals config.project.
  async 'wait-project'(ctx) {
    const want = ctx.config.project;
    const c = ctx.connect({ label: 'client', index: 0, role: ctx.config.as ?? 'editor' });
    await c.whenSynced();
    await ctx.waitFor(`project to equal ${short(want)}`, () => deepEqual(c.doc.getMap('project').toJSON(), want),
      { detail: () => short(c.doc.getMap('project').toJSON()) });
    return c.doc.getMap('project').toJSON();
  },

  // Waits until some awareness state has config.equals at config.path; prints that state.
  async 'wait-awareness-field'(ctx) {
    const { path } = ctx.config;
    if (!Array.isArray(path)) throw new ScenarioError('config.path must be an array of keys');
    const c = ctx.connect({ label: 'client', index: 0, role: ctx.config.as ?? 'editor' });
    await c.whenSynced();
    const found = await ctx.waitFor(`an awareness state with ${path.join('.')} = ${short(ctx.config.equals)}`, () => {
      for (const state of c.awareness.getStates().values()) {
        if (deepEqual(getPath(state, path), ctx.config.equals)) return { state };
      }
      return null;
    }, { detail: () => short(Object.fromEntries(c.awareness.getStates())) });
    return found.state;
  },

  // Stays connected until the server closes the connection; reports the close and whether the client retries.
  async hold(ctx) {
    const c = ctx.connect({ label: 'client', index: 0, role: ctx.config.as ?? 'editor', allowClose: true });
    let signalled = false;
    const closed = await ctx.waitFor('the server to close the connection', () => {
      if (!signalled && c.synced && ctx.config.signalFile) {
        fs.writeFileSync(ctx.config.signalFile, `${JSON.stringify({ synced: true, clientID: c.doc.clientID })}\n`);
        signalled = true;
      }
      return c.closes.find((x) => !x.local) ?? null;
    }, { detail: () => (signalled || c.synced ? 'the client was connected and synced' : 'the client never synced') });
    const wasSynced = c.syncedAt !== null && c.syncedAt <= closed.t;
    const reconnectedAt = () => c.statuses.find((s) => s.status === 'connecting' && s.t > closed.t);
    await ctx.staysFalse(2000, () => reconnectedAt() !== undefined);
    return { code: closed.code, reason: closed.reason, reconnecting: reconnectedAt() !== undefined, wasSynced };
  },
};

function dumpDoc(doc) {
  return {
    kv: doc.getMap('kv').toJSON(),
    notes: doc.getText('notes').toJSON(),
    list: doc.getArray('list').toJSON(),
    meta: doc.getMap('meta').toJSON(),
    project: doc.getMap('project').toJSON(),
  };
}

async function main() {
  const [name, json] = process.argv.slice(2);
  const fail = (msg) => {
    process.stderr.write(`scenario ${name ?? '?'} failed: ${msg}\n`);
    process.exit(1);
  };
  if (!name || !Object.hasOwn(scenarios, name)) {
    fail(`usage: node scenario.mjs <${Object.keys(scenarios).join('|')}> '<json config>'`);
  }
  let config;
  try {
    config = JSON.parse(json ?? '{}');
  } catch (e) {
    fail(`config is not JSON: ${e.message}`);
  }
  let ctx;
  try {
    ctx = new Context(name, config);
  } catch (e) {
    fail(e.message);
  }
  // Backstop: should anything hang outside waitFor, still exit on the deadline (plus cleanup time).
  setTimeout(() => fail(`hard timeout after ${ctx.timeoutMs + 3000} ms\n  clients:\n${ctx.diagnostics()}`), ctx.timeoutMs + 3000).unref();
  let result;
  try {
    result = await scenarios[name](ctx);
  } catch (e) {
    await ctx.cleanup().catch(() => {});
    fail(e instanceof ScenarioError ? e.message : e.stack);
  }
  await ctx.cleanup();
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

main();
