/*
 * Parley chat core: the pure helpers shared by the widget app (widget-app.js)
 * and the technician console (console.js), plus the reconnecting WebSocket.
 *
 * Works as a classic browser script (attaches window.ParleyChat) and under
 * node (module.exports), so that assets/test/widget-helpers.test.js can test
 * it without a browser. Nothing here touches the DOM.
 */
(function (root, factory) {
  'use strict';
  const api = factory();
  if (typeof module === 'object' && module.exports) {
    module.exports = api;
  } else {
    root.ParleyChat = api;
  }
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  const OPEN_STATUSES = ['waiting', 'active'];
  const BACKOFF_STEPS_MS = [1000, 2000, 4000, 8000, 16000, 30000];
  const TYPING_SEND_INTERVAL_MS = 3000;
  const TYPING_SHOW_MS = 5000;

  /** Message ids grow across the workspace, so ordering by id is ordering by time. */
  function compareById(a, b) {
    return a.id - b.id;
  }

  /**
   * Merges incoming messages into a list: one entry per id (a message sent by
   * HTTP may come back over the socket, and a resume may replay what a page
   * already shows), sorted oldest first. A later copy of an id replaces the
   * earlier one, so that an updated message (for example its sync state) wins.
   * Returns a new array; the inputs are not changed.
   */
  function mergeMessages(existing, incoming) {
    const byId = new Map();
    for (const m of existing || []) {
      if (isMessage(m)) byId.set(m.id, m);
    }
    for (const m of incoming || []) {
      if (isMessage(m)) byId.set(m.id, m);
    }
    return Array.from(byId.values()).sort(compareById);
  }

  function isMessage(m) {
    return m !== null && typeof m === 'object' && Number.isInteger(m.id);
  }

  /** The highest message id in a list (0 for none): what a resume starts after. */
  function maxMessageId(messages) {
    let max = 0;
    for (const m of messages || []) {
      if (isMessage(m) && m.id > max) max = m.id;
    }
    return max;
  }

  /**
   * The reconnect delay for the nth consecutive failed attempt (0-based):
   * 1, 2, 4, 8, 16 then 30 s for ever. `random` (0..1) adds up to 20 % jitter
   * when given, so that many clients dropped at once do not return in step.
   */
  function backoffDelay(attempt, random) {
    const n = Math.max(0, Math.floor(attempt || 0));
    const base = BACKOFF_STEPS_MS[Math.min(n, BACKOFF_STEPS_MS.length - 1)];
    if (typeof random !== 'number') return base;
    return Math.round(base * (1 + 0.2 * Math.min(1, Math.max(0, random))));
  }

  /**
   * A throttle gate: returns a function that says whether an action may run
   * now (at most once per interval). Used for typing frames, which the server
   * accepts at most every 3 s.
   */
  function createThrottle(intervalMs, now) {
    const clock = now || Date.now;
    let last = -Infinity;
    return function allowed() {
      const t = clock();
      if (t - last < intervalMs) return false;
      last = t;
      return true;
    };
  }

  /** A file size in words a person reads: "512 B", "1.5 KB", "3.2 MB". */
  function formatSize(bytes) {
    const n = Number(bytes);
    if (!Number.isFinite(n) || n < 0) return '';
    if (n < 1024) return n + ' B';
    const units = ['KB', 'MB', 'GB', 'TB'];
    let value = n / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    const text = value < 10 ? value.toFixed(1).replace(/\.0$/, '') : String(Math.round(value));
    return text + ' ' + units[unit];
  }

  function isOpenStatus(status) {
    return OPEN_STATUSES.includes(status);
  }

  function timeValue(iso) {
    const t = Date.parse(iso || '');
    return Number.isNaN(t) ? 0 : t;
  }

  /** Newest first: by updated_at, then by id so that equal times stay stable. */
  function compareNewestFirst(a, b) {
    return timeValue(b.updated_at) - timeValue(a.updated_at) || (b.id || 0) - (a.id || 0);
  }

  /** The end user's open (waiting or active) conversation, the newest if several. */
  function pickOpenConversation(conversations) {
    const open = (conversations || []).filter((c) => c && isOpenStatus(c.status));
    open.sort(compareNewestFirst);
    return open[0] || null;
  }

  /** The newest closed conversation, offered as "show my last chat". */
  function pickLastClosedConversation(conversations) {
    const closed = (conversations || []).filter((c) => c && c.status === 'closed');
    closed.sort(compareNewestFirst);
    return closed[0] || null;
  }

  /**
   * The conversation list from GET /api/v1/conversations. The protocol page
   * does not pin the envelope, so both a bare array and {conversations: [...]}
   * are accepted.
   */
  function conversationsFrom(body) {
    if (Array.isArray(body)) return body;
    if (body && Array.isArray(body.conversations)) return body.conversations;
    return [];
  }

  /** The highest last_message_id over conversations: where a first resume starts. */
  function maxLastMessageId(conversations) {
    let max = 0;
    for (const c of conversations || []) {
      const id = c && Number(c.last_message_id);
      if (Number.isInteger(id) && id > max) max = id;
    }
    return max;
  }

  /**
   * The token from a portal's token URL: plain text, or JSON {"token": "..."}.
   * Returns '' when there is none.
   */
  function parseTokenResponse(text, contentType) {
    const raw = String(text || '').trim();
    const looksJson = /json/i.test(contentType || '') || raw.startsWith('{') || raw.startsWith('"');
    if (looksJson) {
      try {
        const value = JSON.parse(raw);
        if (typeof value === 'string') return value.trim();
        if (value && typeof value.token === 'string') return value.token.trim();
        return '';
      } catch (_) {
        if (/json/i.test(contentType || '')) return '';
      }
    }
    return raw;
  }

  /**
   * The message of an Error body {"error": {code, message}}, or a fallback
   * made from the HTTP status when the body is not one.
   */
  function errorFromBody(status, body) {
    const err = body && typeof body === 'object' && body.error;
    if (err && typeof err === 'object' && typeof err.message === 'string' && err.message) {
      return { code: String(err.code || 'internal'), message: err.message, status };
    }
    return { code: codeForStatus(status), message: messageForStatus(status), status };
  }

  function codeForStatus(status) {
    const codes = {
      0: 'unavailable', 400: 'invalid', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found',
      409: 'conflict', 413: 'too_large', 415: 'unsupported_type', 422: 'invalid', 429: 'rate_limited',
      502: 'unavailable', 503: 'unavailable', 504: 'unavailable',
    };
    return codes[status] || 'internal';
  }

  function messageForStatus(status) {
    if (!status) return 'the help desk could not be reached. Check your connection and try again.';
    if (status === 413) return 'the file is too large.';
    if (status === 415) return 'this type of file is not accepted.';
    if (status === 429) return 'too many requests; please wait a moment and try again.';
    if (status >= 500) return 'the help desk is having a problem (HTTP ' + status + '). Please try again later.';
    return 'the request was refused (HTTP ' + status + ').';
  }

  /**
   * Whether a conversation belongs in a console inbox view:
   * waiting: status waiting; mine: claimed by me and not closed;
   * all: not closed; closed: closed.
   */
  function conversationMatchesView(conversation, view, meId) {
    if (!conversation) return false;
    const status = conversation.status;
    switch (view) {
      case 'waiting':
        return status === 'waiting';
      case 'mine':
        return status !== 'closed' && !!conversation.technician &&
          String(conversation.technician.id) === String(meId);
      case 'all':
        return status !== 'closed';
      case 'closed':
        return status === 'closed';
      default:
        return false;
    }
  }

  /** ws: or wss: for the page's own origin, so a socket never goes elsewhere. */
  function webSocketUrl(location, path) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const p = path && path.startsWith('/') ? path : '/api/v1/ws';
    return scheme + '//' + location.host + p;
  }

  /**
   * Whether a URL (absolute or relative to base) stays on the given origin.
   * The widget sends its bearer token only to such URLs.
   */
  function isSameOriginUrl(url, origin, base) {
    try {
      return new URL(url, base || origin).origin === origin;
    } catch (_) {
      return false;
    }
  }

  /** The id of the end user's newest message in a list, or 0. */
  function latestOwnMessageId(messages, authorKind, authorId) {
    let id = 0;
    for (const m of messages || []) {
      if (!isMessage(m) || !m.author || m.author.kind !== authorKind) continue;
      if (authorId !== undefined && authorId !== null && String(m.author.id) !== String(authorId)) continue;
      if (m.id > id) id = m.id;
    }
    return id;
  }

  /** "Alice is typing…" */
  function typingLabel(name) {
    return (name || 'Someone') + ' is typing\u2026';
  }

  /** "Waiting", "Active (Alice)", "Closed". */
  function statusLabel(conversation) {
    const status = conversation && conversation.status;
    if (status === 'waiting') return 'Waiting';
    if (status === 'active') {
      const name = conversation.technician && conversation.technician.name;
      return name ? 'Active (' + name + ')' : 'Active';
    }
    if (status === 'closed') return 'Closed';
    return String(status || '');
  }

  /** document.title with an "(n) " prefix for n unseen items, or without one for 0. */
  function titleWithCount(title, count) {
    const bare = String(title || '').replace(/^\(\d+\)\s/, '');
    return count > 0 ? '(' + count + ') ' + bare : bare;
  }

  /** A short local time (and date when not today) for a message or row. */
  function formatTime(iso, now) {
    const t = timeValue(iso);
    if (!t) return '';
    const d = new Date(t);
    const today = now ? new Date(now) : new Date();
    const sameDay = d.toDateString() === today.toDateString();
    const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    if (sameDay) return time;
    return d.toLocaleDateString([], { day: 'numeric', month: 'short' }) + ', ' + time;
  }

  /**
   * A WebSocket that reconnects with backoff (1, 2, 4 … 30 s) and lets the
   * caller send its opening frames (auth, resume) on every connection.
   *
   * options: url (string or function returning one), onOpen(send), onEvent(frame),
   * onState(state, detail) with state 'connecting' | 'open' | 'ready' |
   * 'reconnecting' | 'stopped', and for tests WebSocket, setTimeout, clearTimeout,
   * random. The backoff resets only on {"type":"ready"}, not on open, so that a
   * socket the server accepts and then drops (a refused auth) cannot spin.
   */
  function connectLive(options) {
    const WS = options.WebSocket || (typeof WebSocket !== 'undefined' ? WebSocket : null);
    const setTimer = options.setTimeout || setTimeout;
    const clearTimer = options.clearTimeout || clearTimeout;
    const random = options.random || Math.random;
    const onState = options.onState || function () {};
    let socket = null;
    let attempt = 0;
    let timer = null;
    let stopped = false;

    function open() {
      timer = null;
      if (stopped) return;
      onState('connecting');
      const url = typeof options.url === 'function' ? options.url() : options.url;
      let ws;
      try {
        ws = new WS(url);
      } catch (_) {
        scheduleReconnect();
        return;
      }
      socket = ws;
      ws.onopen = function () {
        if (socket !== ws) return;
        onState('open');
        if (options.onOpen) options.onOpen(send);
      };
      ws.onmessage = function (event) {
        if (socket !== ws) return;
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch (_) {
          return; // Not ours to interpret; the protocol is JSON text frames only.
        }
        if (!frame || typeof frame.type !== 'string') return;
        if (frame.type === 'ready') {
          attempt = 0;
          onState('ready');
        }
        if (options.onEvent) options.onEvent(frame);
      };
      ws.onerror = function () {
        // A close event always follows; reconnecting happens there.
      };
      ws.onclose = function () {
        if (socket !== ws) return;
        socket = null;
        if (!stopped) scheduleReconnect();
      };
    }

    function scheduleReconnect() {
      if (stopped || timer !== null) return;
      const delay = backoffDelay(attempt, options.jitter === false ? undefined : random());
      attempt += 1;
      onState('reconnecting', delay);
      timer = setTimer(open, delay);
    }

    function send(frame) {
      if (!socket || socket.readyState !== 1) return false;
      socket.send(JSON.stringify(frame));
      return true;
    }

    /** Drops the current socket and connects again at once (e.g. after a new token). */
    function reconnectNow() {
      if (stopped) return;
      if (timer !== null) {
        clearTimer(timer);
        timer = null;
      }
      const old = socket;
      socket = null;
      if (old) {
        try { old.close(); } catch (_) { /* already closing */ }
      }
      open();
    }

    function stop() {
      stopped = true;
      if (timer !== null) clearTimer(timer);
      timer = null;
      const old = socket;
      socket = null;
      if (old) {
        try { old.close(); } catch (_) { /* already closing */ }
      }
      onState('stopped');
    }

    function isReady() {
      return !!socket && socket.readyState === 1;
    }

    open();
    return { send, reconnectNow, stop, isReady };
  }


  /**
   * What the chat header shows for a conversation's ticket view
   * ({ticket_id|null, summary, status, pending}): null for none.
   */
  function ticketBadge(view) {
    if (!view || typeof view !== 'object') return null;
    const id = Number(view.ticket_id);
    if (view.pending || !Number.isInteger(id) || id <= 0) {
      return { pending: true, number: '', status: 'Ticket requested\u2026', label: 'A ticket was asked for; its number follows shortly' };
    }
    const status = typeof view.status === 'string' && view.status.trim() ? view.status.trim() : 'Open';
    return { pending: false, number: '#' + id, status, label: 'Ticket #' + id + ', ' + status };
  }

  /** A ticket list split into open and closed, each keeping the server's order. */
  function splitTickets(tickets) {
    const list = Array.isArray(tickets) ? tickets.filter((t) => t && Number.isInteger(t.id)) : [];
    return { open: list.filter((t) => !t.closed), closed: list.filter((t) => !!t.closed) };
  }

  return {
    OPEN_STATUSES,
    TYPING_SEND_INTERVAL_MS,
    TYPING_SHOW_MS,
    mergeMessages,
    maxMessageId,
    backoffDelay,
    createThrottle,
    formatSize,
    isOpenStatus,
    pickOpenConversation,
    pickLastClosedConversation,
    conversationsFrom,
    maxLastMessageId,
    parseTokenResponse,
    errorFromBody,
    conversationMatchesView,
    webSocketUrl,
    isSameOriginUrl,
    latestOwnMessageId,
    typingLabel,
    statusLabel,
    titleWithCount,
    formatTime,
    connectLive,
    ticketBadge,
    splitTickets,
  };
});
