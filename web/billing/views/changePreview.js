// What a plan, interval or seat change would cost, and whether it is allowed, before the person
// commits to it. Used by Plans (a plan and interval) and Overview (seats). The panel asks the API
// for the preview itself; the same request is then sent as the change.
import { useId } from 'preact/hooks';
import { formatCount, formatDate, formatMoney, isZero, plural } from '../format.js';
import { html } from '../html.js';
import { Alert, ExternalLink, Loading, useAction, useFocusOnMount, useLoad } from './parts.js';

function previewQuery(request) {
  const query = new URLSearchParams();
  if (request.plan !== undefined) query.set('plan', request.plan);
  if (request.interval !== undefined) query.set('interval', request.interval);
  if (request.seats !== undefined) query.set('seats', String(request.seats));
  return query.toString();
}

/**
 * A refused change, from the preview or from the change itself. For the downgrade allowance the
 * numbers are spelled out, since "allowance" alone does not say what to do.
 */
export function RefusalAlert({ refusal, catalog }) {
  const details = refusal.details ?? {};
  let allowance = null;
  if (refusal.code === 'usage_exceeds_downgrade_allowance' && details.used !== undefined) {
    const metric = catalog.metrics.find((m) => m.id === details.metric);
    allowance = `So far this cycle you have used ${formatCount(details.used)} ${plural(metric?.unit ?? 'unit', details.used)}; `
      + `the ${refusal.planName} plan allows ${formatCount(details.allowance)} at this point (of ${formatCount(details.targetLimit)}).`;
  }
  return html`
    <${Alert}>
      <p>${refusal.message}</p>
      ${allowance ? html`<p>${allowance}</p>` : null}
      ${details.payUrl ? html`<p><${ExternalLink} href=${details.payUrl}>Pay invoice ${details.invoiceNumber ?? ''}</${ExternalLink}></p>` : null}
      ${refusal.code === 'payment_required' && !details.payUrl ? html`<p>Add a card with “Manage payment method” on the Overview; the change is made once the invoice is paid.</p>` : null}
    </${Alert}>`;
}

function Allowed({ preview, card }) {
  const charged = formatMoney(preview.charged);
  const owed = card.creditOwed && !isZero(card.creditOwed.amount) && !isZero(preview.charged.amount);
  return html`
    <p class="charge">Charged now: <strong>${charged}</strong></p>
    ${isZero(preview.credited.amount) ? null : html`<p class="charge">Credited to your next invoice: <strong>${formatMoney(preview.credited)}</strong></p>`}
    ${owed ? html`<p class="hint">Credit already on your account (${formatMoney(card.creditOwed)}) is taken off this charge first.</p>` : null}
    <p>${preview.effective === 'immediate'
      ? 'Takes effect immediately'
      : `Takes effect at the end of the period, on ${formatDate(preview.period.end)}`}</p>
    ${preview.lines.length > 0 ? html`
      <ul class="lines" aria-label="How the charge is worked out">
        ${preview.lines.map((line, index) => html`
          <li key=${index}><span>${line.description}</span> <span class="amount">${formatMoney(line.amount)}</span></li>`)}
      </ul>` : null}`;
}

/**
 * Props: `request` ({plan?, interval?, seats?}), `title` (the heading), `planName` (the plan the
 * change leads to), `onBack`, `onChanged(answer)` once the change is made, and `onHeld()` when it
 * waits for a payment instead.
 */
export function ChangePreview({ api, card, catalog, request, title, planName, onBack, onChanged, onHeld }) {
  const headingId = useId();
  const heading = useFocusOnMount();
  const preview = useLoad(() => api.get(`subscription/change-preview?${previewQuery(request)}`));
  const change = useAction();

  const confirm = () => change.run(async () => {
    let answer;
    try {
      // The change is decided with the catalog the preview was: if the subscription's changed
      // since (a renewal adopted an edited catalog), it is refused and the preview shown again.
      const version = preview.data?.catalogVersion;
      ({ body: answer } = await api.post('subscription/change', version ? { ...request, catalogVersion: version } : request));
    } catch (error) {
      // A held upgrade changed the subscription's state (awaiting payment): show it everywhere.
      if (error.status === 402) await onHeld?.();
      if (error.code === 'catalog_changed') await preview.reload();
      throw error;
    }
    await onChanged(answer);
  });

  const data = preview.data;
  const refusal = data && !data.allowed ? { ...data.refusal, planName } : null;
  const postRefusal = change.error ? { code: change.error.code, message: change.error.message, details: change.error.details, planName } : null;
  return html`
    <section class="panel" aria-labelledby=${headingId}>
      <h3 id=${headingId} tabindex="-1" ref=${heading}>${title}</h3>
      ${preview.loading && !data ? html`<${Loading}>Working out the price…</${Loading}>` : null}
      ${preview.error && preview.error.status !== 401 ? html`<${RefusalAlert} refusal=${{ ...preview.error, message: preview.error.message, planName }} catalog=${catalog} />` : null}
      ${data?.allowed ? html`<${Allowed} preview=${data} card=${card} />` : null}
      ${refusal ? html`<${RefusalAlert} refusal=${refusal} catalog=${catalog} />` : null}
      ${postRefusal ? html`<${RefusalAlert} refusal=${postRefusal} catalog=${catalog} />` : null}
      <div class="actions">
        ${data?.allowed ? html`<button type="button" class="button primary" disabled=${change.busy} onClick=${confirm}>Confirm change</button>` : null}
        <button type="button" class="button" disabled=${change.busy} onClick=${onBack}>Back</button>
      </div>
    </section>`;
}
