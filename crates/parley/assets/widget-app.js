/*
 * Parley widget app: the end user's chat, running in the iframe page /widget
 * (widget.html). Needs chat-core.js loaded first (window.ParleyChat).
 *
 * Life of the page: tell the parent (the loader, widget.js) we are ready;
 * wait for the signed portal token; exchange it for an access token; open the
 * user's open conversation or offer "Start a chat"; then stay live over the
 * WebSocket, resuming from the highest message id seen after every reconnect.
 *
 * Safety rules kept throughout: only body_html is ever set as HTML; the access
 * token is only sent to this page's own origin; notes are never shown.
 */
(function () {
  'use strict';

  const core = window.ParleyChat;
  const API = '/api/v1';
  const PAGE_SIZE = 50;
  const NEED_TOKEN_TIMEOUT_MS = 20000;
  const IMAGE_PREVIEW_MAX_BYTES = 10 * 1024 * 1024;
  // Raster types only: an SVG opened from a blob: URL would run as this origin.
  const PREVIEW_TYPES = /^image\/(png|jpeg|gif|webp|bmp|avif)$/i;
  const OFFLINE_TEXT = 'The help desk is offline right now. Leave a message and we\u2019ll answer as soon as we\u2019re back.';
  const PAPERCLIP_ICON = '<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">' +
    '<path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" ' +
    'd="M21 11.5l-8.6 8.6a5.5 5.5 0 0 1-7.8-7.8l8.6-8.6a3.7 3.7 0 0 1 5.2 5.2l-8.6 8.6a1.8 1.8 0 0 1-2.6-2.6l7.9-7.9"/></svg>';
  const CLOSED_TEXT = 'This chat is closed. Write again to reopen it.';

  const state = {
    parentOrigin: null,   // recorded from the first message window.parent sends us
    title: '',
    accessToken: null,
    endUser: null,
    helpDesk: null,
    online: true,
    started: false,
    starting: false,
    fatal: false,
    conversations: [],
    conversation: null,
    messages: [],
    hasMore: false,
    maxSeenId: 0,         // the resume point: highest message id seen anywhere
    seenUpTo: 0,          // highest message id a technician has read here
    lastReadSent: 0,
    panelOpen: false,     // told by the loader; reads are only sent while open
    unread: 0,
    everReady: false,
    sending: false,
    creating: false,
    live: null,
    refreshing: null,
    tokenWaiters: [],
  };
  const el = {};
  const messageNodes = new Map();
  const blobUrls = new Map();  // attachment id -> blob: URL, revoked on switch
  const typingPeople = new Map(); // author key -> {name, timer}
  const typingAllowed = core.createThrottle(core.TYPING_SEND_INTERVAL_MS);

  /* ---------- small DOM helpers ---------- */

  function make(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === false || value === null || value === undefined) continue;
      if (key === 'className') node.className = value;
      else if (key === 'hidden') node.hidden = !!value;
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  /* ---------- the page skeleton ---------- */

  function buildShell() {
    const app = document.getElementById('app');
    app.textContent = '';
    app.className = 'pw-app';

    const header = make('header', { className: 'pw-header' });
    const heading = make('div', { className: 'pw-header__text' });
    el.title = make('h1', { className: 'pw-title', id: 'pw-title' }, 'Help desk');
    el.status = make('p', { className: 'pw-status', 'data-testid': 'conversation-status', 'aria-live': 'polite' });
    heading.append(el.title, el.status);
    el.closeButton = make('button', {
      type: 'button', className: 'pw-close', 'aria-label': 'Close chat', 'data-testid': 'close-button',
    }, '\u00d7');
    el.closeButton.addEventListener('click', () => postToParent({ type: 'parley:close' }));
    header.append(heading, el.closeButton);

    el.error = make('div', { className: 'pw-banner pw-banner--error', role: 'alert', 'data-testid': 'error-banner', hidden: true });
    el.offline = make('div', { className: 'pw-banner pw-banner--offline', role: 'status', 'data-testid': 'offline-banner', hidden: true }, OFFLINE_TEXT);
    el.connection = make('div', { className: 'pw-banner pw-banner--connection', role: 'status', 'data-testid': 'connection-banner', hidden: true }, 'Connection lost. Reconnecting\u2026');
    el.loading = make('p', { className: 'pw-loading', role: 'status', 'data-testid': 'loading' }, 'Opening the chat\u2026');

    app.append(header, el.error, el.offline, el.connection, el.loading, buildStartForm(), buildConversation());
  }

  function buildStartForm() {
    el.start = make('section', { className: 'pw-start', 'aria-labelledby': 'pw-start-heading', hidden: true });
    const form = make('form', { className: 'pw-start__form', 'data-testid': 'start-form', novalidate: true });
    const heading = make('h2', { id: 'pw-start-heading', className: 'pw-start__heading' }, 'Start a chat');
    const intro = make('p', { className: 'pw-start__intro' }, 'Tell us what you need and a technician will answer here.');
    const subjectLabel = make('label', { for: 'pw-subject' }, 'Subject (optional)');
    el.startSubject = make('input', { id: 'pw-subject', type: 'text', maxlength: 200, autocomplete: 'off', 'data-testid': 'start-subject' });
    const bodyLabel = make('label', { for: 'pw-start-body' }, 'Message');
    el.startBody = make('textarea', {
      id: 'pw-start-body', rows: 4, required: true, 'data-testid': 'start-message', 'aria-describedby': 'pw-start-hint',
    });
    const hint = make('p', { id: 'pw-start-hint', className: 'pw-hint' }, 'Enter sends; Shift+Enter starts a new line.');
    el.startError = make('p', { className: 'pw-form-error', role: 'alert', 'data-testid': 'start-error', hidden: true });
    el.startButton = make('button', { type: 'submit', className: 'pw-button pw-button--primary', 'data-testid': 'start-button' }, 'Start chat');
    el.lastChat = make('button', { type: 'button', className: 'pw-button pw-button--link', 'data-testid': 'last-chat-button', hidden: true }, 'Show my last chat');

    form.append(heading, intro, subjectLabel, el.startSubject, bodyLabel, el.startBody, hint, el.startError, el.startButton, el.lastChat);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      startChat();
    });
    el.startBody.addEventListener('keydown', (event) => submitOnEnter(event, form));
    el.lastChat.addEventListener('click', () => {
      const last = core.pickLastClosedConversation(state.conversations);
      if (last) openConversation(last);
    });
    el.start.append(form);
    return el.start;
  }

  function buildConversation() {
    el.conversationSection = make('section', { className: 'pw-conversation', 'aria-label': 'Conversation', hidden: true });
    el.subject = make('p', { className: 'pw-subject', 'data-testid': 'conversation-subject' });
    el.closed = make('div', { className: 'pw-banner pw-banner--closed', role: 'status', 'data-testid': 'closed-banner', hidden: true }, CLOSED_TEXT);

    el.scroll = make('div', { className: 'pw-scroll' });
    el.loadEarlier = make('button', { type: 'button', className: 'pw-button pw-button--quiet pw-load-earlier', 'data-testid': 'load-earlier', hidden: true }, 'Load earlier messages');
    el.loadEarlier.addEventListener('click', loadEarlier);
    el.list = make('ol', { className: 'pw-messages', 'aria-live': 'polite', 'aria-label': 'Messages', 'data-testid': 'message-list' });
    el.scroll.append(el.loadEarlier, el.list);

    el.typing = make('p', { className: 'pw-typing', 'aria-live': 'polite', 'data-testid': 'typing' });

    el.composer = make('form', { className: 'pw-composer', 'data-testid': 'composer', novalidate: true });
    const inputLabel = make('label', { for: 'pw-input', className: 'pw-visually-hidden' }, 'Message');
    el.input = make('textarea', {
      id: 'pw-input', rows: 1, placeholder: 'Write a message\u2026', 'data-testid': 'message-input', 'aria-describedby': 'pw-input-hint',
    });
    const hint = make('span', { id: 'pw-input-hint', className: 'pw-visually-hidden' }, 'Enter sends; Shift+Enter starts a new line.');
    const row = make('div', { className: 'pw-composer__row' });
    const attach = make('span', { className: 'pw-attach' });
    el.file = make('input', { id: 'pw-file', type: 'file', className: 'pw-visually-hidden', 'data-testid': 'file-input' });
    const fileLabel = make('label', { for: 'pw-file', className: 'pw-icon-button pw-attach__label', title: 'Attach a file' });
    fileLabel.innerHTML = PAPERCLIP_ICON; // constant markup, no data
    fileLabel.append(make('span', { className: 'pw-visually-hidden' }, 'Attach a file'));
    attach.append(el.file, fileLabel);
    el.send = make('button', { type: 'submit', className: 'pw-button pw-button--primary pw-send', 'data-testid': 'send-button' }, 'Send');
    row.append(attach, el.input, el.send);
    el.composerError = make('p', { className: 'pw-form-error', role: 'alert', 'data-testid': 'composer-error', hidden: true });
    el.upload = make('p', { className: 'pw-upload-status', role: 'status', 'data-testid': 'upload-status', hidden: true });
    el.composer.append(inputLabel, hint, row, el.composerError, el.upload);

    el.composer.addEventListener('submit', (event) => {
      event.preventDefault();
      sendText();
    });
    el.input.addEventListener('keydown', (event) => submitOnEnter(event, el.composer));
    el.input.addEventListener('input', sendTyping);
    el.input.addEventListener('input', () => fitInput(el.input));
    el.file.addEventListener('change', () => {
      const file = el.file.files && el.file.files[0];
      if (file) uploadFile(file);
    });

    el.conversationSection.append(el.subject, el.closed, el.scroll, el.typing, el.composer);
    return el.conversationSection;
  }

  /** The message box grows with its text, up to the stylesheet's max-height. */
  function fitInput(textarea) {
    textarea.style.height = 'auto';
    textarea.style.height = textarea.scrollHeight + 2 + 'px';
  }

  /** Enter sends, Shift+Enter is a newline; an IME composition is left alone. */
  function submitOnEnter(event, form) {
    if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    if (typeof form.requestSubmit === 'function') form.requestSubmit();
    else form.dispatchEvent(new Event('submit', { cancelable: true }));
  }

  /* ---------- banners and views ---------- */

  function showFatal(text) {
    state.fatal = true;
    el.error.textContent = text;
    show(el.error, true);
    show(el.loading, false);
    show(el.start, false);
    show(el.conversationSection, false);
  }

  function clearFatal() {
    state.fatal = false;
    el.error.textContent = '';
    show(el.error, false);
  }

  function setTitle(title) {
    const text = title || 'Help desk';
    el.title.textContent = text;
    document.title = text + ' \u2013 chat';
  }

  function setOnline(online) {
    state.online = online !== false;
    show(el.offline, !state.online);
    renderStatus();
  }

  /** The line under the title: who is answering, or whether anyone is there. */
  function renderStatus() {
    const c = state.conversation;
    let text;
    let tone;
    if (c && c.status === 'active') {
      const name = c.technician && c.technician.name;
      text = name ? 'Chatting with ' + name : 'A technician is on your chat';
      tone = 'active';
    } else if (c && c.status === 'closed') {
      text = 'This chat is closed';
      tone = 'closed';
    } else if (c) {
      text = state.online ? 'Waiting for a technician\u2026' : 'Offline \u2013 we\u2019ll answer when we\u2019re back';
      tone = state.online ? 'waiting' : 'offline';
    } else {
      text = state.online ? 'Online' : 'Offline';
      tone = state.online ? 'online' : 'offline';
    }
    el.status.textContent = text;
    el.status.dataset.tone = tone;
    if (c) el.status.dataset.status = c.status;
    else delete el.status.dataset.status;
  }

  function showComposerError(node, text) {
    node.textContent = text;
    show(node, !!text);
  }

  function showStartForm() {
    state.conversation = null;
    resetConversationView();
    show(el.loading, false);
    show(el.conversationSection, false);
    show(el.start, true);
    show(el.lastChat, !!core.pickLastClosedConversation(state.conversations));
    renderStatus();
    if (state.panelOpen) el.startBody.focus();
  }

  function renderConversationState() {
    const c = state.conversation;
    if (!c) return;
    el.subject.textContent = c.subject || '';
    show(el.subject, !!c.subject);
    show(el.closed, c.status === 'closed');
    renderStatus();
  }

  /* ---------- talking to the parent (widget.js) ---------- */

  function postToParent(message) {
    if (window.parent === window) return;
    // Before the parent has spoken we do not know its origin; only "ready",
    // which carries nothing secret, may go out to any origin.
    if (!state.parentOrigin) {
      if (message.type === 'parley:ready') window.parent.postMessage(message, '*');
      return;
    }
    window.parent.postMessage(message, state.parentOrigin);
  }

  function onParentMessage(event) {
    if (event.source !== window.parent || window.parent === window) return;
    if (state.parentOrigin && event.origin !== state.parentOrigin) return;
    const data = event.data;
    if (!data || typeof data !== 'object' || typeof data.type !== 'string') return;
    if (!data.type.startsWith('parley:')) return;
    if (!state.parentOrigin) state.parentOrigin = event.origin;

    switch (data.type) {
      case 'parley:token':
        if (typeof data.title === 'string' && data.title) {
          state.title = data.title;
          setTitle(state.title);
        }
        if (typeof data.token === 'string' && data.token) receiveToken(data.token);
        break;
      case 'parley:token-error':
        receiveTokenError(String(data.message || 'the portal did not give a chat token'));
        break;
      case 'parley:visibility':
        setPanelOpen(!!data.open);
        break;
      default:
        break;
    }
  }

  function receiveToken(token) {
    if (state.tokenWaiters.length) {
      const waiters = state.tokenWaiters.splice(0);
      waiters.forEach((w) => w.resolve(token));
      return;
    }
    // A first token, or a new one after the first was refused.
    if (!state.started || state.fatal) startSession(token);
  }

  function receiveTokenError(message) {
    if (state.tokenWaiters.length) {
      const waiters = state.tokenWaiters.splice(0);
      waiters.forEach((w) => w.reject(new Error(message)));
      return;
    }
    if (!state.started) showFatal('The chat could not open: ' + message);
  }

  /** Asks the parent for a fresh portal token (after a 401). */
  function requestNewToken() {
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      const timer = setTimeout(() => {
        const i = state.tokenWaiters.indexOf(waiter);
        if (i >= 0) state.tokenWaiters.splice(i, 1);
        reject(new Error('the portal did not send a new sign-in token'));
      }, NEED_TOKEN_TIMEOUT_MS);
      waiter.resolve = (t) => { clearTimeout(timer); resolve(t); };
      waiter.reject = (e) => { clearTimeout(timer); reject(e); };
      state.tokenWaiters.push(waiter);
      postToParent({ type: 'parley:need-token' });
    });
  }

  function setPanelOpen(open) {
    state.panelOpen = open;
    if (!open) return;
    setUnread(0);
    const target = state.conversation ? el.input : el.start.hidden ? null : el.startBody;
    if (target) target.focus();
    maybeSendRead();
  }

  function setUnread(count) {
    if (state.unread === count) return;
    state.unread = count;
    postToParent({ type: 'parley:unread', count });
  }

  /* ---------- HTTP ---------- */

  class ApiError extends Error {
    constructor(info) {
      super(info.message);
      this.code = info.code;
      this.status = info.status;
    }
  }

  async function readBody(response) {
    const type = response.headers.get('Content-Type') || '';
    if (!/json/i.test(type)) return null;
    try {
      return await response.json();
    } catch (_) {
      return null;
    }
  }

  async function fetchOrFail(url, init) {
    try {
      return await fetch(url, init);
    } catch (_) {
      throw new ApiError(core.errorFromBody(0, null));
    }
  }

  /** Exchanges the portal's signed token for an access token. */
  async function exchange(token) {
    const response = await fetchOrFail(API + '/widget/session', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ token }),
      credentials: 'omit',
      cache: 'no-store',
    });
    const body = await readBody(response);
    if (!response.ok || !body || !body.access_token) {
      throw new ApiError(core.errorFromBody(response.status, body));
    }
    state.accessToken = body.access_token;
    state.endUser = body.end_user || null;
    state.helpDesk = body.help_desk || null;
    setOnline(!(state.helpDesk && state.helpDesk.online === false));
    setTitle(state.title || (state.helpDesk && state.helpDesk.name));
    return body;
  }

  /** After a 401: one new portal token, one new exchange, shared by all callers. */
  function refreshSession() {
    if (!state.refreshing) {
      state.refreshing = requestNewToken()
        .then(exchange)
        .finally(() => { state.refreshing = null; });
    }
    return state.refreshing;
  }

  /**
   * A call to the API with the access token. A 401 gets one retry after a
   * fresh exchange. Returns the parsed JSON body (or the Response for raw).
   */
  async function api(path, options) {
    const opts = options || {};
    const headers = { Accept: 'application/json', Authorization: 'Bearer ' + state.accessToken };
    let body;
    if (opts.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.form) {
      body = opts.form; // the browser sets the multipart boundary
    }
    // Paths are relative to /api/v1 unless already absolute (attachment URLs).
    const url = /^https?:/.test(path) || path.startsWith(API + '/') ? path : API + path;
    const response = await fetchOrFail(url, {
      method: opts.method || 'GET', headers, body, credentials: 'omit', cache: 'no-store',
    });
    if (response.status === 401 && !opts.retried) {
      try {
        await refreshSession();
      } catch (err) {
        throw new ApiError({ code: 'unauthorized', status: 401, message: 'your chat session could not be renewed (' + err.message + ')' });
      }
      return api(path, Object.assign({}, opts, { retried: true }));
    }
    if (opts.raw && response.ok) return response;
    const parsed = await readBody(response);
    if (!response.ok) throw new ApiError(core.errorFromBody(response.status, parsed));
    return parsed;
  }

  /* ---------- session start ---------- */

  async function startSession(token) {
    if (state.starting) return;
    state.starting = true;
    clearFatal();
    show(el.loading, true);
    try {
      await exchange(token);
    } catch (err) {
      // An expired portal token (401) gets one fresh try: a token URL may
      // have a new one; a fixed data-token comes back the same and fails.
      let failure = err;
      if (err.status === 401) {
        try {
          await exchange(await requestNewToken());
          failure = null;
        } catch (again) {
          failure = again;
        }
      }
      if (failure) {
        state.starting = false;
        showFatal('The chat could not open: ' + failure.message);
        return;
      }
    }
    state.started = true;
    state.starting = false;
    try {
      await loadConversations();
    } catch (err) {
      showFatal('The chat could not open: ' + err.message);
      return;
    }
    connectLive();
  }

  async function loadConversations() {
    const body = await api('/conversations');
    state.conversations = core.conversationsFrom(body);
    state.maxSeenId = Math.max(state.maxSeenId, core.maxLastMessageId(state.conversations));
    const open = core.pickOpenConversation(state.conversations);
    if (open) await openConversation(open);
    else showStartForm();
  }

  function upsertConversation(c) {
    const i = state.conversations.findIndex((x) => x.id === c.id);
    if (i >= 0) state.conversations[i] = c;
    else state.conversations.push(c);
  }

  /* ---------- the conversation view ---------- */

  function resetConversationView() {
    state.messages = [];
    state.hasMore = false;
    state.seenUpTo = 0;
    state.lastReadSent = 0;
    messageNodes.clear();
    el.list.textContent = '';
    for (const url of blobUrls.values()) URL.revokeObjectURL(url);
    blobUrls.clear();
    clearTyping();
    show(el.loadEarlier, false);
    showComposerError(el.composerError, '');
  }

  async function openConversation(conversation) {
    state.conversation = conversation;
    upsertConversation(conversation);
    resetConversationView();
    renderConversationState();
    show(el.loading, false);
    show(el.start, false);
    show(el.conversationSection, true);
    const page = await api('/conversations/' + conversation.id + '/messages?limit=' + PAGE_SIZE);
    if (!state.conversation || state.conversation.id !== conversation.id) return; // switched meanwhile
    state.hasMore = !!(page && page.has_more);
    mergeIn((page && page.messages) || [], { scroll: 'bottom' });
    if (state.panelOpen) el.input.focus();
  }

  async function loadEarlier() {
    const c = state.conversation;
    if (!c || !state.messages.length) return;
    el.loadEarlier.disabled = true;
    el.list.setAttribute('aria-busy', 'true'); // older messages are not news: keep them unannounced
    const before = state.messages[0].id;
    const heightBefore = el.scroll.scrollHeight;
    try {
      const page = await api('/conversations/' + c.id + '/messages?before=' + before + '&limit=' + PAGE_SIZE);
      if (state.conversation !== c) return;
      state.hasMore = !!(page && page.has_more);
      mergeIn((page && page.messages) || [], { scroll: 'keep' });
      // Keep the message the user was reading where it was.
      el.scroll.scrollTop += el.scroll.scrollHeight - heightBefore;
    } catch (err) {
      showComposerError(el.composerError, 'Earlier messages could not be loaded: ' + err.message);
    } finally {
      el.loadEarlier.disabled = false;
      el.list.removeAttribute('aria-busy');
    }
  }

  function isNearBottom() {
    return el.scroll.scrollHeight - el.scroll.scrollTop - el.scroll.clientHeight < 80;
  }

  /** Adds messages of the open conversation (any source) and redraws what changed. */
  function mergeIn(messages, options) {
    const c = state.conversation;
    if (!c) return;
    const mine = messages.filter((m) => m && m.conversation_id === c.id && m.kind !== 'note');
    state.maxSeenId = Math.max(state.maxSeenId, core.maxMessageId(messages));
    if (!mine.length && !(options && options.scroll)) return;
    const wasNearBottom = isNearBottom();
    state.messages = core.mergeMessages(state.messages, mine);
    renderMessages();
    show(el.loadEarlier, state.hasMore);
    const mode = options && options.scroll;
    const ownNew = mine.some((m) => m.author && m.author.kind === 'end_user');
    if (mode === 'bottom' || (mode !== 'keep' && (wasNearBottom || ownNew))) {
      el.scroll.scrollTop = el.scroll.scrollHeight;
    }
    updateSeen();
    maybeSendRead();
  }

  /**
   * Inserts new message nodes at their place by id without moving the ones
   * already shown, so that the live region announces only what is new.
   */
  function renderMessages() {
    let previous = null;
    for (const m of state.messages) {
      let node = messageNodes.get(m.id);
      if (!node) {
        node = messageNode(m);
        messageNodes.set(m.id, node);
        const next = previous ? previous.nextSibling : el.list.firstChild;
        el.list.insertBefore(node, next);
      }
      previous = node;
    }
  }

  function authorName(m) {
    const author = m.author || {};
    if (author.kind === 'end_user') return 'You';
    if (author.kind === 'system') return '';
    return author.name || 'Help desk';
  }

  function messageNode(m) {
    const authorKind = (m.author && m.author.kind) || 'system';
    const li = make('li', {
      className: 'pw-msg pw-msg--' + m.kind + ' pw-msg--from-' + authorKind,
      'data-testid': 'message',
      'data-id': m.id,
      'data-kind': m.kind,
      'data-author-kind': authorKind,
    });
    const bubble = make('div', { className: 'pw-msg__bubble' });
    const name = authorName(m);
    if (name) {
      // One's own name is not shown (the side and colour say it), but is read out.
      const own = authorKind === 'end_user';
      bubble.append(make('span', { className: own ? 'pw-msg__author pw-visually-hidden' : 'pw-msg__author' }, name));
    }
    if (m.body_html) {
      const body = make('div', { className: 'pw-msg__body' });
      body.innerHTML = m.body_html; // the one field the server has made safe as HTML
      openLinksOutside(body);
      bubble.append(body);
    }
    if (m.attachment) bubble.append(attachmentNode(m.attachment));
    li.append(bubble);
    const time = make('time', { className: 'pw-msg__time', datetime: m.created_at || '' }, core.formatTime(m.created_at));
    li.append(time);
    return li;
  }

  /** A link clicked inside the iframe would replace the chat; open it in a new tab. */
  function openLinksOutside(container) {
    for (const a of container.querySelectorAll('a[href]')) {
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
    }
  }

  /** "Seen" under the user's latest message once a technician has read it. */
  function updateSeen() {
    const old = el.list.querySelector('.pw-msg__seen');
    const latestOwn = core.latestOwnMessageId(state.messages, 'end_user');
    const node = latestOwn && state.seenUpTo >= latestOwn ? messageNodes.get(latestOwn) : null;
    if (old && old.parentNode === node) return;
    if (old) old.remove();
    if (node) node.append(make('span', { className: 'pw-msg__seen', 'data-testid': 'seen' }, 'Seen'));
  }

  /* ---------- attachments ---------- */

  function attachmentUrl(att) {
    const url = att.url || API + '/attachments/' + att.id;
    // The bearer token goes to our own origin only.
    return core.isSameOriginUrl(url, location.origin, location.href) ? new URL(url, location.href).href : null;
  }

  async function attachmentBlobUrl(att) {
    if (blobUrls.has(att.id)) return blobUrls.get(att.id);
    const url = attachmentUrl(att);
    if (!url) throw new Error('the file is not on the help desk\u2019s server');
    const response = await api(url, { raw: true });
    const blob = await response.blob();
    const objectUrl = URL.createObjectURL(blob);
    blobUrls.set(att.id, objectUrl);
    return objectUrl;
  }

  function attachmentNode(att) {
    const wrap = make('div', { className: 'pw-attachment', 'data-testid': 'attachment' });
    const size = core.formatSize(att.size);
    const canPreview = PREVIEW_TYPES.test(att.content_type || '') && Number(att.size || 0) <= IMAGE_PREVIEW_MAX_BYTES;
    const link = make('a', { className: 'pw-attachment__link', href: attachmentUrl(att) || '#', 'data-testid': 'attachment-link' });
    const label = make('span', { className: 'pw-attachment__label' });
    label.append(make('span', { className: 'pw-attachment__name' }, att.file_name || 'file'));
    if (size) label.append(make('span', { className: 'pw-attachment__size' }, size));
    link.append(label);
    wrap.append(link);

    if (canPreview) {
      // Images are fetched at once so the thumbnail shows; clicking opens it.
      attachmentBlobUrl(att).then((objectUrl) => {
        const img = make('img', { className: 'pw-attachment__thumb', src: objectUrl, alt: att.file_name || 'image', 'data-testid': 'attachment-thumb' });
        link.href = objectUrl;
        link.target = '_blank';
        link.rel = 'noopener';
        link.dataset.ready = '1';
        link.prepend(img);
      }).catch(() => { /* the plain link below still works on click */ });
    }
    link.addEventListener('click', (event) => downloadOnClick(event, link, att, canPreview));
    return wrap;
  }

  /**
   * A plain href cannot carry the Authorization header, so the first click
   * fetches the file into a blob: URL, then lets the browser save it.
   */
  async function downloadOnClick(event, link, att, isPreview) {
    if (link.dataset.ready) return;
    event.preventDefault();
    try {
      const objectUrl = await attachmentBlobUrl(att);
      link.href = objectUrl;
      if (isPreview) {
        link.target = '_blank';
        link.rel = 'noopener';
      } else {
        link.download = att.file_name || 'download'; // never navigate to an untrusted type
      }
      link.dataset.ready = '1';
      link.click();
    } catch (err) {
      showComposerError(el.composerError, 'The file could not be downloaded: ' + err.message);
    }
  }

  /* ---------- sending ---------- */

  function setBusy(button, busy) {
    button.disabled = busy;
    button.setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  async function startChat() {
    const body = el.startBody.value;
    if (!body.trim()) {
      showComposerError(el.startError, 'Please write a message first.');
      el.startBody.focus();
      return;
    }
    if (state.creating) return;
    state.creating = true;
    setBusy(el.startButton, true);
    showComposerError(el.startError, '');
    const subject = el.startSubject.value.trim();
    try {
      const created = await api('/conversations', { method: 'POST', json: subject ? { subject, body } : { body } });
      el.startBody.value = '';
      el.startSubject.value = '';
      await openConversation(created.conversation);
      mergeIn(created.message ? [created.message] : []);
    } catch (err) {
      showComposerError(el.startError, 'The chat could not start: ' + err.message);
    } finally {
      state.creating = false;
      setBusy(el.startButton, false);
    }
  }

  async function sendText() {
    const c = state.conversation;
    const body = el.input.value;
    if (!c || !body.trim() || state.sending) return;
    state.sending = true;
    setBusy(el.send, true);
    showComposerError(el.composerError, '');
    try {
      const message = await api('/conversations/' + c.id + '/messages', { method: 'POST', json: { body } });
      el.input.value = '';
      fitInput(el.input);
      mergeIn([message]);
      if (c.status === 'closed') refreshConversation(); // the server reopened it
    } catch (err) {
      showComposerError(el.composerError, 'Your message was not sent: ' + err.message);
    } finally {
      state.sending = false;
      setBusy(el.send, false);
      el.input.focus();
    }
  }

  async function uploadFile(file) {
    const c = state.conversation;
    if (!c) return;
    const form = new FormData();
    form.append('file', file, file.name);
    showComposerError(el.composerError, '');
    el.upload.textContent = 'Sending ' + file.name + '\u2026';
    show(el.upload, true);
    el.file.disabled = true;
    try {
      const message = await api('/conversations/' + c.id + '/attachments', { method: 'POST', form });
      mergeIn([message]);
      if (c.status === 'closed') refreshConversation();
    } catch (err) {
      // too_large and unsupported_type carry the server's own words (limit, allowed types).
      showComposerError(el.composerError, 'The file was not sent: ' + err.message);
    } finally {
      el.file.value = '';
      el.file.disabled = false;
      show(el.upload, false);
      el.input.focus(); // back to typing; the attach button keeps no stale focus ring
    }
  }

  async function refreshConversation() {
    const c = state.conversation;
    if (!c) return;
    try {
      const fresh = await api('/conversations/' + c.id);
      if (state.conversation && state.conversation.id === fresh.id) {
        state.conversation = fresh;
        upsertConversation(fresh);
        renderConversationState();
      }
    } catch (_) {
      // A live conversation event will correct the state later.
    }
  }

  function sendTyping() {
    const c = state.conversation;
    if (!c || !state.live || !el.input.value) return;
    if (typingAllowed()) state.live.send({ type: 'typing', conversation_id: c.id });
  }

  /** A read receipt for the newest message, only while the user can see it. */
  function maybeSendRead() {
    const c = state.conversation;
    if (!c || !state.live || !state.panelOpen || document.visibilityState !== 'visible') return;
    const newest = state.messages[state.messages.length - 1];
    if (!newest || newest.id <= state.lastReadSent) return;
    if (newest.author && newest.author.kind === 'end_user') return; // one's own message needs no receipt
    if (state.live.send({ type: 'read', conversation_id: c.id, message_id: newest.id })) {
      state.lastReadSent = newest.id;
    }
  }

  /* ---------- typing indicator ---------- */

  function personKey(author) {
    return (author.kind || '') + ':' + (author.id || '');
  }

  function showTyping(author) {
    const key = personKey(author);
    const known = typingPeople.get(key);
    if (known) clearTimeout(known.timer);
    const timer = setTimeout(() => {
      typingPeople.delete(key);
      renderTyping();
    }, core.TYPING_SHOW_MS);
    typingPeople.set(key, { name: author.name || 'The help desk', timer });
    renderTyping();
  }

  function stopTyping(author) {
    const key = personKey(author);
    const known = typingPeople.get(key);
    if (!known) return;
    clearTimeout(known.timer);
    typingPeople.delete(key);
    renderTyping();
  }

  function clearTyping() {
    for (const p of typingPeople.values()) clearTimeout(p.timer);
    typingPeople.clear();
    renderTyping();
  }

  function renderTyping() {
    const names = Array.from(typingPeople.values(), (p) => p.name);
    el.typing.textContent = names.length === 0 ? ''
      : names.length === 1 ? core.typingLabel(names[0])
        : names.join(', ') + ' are typing\u2026';
  }

  /* ---------- live ---------- */

  function connectLive() {
    if (state.live) return;
    state.live = core.connectLive({
      url: () => core.webSocketUrl(location, API + '/ws'),
      onOpen(send) {
        send({ type: 'auth', access_token: state.accessToken });
        send({ type: 'resume', after: state.maxSeenId });
      },
      onEvent: onLiveEvent,
      onState: onLiveState,
    });
  }

  function onLiveState(status) {
    document.getElementById('app').dataset.live = status; // connecting | open | ready | reconnecting | stopped
    if (status === 'reconnecting' && state.everReady) show(el.connection, true);
    if (status === 'ready') {
      show(el.connection, false);
      // Status changes are not replayed on resume, so re-read the open one.
      if (state.everReady) refreshConversation();
      state.everReady = true;
      maybeSendRead();
    }
  }

  function onLiveEvent(frame) {
    switch (frame.type) {
      case 'message':
        if (frame.message) onLiveMessage(frame.message);
        break;
      case 'conversation':
        if (frame.conversation) onLiveConversation(frame.conversation);
        break;
      case 'typing':
        if (isCurrent(frame.conversation_id) && frame.author && frame.author.kind !== 'end_user') showTyping(frame.author);
        break;
      case 'read':
        if (isCurrent(frame.conversation_id) && frame.reader && frame.reader.kind === 'technician') {
          state.seenUpTo = Math.max(state.seenUpTo, Number(frame.message_id) || 0);
          updateSeen();
        }
        break;
      case 'presence':
        setOnline(frame.online);
        break;
      case 'error':
        onLiveError(frame.error || {});
        break;
      default:
        break;
    }
  }

  function isCurrent(conversationId) {
    return !!state.conversation && state.conversation.id === conversationId;
  }

  function onLiveMessage(message) {
    state.maxSeenId = Math.max(state.maxSeenId, message.id || 0);
    if (isCurrent(message.conversation_id)) {
      const isNew = !messageNodes.has(message.id);
      if (message.author) stopTyping(message.author);
      mergeIn([message]);
      const fromHelpDesk = message.author && message.author.kind === 'technician';
      if (isNew && fromHelpDesk && (!state.panelOpen || document.visibilityState !== 'visible')) {
        setUnread(state.unread + 1);
      }
      return;
    }
    // A chat started elsewhere (another tab) while this one shows the start form.
    if (!state.conversation && !state.creating) adoptConversation(message.conversation_id);
  }

  async function adoptConversation(id) {
    try {
      const c = await api('/conversations/' + id);
      if (!state.conversation && !state.creating && core.isOpenStatus(c.status)) await openConversation(c);
    } catch (_) {
      // Not ours to show; ignore.
    }
  }

  function onLiveConversation(c) {
    upsertConversation(c);
    if (isCurrent(c.id)) {
      state.conversation = c;
      renderConversationState();
    } else if (!state.conversation && !state.creating && core.isOpenStatus(c.status)) {
      openConversation(c).catch(() => {});
    }
  }

  function onLiveError(error) {
    if (error.code !== 'unauthorized') return;
    // The access token expired: renew it, then connect again with the new one.
    refreshSession()
      .then(() => state.live && state.live.reconnectNow())
      .catch((err) => {
        // Stop retrying with a dead token; a new token from the portal restarts everything.
        if (state.live) state.live.stop();
        state.live = null;
        showFatal('The chat could not open: your chat session could not be renewed (' + err.message + ')');
      });
  }

  /* ---------- start ---------- */

  function init() {
    if (!core) {
      document.getElementById('app').textContent = 'The chat could not open: chat-core.js did not load.';
      return;
    }
    buildShell();
    if (window.parent === window) {
      showFatal('The chat could not open: this page opens inside the help desk widget on your portal.');
      return;
    }
    window.addEventListener('message', onParentMessage);
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') postToParent({ type: 'parley:close' });
    });
    document.addEventListener('visibilitychange', maybeSendRead);
    window.addEventListener('online', () => state.live && !state.live.isReady() && state.live.reconnectNow());
    postToParent({ type: 'parley:ready' });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init, { once: true });
  else init();
})();
