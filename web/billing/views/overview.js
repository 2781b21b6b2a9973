// The subscription at a glance, and what the customer may do to it here: seats, cancelling or
// reactivating, and the payment method (on the payment provider's own page).
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { safeUrl } from '../api.js';
import { capitalize, formatCount, formatCredits, formatDate, formatDateTime, formatMoney, formatPeriod, isMoneyUnit, isZero } from '../format.js';
import { html } from '../html.js';
import { ChangePreview } from './changePreview.js';
import { Alert, ErrorAlert, ExternalLink, Row, useAction } from './parts.js';

const per = (interval) => (interval === 'yearly' ? 'year' : 'month');

function planNameOf(catalog, planId) {
  return catalog.plans.find((plan) => plan.id === planId)?.name ?? planId;
}

function ScheduledChange({ change, catalog }) {
  const parts = [];
  if (change.plan) parts.push(planNameOf(catalog, change.plan));
  if (change.interval) parts.push(`${change.interval} billing`);
  if (change.seats !== null && change.seats !== undefined) parts.push(`${formatCount(change.seats)} seats`);
  return html`<p>Changes to ${parts.join(', ')} on ${formatDate(change.at)}</p>`;
}

function StatusText({ card, catalog }) {
  const { payment } = card;
  let main;
  if (payment?.reason === 'past_due') {
    main = html`
      <p><strong class="flag flag-exceeded">Past due</strong>${payment.lastError ? ` ${payment.lastError}` : ''}</p>
      ${payment.payUrl ? html`<p><${ExternalLink} href=${payment.payUrl}>Pay now</${ExternalLink}></p>` : null}`;
  } else if (payment) {
    const upgrade = payment.reason === 'upgrade' && payment.upgradeTo ? ` for the change to ${planNameOf(catalog, payment.upgradeTo.plan)}` : '';
    main = html`
      <p><strong class="flag flag-warning">Awaiting payment</strong>${upgrade}${payment.until ? ` (until ${formatDateTime(payment.until)})` : ''}</p>
      ${payment.payUrl ? html`<p><${ExternalLink} href=${payment.payUrl}>Pay now</${ExternalLink}></p>` : null}`;
  } else if (card.cancelAtPeriodEnd) {
    main = html`<p>Cancels on ${formatDate(card.currentPeriod.end)}</p>`;
  } else {
    main = html`<p>Active</p>`;
  }
  return html`${main}${card.scheduledChange ? html`<${ScheduledChange} change=${card.scheduledChange} catalog=${catalog} />` : null}`;
}

function Summary({ card, catalog }) {
  const currentPlan = catalog.plans.find((plan) => plan.id === card.plan.id);
  const currency = catalog.currency;
  const credits = card.credits;
  return html`
    <dl class="facts">
      <${Row} term="Plan">
        ${card.plan.name}
        ${card.plan.price ? html` <span class="muted">(${formatMoney(card.plan.price)}/${per(card.interval)})</span>` : null}
      </${Row}>
      <${Row} term="Billing interval">${capitalize(card.interval)}</${Row}>
      ${currentPlan?.seats ? html`<${Row} term="Seats">${formatCount(card.seats)}</${Row}>` : null}
      <${Row} term="Current period">${formatPeriod(card.currentPeriod)}</${Row}>
      <${Row} term=${card.cancelAtPeriodEnd ? 'Ends on' : 'Renews on'}>${formatDate(card.currentPeriod.end)}</${Row}>
      <${Row} term="Status"><${StatusText} card=${card} catalog=${catalog} /></${Row}>
      ${credits ? html`
        <${Row} term="Credit balance">
          ${formatCredits(credits.balance, credits.unit, currency)}
          ${isMoneyUnit(credits.unit, currency) ? null : ` (${formatMoney(card.creditBalance)})`}
        </${Row}>` : null}
      ${card.creditOwed && !isZero(card.creditOwed.amount) ? html`
        <${Row} term="Credit on account">${formatMoney(card.creditOwed)}, taken off your next invoices</${Row}>` : null}
    </dl>`;
}

