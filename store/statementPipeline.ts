/** Sending a transaction's statements without waiting for each answer (store/usageLedger.ts). */
import type pg from 'pg';

/**
 * Statements whose answers the code does not need before sending the next, on a connection in
 * node-postgres's pipeline mode (the API's usage pool, store/db.ts) go out together: one round
 * trip instead of one each (a round trip costs this 2-core machine more than the statement, issue
 * 11's notes). The server still runs them one after another, in the order sent (so the usage
 * ledger's locking order holds). On a connection without pipelining each is sent once the one
 * before has answered (node-postgres is deprecating queueing a query behind another), and none
 * after a failure. Each promise gets a handler at once, so a failure of one sent early is not an
 * unhandled rejection while a later one is awaited.
 */
/** The socket under a node-postgres client (not in its types; absent in other drivers or versions). */
type Corkable = { cork(): void; uncork(): void };
function socketOf(client: pg.ClientBase): Corkable | undefined {
  const stream = (client as unknown as { connection?: { stream?: Partial<Corkable> } }).connection?.stream;
  return typeof stream?.cork === 'function' && typeof stream.uncork === 'function' ? (stream as Corkable) : undefined;
}

export class StatementPipeline {
  private readonly sent: Array<Promise<unknown>> = [];
  private readonly socket: Corkable | undefined;
  private corked = false;
  private last: Promise<unknown> = Promise.resolve();
  private readonly pipelining: boolean;
  private failed = false;
  private abandoned = false;
  constructor(client: pg.ClientBase) {
    this.pipelining = (client as Partial<pg.Client>).pipeline === true;
    this.socket = this.pipelining ? socketOf(client) : undefined;
  }
  /**
   * node-postgres writes each pipelined statement on its own (a writev each). The socket stays
   * corked from a round trip's first statement until it is awaited (`all`, `commit`, `abandon`),
   * so the round trip's statements leave in one write: in a profile of single events on 1,000
   * customers, writev was a quarter of the API's time with a write per statement.
   */
  private cork(): void {
    if (this.corked || !this.socket) return;
    this.socket.cork();
    this.corked = true;
  }
  private uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.socket!.uncork();
  }
  /**
   * Sends the query `issue` makes: `issue` issues it before it returns (or throws), so what is
   * sent after it goes after it. `mapError` turns its failure into the one reported.
   */
  send<T>(issue: () => Promise<T>, mapError?: (error: unknown) => unknown): Promise<T> {
    const next = (): Promise<T> => {
      if (this.abandoned) return Promise.reject(new Error('internal: a statement after the transaction was given up'));
      if (this.pipelining) this.cork();
      try {
        return issue();
      } catch (error) {
        return Promise.reject(error);
      }
    };
    const raw = this.pipelining ? next() : this.last.then(next);
    raw.catch(() => {
      this.failed = true;
    });
    const query = mapError ? raw.catch((error: unknown) => { throw mapError(error); }) : raw;
    query.catch(() => undefined);
    this.sent.push(query);
    this.last = raw;
    return query;
  }
  /**
   * Sends COMMIT behind what was sent, unless something already failed. A statement refused by
   * the server aborts the transaction (a COMMIT behind it rolls back), but one that failed in
   * this process never reached the server, and a COMMIT sent anyway would commit the rest
   * without it. node-postgres rejects such a statement at once (a parameter it cannot
   * serialize) or on the next tick (a statement it refuses to send), through a promise chained
   * once more; a step that throws before its query rejects at once. So COMMIT waits for
   * setImmediate, by when every tick and promise step has run: robust to how deep those chains
   * are, and the statements are already on their way meanwhile (in the bench the hot customer's
   * events/s were the same as with a wait of one tick and a few promise steps: 3,675 vs 3,740).
   * test/store/statementPipeline.test.ts has a case for each kind of failure.
   */
  async commit(client: pg.ClientBase): Promise<void> {
    if (this.pipelining) await new Promise((resolve) => setImmediate(resolve));
    // After a failure, `all` reports it and no COMMIT goes out.
    const commit = this.failed ? undefined : this.send(() => client.query('COMMIT'));
    await this.all();
    // A transaction the server had aborted answers COMMIT with ROLLBACK: never taken as a commit.
    const answered = (await commit)?.command;
    if (commit && answered !== 'COMMIT') throw new Error(`internal: COMMIT answered ${answered}`);
  }
  /**
   * Waits for everything sent; rejects with the failure of the FIRST statement sent that failed.
   * After it the transaction is aborted and every later statement fails with "current
   * transaction is aborted", which may settle sooner (the first's error can be mapped through
   * more promise steps, as CreditBalanceRaceError is), so the first to settle is not the cause.
   */
  async all(): Promise<void> {
    this.uncork();
    const settled = await Promise.allSettled(this.sent.splice(0));
    const failed = settled.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }
  /** After a failure: nothing more is sent, and what was sent has answered (the caller rolls back and releases the connection next). */
  async abandon(): Promise<void> {
    this.abandoned = true;
    this.uncork();
    await Promise.allSettled(this.sent.splice(0));
  }
}
