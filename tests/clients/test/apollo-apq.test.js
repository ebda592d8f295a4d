// Apollo Client with its persisted-query link (automatic persisted queries): the first request
// sends the hash alone and gets PERSISTED_QUERY_NOT_FOUND, the link sends the document with its
// hash, and from then on the hash alone runs it. With `useGETForHashedQueries` the hash goes by
// GET (a URL a CDN can see), the document by POST.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';

import { ApolloClient, HttpLink, InMemoryCache, gql as parse } from '@apollo/client/core/index.js';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries/index.js';

import { startServer } from './server.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

/// What a request sent: its JSON body, or for a GET its URL's parameters (`variables` and
/// `extensions` are JSON there).
function sentBy(url, init) {
  if ((init.method ?? 'GET') !== 'GET') return JSON.parse(init.body);
  const params = new URL(url).searchParams;
  const sent = {};
  for (const [name, value] of params) sent[name] = ['variables', 'extensions'].includes(name) ? JSON.parse(value) : value;
  return sent;
}

/// An Apollo client whose every HTTP exchange is recorded (`options`: the persisted-query
/// link's).
function apollo(token, exchanges, options = {}) {
  const recording = async (url, init) => {
    const response = await fetch(url, init);
    const answer = await response.clone().json();
    exchanges.push({ method: init.method ?? 'GET', sent: sentBy(url, init), answer, status: response.status, headers: response.headers });
    return response;
  };
  const http = new HttpLink({ uri: `${server.url}/graphql`, fetch: recording, headers: { authorization: `Bearer ${token}` } });
  return new ApolloClient({
    link: createPersistedQueryLink({ sha256, ...options }).concat(http),
    cache: new InMemoryCache(),
    defaultOptions: { query: { fetchPolicy: 'network-only' } },
  });
}

test('a query is sent by hash, registered once, then runs by hash alone', async () => {
  const exchanges = [];
  const client = apollo(server.tokens.admin, exchanges);
  const query = parse`query Me { me { role name } shop { name } }`;
  const first = await client.query({ query });
  assert.equal(first.data.me.role, 'ADMIN');
  assert.equal(exchanges.length, 2, 'the hash alone, then the document');
  const [hashOnly, withDocument] = exchanges;
  assert.equal(hashOnly.sent.query, undefined, 'the first request carries no document');
  const hash = hashOnly.sent.extensions.persistedQuery.sha256Hash;
  assert.match(hash, /^[0-9a-f]{64}$/);
  assert.equal(hashOnly.answer.errors[0].extensions.code, 'PERSISTED_QUERY_NOT_FOUND');
  assert.equal(hashOnly.answer.errors[0].message, 'PersistedQueryNotFound');
  assert.equal(sha256(withDocument.sent.query), hash);
  assert.equal(withDocument.answer.errors, undefined);

  // Another client (a new page load, say): the hash alone is enough now.
  const later = [];
  const again = await apollo(server.tokens.cs, later).query({ query });
  assert.equal(again.data.me.role, 'CS');
  assert.equal(later.length, 1);
  assert.equal(later[0].sent.query, undefined);
  assert.equal(later[0].sent.extensions.persistedQuery.sha256Hash, hash);
});

test('a document sent with a hash that is not its own is refused', async () => {
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${server.tokens.admin}` },
    body: JSON.stringify({
      query: '{ me { role } }',
      extensions: { persistedQuery: { version: 1, sha256Hash: sha256('{ shop { name } }') } },
    }),
  });
  const answer = await response.json();
  assert.equal(answer.errors[0].extensions.code, 'BAD_USER_INPUT', JSON.stringify(answer));
  assert.equal(answer.data ?? null, null, 'nothing ran');
});

test('with useGETForHashedQueries the hash goes by GET, the document by POST, then GET alone runs it', async () => {
  const exchanges = [];
  const client = apollo(server.tokens.admin, exchanges, { useGETForHashedQueries: true });
  const query = parse`query ShopByGet($first: Int) { shop { name } me { role } orders(first: $first) { totalCount } }`;
  const first = await client.query({ query, variables: { first: 1 } });
  assert.equal(first.data.me.role, 'ADMIN');
  assert.deepEqual(exchanges.map((e) => e.method), ['GET', 'POST'], 'the hash by GET, the document by POST');
  const [byGet, withDocument] = exchanges;
  assert.equal(byGet.sent.query, undefined, 'the GET carries no document');
  assert.deepEqual(byGet.sent.variables, { first: 1 }, 'variables in the URL');
  const hash = byGet.sent.extensions.persistedQuery.sha256Hash;
  assert.equal(byGet.answer.errors[0].extensions.code, 'PERSISTED_QUERY_NOT_FOUND');
  assert.equal(sha256(withDocument.sent.query), hash);
  assert.equal(withDocument.answer.errors, undefined);

  // A new page load: the GET alone, answered for this token only.
  const later = [];
  const again = await apollo(server.tokens.cs, later, { useGETForHashedQueries: true }).query({ query, variables: { first: 1 } });
  assert.equal(again.data.me.role, 'CS');
  assert.deepEqual(later.map((e) => e.method), ['GET']);
  assert.equal(later[0].status, 200);
  assert.equal(later[0].headers.get('cache-control'), 'private, no-store', 'an account\'s answer: no shared cache');
  assert.equal(later[0].headers.get('vary'), 'Authorization, Accept');
});

test('a mutation never runs by GET, not even by its persisted hash', async () => {
  // Registered by POST: it validates (then the role guard refuses the admin: PLATFORM only).
  const mutation = 'mutation { adjustShopBalance(shopId: "demo-shop", amount: "1", reference: "by-get") { id } }';
  const extensions = { persistedQuery: { version: 1, sha256Hash: sha256(mutation) } };
  const posted = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${server.tokens.admin}` },
    body: JSON.stringify({ query: mutation, extensions }),
  });
  assert.equal((await posted.json()).errors[0].extensions.code, 'FORBIDDEN');
  const url = new URL(`${server.url}/graphql`);
  url.searchParams.set('extensions', JSON.stringify(extensions));
  const response = await fetch(url, { headers: { authorization: `Bearer ${server.tokens.platform}` } });
  assert.equal(response.status, 405, JSON.stringify(await response.clone().json()));
  assert.equal(response.headers.get('allow'), 'POST');
});
