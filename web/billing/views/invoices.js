// The customer's invoices, newest first, with their PDFs and, for an open one, where to pay it.
import { useId, useState } from 'preact/hooks';
import { formatDate, formatMoney, humanize } from '../format.js';
import { html } from '../html.js';
import { ErrorAlert, ExternalLink, Loading, TableScroll, useAction, useLoad } from './parts.js';

const LIMIT = 50;

/**
 * The PDF route needs the session token, which a plain link cannot send: the file is fetched,
 * then handed to the browser as a download through a short-lived object URL.
 */
function saveAs(blob, fileName) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked later: some browsers read the URL after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function DownloadButton({ api, invoice, onError }) {
  const download = useAction();
  const run = () => download.run(async () => {
    onError(null);
    try {
      saveAs(await api.blob(invoice.pdfUrl, 'application/pdf'), `${invoice.number}.pdf`);
    } catch (error) {
      onError(error);
      throw error;
    }
  });
  return html`
    <button type="button" class="button small" disabled=${download.busy} aria-label=${`Download PDF for ${invoice.number}`} onClick=${run}>
      ${download.busy ? 'Downloading…' : 'Download PDF'}
    </button>`;
}

function InvoiceTable({ api, invoices, onError }) {
  const captionId = useId();
  return html`
    <${TableScroll} labelledBy=${captionId}>
      <table class="data">
        <caption id=${captionId}>Invoices</caption>
        <thead>
          <tr>
            <th scope="col">Number</th>
            <th scope="col">Date</th>
            <th scope="col">Period</th>
            <th scope="col">Status</th>
            <th scope="col" class="num">Total</th>
            <th scope="col"><span class="visually-hidden">Documents and payment</span></th>
          </tr>
        </thead>
        <tbody>
          ${invoices.map((invoice) => html`
            <tr key=${invoice.id}>
              <th scope="row">${invoice.number}</th>
              <td class="date">${formatDate(invoice.issuedAt)}</td>
              <td><span class="date">${formatDate(invoice.period.start)}</span> – <span class="date">${formatDate(invoice.period.end)}</span></td>
              <td><span class=${`invoice-status status-${invoice.status}`}>${humanize(invoice.status)}</span></td>
              <td class="num">${formatMoney(invoice.total)}</td>
              <td class="cell-actions">
                <${DownloadButton} api=${api} invoice=${invoice} onError=${onError} />
                ${invoice.status === 'open' && invoice.hostedInvoiceUrl ? html`
                  <${ExternalLink} href=${invoice.hostedInvoiceUrl} label=${`Pay ${invoice.number}`}>Pay</${ExternalLink}>` : null}
              </td>
            </tr>`)}
        </tbody>
      </table>
    </${TableScroll}>`;
}

export function Invoices({ api }) {
  const list = useLoad(() => api.get(`invoices?limit=${LIMIT}`));
  // A failed download, shown above the table (a 401 is shown by the page instead).
  const [problem, setProblem] = useState(null);
  if (!list.data) return list.error ? html`<${ErrorAlert} error=${list.error} />` : html`<${Loading} />`;
  const invoices = list.data.data;
  if (invoices.length === 0) return html`<p>No invoices yet.</p>`;
  return html`
    <${ErrorAlert} error=${problem} />
    <${InvoiceTable} api=${api} invoices=${invoices} onError=${(error) => setProblem(error?.status === 401 ? null : error)} />
    ${list.data.hasMore ? html`<p class="hint">The ${LIMIT} most recent invoices are shown.</p>` : null}`;
}
