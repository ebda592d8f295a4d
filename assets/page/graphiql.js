// smallpay's GraphiQL page: GraphiQL (vendored, assets/graphiql/) with a fetcher that sends
// queries and mutations over HTTP POST and subscriptions over graphql-transport-ws
// (graphql-ws), both with the headers of GraphiQL's "Headers" tab. The socket carries them in
// connection_init, which is where smallpay reads the token. In development, a bar above the
// editor switches between the demo accounts' tokens (the page receives them from the server;
// in production it receives none).
(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('smallpay-graphiql-config').textContent);
  var wsUrl = (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + config.subscriptionEndpoint;

  // The kind of the operation GraphiQL is about to run: the named one, or the only one.
  function operationKind(query, operationName) {
    var text = query.replace(/"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*/g, ' ');
    var depth = 0, start = 0, kinds = [];
    for (var i = 0; i < text.length; i++) {
      var c = text[i];
      if (c === '{') {
        if (depth === 0) {
          var head = text.slice(start, i).trim().split(/[\s(@]+/);
          if (head[0] !== 'fragment') {
            var kind = head[0] === 'subscription' || head[0] === 'mutation' || head[0] === 'query' ? head[0] : 'query';
            kinds.push({ kind: kind, name: kind === head[0] ? head[1] || null : null });
          }
        }
        depth++;
      } else if (c === '}') {
        depth--;
        if (depth === 0) start = i + 1;
      }
    }
    var chosen = kinds.filter(function (k) { return operationName ? k.name === operationName : true; });
    return chosen.length === 1 ? chosen[0].kind : 'query';
  }

  function http(params, headers) {
    return fetch(config.endpoint, {
      method: 'POST',
      headers: Object.assign({ 'content-type': 'application/json', accept: 'application/json' }, headers),
      body: JSON.stringify(params),
    }).then(function (response) { return response.json(); });
  }

  // One socket per set of headers, opened when a subscription starts, closed after the last.
  var clients = {};
  function client(headers) {
    var key = JSON.stringify(headers);
    if (!clients[key]) {
      clients[key] = graphqlWs.createClient({ url: wsUrl, connectionParams: headers, lazy: true, retryAttempts: 0 });
    }
    return clients[key];
  }

  function subscription(params, headers) {
    return {
      subscribe: function (observer) {
        var dispose = client(headers).subscribe(params, {
          next: function (value) { observer.next(value); },
          error: function (error) {
            // A closed socket arrives as a CloseEvent: say its code and reason.
            var message = error && typeof error.code === 'number'
              ? 'the subscription socket closed: ' + error.code + ' ' + (error.reason || '')
              : String(error && error.message ? error.message : JSON.stringify(error));
            observer.error(Array.isArray(error) ? { errors: error } : new Error(message));
          },
          complete: function () { observer.complete(); },
        });
        return { unsubscribe: dispose };
      },
    };
  }

  function fetcher(params, options) {
    var headers = (options && options.headers) || {};
    return operationKind(params.query || '', params.operationName) === 'subscription'
      ? subscription(params, headers)
      : http(params, headers);
  }

  function headersFor(account) {
    return account ? JSON.stringify({ Authorization: 'Bearer ' + account.token }, null, 2) : '{}';
  }

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  function render(account) {
    root.render(React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: config.defaultQuery,
      headers: headersFor(account),
      defaultHeaders: headersFor(account),
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: 'headers',
    }));
  }

  var bar = document.getElementById('smallpay-bar');
  if (config.accounts.length > 0) {
    var label = document.createElement('label');
    label.textContent = 'Demo account: ';
    var select = document.createElement('select');
    select.id = 'smallpay-account';
    config.accounts.forEach(function (account, i) {
      var option = document.createElement('option');
      option.value = String(i);
      option.textContent = account.role + ' (' + account.sub + ')';
      select.appendChild(option);
    });
    var none = document.createElement('option');
    none.value = '';
    none.textContent = 'no token';
    select.appendChild(none);
    select.addEventListener('change', function () {
      render(select.value === '' ? null : config.accounts[Number(select.value)]);
    });
    label.appendChild(select);
    bar.appendChild(label);
    var note = document.createElement('span');
    note.className = 'note';
    note.textContent = 'development tokens, minted for this page; they go in the Headers tab';
    bar.appendChild(note);
  } else {
    bar.hidden = true;
  }
  render(config.accounts[0] || null);
})();
