/**
 * The Temporal CLI dev server (a real Temporal server with SQLite persistence and the Web UI),
 * started with Tollgate's search attributes registered.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { searchAttributeFlags } from '../../workflows/searchAttributes.js';
import { findTemporalCli } from '../tools.js';
import { freePort, waitForPort } from './freePort.js';

export interface RunningTemporal {
  address: string;
  uiUrl?: string;
  /** The server's process, for the storm bench's memory figures (absent when the SDK runs it). */
  pid?: number;
  stop(): Promise<void>;
}

interface DevServerOptions {
  port: number;
  uiPort?: number;
  /** SQLite file; omitted → in memory. */
  dbFile?: string;
  log?: (line: string) => void;
}

export async function startTemporalDevServer(options: DevServerOptions): Promise<RunningTemporal> {
  const cli = findTemporalCli();
  if (cli.kind === 'sdk-download') return startWithSdkDownload(options);
  // Ports are picked free just before the server binds them; another process can take one in
  // between (tests start servers in parallel). Such a start fails at once: try fresh ports.
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(cli.path, attempt === 1 ? options : { ...options, port: await freePort() });
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function startOnce(cliPath: string, options: DevServerOptions): Promise<RunningTemporal> {
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(options.port),
    '--http-port', String(await freePort()),
    '--metrics-port', String(await freePort()),
    '--log-level', 'error',
    // The default SQLite settings make the dev server slow; WAL keeps it durable enough for local use.
    '--sqlite-pragma', 'journal_mode=WAL',
    '--sqlite-pragma', 'synchronous=NORMAL',
    // Plan changes answer only after their write activity: handing that activity straight back to
    // the worker that scheduled it (eager dispatch) saves a trip through the task queue.
    '--dynamic-config-value', 'system.enableActivityEagerExecution=true',
    ...searchAttributeFlags(),
  ];
  if (options.dbFile) args.push('--db-filename', options.dbFile);
  if (options.uiPort) args.push('--ui-port', String(options.uiPort), '--ui-disable-news-fetch');
  else args.push('--headless');
  const child: ChildProcess = spawn(cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const recent: string[] = [];
  const forward = (chunk: Buffer) => {
    const text = chunk.toString();
    recent.push(text);
    if (recent.length > 20) recent.shift();
    options.log?.(text);
  };
  child.stdout?.on('data', forward);
  child.stderr?.on('data', forward);
  let exited: string | undefined;
  const exit = new Promise<never>((_, reject) => child.once('exit', (code, signal) => {
    exited = `exited with ${code ?? signal}`;
    reject(new Error(exited));
  }));
  exit.catch(() => undefined);
  try {
    await Promise.race([waitForPort(options.port, 30_000), exit]);
    // A port answering while our server already died belongs to someone else.
    if (exited) throw new Error(exited);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`the Temporal dev server did not start (${exited ?? (error as Error).message}): ${recent.join('').slice(-1500)}`);
  }
  return {
    address: `127.0.0.1:${options.port}`,
    ...(child.pid === undefined ? {} : { pid: child.pid }),
    uiUrl: options.uiPort ? `http://127.0.0.1:${options.uiPort}` : undefined,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      child.once('exit', () => { clearTimeout(timer); resolve(); });
      child.kill('SIGTERM');
    }),
  };
}

/** Last resort when no CLI binary can be had from a registry: the SDK downloads one (needs internet). */
async function startWithSdkDownload(options: { port: number; uiPort?: number; dbFile?: string }): Promise<RunningTemporal> {
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      ip: '127.0.0.1',
      port: options.port,
      ui: options.uiPort !== undefined,
      uiPort: options.uiPort,
      dbFilename: options.dbFile,
      extraArgs: searchAttributeFlags(),
    },
  });
  return {
    address: env.address,
    uiUrl: options.uiPort ? `http://127.0.0.1:${options.uiPort}` : undefined,
    stop: () => env.teardown(),
  };
}
