-- Outbound webhooks (issue 12): endpoints the host registers, events written in the same
-- transaction as the change they report (an outbox, numbered per customer), and deliveries with
-- every attempt, made by a retried Temporal activity.
CREATE TABLE webhook_endpoints (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  url                 text NOT NULL,
  event_types         text[] NOT NULL CHECK (cardinality(event_types) > 0),
  description         text,
  -- The signing secret must be read to sign: stored as is, never answered after it is made.
  secret              text NOT NULL,
  -- During a rotation the previous secret signs too, until this time.
  previous_secret     text,
  previous_expires_at timestamptz(3),
  created_at          timestamptz(3) NOT NULL DEFAULT now(),
  disabled_at         timestamptz(3)
);

-- The last sequence number given to each customer's events (a row lock orders them by commit).
CREATE TABLE webhook_sequences (
  customer_id text PRIMARY KEY,
  last        bigint NOT NULL
);

CREATE TABLE webhook_events (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  customer_id   text NOT NULL,
  sequence      bigint NOT NULL,
  type          text NOT NULL,
  data          jsonb NOT NULL,
  created_at    timestamptz(3) NOT NULL DEFAULT now(),
  -- Set once its deliveries exist (worker/webhookRelay.ts).
  dispatched_at timestamptz(3),
  -- Names the fact an event reports where a retried step could report it again (a payment
  -- failure: its collection attempt, or the provider's event): written once.
  dedupe_key    text UNIQUE,
  UNIQUE (customer_id, sequence)
);
CREATE INDEX webhook_events_undispatched_idx ON webhook_events (created_at) WHERE dispatched_at IS NULL;
-- The retention's delete (store/webhookOutbox.ts pruneWebhookEvents) finds the oldest here.
CREATE INDEX webhook_events_dispatched_at_idx ON webhook_events (dispatched_at) WHERE dispatched_at IS NOT NULL;

CREATE TABLE webhook_deliveries (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  event_id      uuid NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
  endpoint_id   uuid NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
  -- 0 for the first delivery; each redelivery on request is the next round.
  round         integer NOT NULL DEFAULT 0,
  status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts      integer NOT NULL DEFAULT 0,
  last_status   integer,
  last_error    text,
  created_at    timestamptz(3) NOT NULL DEFAULT now(),
  -- When its workflow was started (worker/webhookRelay.ts starts it after the row commits).
  started_at    timestamptz(3),
  delivered_at  timestamptz(3),
  UNIQUE (event_id, endpoint_id, round)
);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC);
CREATE INDEX webhook_deliveries_unstarted_idx ON webhook_deliveries (created_at) WHERE started_at IS NULL;

CREATE TABLE webhook_attempts (
  id           bigserial PRIMARY KEY,
  delivery_id  uuid NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
  attempt      integer NOT NULL,
  at           timestamptz(3) NOT NULL DEFAULT now(),
  status       integer,
  error        text,
  ms           integer NOT NULL,
  UNIQUE (delivery_id, attempt)
);
