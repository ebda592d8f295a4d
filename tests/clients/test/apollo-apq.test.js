// Apollo Client with its persisted-query link (automatic persisted queries): the first request
// sends the hash alone and gets PERSISTED_QUERY_NOT_FOUND, the link sends the document with its
// hash, and from then on the hash alone runs it.
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

/// An Apollo client whose every HTTP exchange is recorded.
function apollo(token, exchanges) {
  const recording = async (url, init) => {
    const response = await fetch(url, init);
    const answer = await response.clone().json();
    exchanges.push({ sent: JSON.parse(init.body), answer });
    return response;
  };
  const http = new HttpLink({ uri: `${server.url}/graphql`, fetch: recording, headers: { authorization: `Bearer ${token}` } });
  return new ApolloClient({
    link: createPersistedQueryLink({ sha256 }).concat(http),
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
