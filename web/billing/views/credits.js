// Prepaid credits: the balance, buying more (a pack or an amount, paid with the saved card or on a
// Checkout page), auto-recharge, and the history of what came in and what usage drew.
import { useEffect, useId, useState } from 'preact/hooks';
import { safeUrl } from '../api.js';
import {
  compareDecimal, currencyDigits, formatCredits, formatDate, formatMoney, isMoneyUnit, parseDecimalInput,
} from '../format.js';
import { html } from '../html.js';
import { rememberBalanceBeforeCheckout, takeBalanceBeforeCheckout } from '../session.js';
import { Alert, ErrorAlert, ExternalLink, Loading, Row, TableScroll, useAction, useLoad } from './parts.js';

const HISTORY_PAGE = 20;
const POLL_EVERY_MS = 2000;
const POLL_FOR_MS = 30000;
/**
 * Without the balance from before leaving for Checkout, a purchase in the history dated this
 * recently counts as the one just paid (it may have landed before the page loaded).
 */
const RECENT_PURCHASE_MS = 10 * 60 * 1000;

// A Checkout return is watched once per page load, not again each time the section is shown.
let checkoutWatched = false;

/** "2,500,000 tokens (€12.50)"; money credits are money already: "$100.00". */
function creditsWithValue(credits, value, unit, currency) {
  const shown = formatCredits(credits, unit, currency);
  return isMoneyUnit(unit, currency) ? shown : `${shown} (${formatMoney(value)})`;
}

/** An entry of the history, told apart from the others of the first page. */
const entryKey = (entry) => `${entry.at} ${entry.reference ?? ''} ${entry.credits}`;

function checkoutUrls() {
  return {
    successUrl: `${location.origin}/billing/?checkout=success#credits`,
    cancelUrl: `${location.origin}/billing/?checkout=cancelled#credits`,
  };
}

function PurchaseError({ error }) {
  if (!error) return null;
  const payUrl = error.details?.payUrl;
  return html`
    <${Alert}>
      <p>${error.message}</p>
      ${payUrl ? html`<p><${ExternalLink} href=${payUrl}>Pay invoice ${error.details.invoiceNumber ?? ''}</${ExternalLink}></p>` : null}
    </${Alert}>`;
}

function Buy({ api, summary, currency, onPaid, announce }) {
  const purchase = useAction();
  const [leaving, setLeaving] = useState(false);
  const [waitingFor, setWaitingFor] = useState(null);
  const [amount, setAmount] = useState('');
  const [amountError, setAmountError] = useState(null);
  const legendId = useId();
  const amountId = useId();
  const amountHintId = useId();
  const money = isMoneyUnit(summary.unit, currency);
  const range = summary.customAmount;

  const buy = (request) => purchase.run(async () => {
    setWaitingFor(null);
    const { status, body } = await api.post('credits/purchases', { ...request, checkout: checkoutUrls() });
    const bought = body.purchase;
    if (status === 200) {
      onPaid(body.credits);
      announce(`Added ${formatCredits(bought.credits, bought.unit, currency)}.`);
      return;
    }
    const checkoutUrl = safeUrl(bought.checkoutUrl);
    if (checkoutUrl) {
      setLeaving(true);
      rememberBalanceBeforeCheckout(summary.balance);
      location.assign(checkoutUrl);
      return;
    }
    setWaitingFor(bought);
    announce(`Invoice ${bought.invoiceNumber} is waiting for payment; the credits are added once it is paid.`);
  });

  const buyAmount = (event) => {
    event.preventDefault();
    const value = parseDecimalInput(amount, currencyDigits(currency));
    const rangeText = `from ${formatMoney(range.min)} to ${formatMoney(range.max)}`;
    if (value === null) {
      setAmountError(`Enter an amount ${rangeText}, such as ${range.min.amount}.`);
      return;
    }
    if (compareDecimal(value, range.min.amount) < 0 || compareDecimal(value, range.max.amount) > 0) {
      setAmountError(`Enter an amount ${rangeText}.`);
      return;
    }
    setAmountError(null);
    buy({ amount: value });
  };

  const disabled = purchase.busy || leaving;
  return html`
    <fieldset class="buy">
      <legend id=${legendId}>Buy credits</legend>
      <ul class="packs">
        ${summary.packs.map((pack, index) => html`
          <li key=${pack.id}>
            <button type="button" class="button primary" disabled=${disabled} aria-describedby=${`${legendId}-${index}`}
              onClick=${() => buy({ packId: pack.id })}>Buy ${pack.name}</button>
            <span id=${`${legendId}-${index}`}>
              ${pack.name} — ${money ? `${formatMoney({ amount: pack.credits, currency })} of credit` : formatCredits(pack.credits, summary.unit, currency)} for ${formatMoney(pack.price)}
            </span>
          </li>`)}
      </ul>
      ${range ? html`
        <form class="inline-form" onSubmit=${buyAmount} novalidate>
          <div class="field">
            <label for=${amountId}>Custom amount (${currency})</label>
            <input id=${amountId} type="text" inputmode="decimal" autocomplete="off" value=${amount}
              aria-describedby=${amountHintId} aria-invalid=${amountError ? 'true' : undefined}
              onInput=${(event) => setAmount(event.currentTarget.value)} />
          </div>
          <button type="submit" class="button" disabled=${disabled}>Buy custom amount</button>
        </form>
        <p class="hint" id=${amountHintId}>From ${formatMoney(range.min)} to ${formatMoney(range.max)}.</p>
        ${amountError ? html`<${Alert}><p>${amountError}</p></${Alert}>` : null}` : null}
      ${leaving ? html`<p>Opening the payment page…</p>` : null}
      ${waitingFor?.payUrl ? html`
        <p><${ExternalLink} href=${waitingFor.payUrl}>Pay invoice ${waitingFor.invoiceNumber}</${ExternalLink}></p>` : null}
      <${PurchaseError} error=${purchase.error} />
    </fieldset>`;
}

