// Starts GraphiQL on Roster's /graphql page. Everything it loads is served by Roster
// itself (see app/web/ide.py): no CDN, no inline script (the page's CSP allows 'self' only).
(function () {
  "use strict";

  var HEADERS = JSON.stringify(
    { Authorization: "Bearer <token>", "X-Auth-Realm": "<account slug>" },
    null,
    2
  );

  var QUERY = [
    "# Roster's GraphQL API.",
    "#",
    "# Sign in: run the login mutation below with your email and password,",
    "# then put its token in the Headers tab (\"Bearer <token>\") and one of its",
    "# accounts' slug in X-Auth-Realm (optional if you belong to one account).",
    "# The headers (your token) are never saved in the browser's storage.",
    "",
    "mutation Login {",
    "  login(input: {email: \"you@example.com\", password: \"your password\"}) {",
    "    token",
    "    accounts { slug name role }",
    "    userErrors { code message }",
    "  }",
    "}",
    "",
    "query Viewer {",
    "  viewer { user { email } accounts { slug name role } }",
    "}",
    "",
  ].join("\n");

  // GraphiQL keeps tabs and history in localStorage; its history would keep each run's
  // headers, the bearer token with them. Every value is stored without its "headers".
  function withoutHeaders(value) {
    var parsed;
    try {
      parsed = JSON.parse(value);
    } catch (e) {
      return value; // a query's text, an operation's name
    }
    if (parsed === null || typeof parsed !== "object") return value;
    return JSON.stringify(parsed, function (key, v) {
      return key === "headers" ? null : v;
    });
  }
  var storage = {
    getItem: function (key) { return localStorage.getItem(key); },
    setItem: function (key, value) {
      if (key === "graphiql:headers") return; // the headers editor's text itself
      localStorage.setItem(key, withoutHeaders(value));
    },
    removeItem: function (key) { localStorage.removeItem(key); },
    clear: function () {
      Object.keys(localStorage).forEach(function (key) {
        if (key.indexOf("graphiql:") === 0) localStorage.removeItem(key);
      });
    },
    get length() {
      return Object.keys(localStorage).filter(function (key) {
        return key.indexOf("graphiql:") === 0;
      }).length;
    },
  };

  var container = document.getElementById("graphiql");
  var fetcher = GraphiQL.createFetcher({ url: container.getAttribute("data-endpoint") });
  ReactDOM.createRoot(container).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      storage: storage,
      defaultQuery: QUERY,
      defaultHeaders: HEADERS,
      shouldPersistHeaders: false,
      isHeadersEditorEnabled: true,
      defaultEditorToolsVisibility: "headers",
    })
  );
})();
