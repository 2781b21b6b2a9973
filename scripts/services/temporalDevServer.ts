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
  stop(): Promise<void>;
}

export async function startTemporalDevServer(options: {
  port: number;
  uiPort?: number;
  /** SQLite file; omitted → in memory. */
  dbFile?: string;
  log?: (line: string) => void;
}): Promise<RunningTemporal> {
  const cli = findTemporalCli();
  if (cli.kind === 'sdk-download') return startWithSdkDownload(options);
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
    ...searchAttributeFlags(),
  ];
  if (options.dbFile) args.push('--db-filename', options.dbFile);
  if (options.uiPort) args.push('--ui-port', String(options.uiPort), '--ui-disable-news-fetch');
  else args.push('--headless');
  const child: ChildProcess = spawn(cli.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const forward = (chunk: Buffer) => options.log?.(chunk.toString());
  child.stdout?.on('data', forward);
  child.stderr?.on('data', forward);
  let exited: string | undefined;
  child.once('exit', (code, signal) => { exited = `exited with ${code ?? signal}`; });
  try {
    await waitForPort(options.port, 30_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`the Temporal dev server did not start (${exited ?? (error as Error).message})`);
  }
  return {
    address: `127.0.0.1:${options.port}`,
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