function Seats({ api, card, catalog, onChanged, onHeld }) {
  const plan = catalog.plans.find((p) => p.id === card.plan.id);
  const seats = plan.seats;
  const [value, setValue] = useState(String(card.seats));
  const [invalid, setInvalid] = useState(null);
  const [request, setRequest] = useState(null);
  const button = useRef(null);
  const backToButton = useRef(false);
  const headingId = useId();
  const inputId = useId();
  const hintId = useId();
  const max = seats.max ?? 1000000;

  useEffect(() => {
    if (!request && backToButton.current) {
      backToButton.current = false;
      button.current?.focus();
    }
  }, [request]);

  const preview = (event) => {
    event.preventDefault();
    const count = /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
    if (!Number.isSafeInteger(count) || count < seats.min || count > max) {
      setInvalid(`Enter a whole number of seats from ${formatCount(seats.min)} to ${formatCount(max)}.`);
      return;
    }
    setInvalid(null);
    setRequest({ seats: count });
  };
  // Null when the plan's seats are not sold for this interval (no yearly seat price).
  const price = seats.price[card.interval];
  return html`
    <section class="block" aria-labelledby=${headingId}>
      <h3 id=${headingId}>Change seats</h3>
      <form class="inline-form" onSubmit=${preview} novalidate>
        <div class="field">
          <label for=${inputId}>Seats</label>
          <input id=${inputId} type="number" inputmode="numeric" min=${seats.min} max=${seats.max ?? undefined} step="1"
            value=${value} aria-describedby=${hintId} aria-invalid=${invalid ? 'true' : undefined}
            onInput=${(event) => setValue(event.currentTarget.value)} />
        </div>
        <button type="submit" class="button" ref=${button}>Preview seat change</button>
      </form>
      <p class="hint" id=${hintId}>
        ${formatCount(seats.included)} included with ${plan.name}, ${price
          ? `then ${formatMoney(price)} per seat/${per(card.interval)}`
          : `and extra seats are not offered with ${card.interval} billing`};
        from ${formatCount(seats.min)}${seats.max ? ` to ${formatCount(seats.max)}` : ''} seats. Added seats are charged now; removed seats go at the end of the period.
      </p>
      ${invalid ? html`<${Alert}><p>${invalid}</p></${Alert}>` : null}
      ${request ? html`
        <${ChangePreview} key=${request.seats}
          api=${api} card=${card} catalog=${catalog} request=${request} planName=${plan.name}
          title=${`Change to ${formatCount(request.seats)} seats`}
          onBack=${() => { backToButton.current = true; setRequest(null); }}
          onChanged=${async (answer) => { await onChanged(answer, request); setRequest(null); }}
          onHeld=${onHeld} />` : null}
    </section>`;
}

function Cancellation({ api, card, fallback, setCard, announce }) {
  const [confirming, setConfirming] = useState(false);
  const action = useAction();
  const headingId = useId();
  const questionId = useId();
  const question = useRef(null);
  const cancelButton = useRef(null);
  const reactivateButton = useRef(null);
  // Where the focus goes after the next render, once the button it was on has gone.
  const focusNext = useRef(null);
  const end = formatDate(card.currentPeriod.end);

  useEffect(() => {
    const target = { question, cancel: cancelButton, reactivate: reactivateButton }[focusNext.current];
    // A button still disabled by the request that brought it cannot take the focus yet.
    if (target?.current && !target.current.disabled) {
      target.current.focus();
      focusNext.current = null;
    }
  });

  const ask = () => {
    focusNext.current = 'question';
    setConfirming(true);
  };
  const keep = () => {
    focusNext.current = 'cancel';
    setConfirming(false);
  };
  const cancel = () => action.run(async () => {
    const { body } = await api.post('subscription/cancel');
    focusNext.current = 'reactivate';
    setConfirming(false);
    setCard(body);
    announce(`Your subscription will end on ${formatDate(body.currentPeriod.end)}.`);
  });
  const reactivate = () => action.run(async () => {
    const { body } = await api.post('subscription/reactivate');
    focusNext.current = 'cancel';
    setCard(body);
    announce('Your subscription is active again.');
  });

  let content;
  if (card.cancelAtPeriodEnd) {
    content = html`
      <p>Cancellation scheduled for ${end}</p>
      <p class="hint">Until then everything stays as it is. Reactivate to keep your plan after that date.</p>
      <div class="actions">
        <button type="button" class="button primary" ref=${reactivateButton} disabled=${action.busy} onClick=${reactivate}>Reactivate subscription</button>
      </div>`;
  } else if (confirming) {
    content = html`
      <section class="confirm" aria-labelledby=${questionId}>
        <p id=${questionId} tabindex="-1" ref=${question}>Your subscription stays active until ${end}, then moves to the ${fallback} plan.</p>
        <div class="actions">
          <button type="button" class="button danger" disabled=${action.busy} onClick=${cancel}>Confirm cancellation</button>
          <button type="button" class="button" disabled=${action.busy} onClick=${keep}>Keep subscription</button>
        </div>
      </section>`;
  } else {
    content = html`
      <p class="hint">Cancelling takes effect at the end of the current period, on ${end}.</p>
      <div class="actions">
        <button type="button" class="button" ref=${cancelButton} onClick=${ask}>Cancel subscription</button>
      </div>`;
  }
  return html`
    <section class="block" aria-labelledby=${headingId}>
      <h3 id=${headingId}>Cancellation</h3>
      ${content}
      <${ErrorAlert} error=${action.error} />
    </section>`;
}

