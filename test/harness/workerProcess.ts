/**
 * Worker processes exactly as `npm run worker` runs them, for tests that kill one (SIGKILL) at a
 * chosen instant and start another. `stopAll` kills whatever is still running (afterAll).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../scripts/tools.js';

export interface WorkerProcesses {
  /** Starts a worker with these settings (added to the environment); resolves once it polls. */
  start(env: Record<string, string>): Promise<ChildProcess>;
  /** SIGKILLs it and waits until it is gone. */
  kill(child: ChildProcess): Promise<void>;
  stopAll(): void;
}

export function workerProcesses(): WorkerProcesses {
  const children: ChildProcess[] = [];
  const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;
  return {
    start(env) {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'worker', 'main.ts')], {
        cwd: projectRoot,
        env: { ...process.env, LOG_LEVEL: 'info', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      return new Promise((resolve, reject) => {
        let output = '';
        const timer = setTimeout(() => reject(new Error(`the worker did not start within 60 s: ${output.slice(-2000)}`)), 60_000);
        const watch = (chunk: Buffer) => {
          output += chunk.toString('utf8');
          if (output.includes('Tollgate worker running')) {
            clearTimeout(timer);
            child.stdout?.removeAllListeners('data').resume();
            child.stderr?.removeAllListeners('data').resume();
            resolve(child);
          }
        };
        child.stdout?.on('data', watch);
        child.stderr?.on('data', watch);
        child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the worker exited at start (${code}): ${output.slice(-2000)}`)); });
      });
    },
    async kill(child) {
      if (!alive(child)) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
    stopAll() {
      for (const child of children) if (alive(child)) child.kill('SIGKILL');
    },
  };
}