function rechargeStatus(auto) {
  if (auto.status === 'on') return 'On';
  if (auto.status === 'retrying') return `On, retrying after ${auto.failures} declined ${auto.failures === 1 ? 'payment' : 'payments'}`;
  if (auto.status === 'turned_off') {
    const when = auto.turnedOffAt ? ` on ${formatDate(auto.turnedOffAt)}` : '';
    return `Turned off${when}${auto.turnedOffReason ? `: ${auto.turnedOffReason}` : ''}`;
  }
  return 'Off';
}

function AutoRecharge({ api, summary, currency, onSaved, announce }) {
  const auto = summary.autoRecharge;

  const [enabled, setEnabled] = useState(auto.enabled);
  const [packId, setPackId] = useState(auto.packId ?? summary.packs[0]?.id ?? '');
  const [threshold, setThreshold] = useState(auto.threshold ?? '');
  const [limit, setLimit] = useState(auto.spendingLimit?.amount ?? '');
  const [invalid, setInvalid] = useState(null);
  const save = useAction();
  const ids = { enabled: useId(), pack: useId(), threshold: useId(), thresholdHint: useId(), limit: useId(), limitHint: useId() };
  const packOf = (id) => summary.packs.find((pack) => pack.id === id);
  const inUnit = isMoneyUnit(summary.unit, currency) ? currency : summary.unit;

  const submit = (event) => {
    event.preventDefault();
    const thresholdValue = threshold.trim() === '' ? null : parseDecimalInput(threshold, 9);
    const limitValue = limit.trim() === '' ? null : parseDecimalInput(limit, currencyDigits(currency));
    if (threshold.trim() !== '' && thresholdValue === null) {
      setInvalid(`Enter the balance as a number of ${inUnit}, or leave it empty.`);
      return;
    }
    if (limit.trim() !== '' && limitValue === null) {
      setInvalid(`Enter the spending limit as an amount of ${currency}, such as 50.00, or leave it empty.`);
      return;
    }
    setInvalid(null);
    save.run(async () => {
      const { body } = await api.put('credits/auto-recharge', { enabled, packId: packId || null, threshold: thresholdValue, spendingLimit: limitValue });
      onSaved(body);
      announce(body.autoRecharge.enabled ? 'Auto-recharge is on.' : 'Auto-recharge is off.');
    });
  };

  const pack = packOf(auto.packId);
  return html`
    <form class="auto-recharge" onSubmit=${submit} novalidate>
      <fieldset>
        <legend>Auto-recharge</legend>
        <dl class="facts compact">
          <${Row} term="Status">${rechargeStatus(auto)}</${Row}>
          ${pack ? html`<${Row} term="Buys">${pack.name} (${formatCredits(pack.credits, summary.unit, currency)} for ${formatMoney(pack.price)})</${Row}>` : null}
          ${auto.threshold !== null ? html`<${Row} term="When below">${formatCredits(auto.threshold, summary.unit, currency)}</${Row}>` : null}
          <${Row} term="Spent this period">${formatMoney(auto.spentThisCycle)} of ${formatMoney(auto.spendingLimit)}</${Row}>
        </dl>
        <div class="check">
          <input id=${ids.enabled} type="checkbox" checked=${enabled} onChange=${(event) => setEnabled(event.currentTarget.checked)} />
          <label for=${ids.enabled}>Recharge automatically</label>
        </div>
        <div class="field">
          <label for=${ids.pack}>Pack to buy</label>
          <select id=${ids.pack} value=${packId} onChange=${(event) => setPackId(event.currentTarget.value)}>
            ${summary.packs.map((p) => html`
              <option key=${p.id} value=${p.id}>${p.name} (${formatCredits(p.credits, summary.unit, currency)} for ${formatMoney(p.price)})</option>`)}
          </select>
        </div>
        <div class="field">
          <label for=${ids.threshold}>When the balance falls below</label>
          <input id=${ids.threshold} type="text" inputmode="decimal" autocomplete="off" value=${threshold}
            aria-describedby=${ids.thresholdHint} onInput=${(event) => setThreshold(event.currentTarget.value)} />
          <p class="hint" id=${ids.thresholdHint}>In ${inUnit}. Optional when the plan sets a default.</p>
        </div>
        <div class="field">
          <label for=${ids.limit}>Spending limit per period (${currency})</label>
          <input id=${ids.limit} type="text" inputmode="decimal" autocomplete="off" value=${limit}
            aria-describedby=${ids.limitHint} onInput=${(event) => setLimit(event.currentTarget.value)} />
          <p class="hint" id=${ids.limitHint}>Optional: the most auto-recharge spends in one billing period.</p>
        </div>
        ${invalid ? html`<${Alert}><p>${invalid}</p></${Alert}>` : null}
        <${ErrorAlert} error=${save.error} />
        <div class="actions">
          <button type="submit" class="button primary" disabled=${save.busy}>Save auto-recharge</button>
        </div>
      </fieldset>
    </form>`;
}

