// Runs graphql-http's serverAudits (the GraphQL over HTTP specification's audit suite)
// against the GraphQL endpoint given as the first argument, e.g.
//   node audit.mjs http://127.0.0.1:8000/graphql
// Prints one line per audit (id, level, status, name, and the reason of a failure), then a
// summary line "SUMMARY {json}"; exits 1 if any MUST audit fails.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql endpoint url>');
  process.exit(2);
}

const counts = {};
let mustFailed = 0;
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  const level = audit.name.split(' ')[0]; // MUST, SHOULD or MAY
  const ok = result.status === 'ok';
  const key = `${level} ${ok ? 'passed' : 'failed'}`;
  counts[key] = (counts[key] || 0) + 1;
  if (level === 'MUST' && result.status === 'error') mustFailed += 1;
  const reason = ok ? '' : `\t${String(result.reason).replace(/\s+/g, ' ')}`;
  console.log(`${result.id}\t${result.status}\t${result.name}${reason}`);
}
console.log(`SUMMARY ${JSON.stringify(counts)}`);
process.exit(mustFailed > 0 ? 1 : 0);
