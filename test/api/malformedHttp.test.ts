/**
 * HTTP that Node's parser refuses before any route sees it (a NUL in a header, headers too large,
 * a broken request line) still gets the API's JSON error shape, and the connection is closed.
 * Sent over raw sockets: fetch would refuse to send most of it.
 */
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';

let api: ApiHarness;
let port: number;

beforeAll(async () => {
  api = await startApiHarness({ withWorker: false });
  port = Number(new URL(api.baseUrl).port);
});

afterAll(async () => {
  await api?.close();
});

interface RawAnswer {
  statusLine: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * Writes each request once the previous one is answered (no pipelining), reads until the server
 * closes the connection, and parses the answers.
 */
function raw(chunks: string[]): Promise<{ answers: RawAnswer[] }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('the server did not close the connection')); }, 10_000);
    let written = 0;
    const writeNext = () => { if (written < chunks.length) socket.write(chunks[written++]!); };
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      if (parseAnswers(Buffer.concat(received)).length >= written) writeNext();
    });
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ answers: parseAnswers(Buffer.concat(received)) });
    });
    socket.on('connect', writeNext);
  });
}

/** Splits complete HTTP/1.1 answers (Content-Length bodies, counted in bytes). */
function parseAnswers(bytes: Buffer): RawAnswer[] {
  const answers: RawAnswer[] = [];
  let rest = bytes;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const [statusLine, ...lines] = rest.subarray(0, end).toString('latin1').split('\r\n');
    const headers = Object.fromEntries(lines.map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
    }));
    const bodyStart = end + 4;
    const bodyEnd = bodyStart + Number(headers['content-length'] ?? 0);
    if (rest.length < bodyEnd) break;
    answers.push({ statusLine: statusLine!, headers, body: rest.subarray(bodyStart, bodyEnd).toString('utf8') });
    rest = rest.subarray(bodyEnd);
  }
  return answers;
}

function expectJsonError(answer: RawAnswer | undefined, status: number, code: string) {
  expect(answer?.statusLine).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
  expect(answer!.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(answer!.headers.connection).toBe('close');
  const body = JSON.parse(answer!.body) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.message).toEqual(expect.any(String));
}

it('a NUL in a header is a JSON 400 bad_request', async () => {
  const { answers } = await raw(['GET /health HTTP/1.1\r\nHost: localhost\r\nX-Trace: a\u0000b\r\n\r\n']);
  expect(answers).toHaveLength(1);
  expectJsonError(answers[0], 400, 'bad_request');
});

it('headers larger than the server takes are a JSON 431 request_header_fields_too_large', async () => {
  const { answers } = await raw([`GET /health HTTP/1.1\r\nHost: localhost\r\nX-Padding: ${'a'.repeat(20 * 1024)}\r\n\r\n`]);
  expect(answers).toHaveLength(1);
  expectJsonError(answers[0], 431, 'request_header_fields_too_large');
});

it('a request line that is not HTTP is a JSON 400', async () => {
  const { answers } = await raw(['HELLO THERE\r\n\r\n']);
  expectJsonError(answers[0], 400, 'bad_request');
});

it('after an answered request on a kept-alive connection, a malformed one is answered on its own', async () => {
  const { answers } = await raw([
    `GET /openapi.json HTTP/1.1\r\nHost: localhost\r\n\r\n`,
    'GET /health HTTP/1.1\r\nHost: localhost\r\nBad Header: yes\r\n\r\n',
  ]);
  expect(answers).toHaveLength(2);
  expect(answers[0]!.statusLine).toMatch(/^HTTP\/1\.1 200 /);
  expect(JSON.parse(answers[0]!.body)).toHaveProperty('openapi');
  expectJsonError(answers[1], 400, 'bad_request');
});

it('well-formed requests are unaffected', async () => {
  const res = await api.request('GET', '/openapi.json', { auth: null });
  expect(res.status).toBe(200);
});