/** A downgrade or seat removal waiting for the period end can still be withdrawn. */
function ScheduledChangeBlock({ api, card, catalog, setCard, announce }) {
  const action = useAction();
  const headingId = useId();
  const plan = catalog.plans.find((p) => p.id === card.plan.id);
  const keep = () => action.run(async () => {
    // Asking for what the subscription has now withdraws the scheduled change.
    const request = { plan: card.plan.id, interval: card.interval, ...(plan?.seats ? { seats: card.seats } : {}) };
    const { body } = await api.post('subscription/change', request);
    setCard(body.subscription);
    announce(`The scheduled change is withdrawn: you stay on ${body.subscription.plan.name}.`);
  });
  return html`
    <section class="block" aria-labelledby=${headingId}>
      <h3 id=${headingId}>Scheduled change</h3>
      <${ScheduledChange} change=${card.scheduledChange} catalog=${catalog} />
      <div class="actions">
        <button type="button" class="button" disabled=${action.busy} onClick=${keep}>Keep current plan</button>
      </div>
      <${ErrorAlert} error=${action.error} />
    </section>`;
}

function PaymentMethod({ api }) {
  const action = useAction();
  const headingId = useId();
  const open = () => action.run(async () => {
    const { body } = await api.post('billing-portal', { returnUrl: `${location.origin}${location.pathname}#overview` });
    // Only an http(s) address is followed: a stored value must never become a javascript: URL.
    const url = safeUrl(body.url);
    if (!url) throw new Error('The payment provider\'s page could not be opened: its address is not a web link. Please try again later.');
    location.assign(url);
  });
  const unavailable = action.error?.status === 404;
  return html`
    <section class="block" aria-labelledby=${headingId}>
      <h3 id=${headingId}>Payment method</h3>
      <p class="hint">Update your card or billing address on our payment provider's secure page.</p>
      <div class="actions">
        <button type="button" class="button" disabled=${action.busy} onClick=${open}>Manage payment method</button>
      </div>
      ${unavailable
        ? html`<${Alert}><p>Payment management is not available here.</p></${Alert}>`
        : html`<${ErrorAlert} error=${action.error} />`}
    </section>`;
}

export function Overview({ api, card, catalog, reload, setCard, announce, focusHeading }) {
  const plan = catalog.plans.find((p) => p.id === card.plan.id);
  const paid = card.plan.price && !isZero(card.plan.price.amount);

  const seatsChanged = async (answer, request) => {
    setCard(answer.subscription);
    await reload().catch(() => undefined);
    const seats = formatCount(request.seats);
    announce(answer.change.effective === 'period_end'
      ? `Your seats change to ${seats} on ${formatDate(answer.subscription.scheduledChange?.at ?? answer.subscription.currentPeriod.end)}.`
      : `You now have ${seats} seats.`);
    focusHeading();
  };

  return html`
    <${Summary} card=${card} catalog=${catalog} />
    ${card.scheduledChange ? html`<${ScheduledChangeBlock} api=${api} card=${card} catalog=${catalog} setCard=${setCard} announce=${announce} />` : null}
    ${plan?.seats ? html`<${Seats} api=${api} card=${card} catalog=${catalog} onChanged=${seatsChanged} onHeld=${() => reload().catch(() => undefined)} />` : null}
    ${paid || card.cancelAtPeriodEnd ? html`<${Cancellation} api=${api} card=${card} fallback=${catalog.fallbackPlan?.name ?? 'free'} setCard=${setCard} announce=${announce} />` : null}
    <${PaymentMethod} api=${api} />`;
}
