// Subscribes to a Roster server with the graphql-ws reference client and prints, one JSON
// object a line: {"ready": true} once acknowledged, {"next": payload} per result,
// {"error": ...} and {"closed": code} at the end. Used by tests/graphql/test_ws_client.py.
//
//   node subscribe.mjs URL '{"Authorization": "Bearer ..."}' 'subscription { ... }' COUNT
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, params, query, count] = process.argv.slice(2);
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");
let received = 0;

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: JSON.parse(params),
  retryAttempts: 0,
  lazy: false,
  on: {
    connected: () => print({ ready: true }),
    closed: (event) => {
      print({ closed: event.code });
      process.exit(0);
    },
  },
});

client.subscribe(
  { query },
  {
    next: (payload) => {
      print({ next: payload });
      received += 1;
      if (received >= Number(count)) client.dispose();
    },
    error: (error) => print({ error: error?.code ?? String(error) }),
    complete: () => {},
  },
);
