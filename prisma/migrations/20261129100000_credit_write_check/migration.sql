-- Fails the usage transaction's credits write when a balance changed under its unlocked read
-- (fewer balance rows written than drawn from). Failing in the statement, rather than in the
-- code after its answer, lets the ledger send COMMIT beside it (one round trip fewer): a failed
-- statement aborts the transaction, so that COMMIT rolls back. The code maps SQLSTATE TGC01 to
-- CreditBalanceRaceError (store/creditLedger.ts), which retries with the balances locked.
CREATE FUNCTION tollgate_credit_write_check(written integer, expected integer) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
  IF written <> expected THEN
    RAISE EXCEPTION 'a credit balance changed while this usage transaction drew from it' USING ERRCODE = 'TGC01';
  END IF;
  RETURN written;
END
$$;
