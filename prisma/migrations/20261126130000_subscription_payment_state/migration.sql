-- What a subscription waits for from its payment provider (a first invoice on a Checkout page, an
-- upgrade held until paid, a failed renewal payment being retried), as the workflow last published
-- it. The status column now also takes 'incomplete' and 'past_due'.
ALTER TABLE "subscriptions" ADD COLUMN "payment_state" JSONB;
