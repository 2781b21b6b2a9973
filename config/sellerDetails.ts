/**
 * Who issues the invoices: the seller block printed on every invoice PDF. Read from the
 * environment and parsed with zod, like config/settings.ts, so a bad value stops start-up rather
 * than showing up on a customer's invoice.
 */
import { z } from 'zod';
import { emailAddress } from '../notifications/emailAddress.js';

export interface SellerDetails {
  name: string;
  /** Address lines, top to bottom; empty when none is configured. */
  address: string[];
  email?: string;
  taxId?: string;
}

// An empty variable (`TOLLGATE_SELLER_EMAIL=` in a compose file) means "not set", not "invalid".
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

// 100 characters wrap to at most three lines in the seller column of the PDF.
const line = z.string().trim().max(100);

const sellerEnv = z.object({
  TOLLGATE_SELLER_NAME: optional(line.min(1)).transform((name) => name ?? 'Tollgate'),
  // Real newlines or a literal `\n`: .env files and compose files cannot always hold the former.
  TOLLGATE_SELLER_ADDRESS: optional(z.string().max(2000)).transform((address) =>
    (address ?? '').split(/\r?\n|\\n/).map((part) => part.trim()).filter((part) => part.length > 0),
  ).pipe(z.array(line).max(10, 'at most 10 lines')),
  TOLLGATE_SELLER_EMAIL: optional(emailAddress),
  TOLLGATE_SELLER_TAX_ID: optional(line.min(1)),
});

/** The seller details in `env`; throws a message naming each bad variable. */
export function loadSellerDetails(env: Readonly<Record<string, string | undefined>>): SellerDetails {
  const parsed = sellerEnv.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.map(String).join('.')}: ${issue.message}`);
    throw new Error(`Invalid seller details: ${problems.join('; ')}`);
  }
  const { TOLLGATE_SELLER_NAME: name, TOLLGATE_SELLER_ADDRESS: address, TOLLGATE_SELLER_EMAIL: email, TOLLGATE_SELLER_TAX_ID: taxId } = parsed.data;
  return { name, address, ...(email ? { email } : {}), ...(taxId ? { taxId } : {}) };
}
