// The GraphQL-over-HTTP specification's audit, as its reference implementation ships it
// (graphql-http's `auditServer`): every audit it runs against the real binary, printed with
// its result; any error fails the test. Each warning left is explained in
// docs/graphql-over-http.md ("The audit").
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { auditServer } from 'graphql-http';

import { startServer } from './server.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

/// The warnings docs/graphql-over-http.md explains, by the audit's id: a new one (or one gone)
/// fails the test, so the guide cannot drift from what the server does.
const EXPLAINED_WARNINGS = [];

test('the graphql-http audit reports no error', async () => {
  const results = await auditServer({ url: `${server.url}/graphql` });
  const counts = { ok: 0, warn: 0, error: 0 };
  for (const result of results) {
    counts[result.status] += 1;
    if (result.status !== 'ok') {
      const detail = result.response ? ` (HTTP ${result.response.status})` : '';
      console.log(`${result.status.toUpperCase()} ${result.id} ${result.name}: ${result.reason}${detail}`);
    }
  }
  console.log(`graphql-http audit: ${counts.ok} ok, ${counts.warn} warnings, ${counts.error} errors of ${results.length}`);
  const errors = results.filter((r) => r.status === 'error').map((r) => `${r.id} ${r.name}: ${r.reason}`);
  assert.deepEqual(errors, [], 'the audit found errors');
  const warnings = results.filter((r) => r.status === 'warn').map((r) => r.id).sort();
  assert.deepEqual(warnings, [...EXPLAINED_WARNINGS].sort(), 'the warnings docs/graphql-over-http.md explains');
});
