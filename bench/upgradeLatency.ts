/**
 * Latency of a plan upgrade through the API to the subscription workflow and back: the API
 * measures usage, sends the `changePlan.v1` Update, the workflow decides, invoices the proration
 * (an activity), collects that invoice when a payment provider is configured (with Stripe the
 * upgrade is applied only once its invoice is paid), writes the read model (an activity), and the
 * API answers. Needs a worker: started here as its own process, exactly as `npm run worker`.
 *
 * Every answer is checked (200, the plan asked for, and the payment outcome the provider implies);
 * an answer that fails the check is counted as a failure with its reason, never as a latency.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { stopChild } from './stopChild.js';

export const UPGRADE_PATH = ['basic', 'pro', 'enterprise'] as const;

export interface UpgradeLatency {
  /** Upgrades sent (answered or not). */
  requests: number;
  /** Milliseconds of the upgrades that passed the check, ascending. */
  latenciesMs: number[];
  /** Failed upgrades by reason (status and error code, or what was wrong with a 200). */
  failures: Map<string, number>;
  /** A few failed upgrades in full, for the report. */
  failureSamples: string[];
}

interface Target {
  host: string;
  port: number;
  key: string;
}

type Answer = { status: number; body: string; ms: number } | { networkError: string };

const REQUEST_TIMEOUT_MS = 60_000;

function call(agent: http.Agent, target: Target, method: string, path: string, body: unknown): Promise<Answer> {
  const payload = JSON.stringify(body);
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const req = http.request({ host: target.host, port: target.port, method, path, agent, headers: { authorization: `Bearer ${target.key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: Number(process.hrtime.bigint() - started) / 1e6 }));
      res.on('error', (error) => resolve({ networkError: error.message }));
    });
    // A hung workflow must not hang the bench: it shows up as a failure instead.
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`timeout after ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ networkError: error.code ?? error.message }));
    req.end(payload);
  });
}

export interface WorkerProcess {
  pid: number | undefined;
  /** Why it is gone (`exited with 1`), or undefined while it runs. */
  exited(): string | undefined;
  /** The worker's warn-or-worse log lines since it started (the last 200). */
  warnings: string[];
  stop(): Promise<void>;
  /** SIGKILL, for process-exit hooks. */
  kill(): void;
}

/** pino writes JSON lines; level 40 is warn. Anything that is not a pino line is kept too. */
function isWarning(line: string): boolean {
  try {
    const level = (JSON.parse(line) as { level?: unknown }).level;
    return typeof level !== 'number' || level >= 40;
  } catch {
    return true;
  }
}

