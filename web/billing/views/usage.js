// This cycle's usage per metric against the plan's limit, and what happens past it.
import { useId } from 'preact/hooks';
import { formatCount, formatDate, formatMoney, plural } from '../format.js';
import { html } from '../html.js';

/** Below 80% normal, then warning, and exceeded from the limit on (the alert thresholds). */
function levelOf(percent) {
  if (percent >= 100) return 'exceeded';
  if (percent >= 80) return 'warning';
  return 'normal';
}

const LEVEL_WORDS = { warning: 'Nearing limit', exceeded: 'Limit reached' };

function pastTheLimit(metric, cycleEnd) {
  const unit = plural(metric.unit, 2);
  if (metric.overLimitPolicy === 'bill' && metric.overage > 0) {
    return `Overage: ${formatCount(metric.overage)} ${plural(metric.unit, metric.overage)}, billed ${formatMoney(metric.overageCharge)} on the next invoice`;
  }
  if (metric.overLimitPolicy === 'credits') {
    return metric.blocked
      ? `Past the limit, ${unit} are paid from credits; your balance cannot pay for more. Buy credits to continue.`
      : `Past the limit, ${unit} are paid from credits`;
  }
  if (metric.overLimitPolicy === 'reject' && metric.used >= metric.limit) {
    return `Limit reached: further ${unit} are refused until ${formatDate(cycleEnd)}`;
  }
  return null;
}

function Meter({ metric, cycleEnd }) {
  const headingId = useId();
  const level = levelOf(metric.percent);
  // Whole percents, rounded down: 99.99% is not yet the limit.
  const shown = Math.floor(metric.percent);
  const text = `${formatCount(metric.used)} of ${formatCount(metric.limit)} ${plural(metric.unit, metric.limit)} used (${shown}%)`;
  const note = pastTheLimit(metric, cycleEnd);
  return html`
    <section class="meter" aria-labelledby=${headingId}>
      <h3 id=${headingId}>${metric.name}</h3>
      <div class="bar" role="progressbar" aria-label=${`${metric.name} used`}
        aria-valuemin="0" aria-valuemax="100" aria-valuenow=${Math.round(Math.min(metric.percent, 100))}
        aria-valuetext=${text} data-level=${level}>
        <div class="fill" style=${{ width: `${Math.min(metric.percent, 100)}%` }}></div>
      </div>
      <p class="meter-text">
        <span>${text}</span>
        ${LEVEL_WORDS[level] ? html` <strong class=${`flag flag-${level}`}>${LEVEL_WORDS[level]}</strong>` : null}
      </p>
      ${metric.remaining > 0 ? html`<p>${formatCount(metric.remaining)} remaining</p>` : null}
      ${note ? html`<p>${note}</p>` : null}
    </section>`;
}

export function Usage({ card }) {
  return html`
    ${card.usage.map((metric) => html`<${Meter} key=${metric.metric} metric=${metric} cycleEnd=${card.currentCycle.end} />`)}
    <p class="hint">Resets on ${formatDate(card.currentCycle.end)}</p>`;
}
