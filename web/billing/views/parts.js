// Small pieces every section uses: alerts, definition-list rows, links from the API, the busy
// state of a button's request, and data a section loads for itself.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { safeUrl } from '../api.js';
import { html } from '../html.js';

/** An error the person must notice: announced at once by screen readers. */
export function Alert({ children }) {
  return html`<div class="alert" role="alert">${children}</div>`;
}

/** An error from the API, or nothing. */
export function ErrorAlert({ error }) {
  if (!error) return null;
  return html`<${Alert}><p>${error.message}</p></${Alert}>`;
}

/** One term of a <dl>; the wrapping div keeps the list valid and lets CSS lay rows out. */
export function Row({ term, children }) {
  return html`<div class="row"><dt>${term}</dt><dd>${children}</dd></div>`;
}

/** A link the API gave (payment pages): rendered only when it is an http(s) URL. */
export function ExternalLink({ href, label, children }) {
  const url = safeUrl(href);
  if (!url) return null;
  return html`<a href=${url} aria-label=${label}>${children}</a>`;
}

/**
 * A table that may be wider than a phone scrolls inside this box, not the page. The box is
 * focusable and named after the table so keyboard users can scroll it too.
 */
export function TableScroll({ labelledBy, children }) {
  return html`<div class="table-scroll" role="region" aria-labelledby=${labelledBy} tabindex="0">${children}</div>`;
}

export function Loading({ children = 'Loading…' }) {
  return html`<p class="loading">${children}</p>`;
}

/** Focus an element once it is in the page (a panel's heading when the panel opens). */
export function useFocusOnMount() {
  const ref = useRef(null);
  useEffect(() => {
    ref.current?.focus();
  }, []);
  return ref;
}

/**
 * One user action's request: `busy` disables its button (no double submit), `error` is what the
 * API refused. A 401 is left to the page, which then shows only the expired-link message.
 */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const mounted = useMounted();
  const run = useCallback(async (action) => {
    setBusy(true);
    setError(null);
    try {
      return await action();
    } catch (caught) {
      if (mounted.current && caught?.status !== 401) setError(caught);
      return undefined;
    } finally {
      if (mounted.current) setBusy(false);
    }
  }, []);
  return { busy, error, setError, run };
}

export function useMounted() {
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);
  return mounted;
}

/**
 * Data a section loads for itself when it is shown (or, with `auto: false`, when `reload` is first
 * called). `reload` fetches again, keeping what is shown meanwhile; `set` replaces it with an
 * answer that already holds the new state.
 */
export function useLoad(load, { auto = true } = {}) {
  const [state, setState] = useState({ data: undefined, error: null, loading: auto });
  const mounted = useMounted();
  const latestLoad = useRef(load);
  latestLoad.current = load;
  const reload = useCallback(async () => {
    setState((previous) => ({ ...previous, loading: true }));
    try {
      const data = await latestLoad.current();
      if (mounted.current) setState({ data, error: null, loading: false });
      return data;
    } catch (error) {
      if (mounted.current) setState((previous) => ({ ...previous, error, loading: false }));
      return undefined;
    }
  }, []);
  useEffect(() => {
    if (auto) reload();
  }, []);
  const set = useCallback((data) => setState({ data, error: null, loading: false }), []);
  return { ...state, reload, set };
}
