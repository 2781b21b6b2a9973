-- The API's in-process usage view (api/usage/usageView.ts) drops a customer's entry when the
-- subscription changes: plan, status, cycle (renewals, plan changes, imports, or a row edited by
-- hand). The notification is sent in the writing transaction, so it is never lost and arrives
-- only once the change is committed. Subscriptions change rarely (not on the usage hot path,
-- whose counter values are sent after commit by api/usage/counterPublisher.ts instead).
CREATE FUNCTION tollgate_notify_subscription() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('tollgate_subscriptions', OLD.customer_id);
  ELSE
    PERFORM pg_notify('tollgate_subscriptions', NEW.customer_id);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER subscriptions_notify
  AFTER INSERT OR UPDATE OR DELETE ON subscriptions
  FOR EACH ROW EXECUTE FUNCTION tollgate_notify_subscription();