function entryType(entry, metricName) {
  switch (entry.type) {
    case 'consumption': return `Used by ${metricName(entry.metric)}`;
    case 'purchase': return 'Purchase';
    case 'recharge': return 'Auto-recharge';
    case 'refund': return 'Refund';
    case 'grant': {
      const kind = entry.grantType === 'promotional' ? 'Promotional credit' : 'Credit adjustment';
      return entry.reason ? `${kind}: ${entry.reason}` : kind;
    }
    default: return entry.type;
  }
}

function History({ api, history, unit, currency, metricName }) {
  const captionId = useId();
  const [older, setOlder] = useState({ entries: [], nextCursor: undefined });
  const more = useAction();
  const first = history.data;
  const entries = [...(first?.data ?? []), ...older.entries];
  const cursor = older.nextCursor === undefined ? first?.nextCursor : older.nextCursor;

  const loadOlder = () => more.run(async () => {
    const page = await api.get(`credits/transactions?limit=${HISTORY_PAGE}&cursor=${encodeURIComponent(cursor)}`);
    setOlder((previous) => ({ entries: [...previous.entries, ...page.data], nextCursor: page.nextCursor }));
  });

  // A reloaded first page starts the list again.
  useEffect(() => setOlder({ entries: [], nextCursor: undefined }), [first]);

  if (!first) return history.error ? html`<${ErrorAlert} error=${history.error} />` : html`<${Loading} />`;
  if (entries.length === 0) return html`<h3>Credit history</h3><p>No credit activity yet.</p>`;
  return html`
    <${TableScroll} labelledBy=${captionId}>
      <table class="data">
        <caption id=${captionId}>Credit history</caption>
        <thead>
          <tr>
            <th scope="col">Date</th>
            <th scope="col">Type</th>
            <th scope="col" class="num">Credits</th>
            <th scope="col" class="num">Balance after</th>
            <th scope="col">Invoice</th>
          </tr>
        </thead>
        <tbody>
          ${entries.map((entry, index) => html`
            <tr key=${index}>
              <td class="date">${formatDate(entry.at)}</td>
              <td>${entryType(entry, metricName)}</td>
              <td class="num">${formatCredits(entry.credits, unit, currency)}</td>
              <td class="num">${entry.balanceAfter ? formatCredits(entry.balanceAfter, unit, currency) : '—'}</td>
              <td>${entry.invoiceNumber ?? '—'}</td>
            </tr>`)}
        </tbody>
      </table>
    </${TableScroll}>
    ${cursor ? html`
      <div class="actions">
        <button type="button" class="button" disabled=${more.busy} onClick=${loadOlder}>Show older entries</button>
      </div>` : null}
    <${ErrorAlert} error=${more.error} />`;
}

