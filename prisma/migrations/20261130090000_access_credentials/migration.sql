-- Credentials beside the operator key (issue 12): named server keys with scopes, and short-lived
-- customer sessions for browsers. Only a SHA-256 of each secret is kept: the secrets are 32
-- random bytes, so a plain hash cannot be reversed, and a lookup by hash needs no comparison loop.
CREATE TABLE api_keys (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name          text NOT NULL UNIQUE,
  scopes        text[] NOT NULL CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['admin', 'read', 'usage:write']),
  secret_hash   bytea NOT NULL UNIQUE,
  -- The secret's first characters, shown in listings so a key can be recognised without it.
  prefix        text NOT NULL,
  created_at    timestamptz(3) NOT NULL DEFAULT now(),
  last_used_at  timestamptz(3),
  revoked_at    timestamptz(3)
);

CREATE TABLE customer_sessions (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  customer_id   text NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
  secret_hash   bytea NOT NULL UNIQUE,
  -- Who asked for it: the key's name.
  created_by    text NOT NULL,
  created_at    timestamptz(3) NOT NULL DEFAULT now(),
  expires_at    timestamptz(3) NOT NULL,
  revoked_at    timestamptz(3)
);
CREATE INDEX customer_sessions_customer_id_idx ON customer_sessions (customer_id);
