// The billing link carries the session token in the fragment (never sent to a server nor put in a
// Referer). It is moved to this tab's sessionStorage at once and wiped from the address bar. The
// browser's history still remembers the link as it was opened, so the page then trades that token
// for a new one (rotateSession): a token found in the history is dead.

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
    history.replaceState(null, '', `${location.pathname}${location.search}#overview`);
    return { customerId, token, fromLink: true };
  }
  return readStored();
}

function store(session) {
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ customerId: session.customerId, token: session.token }));
  } catch {
    // Without storage the page still works until it is reloaded.
  }
}

/**
 * The link's token traded for a new one of the same customer and expiry (POST …/sessions/rotate),
 * kept in this tab; null when the link's token no longer works (expired, revoked, used already).
 * Any other failure keeps the link's token: the page still works, and it is tried again on reload.
 */
export async function rotateSession(session) {
  let response;
  try {
    response = await fetch(`/v1/customers/${encodeURIComponent(session.customerId)}/sessions/rotate`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${session.token}`, Accept: 'application/json' },
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    store(session);
    return session;
  }
  if (response.status === 401) return null;
  const body = response.ok ? await response.json().catch(() => null) : null;
  const next = typeof body?.token === 'string' ? { customerId: session.customerId, token: body.token } : session;
  store(next);
  return next;
}

// A Checkout page sends the customer back to ?checkout=success or ?checkout=cancelled. The balance
// before leaving is kept so the page can tell when the purchase has landed: the balance rises above
// it (usage may draw some meanwhile, so a change alone says nothing).
const CHECKOUT_KEY = 'tollgate.billing.checkout';

export function rememberBalanceBeforeCheckout(balance) {
  try {
    sessionStorage.setItem(CHECKOUT_KEY, JSON.stringify({ balance }));
  } catch {
    // Without it the page looks for a new purchase in the credit history instead.
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