export async function startWorkerProcess(env: NodeJS.ProcessEnv, cwd: string): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], { cwd, env: { ...process.env, ...env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const stop = () => stopChild(child, 15_000);
  let output = '';
  const warnings: string[] = [];
  let pending = '';
  const keepWarnings = (chunk: Buffer) => {
    const lines = (pending + chunk.toString('utf8')).split('\n');
    pending = lines.pop() ?? '';
    warnings.push(...lines.filter((line) => line.trim() !== '' && isWarning(line)));
    if (warnings.length > 200) warnings.splice(0, warnings.length - 200);
  };
  // Ready once it says so (after bundling the workflows and registering search attributes).
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the worker did not start within 60 s: ${output.slice(-2000)}`)), 60_000);
      const watch = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (output.includes('Tollgate worker running')) {
          clearTimeout(timer);
          // From here on only its warnings are kept (it logs every activity at info).
          for (const stream of [child.stdout, child.stderr]) stream?.removeAllListeners('data').on('data', keepWarnings);
          resolve();
        }
      };
      child.stdout?.on('data', watch);
      child.stderr?.on('data', watch);
      child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`the worker exited at start (${code ?? signal}): ${output.slice(-2000)}`)); });
      child.once('error', (error) => { clearTimeout(timer); reject(error); });
    });
  } catch (error) {
    await stop();
    throw error;
  }
  const exited = () => (child.exitCode !== null ? `the worker exited with ${child.exitCode}` : child.signalCode !== null ? `the worker was killed (${child.signalCode})` : undefined);
  return { pid: child.pid, exited, warnings, stop, kill: () => { if (!gone()) child.kill('SIGKILL'); } };
}

export interface UpgradeOptions {
  customers: number;
  connections: number;
  /** Customer ids are `<idPrefix>-<n>`: one prefix per measured pass, in the same database. */
  idPrefix: string;
  /** What `change.payment.status` must say: null without a payment provider, 'paid' with one that collects. */
  expectedPayment: string | null;
  /** Runs after the customers are created and before the first upgrade (e.g. waits for their provider customers). */
  beforeUpgrades?: (customerIds: string[]) => Promise<void>;
  /** Checked before each upgrade: a reason (the worker died, SIGINT) stops the pass instead of waiting out timeouts. */
  stopReason?: () => string | undefined;
}

/** Why a 200 does not count, or undefined when it is the upgrade asked for. */
function problemWith(body: string, plan: string, expectedPayment: string | null): string | undefined {
  let parsed: { subscription?: { plan?: { id?: unknown } }; change?: { payment?: { status?: unknown } | null } };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    return '200 with a body that is not JSON';
  }
  const planId = parsed.subscription?.plan?.id;
  if (planId !== plan) return `200 but plan is ${JSON.stringify(planId)}, not "${plan}"`;
  const payment = parsed.change?.payment === null || parsed.change?.payment === undefined ? null : String(parsed.change.payment.status);
  if (payment !== expectedPayment) return `200 but payment is ${JSON.stringify(payment)}, not ${JSON.stringify(expectedPayment)}`;
  return undefined;
}

function failureKind(answer: Answer): string {
  if ('networkError' in answer) return `network ${answer.networkError}`;
  let code: unknown;
  try {
    code = (JSON.parse(answer.body) as { error?: { code?: unknown } }).error?.code;
  } catch {
    // not JSON: the status says it
  }
  return typeof code === 'string' ? `${answer.status} ${code}` : `${answer.status}`;
}

/** Creates `customers` Free customers, then upgrades each Free → Basic → Pro → Enterprise, `connections` at a time. */
export async function measureUpgradeLatency(target: Target, options: UpgradeOptions): Promise<UpgradeLatency> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const ids = Array.from({ length: options.customers }, (_, i) => `${options.idPrefix}-${i}`);
  const latenciesMs: number[] = [];
  const failures = new Map<string, number>();
  const failureSamples: string[] = [];
  let requests = 0;
  try {
    for (const id of ids) {
      const created = await call(agent, target, 'POST', '/v1/customers', { id, name: 'Upgrade Bench', email: 'bench@tollgate.test', plan: 'free' });
      if (!('status' in created) || created.status !== 201) {
        throw new Error(`creating ${id}: ${'status' in created ? `${created.status} ${created.body.slice(0, 200)}` : created.networkError}`);
      }
    }
    await options.beforeUpgrades?.(ids);
    let next = 0;
    await Promise.all(Array.from({ length: options.connections }, async () => {
      while (next < ids.length && options.stopReason?.() === undefined) {
        const id = ids[next++]!;
        for (const plan of UPGRADE_PATH) {
          if (options.stopReason?.() !== undefined) break;
          const answer = await call(agent, target, 'POST', `/v1/customers/${id}/subscription/change`, { plan });
          requests += 1;
          const problem = 'status' in answer && answer.status === 200 ? problemWith(answer.body, plan, options.expectedPayment) : failureKind(answer);
          if (problem === undefined && 'ms' in answer) {
            latenciesMs.push(answer.ms);
            continue;
          }
          const kind = problem ?? 'unknown';
          failures.set(kind, (failures.get(kind) ?? 0) + 1);
          if (failureSamples.length < 5) {
            failureSamples.push(`${id} → ${plan}: ${'status' in answer ? `${answer.status} ${answer.body.slice(0, 300)}` : answer.networkError}`);
          }
        }
      }
    }));
  } finally {
    agent.destroy();
  }
  const stopped = options.stopReason?.();
  if (stopped !== undefined) {
    const notSent = ids.length * UPGRADE_PATH.length - requests;
    if (notSent > 0) failures.set(`not sent: ${stopped}`, notSent);
    requests += notSent;
  }
  latenciesMs.sort((a, b) => a - b);
  return { requests, latenciesMs, failures, failureSamples };
}
