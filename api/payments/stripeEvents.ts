/**
 * Which Stripe events Tollgate uses, and what each means to a subscription. The event's object is
 * read with zod (only the fields used, all optional): Stripe adds fields freely, and an event that
 * lacks what we need is simply not ours to act on.
 */
import { z } from 'zod';
import type { PaymentEvent } from '../../workflows/messages.js';

const metadata = z.record(z.string(), z.string()).nullish();
const idOrObject = z.union([z.string(), z.object({ id: z.string() })]).nullish().transform((value) => (typeof value === 'string' ? value : value?.id));

const invoiceObject = z.object({
  id: z.string().optional(),
  customer: idOrObject,
  metadata,
  hosted_invoice_url: z.string().nullish(),
  payment_intent: idOrObject,
  last_finalization_error: z.object({ message: z.string().optional() }).nullish(),
});

const checkoutSessionObject = z.object({
  id: z.string(),
  customer: idOrObject,
  metadata,
  mode: z.string().optional(),
  payment_status: z.string().optional(),
  payment_intent: idOrObject,
  setup_intent: idOrObject,
});

const customerScoped = z.object({ customer: idOrObject, metadata });

/** An event Tollgate acts on: the workflow's payment event, and how to find the customer. */
export interface UsedEvent {
  event: PaymentEvent;
  /** Tollgate's customer id, when the object carries it in metadata. */
  customerId?: string;
  /** The provider's customer, to look Tollgate's up by. */
  providerCustomerId?: string;
}

interface StripeEventLike {
  id: string;
  type: string;
  created: number;
  data: { object: unknown };
}

export const USED_STRIPE_EVENTS = [
  'invoice.paid',
  'invoice.payment_failed',
  'invoice.payment_action_required',
  'checkout.session.completed',
  'checkout.session.expired',
  'customer.updated',
] as const;

export function usedStripeEvent(stripeEvent: StripeEventLike): UsedEvent | undefined {
  const base = { eventId: stripeEvent.id, occurredAt: stripeEvent.created * 1000 };
  switch (stripeEvent.type) {
    case 'invoice.paid':
    case 'invoice.payment_failed':
    case 'invoice.payment_action_required': {
      const parsed = invoiceObject.safeParse(stripeEvent.data.object);
      if (!parsed.success) return undefined;
      const invoice = parsed.data;
      const kind = stripeEvent.type === 'invoice.paid' ? 'invoice_paid' : stripeEvent.type === 'invoice.payment_failed' ? 'invoice_payment_failed' : 'invoice_action_required';
      return {
        event: {
          ...base,
          kind,
          ...(invoice.metadata?.tollgate_invoice_id ? { invoiceId: invoice.metadata.tollgate_invoice_id } : {}),
          ...(invoice.payment_intent ? { reference: invoice.payment_intent } : {}),
          ...(invoice.hosted_invoice_url ? { hostedInvoiceUrl: invoice.hosted_invoice_url } : {}),
          ...(kind === 'invoice_payment_failed' ? { reason: 'The payment failed.' } : kind === 'invoice_action_required' ? { reason: 'The bank asks the customer to authenticate the payment.' } : {}),
        },
        customerId: invoice.metadata?.tollgate_customer_id,
        providerCustomerId: invoice.customer,
      };
    }
    case 'checkout.session.completed':
    case 'checkout.session.expired': {
      const parsed = checkoutSessionObject.safeParse(stripeEvent.data.object);
      if (!parsed.success) return undefined;
      const session = parsed.data;
      const completed = stripeEvent.type === 'checkout.session.completed';
      const found = { customerId: session.metadata?.tollgate_customer_id, providerCustomerId: session.customer };
      // A setup-mode page saved (or replaced) a card: a new default payment method.
      if (session.mode === 'setup') {
        return completed ? { event: { ...base, kind: 'payment_method_updated', checkoutSessionId: session.id }, ...found } : undefined;
      }
      // A payment-mode session pays the invoice it was opened for only once the money is in.
      const paid = completed && session.payment_status === 'paid';
      return {
        event: {
          ...base,
          kind: completed ? 'checkout_completed' : 'checkout_expired',
          checkoutSessionId: session.id,
          ...(session.metadata?.tollgate_invoice_id && (paid || !completed) ? { invoiceId: session.metadata.tollgate_invoice_id } : {}),
          ...(session.payment_intent ?? session.setup_intent ? { reference: session.payment_intent ?? session.setup_intent } : {}),
        },
        ...found,
      };
    }
    // Only a new *default* card is worth a retry (customer.updated, or a setup page completed,
    // above): payment_method.attached and setup_intent.succeeded come before the default changes,
    // and a retry then would charge the old card.
    case 'customer.updated': {
      const parsed = customerScoped.safeParse(stripeEvent.data.object);
      if (!parsed.success) return undefined;
      // customer.updated: the object is the customer itself.
      const isCustomer = stripeEvent.type === 'customer.updated';
      const object = stripeEvent.data.object as { id?: unknown };
      const providerCustomerId = isCustomer && typeof object.id === 'string' ? object.id : parsed.data.customer;
      if (isCustomer && !changedDefaultPaymentMethod(stripeEvent)) return undefined;
      return { event: { ...base, kind: 'payment_method_updated' }, customerId: parsed.data.metadata?.tollgate_customer_id, providerCustomerId };
    }
    default:
      return undefined;
  }
}

/** customer.updated fires for any edit; only a new default payment method matters (dunning retries at once). */
function changedDefaultPaymentMethod(stripeEvent: StripeEventLike): boolean {
  const previous = (stripeEvent.data as { previous_attributes?: { invoice_settings?: { default_payment_method?: unknown } } }).previous_attributes;
  return previous?.invoice_settings !== undefined && 'default_payment_method' in previous.invoice_settings;
}
