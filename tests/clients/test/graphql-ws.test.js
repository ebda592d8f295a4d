// graphql-ws (the graphql-transport-ws protocol), the client GraphiQL and most front ends use
// for subscriptions, against the real server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

import { createPayout, newOrderSn, startServer } from './server.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const SUBSCRIPTION = 'subscription($sn: String, $after: ID) { payoutStatusChanged(orderSn: $sn, afterEventId: $after) { id payoutId from to } }';

function client(token, extra = {}) {
  return createClient({
    url: server.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: token === undefined ? {} : { Authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: true,
    ...extra,
  });
}

/// Subscribes and collects events until `count` arrived; returns them and disposes.
function collect(c, variables, count, onSubscribed = async () => {}) {
  return new Promise((resolve, reject) => {
    const events = [];
    let dispose = () => {};
    const timer = setTimeout(() => { dispose(); reject(new Error(`only ${events.length} of ${count} events in 15 s`)); }, 15_000);
    dispose = c.subscribe({ query: SUBSCRIPTION, variables }, {
      next: (value) => {
        if (value.errors) { clearTimeout(timer); reject(new Error(JSON.stringify(value.errors))); return; }
        events.push(value.data.payoutStatusChanged);
        if (events.length === count) { clearTimeout(timer); dispose(); resolve(events); }
      },
      error: (error) => { clearTimeout(timer); reject(error); },
      complete: () => {},
    });
    onSubscribed().catch((error) => { clearTimeout(timer); reject(error); });
  });
}

test('connects with a token, subscribes, receives, resumes with afterEventId and closes cleanly', async () => {
  const closed = [];
  let acked;
  const acknowledged = new Promise((r) => { acked = r; });
  const c = client(server.tokens.admin, {
    on: { connected: () => acked(), closed: (event) => closed.push(event.code) },
  });
  const sn = newOrderSn();
  let created;
  const live = collect(c, { sn }, 2, async () => {
    await acknowledged;
    // The server subscribes on `subscribe`; give it the moment to register before acting.
    await new Promise((r) => setTimeout(r, 200));
    created = createPayout(server, sn);
    await created;
  });
  const [first, second] = await live;
  // On a busy machine both events can arrive before the mutation's own answer.
  const payout = await created;
  assert.equal(first.payoutId, payout.id);
  assert.equal(second.payoutId, payout.id);
  assert.equal(first.from, null);
  assert.equal(first.to, 'PAYING');
  assert.equal(second.from, 'PAYING');

  // A client that missed everything after `first` resumes from it: the same second event,
  // replayed, then live.
  const [replayed] = await collect(c, { sn, after: first.id }, 1);
  assert.deepEqual(replayed, second);

  await c.dispose();
  await new Promise((r) => setTimeout(r, 100));
  // Lazy: the socket closes after each last subscription, and at dispose; always normally.
  assert.ok(closed.length >= 1 && closed.every((code) => code === 1000), `close codes ${closed}`);
});

test('a bad token is refused with 4403', async () => {
  for (const token of ['forged.token.value', undefined]) {
    const c = client(token);
    const refused = await collect(c, {}, 1).then(
      () => assert.fail('a subscription with a bad token received an event'),
      (error) => error,
    );
    assert.equal(refused.code, 4403, `token ${token}: ${refused}`);
    await c.dispose();
  }
});
