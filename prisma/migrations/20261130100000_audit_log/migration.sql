-- The audit log (issue 12): every state-changing request outside /v1/usage, with who sent it, what
-- it was and how it ended. Written ahead (status NULL) and completed with the answer, so a request
-- whose API process died mid-way is still on record, with its outcome unknown.
CREATE TABLE audit_log (
  id           bigserial PRIMARY KEY,
  at           timestamptz(3) NOT NULL DEFAULT now(),
  actor        text NOT NULL,
  method       text NOT NULL,
  route        text NOT NULL,
  path         text NOT NULL,
  customer_id  text,
  status       integer,
  error_code   text,
  completed_at timestamptz(3)
);
CREATE INDEX audit_log_customer_id_id_idx ON audit_log (customer_id, id DESC);