export function Credits({ api, card, catalog, reload, announce, checkoutReturn }) {
  const summary = useLoad(() => api.get('credits'));
  // The history only once credits turn out to be on sale (else both would answer 404).
  const history = useLoad(() => api.get(`credits/transactions?limit=${HISTORY_PAGE}`), { auto: false });
  const offered = summary.data !== undefined;
  useEffect(() => {
    if (offered) history.reload();
  }, [offered]);
  const currency = catalog.currency;
  const metricName = (id) => card.usage.find((m) => m.metric === id)?.name ?? id;
  // The usage card (Overview's credit balance, Usage's "cannot pay for more") follows the balance.
  const reloadCard = () => reload().catch(() => undefined);

  // Back from Checkout: the credits come with the provider's confirmation, moments later. With the
  // balance from before leaving, it is fetched again every 2 s (up to 30 s) until it rises above
  // that (usage may have drawn some meanwhile); without it, the history is, until it holds a
  // purchase that is new: dated in the last few minutes, or not there at the first look.
  const [watch, setWatch] = useState(() => {
    if (checkoutReturn !== 'success' || checkoutWatched) return null;
    checkoutWatched = true;
    const now = Date.now();
    return { before: takeBalanceBeforeCheckout(), until: now + POLL_FOR_MS, since: now - RECENT_PURCHASE_MS, known: null, polled: false };
  });
  const notConfirmed = () => {
    setWatch(null);
    announce('The payment is not confirmed yet; your credits appear here once it is.');
  };
  const pollAgain = (fetchAgain, known) => {
    const timer = setTimeout(() => {
      setWatch((current) => (current ? { ...current, known: known ?? current.known, polled: true } : current));
      fetchAgain();
    }, POLL_EVERY_MS);
    return () => clearTimeout(timer);
  };

  useEffect(() => {
    if (!watch || watch.before === null || !summary.data) return undefined;
    const balance = summary.data.balance;
    if (compareDecimal(balance, watch.before) > 0) {
      setWatch(null);
      // The first answers already hold the purchase when it landed before the page loaded.
      if (watch.polled) {
        history.reload();
        reloadCard();
        announce(`Your credits are added: the balance is now ${formatCredits(balance, summary.data.unit, currency)}.`);
      }
      return undefined;
    }
    if (Date.now() >= watch.until) {
      notConfirmed();
      return undefined;
    }
    return pollAgain(summary.reload);
  }, [watch, summary.data, summary.error]);

  useEffect(() => {
    if (!watch || watch.before !== null || !history.data) return undefined;
    const purchases = history.data.data.filter((entry) => entry.type === 'purchase');
    const landed = watch.known === null
      ? purchases.find((entry) => Date.parse(entry.at) >= watch.since)
      : purchases.find((entry) => !watch.known.includes(entryKey(entry)));
    if (landed) {
      setWatch(null);
      if (watch.polled) {
        reloadCard();
        summary.reload().then((now) => announce(now
          ? `Your credits are added: the balance is now ${formatCredits(now.balance, now.unit, currency)}.`
          : `Your credits are added: ${formatCredits(landed.credits, summary.data?.unit ?? history.data.unit, currency)}.`));
      }
      return undefined;
    }
    if (Date.now() >= watch.until) {
      notConfirmed();
      return undefined;
    }
    return pollAgain(history.reload, watch.known ?? purchases.map(entryKey));
  }, [watch, history.data, history.error]);

  if (summary.error?.code === 'credits_not_offered') return html`<p>Credits are not offered with this plan catalog.</p>`;
  if (!summary.data) return summary.error ? html`<${ErrorAlert} error=${summary.error} />` : html`<${Loading} />`;

  const data = summary.data;
  const paid = (next) => {
    summary.set(next);
    history.reload();
    reloadCard();
  };
  const saved = (next) => {
    summary.set(next);
    reloadCard();
  };
  return html`
    <dl class="facts">
      <${Row} term="Balance">${creditsWithValue(data.balance, data.balanceValue, data.unit, currency)}</${Row}>
      <${Row} term="Used this period">${creditsWithValue(data.consumedThisCycle.credits, data.consumedThisCycle.value, data.unit, currency)}</${Row}>
    </dl>
    ${data.packs.length > 0 || data.customAmount ? html`
      <${Buy} api=${api} summary=${data} currency=${currency} onPaid=${paid} announce=${announce} />` : null}
    ${data.packs.length > 0 ? html`
      <${AutoRecharge} key=${JSON.stringify([data.autoRecharge.enabled, data.autoRecharge.packId, data.autoRecharge.threshold, data.autoRecharge.spendingLimit])}
        api=${api} summary=${data} currency=${currency} onSaved=${saved} announce=${announce} />` : null}
    <${History} api=${api} history=${history} unit=${data.unit} currency=${currency} metricName=${metricName} />`;
}
