// Starts the real smallpay binary on a fresh SQLite file (port 0, demo data, development
// tokens) and reads what it prints: `listening on URL` and the demo tokens, as the smoke step
// of .ci/run does. SMALLPAY_BIN names the binary (default: target/debug/smallpay of this
// checkout).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const binary = process.env.SMALLPAY_BIN || join(root, 'target/debug/smallpay');
export const artifacts = process.env.CLIENT_TEST_ARTIFACTS || join(root, 'target/client-tests');

export async function startServer() {
  const dir = mkdtempSync(join(tmpdir(), 'smallpay-clients-'));
  const child = spawn(binary, ['--bind', '127.0.0.1:0', '--database-url', `sqlite://${dir}/clients.db?mode=rwc`], {
    cwd: dir,
    env: { ...process.env, SMALLPAY_LOG_FORMAT: 'json', RUST_LOG: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let printed = '';
  let logs = '';
  child.stderr.on('data', (chunk) => { logs += chunk; });
  const started = await new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`smallpay did not start in 30 s:\n${printed}\n${logs}`)), 30_000);
    child.on('exit', (code) => reject(new Error(`smallpay exited with ${code}:\n${printed}\n${logs}`)));
    child.stdout.on('data', (chunk) => {
      printed += chunk;
      const url = /^listening on (\S+)$/m.exec(printed);
      if (url) {
        clearTimeout(timer);
        resolvePromise(url[1]);
      }
    });
  });
  const tokens = {};
  for (const line of printed.split('\n')) {
    const m = /^ {2}(\S+)\s+(\S+)\s+(ey\S+)$/.exec(line);
    if (m) tokens[m[1]] = m[3];
  }
  if (!tokens.admin) throw new Error(`no admin token printed:\n${printed}`);
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { url: started, wsUrl: started.replace(/^http/, 'ws') + '/graphql/ws', tokens, stop, logs: () => logs };
}

/// POST /graphql with a token; returns the JSON answer.
export async function gql(server, token, query, variables = {}) {
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}

let orders = 0;

/// An order number no other test uses.
export function newOrderSn() {
  return `CLIENT-${process.pid}-${++orders}`;
}

/// A balance payout of the demo admin on a new order of the demo shop (synced first: the demo's
/// own orders had a payout at start-up, and the 60 s rule refuses another for a minute). The
/// simulated channel pays it at once: null → PAYING → SUCCEEDED, two events.
export async function createPayout(server, orderSn = newOrderSn(), amount = '5') {
  const grouped = new Date(Date.now() - 86_400_000).toISOString();
  const synced = await gql(
    server,
    server.tokens.platform,
    `mutation($i: OrderInput!) { syncOrder(input: $i) { orderSn } }`,
    { i: { orderSn, shopId: 'demo-shop', buyerId: 'buyer-1', goodsId: 'G-1', goodsName: '测试商品', activityGoods: false, paidAmount: '99.00', groupedAt: grouped } },
  );
  if (synced.errors) throw new Error(`syncOrder: ${JSON.stringify(synced.errors)}`);
  const answer = await gql(
    server,
    server.tokens.admin,
    `mutation($i: CreatePayoutInput!) { createPayout(input: $i) { id status } }`,
    { i: { orderSn, type: 'SHIPPING_FEE', amount, reason: '运费补偿', message: '运费已退，请查收', funding: 'BALANCE' } },
  );
  if (answer.errors) throw new Error(`createPayout: ${JSON.stringify(answer.errors)}`);
  return { ...answer.data.createPayout, orderSn };
}

/// Resolves when `predicate()` holds, polling; rejects after `ms`.
export async function eventually(predicate, ms = 10_000, what = 'the condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
