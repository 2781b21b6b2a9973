/** Connection options for Temporal shared by the API (client) and the worker. */
import type { WorkerSettings } from './settings.js';

export function temporalConnectionOptions(settings: Pick<WorkerSettings, 'TEMPORAL_ADDRESS' | 'TEMPORAL_TLS' | 'TEMPORAL_API_KEY'>) {
  return {
    address: settings.TEMPORAL_ADDRESS,
    tls: settings.TEMPORAL_TLS === 'true' ? {} : undefined,
    apiKey: settings.TEMPORAL_API_KEY,
  };
}
