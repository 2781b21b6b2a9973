/**
 * Latency of a plan upgrade through the API to the subscription workflow and back: the API
 * measures usage, sends the `changePlan.v1` Update, the workflow decides, invoices the proration
 * (an activity) and writes the read model (an activity), and the API answers. Needs a worker:
 * started here as its own process, exactly as `npm run worker`.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';

export interface UpgradeLatency {
  requests: number;
  errors: string[];
  p50: number;
  p99: number;
  max: number;
}

interface Target {
  host: string;
  port: number;
  key: string;
}

function call(agent: http.Agent, target: Target, method: string, path: string, body: unknown): Promise<{ status: number; body: string; ms: number }> {
  const payload = JSON.stringify(body);
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: target.host, port: target.port, method, path, agent, headers: { authorization: `Bearer ${target.key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export async function startWorkerProcess(env: NodeJS.ProcessEnv, cwd: string): Promise<{ stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], { cwd, env: { ...process.env, ...env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  // Ready once it says so (after bundling the workflows and registering search attributes).
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the worker did not start within 60 s: ${output.join('').slice(-2000)}`)), 60_000);
    const watch = (chunk: Buffer) => {
      output.push(chunk.toString('utf8'));
      if (output.join('').includes('Tollgate worker running')) { clearTimeout(timer); resolve(); }
    };
    child.stdout?.on('data', watch);
    child.stderr?.on('data', watch);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the worker exited at start (${code}): ${output.join('').slice(-2000)}`)); });
  });
  child.stdout?.removeAllListeners('data');
  child.stdout?.resume();
  return {
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('exit', () => { clearTimeout(timer); resolve(); });
      child.kill('SIGTERM');
    }),
  };
}

/** Creates `customers` Free customers, then upgrades each Free → Basic → Pro → Enterprise, `connections` at a time. */
export async function measureUpgradeLatency(target: Target, options: { customers: number; connections: number }): Promise<UpgradeLatency> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const ids = Array.from({ length: options.customers }, (_, i) => `upgrade-${i}`);
  const errors: string[] = [];
  for (const id of ids) {
    const created = await call(agent, target, 'POST', '/v1/customers', { id, name: 'Upgrade Bench', email: 'bench@tollgate.test', plan: 'free' });
    if (created.status !== 201) throw new Error(`creating ${id}: ${created.status} ${created.body.slice(0, 200)}`);
  }
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: options.connections }, async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      for (const plan of ['basic', 'pro', 'enterprise']) {
        const res = await call(agent, target, 'POST', `/v1/customers/${id}/subscription/change`, { plan });
        if (res.status === 200) latencies.push(res.ms);
        else errors.push(`${id} → ${plan}: ${res.status} ${res.body.slice(0, 120)}`);
      }
    }
  }));
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return { requests: latencies.length + errors.length, errors, p50: at(0.5), p99: at(0.99), max: latencies.at(-1) ?? Number.NaN };
}
