/**
 * Where customer-supplied webhooks (Slack, Discord) may go. A customer names the URL, so without a
 * guard the worker would POST wherever it is told: to a cloud metadata service, an admin port on
 * loopback, a database on the private network. By default only https to public addresses is
 * allowed, without user info in the URL; the two settings of WebhookPolicy relax that for tests
 * and for deployments whose chat services live on a private network.
 *
 * The address check has two halves:
 * - webhookUrlProblem judges the URL itself (scheme, user info, IP-literal hosts). The API runs it
 *   when channels are saved, the senders again before each delivery (settings may have changed).
 * - destinationAgents gives http/https Agents that refuse a non-public address at connection
 *   time: names go through a lookup that refuses them, IP literals (which Node connects to without
 *   a lookup) are refused in createConnection. The address checked is the address connected to,
 *   so a name that resolves to a public address when saved and to 127.0.0.1 when sending (DNS
 *   rebinding) is still refused.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { isPublicAddress } from './publicAddress.js';

export interface WebhookPolicy {
  /** Accept plain http:// webhook URLs (tests, or a receiver on a trusted network). */
  allowHttp: boolean;
  /** Accept private, loopback, link-local and other non-public destinations. */
  allowPrivateNetworks: boolean;
}

export const DEFAULT_WEBHOOK_POLICY: Readonly<WebhookPolicy> = Object.freeze({ allowHttp: false, allowPrivateNetworks: false });

/** The code of DestinationRefusedError: how callers recognise it through the wrappers of other libraries. */
export const DESTINATION_REFUSED = 'ERR_DESTINATION_REFUSED';

/** What a connection to a non-public address fails with. */
export class DestinationRefusedError extends Error {
  readonly code = DESTINATION_REFUSED;
  constructor() {
    super('the destination is not a public address');
    this.name = 'DestinationRefusedError';
  }
}

/** The host of a URL without the brackets of an IPv6 literal. */
function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/**
 * Why this webhook URL is refused under the policy, as a short phrase for an API answer or a
 * delivery report ("must be an https URL"), or undefined when it may be used. Host names are not
 * resolved here: that happens at delivery, where the address is checked as it is connected to.
 * IP literals are judged after the URL parser's normalisation (0x7f.1, 2130706433 and
 * [::ffff:127.0.0.1] are all loopback).
 */
export function webhookUrlProblem(value: string, policy: WebhookPolicy): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be a valid URL';
  }
  const scheme = url.protocol === 'https:' || (policy.allowHttp && url.protocol === 'http:');
  if (!scheme) return policy.allowHttp ? 'must be an http or https URL' : 'must be an https URL';
  if (url.username !== '' || url.password !== '') return 'must not contain a user name or password';
  const host = bareHost(url.hostname);
  if (!policy.allowPrivateNetworks && net.isIP(host) !== 0 && !isPublicAddress(host)) {
    return 'must not name a private, loopback, link-local or other non-public address';
  }
  return undefined;
}

type Resolve = (hostname: string, options: dns.LookupAllOptions, callback: (error: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void) => void;

/**
 * A `lookup` for net/tls connections that resolves as usual and refuses the name when any of its
 * addresses is not public (a name that mixes public and private addresses is not trusted).
 * `resolve` is for tests.
 */
export function guardedLookup(resolve: Resolve = dns.lookup): net.LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '');
      const first = addresses[0];
      if (!first || addresses.some((a) => !isPublicAddress(a.address))) return callback(new DestinationRefusedError(), '');
      if (options.all) return callback(null, addresses);
      return callback(null, first.address, first.family);
    });
  };
}

type ConnectCallback = (error: Error | null, socket: Duplex) => void;

/** Refuses a connection to a non-public IP literal (Node connects to literals without calling `lookup`). */
function refuseLiteral(options: http.ClientRequestArgs, callback: ConnectCallback | undefined): boolean {
  const host = bareHost(options.host ?? options.hostname ?? '');
  if (net.isIP(host) === 0 || isPublicAddress(host)) return false;
  const error = new DestinationRefusedError();
  if (!callback) throw error;
  // On failure Node's Agent expects callback(error) alone; @types/node insists on a socket.
  const failConnection = callback as unknown as (failure: Error) => void;
  process.nextTick(() => failConnection(error));
  return true;
}

class GuardedHttpAgent extends http.Agent {
  override createConnection(options: http.ClientRequestArgs, callback?: ConnectCallback): Duplex | null | undefined {
    return refuseLiteral(options, callback) ? undefined : super.createConnection(options, callback);
  }
}

class GuardedHttpsAgent extends https.Agent {
  override createConnection(options: http.ClientRequestArgs, callback?: ConnectCallback): Duplex | null | undefined {
    return refuseLiteral(options, callback) ? undefined : super.createConnection(options, callback);
  }
}

export interface DestinationAgents {
  http: http.Agent;
  https: https.Agent;
  destroy(): void;
}

/** Agents for requests to customer-supplied destinations: guarded unless the policy allows private networks. */
export function destinationAgents(policy: Pick<WebhookPolicy, 'allowPrivateNetworks'>): DestinationAgents {
  const agents = policy.allowPrivateNetworks
    ? { http: new http.Agent(), https: new https.Agent() }
    : { http: new GuardedHttpAgent({ lookup: guardedLookup() }), https: new GuardedHttpsAgent({ lookup: guardedLookup() }) };
  return {
    ...agents,
    destroy() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}
