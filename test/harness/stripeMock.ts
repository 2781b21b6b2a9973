/**
 * Stripe's official API mock (stripe-mock) for one test file: HTTP only, loopback only, on a port
 * the kernel picks. Callers stop it in `afterAll`; an exit hook also kills it if the test process
 * ends without getting there, so no stray server outlives a run.
 *
 * Why `-http-addr 127.0.0.1:0 -https-addr 127.0.0.1:0` and not `-http-port <free port>`:
 * - `-http-port P` binds every interface, and picking a free port first leaves a window in which
 *   a parallel test can take it; port 0 lets the kernel choose at bind time, and we read the
 *   chosen port back from the line stripe-mock prints.
 * - stripe-mock v0.203.0 starts its HTTPS listener on the fixed port 12112 whenever `-http-addr`
 *   is given without an HTTPS flag (its "HTTP was explicitly requested" check omits `-http-addr`),
 *   so two files running at once would collide there. Giving HTTPS its own kernel-picked loopback
 *   port is the only flag combination that keeps the HTTP listener on 127.0.0.1 and frees 12112
 *   (`-http` cannot be combined with `-http-addr`). Nothing talks to that HTTPS port.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { findStripeMock } from '../../scripts/tools.js';

export interface RunningStripeMock {
  port: number;
  /** `http://127.0.0.1:<port>`, the base URL of the API (paths start with `/v1/…`). */
  url: string;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 20_000;
const LISTENING = /Listening for HTTP at address: 127\.0\.0\.1:(\d+)/;

export async function startStripeMock(options: { log?: (text: string) => void } = {}): Promise<RunningStripeMock> {
  const binary = findStripeMock();
  const child = spawn(binary, ['-http-addr', '127.0.0.1:0', '-https-addr', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killOnExit = () => { child.kill('SIGKILL'); };
  process.once('exit', killOnExit);

  let output = '';
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) => child.once('exit', (code, signal) => {
    exited = `exited with ${code ?? signal}`;
    process.removeListener('exit', killOnExit);
    resolve();
  }));
  const port = new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      output = (output + text).slice(-4_000);
      options.log?.(text);
      const match = LISTENING.exec(output);
      if (match?.[1]) resolve(Number(match[1]));
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', reject);
    void exit.then(() => reject(new Error(exited)));
  });
  port.catch(() => undefined); // it may lose the race to the timeout and reject later, on stop

  const stop = async (): Promise<void> => {
    // No pid: the spawn itself failed, so there is no process and no exit event to wait for.
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    child.kill('SIGTERM');
    await exit;
    clearTimeout(timer);
  };

  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no "Listening for HTTP" line within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    });
    const chosen = await Promise.race([port, timeout]);
    const url = `http://127.0.0.1:${chosen}`;
    await Promise.race([waitUntilAnswering(url, START_TIMEOUT_MS), timeout]);
    return { port: chosen, url, stop };
  } catch (error) {
    await stop();
    throw new Error(`stripe-mock (${binary}) did not start: ${(error as Error).message}\n${output.slice(-1_500)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** The listener is bound once the port is printed; this proves the API router is serving too. */
async function waitUntilAnswering(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await new Promise<number | undefined>((resolve) => {
      const request = http.get(`${url}/v1/customers/cus_probe`, {
        headers: { Authorization: 'Bearer sk_test_123' },
        agent: false,
      }, (response) => {
        response.resume();
        resolve(response.statusCode);
      });
      request.once('error', () => resolve(undefined));
    });
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`GET /v1/customers/cus_probe answered ${status ?? 'nothing'}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
