/**
 * The part of fetch that the senders use, over node:http/https with agents of our choosing: global
 * fetch cannot take an http.Agent, and the agent is where destinations are checked as they are
 * connected to (see destinationGuard.ts). It has the shape of @slack/webhook's `fetch` option, so
 * Slack's IncomingWebhook sends through it as well.
 *
 * - Redirects are never followed: a 3xx is returned as the answer (a webhook that redirects is
 *   misconfigured, and following it could lead anywhere).
 * - The answer's body is read up to MAX_ANSWER_BYTES; the rest is not read.
 * - init.signal bounds the whole exchange, body included; aborting rejects with its reason.
 * - Errors are Node's own (with their `code`), DestinationRefusedError, or the signal's reason.
 */
import http from 'node:http';
import https from 'node:https';
import type { FetchFunction } from '@slack/webhook';

type FetchInit = NonNullable<Parameters<FetchFunction>[1]>;
type FetchAnswer = Awaited<ReturnType<FetchFunction>>;

export interface HttpAgents {
  http: http.Agent;
  https: https.Agent;
}

/** More than any answer the senders read (a Telegram error is a few hundred bytes). */
const MAX_ANSWER_BYTES = 64 * 1024;

function headerText(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}

function answerOf(response: http.IncomingMessage, body: Buffer): FetchAnswer {
  const status = response.statusCode ?? 0;
  const text = body.toString('utf8');
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: response.statusMessage ?? '',
    url: '', // never the request URL: it holds the webhook's secret
    headers: {
      get: (name) => headerText(response.headers[name.toLowerCase()]),
      entries: () => Object.entries(response.headers).flatMap(([name, value]) => (value === undefined ? [] : [[name, headerText(value) ?? '']] as Array<[string, string]>)),
    },
    text: async () => text,
    json: async (): Promise<unknown> => JSON.parse(text),
    arrayBuffer: async () => {
      const copy = new ArrayBuffer(body.length);
      new Uint8Array(copy).set(body);
      return copy;
    },
  };
}

export function agentFetch(agents: HttpAgents): FetchFunction {
  return (input: string | URL, init: FetchInit = {}) =>
    new Promise<FetchAnswer>((resolve, reject) => {
      const url = new URL(String(input));
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return reject(new TypeError('only http and https URLs are supported'));
      if (init.body !== undefined && typeof init.body !== 'string') return reject(new TypeError('only string bodies are supported'));
      const { signal } = init;
      if (signal?.aborted) return reject(signal.reason);

      const secure = url.protocol === 'https:';
      const body = init.body === undefined ? undefined : Buffer.from(init.body, 'utf8');
      const headers: Record<string, string | number> = { ...init.headers };
      if (body) headers['content-length'] = body.length;
      const request = (secure ? https : http).request({
        hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method: init.method ?? 'GET',
        headers,
        agent: secure ? agents.https : agents.http,
      });

      let settled = false;
      const settle = (done: () => void) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        done();
      };
      const fail = (error: unknown) => settle(() => {
        request.destroy();
        reject(error);
      });
      const onAbort = () => fail(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });

      request.on('error', fail);
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () => settle(() => {
          resolve(answerOf(response, Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES)));
          request.destroy(); // stops reading an answer longer than we keep; a no-op once it has ended
        });
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          if (size >= MAX_ANSWER_BYTES) done();
        });
        response.on('end', done);
        response.on('error', fail);
        response.on('close', () => {
          if (!response.complete) fail(Object.assign(new Error('the connection closed before the answer was complete'), { code: 'ECONNRESET' }));
        });
      });
      request.end(body);
    });
}
