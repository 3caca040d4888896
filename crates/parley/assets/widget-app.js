/*
 * Parley widget app: the end user's chat, running in the iframe page /widget
 * (widget.html). Needs chat-core.js loaded first (window.ParleyChat).
 *
 * Life of the page: tell the parent (the loader, widget.js) we are ready;
 * wait for the signed portal token; exchange it for an access token; open the
 * user's open conversation or offer "Start a chat"; then stay live over the
 * WebSocket, resuming from the highest message id seen after every reconnect.
 *
 * Tickets: once the user is linked to their help-desk contact (GET
 * /me/contact), a chat can become a ticket ("Ask for a ticket"); its number
 * and status sit in the header and follow the system messages that announce
 * them. A new chat offers the user's open tickets first, so that a follow-up
 * joins its ticket instead of making a duplicate. "My tickets" lists the
 * user's tickets, shows one's history and opens the chat that answers it.
 *
 * Safety rules kept throughout: only body_html (and a ticket note's
 * text_html, escaped by the server the same way) is ever set as HTML; the
 * access token is only sent to this page's own origin; notes are never shown.
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
  // While the server is still linking a new user to their contact.
  const CONTACT_RECHECKS_MS = [1500, 3000, 6000, 15000, 30000, 60000];
  const OFFERED_TICKETS = 5;

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
    contact: null,        // {linked, explanation} from /me/contact, null until known
    contactChecks: 0,     // re-checks while the link is still being made
    contactTimer: null,
    ticket: null,         // the open conversation's ticket view, null for none
    ticketSeq: 0,         // drops answers for a conversation no longer shown
    asking: false,
    openTickets: [],      // offered on the start form ("Is this about one of these?")
    tab: 'chat',          // chat | tickets
    ticketsSeq: 0,
    detail: null,         // the ticket shown in "My tickets", by id
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
    el.ticketChip = make('p', { className: 'pw-ticket-chip', 'data-testid': 'ticket-badge', hidden: true });
    const titleRow = make('div', { className: 'pw-title-row' });
    titleRow.append(el.title, el.ticketChip);
    heading.append(titleRow, el.status);
    el.closeButton = make('button', {
      type: 'button', className: 'pw-close', 'aria-label': 'Close chat', 'data-testid': 'close-button',
    }, '\u00d7');
    el.closeButton.addEventListener('click', () => postToParent({ type: 'parley:close' }));
    header.append(heading, el.closeButton);

    el.error = make('div', { className: 'pw-banner pw-banner--error', role: 'alert', 'data-testid': 'error-banner', hidden: true });
    el.offline = make('div', { className: 'pw-banner pw-banner--offline', role: 'status', 'data-testid': 'offline-banner', hidden: true }, OFFLINE_TEXT);
    el.connection = make('div', { className: 'pw-banner pw-banner--connection', role: 'status', 'data-testid': 'connection-banner', hidden: true }, 'Connection lost. Reconnecting\u2026');
    el.loading = make('p', { className: 'pw-loading', role: 'status', 'data-testid': 'loading' }, 'Opening the chat\u2026');

    el.chatPane = make('div', { className: 'pw-pane', id: 'pw-chat-pane', role: 'tabpanel', 'aria-labelledby': 'pw-tab-chat' });
    el.chatPane.append(el.loading, buildStartForm(), buildConversation());
    app.append(header, buildTabs(), el.error, el.offline, el.connection, el.chatPane, buildTicketsPane());
  }

  function buildStartForm() {
    el.start = make('section', { className: 'pw-start', 'aria-labelledby': 'pw-start-heading', hidden: true });
    const form = make('form', { className: 'pw-start__form', 'data-testid': 'start-form', novalidate: true });
    const heading = make('h2', { id: 'pw-start-heading', className: 'pw-start__heading' }, 'Start a chat');
    const intro = make('p', { className: 'pw-start__intro' }, 'Tell us what you need and a technician will answer here.');
    el.followUp = make('fieldset', { className: 'pw-followup', 'data-testid': 'open-tickets', hidden: true });
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

    form.append(heading, intro, el.followUp, subjectLabel, el.startSubject, bodyLabel, el.startBody, hint, el.startError, el.startButton, el.lastChat);
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
    el.ticketBar = make('div', { className: 'pw-ticketbar', 'data-testid': 'ticket-bar', hidden: true });
    el.askTicket = make('button', {
      type: 'button', className: 'pw-button pw-button--quiet pw-ticketbar__ask', 'data-testid': 'ask-ticket', 'aria-describedby': 'pw-ticket-note',
    }, 'Ask for a ticket');
    el.askTicket.addEventListener('click', askForTicket);
    el.ticketNote = make('p', { className: 'pw-ticketbar__note', id: 'pw-ticket-note', 'data-testid': 'ticket-explanation', 'aria-live': 'polite' });
    el.ticketBar.append(el.askTicket, el.ticketNote);

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

    el.conversationSection.append(el.subject, el.ticketBar, el.closed, el.scroll, el.typing, el.composer);
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
    show(el.tabs, false);
    show(el.ticketsPane, false);
    show(el.chatPane, true);
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
    state.ticket = null;
    renderTicket();
    renderStatus();
    offerOpenTickets();
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
    show(el.tabs, true);
    loadContact();
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
    delete el.ticketBar.dataset.error;
  }

  async function openConversation(conversation) {
    state.conversation = conversation;
    upsertConversation(conversation);
    resetConversationView();
    renderConversationState();
    if (!state.ticket || state.ticket.conversationId !== conversation.id) state.ticket = null;
    renderTicket();
    loadTicket(conversation.id);
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
    const followUp = chosenFollowUp();
    try {
      const created = await api('/conversations', { method: 'POST', json: subject ? { subject, body } : { body } });
      el.startBody.value = '';
      el.startSubject.value = '';
      await openConversation(created.conversation);
      mergeIn(created.message ? [created.message] : []);
      if (followUp) await joinTicket(created.conversation.id, followUp);
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

  /* ---------- tabs: the chat and "My tickets" ---------- */

  function buildTabs() {
    el.tabs = make('div', { className: 'pw-tabs', role: 'tablist', 'aria-label': 'Help desk', hidden: true });
    el.tabChat = make('button', {
      type: 'button', role: 'tab', id: 'pw-tab-chat', className: 'pw-tab', 'aria-controls': 'pw-chat-pane',
      'aria-selected': 'true', 'data-testid': 'tab-chat',
    }, 'Chat');
    el.tabTickets = make('button', {
      type: 'button', role: 'tab', id: 'pw-tab-tickets', className: 'pw-tab', 'aria-controls': 'pw-tickets-pane',
      'aria-selected': 'false', tabindex: '-1', 'data-testid': 'tab-tickets',
    }, 'My tickets');
    el.tabChat.addEventListener('click', () => selectTab('chat'));
    el.tabTickets.addEventListener('click', () => selectTab('tickets'));
    // Arrow keys move between tabs, as a tablist does everywhere else.
    el.tabs.addEventListener('keydown', (event) => {
      if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return;
      event.preventDefault();
      selectTab(state.tab === 'chat' ? 'tickets' : 'chat', true);
    });
    el.tabs.append(el.tabChat, el.tabTickets);
    return el.tabs;
  }

  function selectTab(tab, focusTab) {
    const chat = tab === 'chat';
    const changed = state.tab !== tab;
    state.tab = tab;
    for (const [button, selected] of [[el.tabChat, chat], [el.tabTickets, !chat]]) {
      button.setAttribute('aria-selected', selected ? 'true' : 'false');
      button.tabIndex = selected ? 0 : -1;
    }
    show(el.chatPane, chat);
    show(el.ticketsPane, !chat);
    if (focusTab) (chat ? el.tabChat : el.tabTickets).focus();
    if (!chat && changed) loadMyTickets();
    if (chat && changed && state.conversation && !focusTab) el.input.focus();
  }

  /* ---------- the user's link to their help-desk contact ---------- */

  /**
   * Whether tickets are possible for this user. A first lookup may still be
   * running on the server, so an unlinked answer is asked again a few times.
   */
  async function loadContact() {
    clearTimeout(state.contactTimer);
    const wasLinked = !!(state.contact && state.contact.linked);
    try {
      state.contact = await api('/me/contact');
    } catch (_) {
      // Unknown: the button stays usable and the server explains a refusal.
      state.contact = null;
    }
    renderTicket();
    // Linked just now: the start form can offer the user's open tickets.
    if (!wasLinked && state.contact && state.contact.linked && !state.conversation && !el.start.hidden) offerOpenTickets();
    if (state.contact && !state.contact.linked && state.contactChecks < CONTACT_RECHECKS_MS.length) {
      state.contactTimer = setTimeout(loadContact, CONTACT_RECHECKS_MS[state.contactChecks]);
      state.contactChecks += 1;
    }
  }

  /* ---------- the chat's ticket ---------- */

  async function loadTicket(conversationId) {
    const seq = ++state.ticketSeq;
    try {
      const body = await api('/conversations/' + conversationId + '/ticket');
      if (seq !== state.ticketSeq || !isCurrent(conversationId)) return;
      setTicket(conversationId, body && body.ticket);
    } catch (_) {
      // The header keeps what it showed; the next system message asks again.
    }
  }

  function setTicket(conversationId, view) {
    state.ticket = view ? { conversationId, view } : null;
    renderTicket();
  }

  /** The header's ticket chip and the conversation's "Ask for a ticket" bar. */
  function renderTicket() {
    const c = state.conversation;
    const view = state.ticket && c && state.ticket.conversationId === c.id ? state.ticket.view : null;
    const badge = core.ticketBadge(view);

    el.ticketChip.textContent = '';
    if (badge) {
      el.ticketChip.dataset.pending = badge.pending ? 'true' : 'false';
      el.ticketChip.dataset.ticketId = badge.pending ? '' : String(view.ticket_id);
      el.ticketChip.title = view.summary ? badge.label + ': ' + view.summary : badge.label;
      el.ticketChip.setAttribute('aria-label', badge.label);
      if (badge.number) el.ticketChip.append(make('span', { className: 'pw-ticket-chip__number', 'data-testid': 'ticket-number' }, 'Ticket ' + badge.number));
      el.ticketChip.append(make('span', { className: 'pw-ticket-chip__status', 'data-testid': 'ticket-status' }, badge.status));
    }
    show(el.ticketChip, !!badge);

    // Without a ticket the user may ask for one, once they are linked.
    show(el.ticketBar, !!c && !badge);
    if (!c || badge) return;
    const unlinked = !!state.contact && !state.contact.linked;
    el.askTicket.disabled = unlinked || state.asking;
    el.askTicket.setAttribute('aria-busy', state.asking ? 'true' : 'false');
    el.ticketBar.dataset.tone = unlinked ? 'info' : '';
    if (unlinked) el.ticketNote.textContent = state.contact.explanation || 'Tickets are not available for your account yet.';
    else if (!el.ticketBar.dataset.error) el.ticketNote.textContent = 'A technician can also make one for you.';
  }

  async function askForTicket() {
    const c = state.conversation;
    if (!c || state.asking) return;
    state.asking = true;
    delete el.ticketBar.dataset.error;
    renderTicket();
    try {
      const body = await api('/conversations/' + c.id + '/ticket', { method: 'POST' });
      if (isCurrent(c.id)) setTicket(c.id, body && body.ticket);
    } catch (err) {
      if (!isCurrent(c.id)) return;
      // 409: no confirmed contact, or the chat has a ticket already; the
      // server's words say which.
      el.ticketBar.dataset.error = '1';
      el.ticketNote.textContent = capitalise(err.message);
      if (err.status === 409) loadTicket(c.id);
    } finally {
      state.asking = false;
      renderTicket();
    }
  }

  function capitalise(text) {
    const s = String(text || '');
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  /* ---------- a new chat about an open ticket ---------- */

  /** "Is this about one of these?" on the start form, for a user with open tickets. */
  async function offerOpenTickets() {
    try {
      const body = await api('/me/tickets');
      state.openTickets = body && body.linked ? core.splitTickets(body.tickets).open.slice(0, OFFERED_TICKETS) : [];
    } catch (_) {
      state.openTickets = [];
    }
    renderFollowUp();
  }

  function renderFollowUp() {
    const box = el.followUp;
    const keep = chosenFollowUp();
    box.textContent = '';
    if (!state.openTickets.length) {
      show(box, false);
      return;
    }
    box.append(make('legend', { className: 'pw-followup__legend' }, 'Is this about one of these?'));
    const options = [{ id: 0, summary: 'No, something new', status: '' }].concat(state.openTickets);
    for (const t of options) {
      const id = 'pw-followup-' + t.id;
      const label = make('label', { className: 'pw-followup__option', for: id, 'data-testid': t.id ? 'open-ticket-option' : 'new-issue-option' });
      const radio = make('input', { type: 'radio', name: 'pw-followup', id, value: String(t.id), 'data-ticket-id': t.id || null });
      radio.checked = t.id === (keep || 0);
      const text = make('span', { className: 'pw-followup__text' });
      if (t.id) text.append(make('span', { className: 'pw-followup__number' }, '#' + t.id + ' '));
      text.append(make('span', {}, t.summary || 'Ticket'));
      if (t.status) text.append(make('span', { className: 'pw-pill' }, t.status));
      label.append(radio, text);
      box.append(label);
    }
    box.append(make('p', { className: 'pw-hint' }, 'Choosing a ticket adds this chat to it instead of opening a new one.'));
    show(box, true);
  }

  function chosenFollowUp() {
    const picked = el.followUp.querySelector('input[name="pw-followup"]:checked');
    const id = picked ? Number(picked.value) : 0;
    return id > 0 ? id : 0;
  }

  async function joinTicket(conversationId, ticketId) {
    try {
      const body = await api('/conversations/' + conversationId + '/ticket/join', { method: 'POST', json: { ticket_id: ticketId } });
      if (isCurrent(conversationId)) setTicket(conversationId, body && body.ticket);
    } catch (err) {
      // The chat itself started; only the link failed, and the bar says so.
      if (!isCurrent(conversationId)) return;
      el.ticketBar.dataset.error = '1';
      el.ticketNote.textContent = 'This chat could not be added to ticket #' + ticketId + ': ' + err.message;
      renderTicket();
    }
  }

  /* ---------- "My tickets" ---------- */

  function buildTicketsPane() {
    el.ticketsPane = make('section', {
      className: 'pw-pane pw-tickets', id: 'pw-tickets-pane', role: 'tabpanel', 'aria-labelledby': 'pw-tab-tickets',
      'data-testid': 'tickets-pane', hidden: true,
    });

    el.ticketsListView = make('div', { className: 'pw-tickets__list' });
    const head = make('div', { className: 'pw-tickets__head' });
    head.append(make('h2', { className: 'pw-tickets__heading' }, 'My tickets'));
    el.ticketsRefresh = make('button', { type: 'button', className: 'pw-button pw-button--link', 'data-testid': 'tickets-refresh' }, 'Refresh');
    el.ticketsRefresh.addEventListener('click', loadMyTickets);
    head.append(el.ticketsRefresh);
    el.ticketsMessage = make('p', { className: 'pw-tickets__message', role: 'status', 'data-testid': 'tickets-explanation' });
    el.openHeading = make('h3', { className: 'pw-tickets__group', hidden: true }, 'Open');
    el.openList = make('ul', { className: 'pw-ticket-list', 'data-testid': 'ticket-list', 'aria-label': 'Open tickets' });
    el.closedHeading = make('h3', { className: 'pw-tickets__group', hidden: true }, 'Closed');
    el.closedList = make('ul', { className: 'pw-ticket-list', 'data-testid': 'closed-ticket-list', 'aria-label': 'Closed tickets' });
    el.ticketsListView.append(head, el.ticketsMessage, el.openHeading, el.openList, el.closedHeading, el.closedList);

    el.ticketView = make('article', { className: 'pw-ticket', 'data-testid': 'ticket-detail', 'aria-labelledby': 'pw-ticket-title', hidden: true });
    const back = make('button', { type: 'button', className: 'pw-button pw-button--link pw-ticket__back', 'data-testid': 'ticket-back' }, '\u2190 All tickets');
    back.addEventListener('click', () => showTicketList(true));
    el.ticketTitle = make('h2', { className: 'pw-ticket__title', id: 'pw-ticket-title', tabindex: '-1' });
    el.ticketMeta = make('p', { className: 'pw-ticket__meta' });
    el.ticketNotes = make('ol', { className: 'pw-notes', 'aria-label': 'History', 'data-testid': 'ticket-notes' });
    el.ticketReply = make('button', { type: 'button', className: 'pw-button pw-button--primary', 'data-testid': 'ticket-reply' }, 'Reply or add a file');
    el.ticketReply.addEventListener('click', replyToTicket);
    el.ticketError = make('p', { className: 'pw-form-error', role: 'alert', 'data-testid': 'ticket-error', hidden: true });
    const actions = make('div', { className: 'pw-ticket__actions' });
    actions.append(el.ticketReply, el.ticketError);
    el.ticketView.append(back, el.ticketTitle, el.ticketMeta, el.ticketNotes, actions);

    el.ticketsPane.append(el.ticketsListView, el.ticketView);
    return el.ticketsPane;
  }

  function showTicketList(focus) {
    state.detail = null;
    show(el.ticketView, false);
    show(el.ticketsListView, true);
    if (focus) {
      const again = el.ticketsPane.querySelector('.pw-ticket-item[aria-current="true"]') || el.tabTickets;
      again.focus();
    }
  }

  async function loadMyTickets() {
    const seq = ++state.ticketsSeq;
    showTicketList(false);
    el.ticketsMessage.textContent = 'Loading your tickets\u2026';
    el.ticketsRefresh.disabled = true;
    try {
      const body = await api('/me/tickets');
      if (seq !== state.ticketsSeq) return;
      renderTicketList(body || {});
    } catch (err) {
      if (seq !== state.ticketsSeq) return;
      el.ticketsMessage.textContent = 'Your tickets could not be loaded: ' + err.message;
    } finally {
      el.ticketsRefresh.disabled = false;
    }
  }

  function renderTicketList(body) {
    const split = core.splitTickets(body.tickets);
    el.openList.textContent = '';
    el.closedList.textContent = '';
    el.ticketsPane.dataset.linked = body.linked ? 'true' : 'false';
    if (!body.linked) {
      // No confirmed contact: no tickets, and why, in the server's words.
      el.ticketsMessage.textContent = body.explanation || 'Your tickets cannot be shown yet.';
    } else if (!split.open.length && !split.closed.length) {
      el.ticketsMessage.textContent = 'You have no tickets with the help desk yet. Ask for one from a chat.';
    } else {
      el.ticketsMessage.textContent = '';
    }
    for (const t of split.open) el.openList.append(ticketItem(t));
    for (const t of split.closed) el.closedList.append(ticketItem(t));
    show(el.openHeading, split.open.length > 0);
    show(el.openList, split.open.length > 0);
    show(el.closedHeading, split.closed.length > 0);
    show(el.closedList, split.closed.length > 0);
  }

  function ticketItem(t) {
    const li = make('li');
    const button = make('button', {
      type: 'button', className: 'pw-ticket-item' + (t.closed ? ' pw-ticket-item--closed' : ''),
      'data-testid': 'ticket-item', 'data-ticket-id': t.id,
    });
    const top = make('span', { className: 'pw-ticket-item__top' });
    top.append(make('span', { className: 'pw-ticket-item__number' }, '#' + t.id));
    top.append(make('span', { className: 'pw-pill' + (t.closed ? ' pw-pill--closed' : ''), 'data-testid': 'ticket-item-status' }, t.status || (t.closed ? 'Closed' : 'Open')));
    button.append(top, make('span', { className: 'pw-ticket-item__summary' }, t.summary || 'Ticket'));
    const updated = core.formatTime(t.updated_at);
    if (updated) button.append(make('span', { className: 'pw-ticket-item__updated' }, 'Updated ' + updated));
    button.addEventListener('click', () => openTicket(t.id, button));
    li.append(button);
    return li;
  }

  async function openTicket(id, button) {
    for (const b of el.ticketsPane.querySelectorAll('.pw-ticket-item')) b.removeAttribute('aria-current');
    if (button) button.setAttribute('aria-current', 'true');
    state.detail = id;
    el.ticketTitle.textContent = 'Ticket #' + id;
    el.ticketMeta.textContent = 'Loading\u2026';
    el.ticketNotes.textContent = '';
    showComposerError(el.ticketError, '');
    show(el.ticketsListView, false);
    show(el.ticketView, true);
    el.ticketTitle.focus();
    try {
      const body = await api('/me/tickets/' + id);
      if (state.detail !== id) return;
      renderTicketDetail(body);
    } catch (err) {
      if (state.detail !== id) return;
      el.ticketMeta.textContent = '';
      showComposerError(el.ticketError, 'This ticket could not be opened: ' + err.message);
    }
  }

  function renderTicketDetail(body) {
    const t = body.ticket || {};
    el.ticketView.dataset.ticketId = String(t.id);
    el.ticketTitle.textContent = '#' + t.id + ' ' + (t.summary || '');
    el.ticketMeta.textContent = '';
    el.ticketMeta.append(make('span', { className: 'pw-pill' + (t.closed ? ' pw-pill--closed' : ''), 'data-testid': 'ticket-detail-status' }, t.status || (t.closed ? 'Closed' : 'Open')));
    const updated = core.formatTime(t.updated_at);
    if (updated) el.ticketMeta.append(make('span', { className: 'pw-ticket__updated' }, 'Updated ' + updated));

    const notes = Array.isArray(body.notes) ? body.notes : [];
    if (!notes.length) el.ticketNotes.append(make('li', { className: 'pw-note pw-note--empty' }, 'No updates yet.'));
    for (const n of notes) {
      const li = make('li', { className: 'pw-note', 'data-testid': 'ticket-note', 'data-note-id': n.id });
      const head = make('div', { className: 'pw-note__head' });
      head.append(make('span', { className: 'pw-note__author' }, n.author || 'Help desk'));
      head.append(make('time', { className: 'pw-note__time', datetime: n.created_at || '' }, core.formatTime(n.created_at)));
      const text = make('div', { className: 'pw-note__body' });
      text.innerHTML = n.text_html || ''; // escaped by the server, like body_html
      openLinksOutside(text);
      li.append(head, text);
      el.ticketNotes.append(li);
    }
    el.ticketReply.textContent = t.closed ? 'Reopen in a chat' : 'Reply or add a file';
  }

  /** The chat in which the user answers the ticket; what they write there reaches it. */
  async function replyToTicket() {
    const id = state.detail;
    if (!id) return;
    setBusy(el.ticketReply, true);
    showComposerError(el.ticketError, '');
    try {
      const body = await api('/me/tickets/' + id + '/chat', { method: 'POST' });
      const c = body && body.conversation;
      if (!c) throw new Error('the help desk did not open the chat');
      selectTab('chat');
      await openConversation(c);
      el.input.focus();
    } catch (err) {
      showComposerError(el.ticketError, 'The chat could not open: ' + err.message);
    } finally {
      setBusy(el.ticketReply, false);
    }
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
      if (state.everReady) {
        refreshConversation();
        if (state.conversation) loadTicket(state.conversation.id);
      }
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
      // The server announces a ticket's number and changes as system messages.
      if (message.kind === 'system') loadTicket(message.conversation_id);
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
