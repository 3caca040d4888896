/*
 * Parley widget loader: the one script a client portal embeds.
 *
 *   <script src="https://PARLEY/widget.js" data-token="JWT" async></script>
 *   <script src="https://PARLEY/widget.js" data-token-url="/portal/parley-token" async></script>
 *
 * It adds a launcher button and, on first open, an iframe of {origin}/widget
 * where the chat runs. The signed token travels only by postMessage to
 * Parley's exact origin, never in a URL. Everything lives in a shadow root so
 * that the portal's styles and ours cannot collide.
 *
 * postMessage protocol (iframe -> loader):
 *   {type:"parley:ready"}        the chat page is listening; send the token
 *   {type:"parley:need-token"}   the token was refused or expired; send a fresh one
 *   {type:"parley:close"}        close the panel (close button or Escape inside)
 *   {type:"parley:unread", count} unread replies while the panel is closed
 * (loader -> iframe):
 *   {type:"parley:token", token, title}
 *   {type:"parley:token-error", message}
 *   {type:"parley:visibility", open}
 */
(function () {
  'use strict';

  if (window.ParleyWidget) return; // Embedded twice: keep the first one.

  const HOST_ID = 'parley-widget-host';
  const PHONE_MAX_WIDTH = 480;

  const script = findOwnScript();
  if (!script) {
    console.error('Parley: could not find the widget <script> element.');
    return;
  }
  const parleyOrigin = new URL(script.src, location.href).origin;
  const config = {
    token: (script.getAttribute('data-token') || '').trim(),
    tokenUrl: (script.getAttribute('data-token-url') || '').trim(),
    title: (script.getAttribute('data-title') || '').trim(),
  };

  const state = {
    open: false,
    iframeReady: false,
    token: config.token,
    tokenFetch: null,
  };
  let ui = null;

  /** document.currentScript is null for async scripts run late in some engines. */
  function findOwnScript() {
    const current = document.currentScript;
    if (current && current.src) return current;
    const scripts = document.querySelectorAll('script[src]');
    for (let i = scripts.length - 1; i >= 0; i -= 1) {
      const src = scripts[i].getAttribute('src') || '';
      if (/\/widget\.js(?:[?#].*)?$/.test(src)) return scripts[i];
    }
    return null;
  }

  const STYLES = `
    :host { all: initial; }
    .launcher {
      position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
      width: 56px; height: 56px; border-radius: 50%; border: 0; margin: 0; padding: 0;
      background: #1d4ed8; color: #fff; cursor: pointer;
      display: flex; align-items: center; justify-content: center;
      box-shadow: 0 4px 14px rgba(0, 0, 0, .25);
      font: 600 14px/1 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
    }
    .launcher:hover { background: #1e40af; }
    .launcher:focus { outline: none; }
    .launcher:focus-visible { outline: 3px solid #f59e0b; outline-offset: 3px; }
    .launcher svg { width: 28px; height: 28px; fill: currentColor; }
    .launcher .icon-close { display: none; }
    .launcher[aria-expanded="true"] .icon-chat { display: none; }
    .launcher[aria-expanded="true"] .icon-close { display: block; }
    .badge {
      position: absolute; top: -2px; right: -2px; min-width: 20px; height: 20px; padding: 0 5px;
      box-sizing: border-box; border-radius: 10px; background: #dc2626; color: #fff;
      font: 700 12px/20px system-ui, sans-serif; text-align: center;
    }
    .badge[hidden] { display: none; }
    .panel {
      position: fixed; right: 20px; bottom: 88px; z-index: 2147483000;
      width: 380px; height: min(620px, calc(100vh - 108px));
      border: 0; border-radius: 12px; overflow: hidden; background: #fff;
      box-shadow: 0 8px 32px rgba(0, 0, 0, .28);
    }
    .panel[hidden] { display: none; }
    .panel iframe { display: block; width: 100%; height: 100%; border: 0; }
    @media (max-width: ${PHONE_MAX_WIDTH}px) {
      .panel { inset: 0; right: 0; bottom: 0; width: 100%; height: 100%; border-radius: 0; }
      .launcher[aria-expanded="true"] { display: none; }
    }
  `;

  const CHAT_ICON = '<svg class="icon-chat" viewBox="0 0 24 24" aria-hidden="true" focusable="false">' +
    '<path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/></svg>';
  const CLOSE_ICON = '<svg class="icon-close" viewBox="0 0 24 24" aria-hidden="true" focusable="false">' +
    '<path d="M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12 19 17.6 17.6 19 12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z"/></svg>';

  /** Constructed sheets pass a strict page CSP; a <style> element is the fallback. */
  function applyStyles(shadow) {
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLES);
      shadow.adoptedStyleSheets = [sheet];
    } catch (_) {
      const style = document.createElement('style');
      style.textContent = STYLES;
      shadow.appendChild(style);
    }
  }

  function buildUi() {
    const host = document.createElement('div');
    host.id = HOST_ID;
    host.setAttribute('data-testid', 'parley-widget');
    const shadow = host.attachShadow({ mode: 'open' }); // open: browser tests can reach in
    applyStyles(shadow);

    const launcher = document.createElement('button');
    launcher.type = 'button';
    launcher.className = 'launcher';
    launcher.setAttribute('aria-label', 'Chat with the help desk');
    launcher.setAttribute('aria-expanded', 'false');
    launcher.setAttribute('aria-controls', 'parley-panel');
    launcher.setAttribute('data-testid', 'launcher');
    launcher.innerHTML = CHAT_ICON + CLOSE_ICON; // constant markup, no data
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.hidden = true;
    badge.setAttribute('aria-hidden', 'true');
    launcher.appendChild(badge);
    launcher.addEventListener('click', () => (state.open ? close() : open()));

    const panel = document.createElement('div');
    panel.className = 'panel';
    panel.id = 'parley-panel';
    panel.hidden = true;
    panel.setAttribute('data-testid', 'panel');

    shadow.append(panel, launcher);
    document.body.appendChild(host);
    return { host, shadow, launcher, badge, panel, iframe: null };
  }

  /** The iframe is made on first open, then kept so that its socket stays live. */
  function ensureIframe() {
    if (ui.iframe) return ui.iframe;
    const iframe = document.createElement('iframe');
    iframe.src = parleyOrigin + '/widget';
    iframe.title = 'Help desk chat';
    iframe.setAttribute('data-testid', 'iframe');
    iframe.setAttribute('referrerpolicy', 'origin');
    ui.panel.appendChild(iframe);
    ui.iframe = iframe;
    return iframe;
  }

  function postToIframe(message) {
    if (!ui.iframe || !ui.iframe.contentWindow) return;
    ui.iframe.contentWindow.postMessage(message, parleyOrigin);
  }

  function open() {
    whenUiReady(() => {
      const iframe = ensureIframe();
      state.open = true;
      ui.panel.hidden = false;
      ui.launcher.setAttribute('aria-expanded', 'true');
      setUnread(0);
      postToIframe({ type: 'parley:visibility', open: true });
      // Move focus into the chat so keyboard users land where they can type.
      iframe.focus();
    });
  }

  function close() {
    whenUiReady(() => {
      const wasOpen = state.open;
      state.open = false;
      ui.panel.hidden = true;
      ui.launcher.setAttribute('aria-expanded', 'false');
      postToIframe({ type: 'parley:visibility', open: false });
      if (wasOpen) ui.launcher.focus();
    });
  }

  function setUnread(count) {
    const n = Math.max(0, Number(count) || 0);
    ui.badge.hidden = n === 0;
    ui.badge.textContent = n > 9 ? '9+' : String(n);
    ui.launcher.setAttribute('aria-label',
      n > 0 ? 'Chat with the help desk (' + n + ' new)' : 'Chat with the help desk');
  }

  /** The portal may call this when it has a fresh token (e.g. after its own sign-in). */
  function setToken(token) {
    state.token = String(token || '').trim();
    if (state.iframeReady && state.token) sendToken();
  }

  /** Fetches a token from the portal's own token URL, with the portal's cookies. */
  async function fetchToken() {
    const url = new URL(config.tokenUrl, location.href);
    if (url.origin !== location.origin) {
      throw new Error('the token URL must be on this portal\'s own origin');
    }
    const response = await fetch(url.href, {
      credentials: 'same-origin',
      headers: { Accept: 'application/json, text/plain' },
      cache: 'no-store',
    });
    if (!response.ok) throw new Error('the portal did not give a chat token (HTTP ' + response.status + ')');
    const token = parseTokenResponse(await response.text(), response.headers.get('Content-Type'));
    if (!token) throw new Error('the portal\'s token response was empty');
    return token;
  }

  /**
   * The token from the portal's answer: plain text or JSON {"token": "..."}.
   * The same rule as ParleyChat.parseTokenResponse in chat-core.js, copied so
   * that a portal needs this one script only.
   */
  function parseTokenResponse(text, contentType) {
    const raw = String(text || '').trim();
    const isJson = /json/i.test(contentType || '');
    if (isJson || raw.startsWith('{') || raw.startsWith('"')) {
      try {
        const value = JSON.parse(raw);
        if (typeof value === 'string') return value.trim();
        return value && typeof value.token === 'string' ? value.token.trim() : '';
      } catch (_) {
        if (isJson) return '';
      }
    }
    return raw;
  }

  /** One fetch at a time: ready and need-token may arrive close together. */
  function refreshToken() {
    if (!state.tokenFetch) {
      state.tokenFetch = fetchToken().finally(() => { state.tokenFetch = null; });
    }
    return state.tokenFetch;
  }

  async function sendToken(fresh) {
    if (config.tokenUrl && (fresh || !state.token)) {
      try {
        state.token = await refreshToken();
      } catch (err) {
        postToIframe({ type: 'parley:token-error', message: err.message });
        return;
      }
    }
    // Without a token (no data-token, no token URL) wait for ParleyWidget.setToken.
    if (!state.token) return;
    postToIframe({ type: 'parley:token', token: state.token, title: config.title });
  }

  function onMessage(event) {
    // Only Parley's own iframe may talk to us; anything else is ignored.
    if (!ui || !ui.iframe || event.source !== ui.iframe.contentWindow) return;
    if (event.origin !== parleyOrigin) return;
    const data = event.data;
    if (!data || typeof data !== 'object' || typeof data.type !== 'string') return;
    switch (data.type) {
      case 'parley:ready':
        state.iframeReady = true;
        postToIframe({ type: 'parley:visibility', open: state.open });
        sendToken(false);
        break;
      case 'parley:need-token':
        sendToken(true);
        break;
      case 'parley:close':
        close();
        break;
      case 'parley:unread':
        if (!state.open) setUnread(data.count);
        break;
      default:
        break;
    }
  }

  function onKeydown(event) {
    // No stopPropagation: the portal's own Escape handlers keep working.
    if (event.key === 'Escape' && state.open) close();
  }

  let pending = [];
  function whenUiReady(fn) {
    if (ui) fn();
    else pending.push(fn);
  }

  function start() {
    ui = buildUi();
    window.addEventListener('message', onMessage);
    document.addEventListener('keydown', onKeydown, true);
    const queued = pending;
    pending = [];
    queued.forEach((fn) => fn());
  }

  window.ParleyWidget = { open, close, setToken };

  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start, { once: true });
})();
