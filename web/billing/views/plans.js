// The plans on offer, priced for the interval the customer picks, and the way to change plan:
// choose → preview (cost, credit, when it applies, or why it is refused) → confirm.
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { countOf, formatCount, formatCredits, formatDate, formatMoney, humanize, plural } from '../format.js';
import { html } from '../html.js';
import { ChangePreview } from './changePreview.js';

const per = (interval) => (interval === 'yearly' ? 'year' : 'month');

/**
 * Past the limit: billed at a money price, drawn from credits at `creditsPerUnit` credits per unit
 * (or graduated `tiers` over the units past the limit), or refused. `creditUnit` is the credits'
 * unit from the usage card ("USD" for money credits, "tokens"), null when none are sold.
 */
function overLimitText(overLimit, unit, creditUnit, currency) {
  if (overLimit.policy === 'bill') return `Then ${formatMoney(overLimit.unitPrice)} per ${plural(unit, 1)}`;
  if (overLimit.policy === 'credits') {
    const each = (credits) => `${formatCredits(credits, creditUnit, currency)} per ${plural(unit, 1)}`;
    if (creditUnit && typeof overLimit.creditsPerUnit === 'string') return `Then paid from credits: ${each(overLimit.creditsPerUnit)}`;
    const tiers = Array.isArray(overLimit.tiers) ? overLimit.tiers : [];
    const priced = tiers.map((tier) => tier.creditsPerUnit ?? tier.unitPrice);
    if (creditUnit && tiers.length > 0 && priced.every((credits) => typeof credits === 'string')) {
      const steps = tiers.map((tier, index) => {
        if (typeof tier.upTo === 'number') return `${each(priced[index])} ${index === 0 ? 'for the first' : 'up to'} ${formatCount(tier.upTo)} past the limit`;
        return index === 0 ? each(priced[index]) : `${each(priced[index])} after that`;
      });
      return `Then paid from credits: ${steps.join('; ')}`;
    }
    return 'Then paid from credits';
  }
  return 'Refused past the limit';
}

/** Limits reset every cycle of the catalog: "/ month" for the usual 30 days, else "/ 14 days". */
function perCycle(cycleDays) {
  if (cycleDays === undefined || cycleDays === null || cycleDays === 30) return '/ month';
  return cycleDays === 1 ? '/ day' : `/ ${formatCount(cycleDays)} days`;
}

// Feature flags are catalog keys ("sso", "data_retention_days"); shown readably, false ones left out.
const ACRONYMS = new Set(['api', 'sso', 'gb', 'sla', 'url']);
function featureText(key, value) {
  const name = humanize(key).split(' ').map((word) => (ACRONYMS.has(word.toLowerCase()) ? word.toUpperCase() : word)).join(' ');
  if (value === true) return name;
  return `${name}: ${typeof value === 'string' ? humanize(value) : formatCount(value)}`;
}

