/**
 * The plain `node:http` ceiling (../shared/LIMITS.md: "node:http, parse body, fixed JSON answer"):
 * what one Node process on this machine can answer at most, with no framework, no auth, no
 * validation and no database. bench/run.ts starts it as its own process (as it starts the API, so
 * it gets its own share of the cores), drives it with the same load generator, connections and
 * requests as its HTTP scenarios, and divides their figures by this one's.
 *
 *   node --import tsx bench/httpCeiling.ts <host> <port>
 *
 * Every request: the body is read to its end and parsed as JSON when there is one; the answer is
 * the same small JSON (200), or 400 when the body is not JSON.
 */
import http from 'node:http';

const [host = '127.0.0.1', portText = ''] = process.argv.slice(2);
const port = Number(portText);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: httpCeiling.ts <host> <port>\n');
  process.exit(2);
}

const CEILING_ANSWER = '{"status":"counted","allowed":true}';
const BAD_JSON = '{"error":{"code":"invalid_json","message":"not JSON"}}';

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let answer = CEILING_ANSWER;
    let status = 200;
    if (chunks.length > 0) {
      try {
        JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        answer = BAD_JSON;
        status = 400;
      }
    }
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(answer) });
    res.end(answer);
  });
});

server.listen(port, host);
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
