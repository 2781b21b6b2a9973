// The billing page for one customer: takes the session from the billing link, routes between the
// sections by the address's fragment, and holds the data several sections share (the usage card
// and the plan catalog), reloaded after any change to the subscription.
import { render } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { createApi } from './api.js';
import { html } from './html.js';
import { rotateSession, takeCheckoutReturn, takeSession } from './session.js';
import { Credits } from './views/credits.js';
import { Invoices } from './views/invoices.js';
import { Overview } from './views/overview.js';
import { ErrorAlert, Loading } from './views/parts.js';
import { Plans } from './views/plans.js';
import { Usage } from './views/usage.js';

const SECTIONS = [
  { id: 'overview', name: 'Overview', View: Overview },
  { id: 'usage', name: 'Usage', View: Usage },
  { id: 'plans', name: 'Plans', View: Plans },
  { id: 'credits', name: 'Credits', View: Credits },
  { id: 'invoices', name: 'Invoices', View: Invoices },
];

const NO_LINK = 'Open this page with a billing link from your account.';
const EXPIRED = 'This billing link has expired or was revoked. Ask for a new one.';

const sectionFromHash = () => SECTIONS.find((section) => `#${section.id}` === location.hash) ?? SECTIONS[0];

/** The whole page when there is nothing to show but one sentence. */
function Notice({ message }) {
  return html`
    <main class="notice">
      <h1>Billing</h1>
      <p>${message}</p>
    </main>`;
}

const CHECKOUT_MESSAGES = {
  success: 'Thank you: your credits are added as soon as the payment is confirmed.',
  cancelled: 'The purchase was cancelled; nothing was charged.',
};

function BillingPage({ session, checkoutReturn }) {
  const [expired, setExpired] = useState(false);
  const api = useMemo(() => createApi(session, { onUnauthorized: () => setExpired(true) }), [session]);
  // `focus` counts the person's own switches: only those move the focus to the new heading.
  const [route, setRoute] = useState(() => ({ section: sectionFromHash(), focus: 0 }));
  const [shared, setShared] = useState({ card: null, catalog: null, customer: null });
  const [loadError, setLoadError] = useState(null);
  const [status, setStatus] = useState(() => CHECKOUT_MESSAGES[checkoutReturn] ?? '');
  const heading = useRef(null);

  useEffect(() => {
    const onHashChange = () => {
      setRoute((previous) => ({ section: sectionFromHash(), focus: previous.focus + 1 }));
      setStatus('');
    };
    addEventListener('hashchange', onHashChange);
    return () => removeEventListener('hashchange', onHashChange);
  }, []);

  useEffect(() => {
    document.title = `${route.section.name} · Billing`;
    if (route.focus > 0) heading.current?.focus();
  }, [route]);

  const reload = useCallback(async () => {
    const [card, catalog, customer] = await Promise.all([api.get('subscription'), api.get('plans'), api.customer()]);
    setShared({ card, catalog, customer });
    setLoadError(null);
    return { card, catalog };
  }, [api]);

  const loadFirst = useCallback(() => {
    setLoadError(null);
    reload().catch((error) => {
      if (error.status !== 401) setLoadError(error);
    });
  }, [reload]);
  useEffect(loadFirst, [loadFirst]);

  const setCard = useCallback((card) => setShared((previous) => ({ ...previous, card })), []);
  const focusHeading = useCallback(() => heading.current?.focus(), []);

  if (expired) return html`<${Notice} message=${EXPIRED} />`;

  const { section } = route;
  const { card, catalog, customer } = shared;
  // The section's heading appears with its data, so "the page is ready" is one thing to wait for.
  const loading = !(card && catalog) && !loadError;
  let content;
  if (card && catalog) {
    content = html`<${section.View}
      api=${api}
      card=${card}
      catalog=${catalog}
      reload=${reload}
      setCard=${setCard}
      announce=${setStatus}
      focusHeading=${focusHeading}
      checkoutReturn=${checkoutReturn}
    />`;
  } else if (loadError) {
    content = html`
      <${ErrorAlert} error=${loadError} />
      <p><button type="button" class="button" onClick=${loadFirst}>Try again</button></p>`;
  } else {
    content = html`<${Loading} />`;
  }

  return html`
    <header class="page-header">
      <div class="wrap">
        <h1>Billing</h1>
        ${card ? html`<p class="plan-name">${customer ? html`<span class="customer">${customer.name}</span> · ` : null}${card.plan.name} plan</p>` : null}
      </div>
    </header>
    <nav class="sections" aria-label="Billing sections">
      <ul class="wrap">
        ${SECTIONS.map((item) => html`
          <li key=${item.id}>
            <a href=${`#${item.id}`} aria-current=${item === section ? 'page' : undefined}>${item.name}</a>
          </li>`)}
      </ul>
    </nav>
    <main class="wrap">
      ${loading ? null : html`<h2 tabindex="-1" ref=${heading}>${section.name}</h2>`}
      <div class="status" role="status" aria-live="polite">${status}</div>
      ${content}
    </main>`;
}

function App() {
  const [opened] = useState(takeSession);
  // A link's token is traded for a fresh one before anything else uses it (session.js).
  const [session, setSession] = useState(() => (opened?.fromLink ? undefined : opened));
  useEffect(() => {
    if (opened?.fromLink) rotateSession(opened).then(setSession);
  }, [opened]);
  // Read once, before anything else rewrites the address.
  const [checkoutReturn] = useState(() => (opened ? takeCheckoutReturn() : null));
  if (!opened) return html`<${Notice} message=${NO_LINK} />`;
  if (session === undefined) return html`<main class="notice"><h1>Billing</h1><${Loading} /></main>`;
  if (session === null) return html`<${Notice} message=${EXPIRED} />`;
  return html`<${BillingPage} session=${session} checkoutReturn=${checkoutReturn} />`;
}

render(html`<${App} />`, document.getElementById('app'));
