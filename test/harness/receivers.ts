/**
 * Loopback peers for the notification senders: an SMTP server that parses what it receives, and
 * an HTTP server that stands in for Slack and Discord webhooks and the Telegram Bot API. Both can
 * be told to fail the next N deliveries with a given code.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedEmail {
  /** Envelope sender (MAIL FROM). */
  from: string;
  /** Envelope recipients (RCPT TO). */
  to: string[];
  subject: string;
  text: string;
}

export interface SmtpReceiver {
  /** smtp://127.0.0.1:<port> */
  url: string;
  port: number;
  messages: ReceivedEmail[];
  /** Rejects the next `count` messages (at the end of DATA) with this SMTP reply code, e.g. 451 or 550. */
  failNext(count: number, code: number): void;
  /** Forgets the received messages and pending failures. */
  reset(): void;
  close(): Promise<void>;
}

export async function startSmtpReceiver(): Promise<SmtpReceiver> {
  const messages: ReceivedEmail[] = [];
  let failures: { count: number; code: number } = { count: 0, code: 0 };

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 1000,
    onData(stream, session, callback) {
      // The whole message is read before answering, failing or not, as a real server would.
      simpleParser(stream)
        .then((parsed) => {
          if (failures.count > 0) {
            failures = { count: failures.count - 1, code: failures.code };
            const reply = failures.code >= 500 ? 'Mailbox unavailable (injected failure)' : 'Try again later (injected failure)';
            callback(Object.assign(new Error(reply), { responseCode: failures.code }));
            return;
          }
          const mailFrom = session.envelope.mailFrom;
          messages.push({
            from: mailFrom ? mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            subject: parsed.subject ?? '',
            text: (parsed.text ?? '').replace(/\r?\n$/, ''),
          });
          callback();
        })
        .catch((error: unknown) => callback(error instanceof Error ? error : new Error(String(error))));
    },
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    const listener = server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((listener.address() as AddressInfo).port);
    });
  });

  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages,
    failNext(count, code) {
      failures = { count, code };
    },
    reset() {
      messages.length = 0;
      failures = { count: 0, code: 0 };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface ReceivedRequest {
  method: string;
  /** Path and query, e.g. /bot123:abc/sendMessage */
  path: string;
  /** Parsed JSON, or the raw string when the body is not JSON. */
  body: unknown;
  /** The body as sent (what a signature covers). */
  rawBody: string;
  contentType: string | undefined;
  headers: http.IncomingHttpHeaders;
}

export interface HttpAttempt extends ReceivedRequest {
  /** The status answered (0 while a stalled request is still open). */
  status: number;
}

export interface HttpReceiver {
  /** http://127.0.0.1:<port> */
  baseUrl: string;
  port: number;
  /** Requests answered with success, in arrival order. */
  requests: ReceivedRequest[];
  /** Every request, answered with success, failed or stalled. */
  attempts: HttpAttempt[];
  /** Answers the next `count` requests with this status (and this JSON body instead of the default error body). */
  failNext(count: number, status: number, body?: unknown): void;
  /** Answers every request with this status (and this body instead of the default error body) until called with null. */
  failAlways(status: number | null, body?: unknown): void;
  /** Never answers the next `count` requests (until close), to exercise client timeouts. */
  stallNext(count: number): void;
  /**
   * Holds the next request open until `release()`, then answers it as usual: `arrived` resolves
   * once the request has been read, so a test can look at the system while the sender waits.
   */
  holdNext(): { arrived: Promise<void>; release(): void };
  /** Forgets the recorded requests and every pending failure or stall. */
  reset(): void;
  close(): Promise<void>;
}

/**
 * Success answers look like the real services': `ok` as text under /slack (Slack's webhook
 * answer), 204 without a body under /discord, and 200 with JSON {"ok":true,"result":{}} elsewhere
 * (Telegram). Failures answer JSON in the Telegram and Discord error shape:
 * {"ok":false,"error_code":<status>,"description":<reason>,"message":<reason>}.
 */
export async function startHttpReceiver(): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  const attempts: HttpAttempt[] = [];
  let failNextCount = 0;
  let failNextStatus = 500;
  let failNextBody: unknown;
  let failAlwaysStatus: number | null = null;
  let failAlwaysBody: unknown;
  let stallCount = 0;
  let hold: { arrived(): void; released: Promise<void> } | undefined;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown = raw;
      try {
        body = JSON.parse(raw);
      } catch {
        // not JSON: keep the raw string
      }
      const request: ReceivedRequest = { method: req.method ?? '', path: req.url ?? '', body, rawBody: raw, contentType: req.headers['content-type'], headers: req.headers };
      const attempt: HttpAttempt = { ...request, status: 0 };
      attempts.push(attempt);

      if (stallCount > 0) {
        stallCount -= 1;
        return; // closeAllConnections() in close() ends it
      }
      if (hold) {
        const held = hold;
        hold = undefined;
        held.arrived();
        await held.released;
      }
      let failWith: number | null = failAlwaysStatus;
      let failBody: unknown = failAlwaysBody;
      if (failWith === null && failNextCount > 0) {
        failNextCount -= 1;
        failWith = failNextStatus;
        failBody = failNextBody;
      }
      if (failWith !== null) {
        const reason = http.STATUS_CODES[failWith] ?? 'Error';
        attempt.status = failWith;
        res.writeHead(failWith, { 'content-type': typeof failBody === 'string' ? 'text/plain' : 'application/json' });
        const payload = failBody ?? { ok: false, error_code: failWith, description: reason, message: reason };
        res.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
        return;
      }
      requests.push(request);
      if (request.path.startsWith('/slack')) {
        attempt.status = 200;
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      } else if (request.path.startsWith('/discord')) {
        attempt.status = 204;
        res.writeHead(204);
        res.end();
      } else {
        attempt.status = 200;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true, result: {} }));
      }
    });
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    requests,
    attempts,
    failNext(count, status, body) {
      failNextCount = count;
      failNextStatus = status;
      failNextBody = body;
    },
    failAlways(status, body) {
      failAlwaysStatus = status;
      failAlwaysBody = body;
    },
    stallNext(count) {
      stallCount = count;
    },
    holdNext() {
      let arrived!: () => void;
      let release!: () => void;
      const arrival = new Promise<void>((resolve) => (arrived = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      hold = { arrived, released };
      return { arrived: arrival, release };
    },
    reset() {
      requests.length = 0;
      attempts.length = 0;
      failNextCount = 0;
      failNextBody = undefined;
      failAlwaysStatus = null;
      failAlwaysBody = undefined;
      stallCount = 0;
      hold = undefined;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