function PlanCard({ plan, catalog, creditUnit, interval, onChoose, buttonRef }) {
  const headingId = useId();
  const price = plan.prices[interval];
  const isCurrent = plan.current && catalog.current.interval === interval;
  const metricOf = (id) => catalog.metrics.find((m) => m.id === id) ?? { id, name: id, unit: 'unit' };
  const several = catalog.metrics.length > 1;
  const features = Object.entries(plan.features ?? {}).filter(([, value]) => value !== false && value !== null);
  return html`
    <article class=${`plan-card${plan.current ? ' is-current' : ''}`} aria-labelledby=${headingId}>
      <div class="plan-head">
        <h3 id=${headingId}>${plan.name}</h3>
        ${plan.current ? html`<p class="badge">Your plan</p>` : null}
      </div>
      ${price
        ? html`<p class="price">${`${formatMoney(price)}/${per(interval)}`}</p>`
        : html`<p class="price price-none">Not offered yearly</p>`}
      <ul class="limits">
        ${plan.limits.map((limit) => {
          const metric = metricOf(limit.metric);
          return html`
            <li key=${limit.metric}>
              <span>${several ? `${metric.name}: ` : ''}${countOf(limit.included, metric.unit)} ${perCycle(catalog.cycleDays)}</span>
              <span class="then">${overLimitText(limit.overLimit, metric.unit, creditUnit, catalog.currency)}</span>
            </li>`;
        })}
        ${plan.seats ? html`
          <li>
            <span>${formatCount(plan.seats.included)} ${plural('seat', plan.seats.included)} included${plan.seats.price[interval] ? `, then ${formatMoney(plan.seats.price[interval])} per seat/${per(interval)}` : ''}</span>
          </li>` : null}
      </ul>
      ${features.length > 0 ? html`
        <ul class="features" aria-label=${`${plan.name} features`}>
          ${features.map(([key, value]) => html`<li key=${key}>${featureText(key, value)}</li>`)}
        </ul>` : null}
      <div class="card-action">
        ${isCurrent
          ? html`<button type="button" class="button" disabled>Current plan</button>`
          : html`<button type="button" class="button primary" ref=${buttonRef} disabled=${!price} onClick=${() => onChoose(plan)}>Choose ${plan.name}</button>`}
      </div>
    </article>`;
}

export function Plans({ api, card, catalog, reload, setCard, announce, focusHeading }) {
  const [interval, setChosenInterval] = useState(catalog.current.interval);
  const [choice, setChoice] = useState(null);
  const buttons = useRef({});
  // The plan whose button gets the focus back when the preview closes without a change.
  const returnTo = useRef(null);
  const radioName = useId();

  useEffect(() => {
    if (!choice && returnTo.current) {
      buttons.current[returnTo.current]?.focus();
      returnTo.current = null;
    }
  }, [choice]);

  const choose = (plan) => setChoice({ plan, interval });
  const back = () => {
    returnTo.current = choice.plan.id;
    setChoice(null);
  };
  const changed = async (answer) => {
    setCard(answer.subscription);
    await reload().catch(() => undefined);
    const name = choice.plan.name;
    announce(answer.change.effective === 'period_end'
      ? `Your plan changes to ${name} on ${formatDate(answer.subscription.scheduledChange?.at ?? answer.subscription.currentPeriod.end)}.`
      : `Your plan is now ${name}.`);
    setChoice(null);
    focusHeading();
  };

  const discount = catalog.yearlyDiscountPercent;
  return html`
    ${card.cancelAtPeriodEnd ? html`<p class="note">A cancellation is scheduled: reactivate your subscription on the Overview to change plans.</p>` : null}
    <fieldset class="interval">
      <legend>Billing interval</legend>
      ${['monthly', 'yearly'].map((value) => html`
        <label key=${value} class="choice">
          <input type="radio" name=${radioName} value=${value} checked=${interval === value}
            onChange=${() => setChosenInterval(value)} />
          ${value === 'monthly' ? 'Monthly' : 'Yearly'}${value === 'yearly' && discount !== null ? ` (save ${discount}%)` : ''}
        </label>`)}
    </fieldset>
    ${choice ? html`
      <${ChangePreview} key=${`${choice.plan.id}:${choice.interval}`}
        api=${api} card=${card} catalog=${catalog}
        request=${{ plan: choice.plan.id, interval: choice.interval }}
        planName=${choice.plan.name}
        title=${`Change to ${choice.plan.name} (${choice.interval})`}
        onBack=${back} onChanged=${changed} onHeld=${() => reload().catch(() => undefined)} />` : null}
    <div class="plan-grid">
      ${catalog.plans.map((plan) => html`
        <${PlanCard} key=${plan.id} plan=${plan} catalog=${catalog} creditUnit=${card.credits?.unit ?? null} interval=${interval} onChoose=${choose}
          buttonRef=${(element) => { buttons.current[plan.id] = element; }} />`)}
    </div>`;
}
