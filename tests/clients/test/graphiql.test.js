// GraphiQL in a real browser (Debian's Chromium, driven by playwright-core): the page the
// binary serves loads from its own origin only, runs `{ me { role } }` with the demo admin's
// token it opens with, switches to another demo account, and shows a subscription's event
// when a payout is made through the API. Saves a screenshot under target/client-tests/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { artifacts, createPayout, eventually, gql, startServer } from './server.js';

const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

let server;
let browser;
before(async () => {
  server = await startServer();
  browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/// The Headers tab's editor (the Variables tab's is there too, hidden).
const HEADERS = '.graphiql-editor-tool .graphiql-editor:not(.hidden)';

/// The text of one of GraphiQL's editors (CodeMirror 5 keeps its instance on its element).
const editorText = (page, selector) =>
  page.evaluate((s) => document.querySelector(`${s} .CodeMirror`)?.CodeMirror.getValue() ?? '', selector);
/// `sub` and `role` of the bearer token in a Headers tab's JSON.
function claimsIn(headers) {
  const token = JSON.parse(headers).Authorization.replace(/^Bearer /, '');
  const { sub, role } = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  return { sub, role };
}
const setQuery = (page, text) =>
  page.evaluate((t) => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(t), text);

test('GraphiQL runs a query and shows a live subscription, loading nothing from elsewhere', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
  const origin = new URL(server.url).origin;
  const wsOrigin = origin.replace(/^http/, 'ws');
  const elsewhere = [];
  const problems = [];
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(origin + '/') && !url.startsWith('data:')) elsewhere.push(url);
  });
  const frames = [];
  page.on('websocket', (socket) => {
    if (!socket.url().startsWith(wsOrigin + '/')) elsewhere.push(socket.url());
    socket.on('framereceived', (frame) => frames.push(String(frame.payload)));
  });
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(String(error)));

  const response = await page.goto(`${server.url}/graphql`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-security-policy'], /default-src 'none'; script-src 'self'/);
  await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: 20_000 });

  // Opens with a token of the demo admin in the Headers tab (minted for the page).
  assert.deepEqual(claimsIn(await editorText(page, HEADERS)), { sub: 'admin', role: 'admin' });

  await setQuery(page, '{ me { role } }');
  await page.click('.graphiql-execute-button');
  await eventually(async () => (await editorText(page, '.graphiql-response')).includes('"ADMIN"'), 10_000, 'ADMIN in the result pane');

  // Another demo account, from the bar above GraphiQL.
  await page.selectOption('#smallpay-account', { label: 'cs (cs-1)' });
  await eventually(async () => claimsIn(await editorText(page, HEADERS)).role === 'cs', 5_000, 'a cs token');
  await page.click('.graphiql-execute-button');
  await eventually(async () => (await editorText(page, '.graphiql-response')).includes('"CS"'), 10_000, 'CS in the result pane');
  await page.selectOption('#smallpay-account', { label: 'admin (admin)' });
  await eventually(async () => claimsIn(await editorText(page, HEADERS)).role === 'admin', 5_000, 'the admin token');

  // A subscription over the page's socket; a payout made through the API appears in it.
  await setQuery(page, 'subscription { payoutStatusChanged { id to } }');
  await page.click('.graphiql-execute-button');
  await eventually(() => frames.some((f) => f.includes('connection_ack')), 10_000, 'the socket acknowledged');
  // The subscription starts right after the acknowledgement: give the server that moment.
  await new Promise((r) => setTimeout(r, 300));
  const payout = await createPayout(server);
  // The event ids of this payout's transitions (a transition's id is its event's id).
  const history = await gql(server, server.tokens.admin, 'query($id: ID!) { payout(id: $id) { history { id to } } }', { id: payout.id });
  const events = history.data.payout.history;
  assert.ok(events.length >= 1, JSON.stringify(history));
  await eventually(async () => {
    const text = await editorText(page, '.graphiql-response');
    return text.includes('payoutStatusChanged') && events.some((e) => text.includes(`"id": "${e.id}"`) && text.includes(`"to": "${e.to}"`));
  }, 10_000, `an event of payout ${payout.id} in the result pane`);

  mkdirSync(artifacts, { recursive: true });
  const screenshot = join(artifacts, 'graphiql.png');
  await page.screenshot({ path: screenshot });
  console.log(`screenshot: ${screenshot}`);

  assert.deepEqual(elsewhere, [], 'every request stayed on the server\'s origin');
  assert.deepEqual(problems, [], 'no script error or CSP violation on the page');
  await page.close();
});
