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
export class StatementPipeline {
  private readonly sent: Array<Promise<unknown>> = [];
  private last: Promise<unknown> = Promise.resolve();
  private readonly pipelining: boolean;
  private failed = false;
  private abandoned = false;
  constructor(client: pg.ClientBase) {
    this.pipelining = (client as Partial<pg.Client>).pipeline === true;
  }
  /** Sends the query `issue` makes (it must issue it before it first yields). */
  send<T>(issue: () => Promise<T>): Promise<T> {
    const next = () => (this.abandoned ? Promise.reject(new Error('internal: a statement after the transaction was given up')) : issue());
    const query = this.pipelining ? next() : this.last.then(next);
    query.catch(() => {
      this.failed = true;
    });
    this.sent.push(query);
    this.last = query;
    return query;
  }
  /**
   * Sends COMMIT behind what was sent, unless something already failed. A statement refused by
   * the server aborts the transaction (a COMMIT behind it rolls back), but one that failed in
   * this process never reached the server (node-postgres reports a statement it could not send
   * on the next tick, and an async step may throw before its query): a COMMIT sent anyway would
   * commit the rest without it. So on a pipelining connection COMMIT waits one turn of the event
   * loop, by when such failures are known; the statements themselves are already on their way.
   */
  async commit(client: pg.ClientBase): Promise<void> {
    if (this.pipelining) await new Promise((resolve) => setImmediate(resolve));
    if (!this.failed) {
      this.send(() => client.query('COMMIT').then((result) => {
        // A transaction the server had aborted answers COMMIT with ROLLBACK: never a commit.
        if (result.command !== 'COMMIT') throw new Error(`internal: COMMIT answered ${result.command}`);
      }));
    }
    await this.all();
    if (this.failed) throw new Error('internal: a statement failed without an error to report');
  }
  /**
   * Waits for everything sent; rejects with the failure of the FIRST statement sent that failed.
   * After it the transaction is aborted and every later statement fails with "current
   * transaction is aborted", which may settle sooner (the first's error can be mapped through
   * more promise steps, as CreditBalanceRaceError is), so the first to settle is not the cause.
   */
  async all(): Promise<void> {
    const settled = await Promise.allSettled(this.sent.splice(0));
    const failed = settled.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }
  /** After a failure: nothing more is sent, and what was sent has answered (the caller rolls back and releases the connection next). */
  async abandon(): Promise<void> {
    this.abandoned = true;
    await Promise.allSettled(this.sent.splice(0));
    await this.last.catch(() => undefined);
  }
}
