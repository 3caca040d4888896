/*
 * Parley console, conversation view: the chat's ticket in the side panel and
 * each message's sync state with the PSA. Loaded after console.js, whose
 * socket it shares: console.js re-dispatches every live frame on document
 * as a "parley:live" event, and "parley:live-ready" after each (re)connect.
 *
 * Without this script the panel is still right when the page loads, and
 * "Create ticket" is a plain form post. With it: the ticket is made in place
 * (a refusal, such as an end user without a confirmed contact, is explained
 * next to the button), the number and status follow the system messages
 * that announce them, and each message synced to the ticket carries a badge:
 * pending, synced (with the PSA's note id), or failed (with the reason and a
 * Retry button for the parked job).
 */
(function () {
  'use strict';

  const API = '/api/v1';
  // Several messages or frames in a burst cost one re-read.
  const SOON_MS = 250;

  function boot() {
    const main = document.getElementById('conversation');
    const panel = document.getElementById('ticket-panel');
    if (!main || !panel) return;

    const conversationId = Number(main.dataset.id);
    const csrfMeta = document.querySelector('meta[name="csrf-token"]');
    const csrf = csrfMeta ? csrfMeta.getAttribute('content') || '' : '';
    const messagesList = document.getElementById('messages');
    const ui = {
      linked: document.getElementById('ticket-linked'),
      none: document.getElementById('ticket-none'),
      number: document.getElementById('ticket-number'),
      status: document.getElementById('ticket-status'),
      summary: document.getElementById('ticket-summary'),
      pending: document.getElementById('ticket-pending'),
      form: document.getElementById('ticket-form'),
      error: document.getElementById('ticket-error'),
    };
    const sync = new Map(); // message id -> {message_id, job_id, state, note_id, error}
    const timers = {};

    /* ---------- HTTP ---------- */

    async function call(method, path, json) {
      const headers = { Accept: 'application/json' };
      if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
      if (json !== undefined) headers['Content-Type'] = 'application/json';
      let response;
      try {
        response = await fetch(API + path, {
          method, headers, credentials: 'same-origin', cache: 'no-store',
          body: json === undefined ? undefined : JSON.stringify(json),
        });
      } catch (_) {
        return { ok: false, status: 0, body: null };
      }
      let body = null;
      if (/json/i.test(response.headers.get('Content-Type') || '')) {
        try {
          body = await response.json();
        } catch (_) {
          body = null;
        }
      }
      return { ok: response.ok, status: response.status, body };
    }

    function refusal(result, fallback) {
      const message = result.body && result.body.error && result.body.error.message;
      if (message) return message.charAt(0).toUpperCase() + message.slice(1);
      if (!result.status) return 'The server could not be reached. Check your connection and try again.';
      return fallback + ' (HTTP ' + result.status + ').';
    }

    function soon(what, run) {
      clearTimeout(timers[what]);
      timers[what] = setTimeout(run, SOON_MS);
    }

    /* ---------- the ticket panel ---------- */

    function renderTicket(view) {
      panel.dataset.linked = view ? 'true' : 'false';
      panel.dataset.pending = view && view.pending ? 'true' : 'false';
      panel.dataset.ticketId = view && view.ticket_id ? String(view.ticket_id) : '0';
      ui.linked.hidden = !view;
      ui.none.hidden = !!view;
      if (!view) return;
      ui.number.textContent = view.ticket_id ? '#' + view.ticket_id : 'Requested';
      ui.status.textContent = view.pending ? 'Waiting for HaloPSA' : (view.status || 'Open');
      ui.status.className = 'ticket__status state ' + (view.pending ? 'state--untested' : 'state--connected');
      ui.summary.textContent = view.summary || '';
      ui.pending.hidden = !view.pending;
    }

    async function loadTicket() {
      const result = await call('GET', '/conversations/' + conversationId + '/ticket');
      if (result.ok && result.body) renderTicket(result.body.ticket || null);
    }

    function showTicketError(text) {
      if (!ui.error) return;
      ui.error.textContent = text;
      ui.error.hidden = !text;
    }

    async function createTicket(event) {
      event.preventDefault();
      const button = ui.form.querySelector('button[type="submit"]');
      if (button.disabled) return;
      button.disabled = true;
      button.setAttribute('aria-busy', 'true');
      showTicketError('');
      const result = await call('POST', '/conversations/' + conversationId + '/ticket');
      button.disabled = false;
      button.setAttribute('aria-busy', 'false');
      if (result.ok && result.body) {
        renderTicket(result.body.ticket || null);
        loadSync();
        return;
      }
      if (result.status === 401) {
        HTMLFormElement.prototype.submit.call(ui.form); // signed out: the page way leads to sign-in
        return;
      }
      // 409: the end user has no confirmed contact, or the chat has a ticket
      // already; the server's words say which.
      showTicketError(refusal(result, 'The ticket could not be created'));
      if (result.status === 409) loadTicket();
    }

    /* ---------- sync badges ---------- */

    async function loadSync() {
      const result = await call('GET', '/conversations/' + conversationId + '/sync');
      if (!result.ok || !result.body || !Array.isArray(result.body.sync)) return;
      for (const item of result.body.sync) remember(item);
    }

    function remember(item) {
      if (!item || !Number.isInteger(item.message_id)) return;
      sync.set(item.message_id, item);
      paint(item.message_id);
    }

    function paint(messageId) {
      const item = sync.get(messageId);
      const li = document.getElementById('m' + messageId);
      if (!item || !li) return;
      let box = li.querySelector('.message__sync');
      if (!box) {
        box = document.createElement('div');
        box.className = 'message__sync';
        box.dataset.testid = 'sync';
        li.appendChild(box);
      }
      box.dataset.state = item.state;
      box.dataset.jobId = String(item.job_id);
      box.textContent = '';

      const badge = document.createElement('span');
      badge.className = 'sync sync--' + item.state;
      badge.setAttribute('data-testid', 'sync-badge');
      if (item.state === 'synced') {
        badge.textContent = item.note_id ? 'In HaloPSA \u00b7 note ' + item.note_id : 'In HaloPSA';
        badge.title = 'Synced to the ticket' + (item.note_id ? ' as HaloPSA note ' + item.note_id : '');
      } else if (item.state === 'failed') {
        badge.textContent = 'Not in HaloPSA';
      } else {
        badge.textContent = item.error ? 'Retrying' : 'Sending to HaloPSA';
        if (item.error) badge.title = 'Last attempt: ' + item.error;
      }
      box.appendChild(badge);

      if (item.state === 'failed') {
        if (item.error) {
          const reason = document.createElement('span');
          reason.className = 'sync__reason';
          reason.setAttribute('data-testid', 'sync-reason');
          reason.textContent = item.error;
          box.append(' ', reason);
        }
        const retry = document.createElement('button');
        retry.type = 'button';
        retry.className = 'sync__retry secondary';
        retry.setAttribute('data-testid', 'sync-retry');
        retry.textContent = 'Retry';
        retry.setAttribute('aria-label', 'Retry sending this message to HaloPSA');
        retry.addEventListener('click', () => retryJob(item, retry));
        box.append(' ', retry);
      }
    }

    async function retryJob(item, button) {
      button.disabled = true;
      const result = await call('POST', '/outbox/' + item.job_id + '/retry');
      if (result.ok) {
        remember(Object.assign({}, item, { state: 'pending', error: null }));
        return;
      }
      button.disabled = false;
      const box = button.parentNode;
      let note = box.querySelector('.sync__retry-error');
      if (!note) {
        note = document.createElement('span');
        note.className = 'sync__retry-error';
        note.setAttribute('role', 'alert');
        box.appendChild(note);
      }
      note.textContent = refusal(result, 'The retry was refused');
    }

    /* ---------- live ---------- */

    function onFrame(frame) {
      if (!frame || typeof frame !== 'object') return;
      if (frame.type === 'sync' && frame.sync) {
        remember(frame.sync);
      } else if (frame.type === 'message' && frame.message && frame.message.conversation_id === conversationId) {
        // console.js has placed the message by now; give it its badge.
        paint(frame.message.id);
        // The server announces the ticket's number and changes as system
        // messages; and in a linked chat each new message becomes a job.
        if (frame.message.kind === 'system') soon('ticket', loadTicket);
        if (panel.dataset.linked === 'true') soon('sync', loadSync);
      } else if (frame.type === 'conversation' && frame.conversation && frame.conversation.id === conversationId) {
        soon('ticket', loadTicket);
      }
    }

    if (ui.form) ui.form.addEventListener('submit', createTicket);
    document.addEventListener('parley:live', (event) => onFrame(event.detail));
    document.addEventListener('parley:live-ready', (event) => {
      if (event.detail && event.detail.reconnected) {
        loadTicket();
        loadSync();
      }
    });
    // Messages added without the socket (the reply form's answer) are
    // painted once their sync state is known.
    if (messagesList && typeof MutationObserver === 'function') {
      new MutationObserver((changes) => {
        for (const change of changes) {
          for (const node of change.addedNodes) {
            if (node.nodeType === 1 && node.dataset && node.dataset.id) paint(Number(node.dataset.id));
          }
        }
      }).observe(messagesList, { childList: true });
    }
    loadSync();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot, { once: true });
  else boot();
})();
