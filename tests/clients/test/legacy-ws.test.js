// subscriptions-transport-ws: the legacy `graphql-ws` protocol (Apollo's old client), which
// smallpay still speaks, against the real server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { SubscriptionClient } from 'subscriptions-transport-ws';
import WebSocket from 'ws';

import { createPayout, newOrderSn, startServer } from './server.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const SUBSCRIPTION = 'subscription($sn: String, $after: ID) { payoutStatusChanged(orderSn: $sn, afterEventId: $after) { id payoutId from to } }';

/// A connected client (resolves once the server acknowledged), or the server's refusal.
function connect(connectionParams) {
  return new Promise((resolve, reject) => {
    const c = new SubscriptionClient(server.wsUrl, {
      connectionParams,
      reconnect: false,
      connectionCallback: (error) => (error ? reject(Object.assign(new Error('refused'), { payload: error, client: c })) : resolve(c)),
    }, WebSocket);
  });
}

function collect(c, variables, count) {
  return new Promise((resolve, reject) => {
    const events = [];
    const timer = setTimeout(() => reject(new Error(`only ${events.length} of ${count} events in 15 s`)), 15_000);
    const subscription = c.request({ query: SUBSCRIPTION, variables }).subscribe({
      next: (value) => {
        if (value.errors) { clearTimeout(timer); reject(new Error(JSON.stringify(value.errors))); return; }
        events.push(value.data.payoutStatusChanged);
        if (events.length === count) { clearTimeout(timer); subscription.unsubscribe(); resolve(events); }
      },
      error: (error) => { clearTimeout(timer); reject(error); },
    });
  });
}

test('connects with a token, subscribes, receives, resumes with afterEventId and closes cleanly', async () => {
  const c = await connect({ token: server.tokens.admin });
  const sn = newOrderSn();
  const live = collect(c, { sn }, 2);
  await new Promise((r) => setTimeout(r, 200));
  const payout = await createPayout(server, sn);
  const [first, second] = await live;
  assert.equal(first.payoutId, payout.id);
  assert.deepEqual([first.from, first.to], [null, 'PAYING']);
  assert.equal(second.from, 'PAYING');

  const [replayed] = await collect(c, { sn, after: first.id }, 1);
  assert.deepEqual(replayed, second);

  const closed = new Promise((resolve) => c.client.addEventListener('close', (event) => resolve(event.code)));
  c.close();
  assert.equal(await closed, 1000);
});

test('the Authorization form of the token works too, and a bad token is refused', async () => {
  const c = await connect({ Authorization: `Bearer ${server.tokens.cs}` });
  c.close();
  for (const params of [{ token: 'forged.token.value' }, {}]) {
    const refused = await connect(params).then(
      (client) => { client.close(); assert.fail(`accepted ${JSON.stringify(params)}`); },
      (error) => error,
    );
    assert.equal(refused.message, 'refused');
    assert.match(JSON.stringify(refused.payload), /UNAUTHENTICATED|token/i, JSON.stringify(refused.payload));
    refused.client.close();
  }
});
