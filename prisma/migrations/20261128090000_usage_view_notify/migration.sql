-- The API's in-process usage view (api/usage/usageView.ts) drops a customer's entry when what it
-- keeps of the subscription changes: plan, status, cycle (renewals, plan changes, a row edited by
-- hand) or the row goes. The notification is sent in the writing transaction, so it is never lost
-- and arrives only once the change is committed. Inserts need none: the view keeps no entry for a
-- customer without a subscription row (an import of thousands sends nothing). Subscriptions change
-- rarely (not on the usage hot path, whose counter values are sent after commit by
-- api/usage/counterPublisher.ts instead).
CREATE FUNCTION tollgate_notify_subscription() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('tollgate_subscriptions', OLD.customer_id);
  RETURN NULL;
END
$$;

CREATE TRIGGER subscriptions_notify_update
  AFTER UPDATE ON subscriptions
  FOR EACH ROW
  WHEN (OLD.plan_id IS DISTINCT FROM NEW.plan_id OR OLD.status IS DISTINCT FROM NEW.status
        OR OLD.cycle_start IS DISTINCT FROM NEW.cycle_start OR OLD.cycle_end IS DISTINCT FROM NEW.cycle_end
        OR OLD.customer_id IS DISTINCT FROM NEW.customer_id)
  EXECUTE FUNCTION tollgate_notify_subscription();

CREATE TRIGGER subscriptions_notify_delete
  AFTER DELETE ON subscriptions
  FOR EACH ROW EXECUTE FUNCTION tollgate_notify_subscription();
