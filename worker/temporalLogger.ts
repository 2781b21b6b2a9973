/**
 * Sends the Temporal SDK's log lines (and activities' `log` calls) to pino, so the worker writes
 * one JSON log stream. The SDK's own chatter (bundling, state changes) goes to debug.
 */
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import type { Logger } from 'pino';

const QUIET = new Set(['Workflow bundle created', 'Worker state changed', 'No Nexus services registered, not polling for Nexus tasks']);

export function temporalLogger(logger: Logger): TemporalLogger {
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => {
    // webpack's bundle report is one long multi-line INFO message: not useful in production logs.
    const quiet = QUIET.has(message) || message.startsWith('asset workflow-bundle');
    const target = quiet ? 'debug' : level === 'TRACE' ? 'trace' : level === 'DEBUG' ? 'debug' : level === 'WARN' ? 'warn' : level === 'ERROR' ? 'error' : 'info';
    logger[target](meta ?? {}, message);
  };
  return {
    log,
    trace: (m, meta) => log('TRACE', m, meta),
    debug: (m, meta) => log('DEBUG', m, meta),
    info: (m, meta) => log('INFO', m, meta),
    warn: (m, meta) => log('WARN', m, meta),
    error: (m, meta) => log('ERROR', m, meta),
  };
}
