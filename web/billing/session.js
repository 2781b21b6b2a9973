// The billing link carries the session token in the fragment (never sent to a server nor put in a
// Referer). It is moved to this tab's sessionStorage at once and wiped from the address bar, so it
// stays out of history, bookmarks and screenshots of the URL.

const STORAGE_KEY = 'tollgate.billing.session';

function readStored() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null');
    if (stored && typeof stored.customerId === 'string' && typeof stored.token === 'string') return stored;
  } catch {
    // Storage blocked or holding something else: treated as no session.
  }
  return null;
}

/** The session this tab was opened with, or null (the page then asks for a billing link). */
export function takeSession() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const customerId = fragment.get('customer');
  const token = fragment.get('token');
  if (customerId && token) {
    const session = { customerId, token };
    try {
      sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
    } catch {
      // Without storage the page still works until it is reloaded.
    }
    history.replaceState(null, '', `${location.pathname}${location.search}#overview`);
    return session;
  }
  return readStored();
}

// A Checkout page sends the customer back to ?checkout=success or ?checkout=cancelled. The balance
// before leaving is kept so the page can tell when the purchase has landed.
const CHECKOUT_KEY = 'tollgate.billing.checkout';

export function rememberBalanceBeforeCheckout(balance) {
  try {
    sessionStorage.setItem(CHECKOUT_KEY, JSON.stringify({ balance }));
  } catch {
    // Without it the page waits for any change of the balance instead.
  }
}

export function takeBalanceBeforeCheckout() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(CHECKOUT_KEY) ?? 'null');
    sessionStorage.removeItem(CHECKOUT_KEY);
    return typeof stored?.balance === 'string' ? stored.balance : null;
  } catch {
    return null;
  }
}

/**
 * How the customer came back from a Checkout page, read once: the query is then removed so that a
 * reload does not thank them again.
 */
export function takeCheckoutReturn() {
  const params = new URLSearchParams(location.search);
  const outcome = params.get('checkout');
  if (outcome === null) return null;
  params.delete('checkout');
  const query = params.toString();
  history.replaceState(null, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
  return outcome === 'success' || outcome === 'cancelled' ? outcome : null;
}
