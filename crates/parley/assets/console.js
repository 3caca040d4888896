/*
 * Parley technician console: progressive enhancement of the server-rendered
 * pages (inbox and conversation view; DOM described in docs/client-protocol.md).
 * Needs chat-core.js loaded first (window.ParleyChat).
 *
 * Without this script every page works by plain links and form posts. With
 * it: a live WebSocket (session cookie, so no auth frame), live messages and
 * status, a live inbox, typing and read receipts, replies and notes sent
 * without a page reload, and a title/sound/desktop notification for each new
 * waiting chat.
 */
(function () {
  'use strict';

  // Everything reads the page, so it starts once the DOM is parsed, whether
  // the script is in <head> (with or without defer) or at the end of <body>.
  function boot() {
    const core = window.ParleyChat;
    if (!core) return; // chat-core.js missing: the plain forms still work

    const API = '/api/v1';
    const body = document.body;
    const me = body.dataset.me || '';
    const wsPath = body.dataset.ws || API + '/ws';
    const csrfMeta = document.querySelector('meta[name="csrf-token"]');
    const csrf = csrfMeta ? csrfMeta.getAttribute('content') || '' : '';

    const inbox = document.getElementById('inbox');
    const view = inbox ? inbox.dataset.view || '' : '';
    const main = document.getElementById('conversation');
    const conversationId = main ? Number(main.dataset.id) : null;
    const messagesList = document.getElementById('messages');
    const typingEl = document.getElementById('typing');
    const statusEl = document.getElementById('status');

    const state = {
      maxSeenId: initialResumePoint(),
      everReady: false,
      replaying: true,        // between a (re)connect and "ready": a resume replay
      lastReadSent: 0,
      unseenWaiting: 0,
      baseTitle: document.title,
      knownStatus: new Map(), // conversation id -> last status seen, to spot new waiting chats
      notified: new Set(),    // conversation ids already announced while waiting
      fetching: new Set(),
      typing: new Map(),
      live: null,
      audio: null,
    };
    const typingAllowed = core.createThrottle(core.TYPING_SEND_INTERVAL_MS);

    /* ---------- start-up ---------- */

    /**
     * Where the first resume starts: the newest message on a conversation page,
     * else 0 (the inbox), or a larger data-last-message-id if the server gives
     * one, which spares a full replay.
     */
    function initialResumePoint() {
      let after = 0;
      const items = messagesList ? messagesList.querySelectorAll('li[data-id]') : [];
      if (items.length) after = Number(items[items.length - 1].dataset.id) || 0;
      const hinted = Number(body.dataset.lastMessageId || (inbox && inbox.dataset.lastMessageId) || 0);
      return Math.max(after, hinted || 0);
    }

    function rememberPageStatuses() {
      if (inbox) {
        for (const li of inbox.querySelectorAll('li.conversation')) {
          const id = Number(li.dataset.id);
          if (id) state.knownStatus.set(id, li.dataset.status);
          if (li.dataset.status === 'waiting') state.notified.add(id);
        }
      }
      if (main && conversationId) {
        state.knownStatus.set(conversationId, main.dataset.status);
        if (main.dataset.status === 'waiting') state.notified.add(conversationId);
      }
    }

    function init() {
      rememberPageStatuses();
      prettify(document);
      if (messagesList && !messagesList.hasAttribute('aria-live')) messagesList.setAttribute('aria-live', 'polite');
      enhanceComposeForms();
      setUpNotificationButton();
      unlockAudioOnFirstGesture();
      applyStatusHooks(main ? main.dataset.status : '');
      updateInboxEmpty();
      // Signed-out pages (sign-in, set-up) have no data-me and no live socket.
      if (!me) return;
      document.addEventListener('visibilitychange', onVisibilityChange);
      window.addEventListener('online', () => state.live && !state.live.isReady() && state.live.reconnectNow());
      connect();
      scrollMessagesToEnd(true);
      maybeSendRead();
    }

    /* ---------- readable times, sizes and image previews ---------- */

    const IMAGE_NAME = /\.(png|jpe?g|gif|webp)$/i;

    /**
     * The server writes times as RFC 3339 and sizes in bytes (readable
     * without this script); here they become local times and "4.6 KB", and
     * image attachments get a preview.
     */
    function prettify(root) {
      for (const time of root.querySelectorAll('time.message__time, time.conversation__updated')) {
        formatTimeElement(time);
      }
      for (const size of root.querySelectorAll('.message__size[data-bytes]')) {
        size.textContent = core.formatSize(size.dataset.bytes);
      }
      for (const link of root.querySelectorAll('a.message__attachment')) addThumbnail(link);
    }

    function formatTimeElement(time) {
      const iso = time.getAttribute('datetime') || '';
      const text = core.formatTime(iso);
      if (!text) return;
      time.textContent = text;
      const t = Date.parse(iso);
      if (!Number.isNaN(t)) time.title = new Date(t).toLocaleString();
    }

    /** Technicians fetch attachments with their session cookie, so an <img> can show one. */
    function addThumbnail(link) {
      const previous = link.previousElementSibling;
      if ((previous && previous.classList.contains('message__preview')) || !IMAGE_NAME.test(link.textContent.trim())) return;
      const preview = document.createElement('a');
      preview.className = 'message__preview';
      preview.href = link.href;
      preview.tabIndex = -1; // the file name's link is the one keyboard stop
      preview.setAttribute('aria-hidden', 'true');
      const img = document.createElement('img');
      img.className = 'message__thumb';
      img.alt = '';
      img.loading = 'lazy';
      img.decoding = 'async';
      img.src = link.href;
      img.addEventListener('error', () => preview.remove());
      img.addEventListener('load', () => {
        if (isMessagesNearEnd()) scrollMessagesToEnd(false);
      });
      preview.appendChild(img);
      link.before(preview);
    }

    /* ---------- live connection ---------- */

    function connect() {
      state.live = core.connectLive({
        url: () => core.webSocketUrl(location, wsPath),
        onOpen(send) {
          state.replaying = true;
          send({ type: 'resume', after: state.maxSeenId }); // the cookie authenticates
        },
        onEvent: onLiveEvent,
        onState: onLiveState,
      });
    }

    function onLiveState(status) {
      body.dataset.live = status; // connecting | open | ready | reconnecting | stopped
      if (status === 'reconnecting' && state.everReady) showConnection('Connection lost. Reconnecting\u2026');
      if (status === 'ready') {
        const reconnected = state.everReady;
        state.everReady = true;
        state.replaying = false;
        showConnection('');
        // Conversation events are not replayed; after a gap, re-read what is shown.
        if (reconnected) {
          refreshInbox();
          refreshCurrentConversation();
        }
        maybeSendRead();
        // console-tickets.js re-reads the ticket and sync states after a gap.
        document.dispatchEvent(new CustomEvent('parley:live-ready', { detail: { reconnected } }));
      }
    }

    let connectionEl = null;
    function showConnection(text) {
      if (!connectionEl) {
        connectionEl = document.createElement('div');
        connectionEl.className = 'console-live';
        connectionEl.setAttribute('role', 'status');
        connectionEl.hidden = true;
        body.appendChild(connectionEl);
      }
      connectionEl.textContent = text;
      connectionEl.hidden = !text;
    }

    function onLiveEvent(frame) {
      switch (frame.type) {
        case 'message':
          if (frame.message) onMessage(frame.message);
          break;
        case 'conversation':
          if (frame.conversation) onConversation(frame.conversation);
          break;
        case 'typing':
          onTyping(frame);
          break;
        case 'error':
          if (frame.error && frame.error.code === 'unauthorized') {
            // The session ended (signed out elsewhere, expired): stop and let
            // the next navigation lead to the sign-in page.
            state.live.stop();
            showConnection('You are signed out. Reload the page to sign in again.');
          }
          break;
        default:
          break;
      }
      // Other console scripts (console-tickets.js: the ticket panel, sync
      // badges) share this socket instead of opening their own.
      document.dispatchEvent(new CustomEvent('parley:live', { detail: frame }));
    }

    function onMessage(message) {
      state.maxSeenId = Math.max(state.maxSeenId, message.id || 0);
      if (messagesList && message.conversation_id === conversationId) {
        appendMessage(message);
        if (message.author) stopTyping(message.author);
      }
      if (inbox) touchRow(message);
    }

    function onConversation(conversation) {
      const previous = state.knownStatus.get(conversation.id);
      state.knownStatus.set(conversation.id, conversation.status);
      if (conversation.status !== 'waiting') state.notified.delete(conversation.id);
      else if (previous !== 'waiting') announceWaiting(conversation);

      if (inbox) upsertRow(conversation);
      if (main && conversation.id === conversationId) showStatus(conversation);
    }

    /* ---------- conversation view ---------- */

    function isMessagesNearEnd() {
      const scroller = messagesScroller();
      return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 150;
    }

    /** #messages scrolls itself when the stylesheet boxes it, else the page scrolls. */
    function messagesScroller() {
      if (messagesList && messagesList.scrollHeight > messagesList.clientHeight + 1 &&
          getComputedStyle(messagesList).overflowY !== 'visible') {
        return messagesList;
      }
      return document.scrollingElement || document.documentElement;
    }

    function scrollMessagesToEnd(onlyIfBoxed) {
      if (!messagesList) return;
      const scroller = messagesScroller();
      if (onlyIfBoxed && scroller !== messagesList) return;
      scroller.scrollTop = scroller.scrollHeight;
    }

    /** Adds a message once (the HTTP answer and the socket may both bring it), in id order. */
    function appendMessage(message) {
      if (document.getElementById('m' + message.id)) return;
      const nearEnd = isMessagesNearEnd();
      const li = buildMessage(message);
      let after = null;
      const items = messagesList.querySelectorAll('li[data-id]');
      for (let i = items.length - 1; i >= 0; i -= 1) {
        if (Number(items[i].dataset.id) < message.id) {
          after = items[i];
          break;
        }
      }
      if (after) after.after(li);
      else if (items.length) items[0].before(li);
      else messagesList.appendChild(li);
      if (nearEnd) scrollMessagesToEnd(false);
      maybeSendRead();
    }

    /** The same DOM the server renders for a message (see the protocol page). */
    function buildMessage(m) {
      const authorKind = (m.author && m.author.kind) || 'system';
      const li = document.createElement('li');
      li.className = 'message message--' + m.kind + ' message--from-' + authorKind;
      li.id = 'm' + m.id;
      li.dataset.id = String(m.id);

      const author = document.createElement('span');
      author.className = 'message__author';
      author.textContent = (m.author && m.author.name) || (authorKind === 'system' ? 'Parley' : '');
      li.appendChild(author);

      const time = document.createElement('time');
      time.className = 'message__time';
      time.dateTime = m.created_at || '';
      time.textContent = core.formatTime(m.created_at);
      li.append(' ', time);

      if (m.kind === 'note') {
        const label = document.createElement('span');
        label.className = 'message__label';
        label.textContent = 'Internal note';
        li.append(' ', label);
      }

      const text = document.createElement('div');
      text.className = 'message__body';
      text.innerHTML = m.body_html || ''; // the one field the server has made safe as HTML
      for (const a of text.querySelectorAll('a[href]')) {
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
      }
      li.appendChild(text);

      if (m.attachment) {
        const link = document.createElement('a');
        link.className = 'message__attachment';
        link.href = m.attachment.url || API + '/attachments/' + m.attachment.id;
        link.textContent = m.attachment.file_name || 'file';
        const size = document.createElement('span');
        size.className = 'message__size';
        size.dataset.bytes = String(m.attachment.size);
        size.textContent = core.formatSize(m.attachment.size);
        li.append(link, ' ', size);
        addThumbnail(link);
      }
      return li;
    }

    function showStatus(conversation) {
      main.dataset.status = conversation.status;
      if (statusEl) {
        statusEl.textContent = core.statusLabel(conversation);
        statusEl.dataset.status = conversation.status;
      }
      applyStatusHooks(conversation.status);
    }

    /**
     * Optional hook for the server's templates: an element with
     * data-when-status="waiting active" is shown only in those statuses, so
     * that claim/close buttons follow live status changes.
     */
    function applyStatusHooks(status) {
      if (!main || !status) return;
      for (const node of main.querySelectorAll('[data-when-status]')) {
        node.hidden = !node.dataset.whenStatus.split(/\s+/).includes(status);
      }
    }

    async function refreshCurrentConversation() {
      if (!main || !conversationId) return;
      const c = await getJson(API + '/conversations/' + conversationId);
      if (c && c.id === conversationId) onConversation(c);
    }

    /** A read receipt for the newest non-note message while the tab is visible. */
    function maybeSendRead() {
      if (!messagesList || !conversationId || !state.live || document.visibilityState !== 'visible') return;
      const items = messagesList.querySelectorAll('li[data-id]:not(.message--note)');
      const newest = items[items.length - 1];
      const id = newest ? Number(newest.dataset.id) : 0;
      if (!id || id <= state.lastReadSent) return;
      if (state.live.send({ type: 'read', conversation_id: conversationId, message_id: id })) state.lastReadSent = id;
    }

    /* ---------- typing ---------- */

    function isMe(author) {
      return author && author.kind === 'technician' && String(author.id) === String(me);
    }

    function onTyping(frame) {
      if (!typingEl || frame.conversation_id !== conversationId || !frame.author || isMe(frame.author)) return;
      const key = frame.author.kind + ':' + frame.author.id;
      const known = state.typing.get(key);
      if (known) clearTimeout(known.timer);
      const timer = setTimeout(() => {
        state.typing.delete(key);
        renderTyping();
      }, core.TYPING_SHOW_MS);
      state.typing.set(key, { name: frame.author.name, timer });
      renderTyping();
    }

    function stopTyping(author) {
      const key = author.kind + ':' + author.id;
      const known = state.typing.get(key);
      if (!known) return;
      clearTimeout(known.timer);
      state.typing.delete(key);
      renderTyping();
    }

    function renderTyping() {
      if (!typingEl) return;
      const names = Array.from(state.typing.values(), (p) => p.name || 'Someone');
      typingEl.textContent = names.length === 0 ? ''
        : names.length === 1 ? core.typingLabel(names[0])
          : names.join(', ') + ' are typing\u2026';
    }

    /* ---------- reply and note forms ---------- */

    /**
     * The protocol page does not name the forms; these are looked up by
     * data-compose="reply|note" first, then by id (#reply-form, #note-form).
     */
    function composeForms() {
      return {
        reply: document.querySelector('form[data-compose="reply"], form#reply-form, form#reply'),
        note: document.querySelector('form[data-compose="note"], form#note-form, form#note'),
      };
    }

    function enhanceComposeForms() {
      if (!conversationId) return;
      const forms = composeForms();
      if (forms.reply) enhanceForm(forms.reply, false);
      if (forms.note && forms.note !== forms.reply) enhanceForm(forms.note, true);
    }

    function textareaOf(form) {
      return form.querySelector('textarea[name="body"]') || form.querySelector('textarea');
    }

    function enhanceForm(form, internal) {
      const textarea = textareaOf(form);
      if (!textarea) return;
      form.addEventListener('submit', (event) => submitCompose(event, form, textarea, internal));
      textarea.addEventListener('keydown', (event) => {
        // Ctrl+Enter (Cmd+Enter) sends; plain Enter stays a newline for long replies.
        if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !event.isComposing) {
          event.preventDefault();
          if (typeof form.requestSubmit === 'function') form.requestSubmit();
          else form.dispatchEvent(new Event('submit', { cancelable: true }));
        }
      });
      // Typing is shown to the end user, so a note (internal) never sends it.
      if (!internal) textarea.addEventListener('input', sendTyping);
    }

    function sendTyping(event) {
      if (!state.live || !conversationId || !event.target.value) return;
      if (typingAllowed()) state.live.send({ type: 'typing', conversation_id: conversationId });
    }

    function formError(form, text) {
      let node = form.querySelector('.form-error[data-console]');
      if (!node) {
        node = document.createElement('p');
        node.className = 'form-error';
        node.dataset.console = '1';
        node.setAttribute('role', 'alert');
        form.appendChild(node);
      }
      node.textContent = text;
      node.hidden = !text;
    }

    function setFormBusy(form, busy) {
      for (const button of form.querySelectorAll('button, input[type="submit"]')) button.disabled = busy;
      form.setAttribute('aria-busy', busy ? 'true' : 'false');
    }

    /** The page's own form post, for when fetch cannot do the job. */
    function fallbackSubmit(form) {
      HTMLFormElement.prototype.submit.call(form); // does not fire "submit" again
    }

    async function submitCompose(event, form, textarea, internal) {
      event.preventDefault();
      const text = textarea.value;
      if (!text.trim()) {
        textarea.focus();
        return;
      }
      if (form.dataset.sending) return;
      form.dataset.sending = '1';
      setFormBusy(form, true);
      formError(form, '');
      let response;
      let payload = null;
      try {
        response = await fetch(API + '/conversations/' + conversationId + '/messages', {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrf },
          body: JSON.stringify(internal ? { body: text, internal: true } : { body: text }),
        });
        payload = await readJson(response);
      } catch (_) {
        response = null;
      }
      delete form.dataset.sending;
      setFormBusy(form, false);

      if (response && response.ok && payload && Number.isInteger(payload.id)) {
        textarea.value = '';
        appendMessage(payload);
        textarea.focus();
        return;
      }
      // A refusal the server explains (too long, conflict, ...) is shown here;
      // anything else (network, 5xx, signed out) goes the plain form way.
      const explained = response && response.status >= 400 && response.status < 500 && response.status !== 401 &&
        payload && payload.error && payload.error.message;
      if (explained) {
        formError(form, (internal ? 'The note was not saved: ' : 'The reply was not sent: ') + payload.error.message);
        textarea.focus();
        return;
      }
      fallbackSubmit(form);
    }

    async function readJson(response) {
      if (!/json/i.test(response.headers.get('Content-Type') || '')) return null;
      try {
        return await response.json();
      } catch (_) {
        return null;
      }
    }

    async function getJson(url) {
      try {
        const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' }, cache: 'no-store' });
        return response.ok ? await readJson(response) : null;
      } catch (_) {
        return null;
      }
    }

    /* ---------- inbox ---------- */

    function rowTime(li) {
      const time = li.querySelector('time.conversation__updated');
      const t = Date.parse(time ? time.getAttribute('datetime') || '' : '');
      return Number.isNaN(t) ? 0 : t;
    }

    /** Newest activity first, unless the inbox says data-sort="oldest" (a FIFO queue). */
    function placeRow(li) {
      const oldestFirst = inbox.dataset.sort === 'oldest';
      const t = rowTime(li);
      let before = null;
      for (const other of inbox.querySelectorAll('li.conversation')) {
        if (other === li) continue;
        const o = rowTime(other);
        if (oldestFirst ? o > t : o < t) {
          before = other;
          break;
        }
      }
      if (before) {
        if (li.nextElementSibling !== before) inbox.insertBefore(li, before);
      } else if (li.parentNode !== inbox || li !== inbox.lastElementChild) {
        inbox.appendChild(li);
      }
    }

    function part(li, tag, className) {
      let node = li.querySelector('.' + className);
      if (!node) {
        node = document.createElement(tag);
        node.className = className;
        (li.querySelector('a') || li).appendChild(node);
      }
      return node;
    }

    /** The same DOM the server renders for an inbox row (see the protocol page). */
    function fillRow(li, c) {
      li.className = 'conversation conversation--' + c.status + (li.classList.contains('conversation--new') ? ' conversation--new' : '');
      li.id = 'c' + c.id;
      li.dataset.id = String(c.id);
      li.dataset.status = c.status;
      let link = li.querySelector('a');
      if (!link) {
        link = document.createElement('a');
        li.appendChild(link);
      }
      link.href = '/console/conversations/' + c.id;
      part(li, 'span', 'conversation__name').textContent = (c.end_user && (c.end_user.name || c.end_user.email)) || 'Unknown user';
      part(li, 'span', 'conversation__subject').textContent = c.subject || '(no subject)';
      part(li, 'span', 'conversation__status').textContent = core.statusLabel(c);
      setRowTime(li, c.updated_at);
    }

    function setRowTime(li, iso) {
      if (!iso) return;
      const time = part(li, 'time', 'conversation__updated');
      time.setAttribute('datetime', iso);
      time.textContent = core.formatTime(iso);
    }

    function upsertRow(c) {
      let li = document.getElementById('c' + c.id);
      if (!core.conversationMatchesView(c, view, me)) {
        if (li) li.remove();
        updateInboxEmpty();
        return;
      }
      if (!li) {
        li = document.createElement('li');
        li.classList.add('conversation--new'); // a brief highlight, see console.css
        setTimeout(() => li.classList.remove('conversation--new'), 4000);
      }
      fillRow(li, c);
      placeRow(li);
      updateInboxEmpty();
    }

    /** A message bumps its row; a row we do not have is fetched once the replay is over. */
    function touchRow(message) {
      const li = document.getElementById('c' + message.conversation_id);
      if (li) {
        // A replay brings old messages too; only newer activity moves a row.
        const t = Date.parse(message.created_at || '');
        if (!Number.isNaN(t) && t > rowTime(li)) {
          setRowTime(li, message.created_at);
          placeRow(li);
        }
        return;
      }
      if (state.replaying || message.kind === 'note') return; // refreshInbox covers gaps
      fetchRow(message.conversation_id);
    }

    async function fetchRow(id) {
      if (state.fetching.has(id)) return;
      state.fetching.add(id);
      const c = await getJson(API + '/conversations/' + id);
      state.fetching.delete(id);
      if (c && c.id === id) onConversation(c);
    }

    /** After a reconnect: the server's list is the truth for this view. */
    async function refreshInbox() {
      if (!inbox || !view) return;
      const body = await getJson(API + '/conversations?view=' + encodeURIComponent(view));
      if (!body) return;
      const list = core.conversationsFrom(body);
      const ids = new Set(list.map((c) => c.id));
      for (const li of inbox.querySelectorAll('li.conversation')) {
        if (!ids.has(Number(li.dataset.id))) li.remove();
      }
      list.forEach(onConversation);
      updateInboxEmpty();
    }

    /** Optional: an element #inbox-empty ("No conversations") shown when the list is empty. */
    function updateInboxEmpty() {
      const empty = document.getElementById('inbox-empty');
      if (inbox && empty) empty.hidden = !!inbox.querySelector('li.conversation');
    }

    /* ---------- notifications ---------- */

    function announceWaiting(c) {
      if (state.notified.has(c.id)) return;
      state.notified.add(c.id);
      beep();
      if (document.hidden) {
        state.unseenWaiting += 1;
        document.title = core.titleWithCount(state.baseTitle, state.unseenWaiting);
      }
      showDesktopNotification(c);
    }

    function onVisibilityChange() {
      if (!document.hidden) {
        state.unseenWaiting = 0;
        document.title = core.titleWithCount(state.baseTitle, 0);
      }
      maybeSendRead();
    }

    function showDesktopNotification(c) {
      if (!('Notification' in window) || Notification.permission !== 'granted') return;
      if (!document.hidden && document.hasFocus()) return; // the live inbox already shows it
      const who = (c.end_user && (c.end_user.name || c.end_user.email)) || 'Someone';
      try {
        const n = new Notification('New chat waiting', {
          body: who + (c.subject ? ': ' + c.subject : ''),
          tag: 'parley-conversation-' + c.id, // one notification per chat, even from several tabs
        });
        n.onclick = () => {
          window.focus();
          location.href = '/console/conversations/' + c.id;
          n.close();
        };
      } catch (_) {
        // Some browsers only allow notifications from a service worker; the title and sound remain.
      }
    }

    /** The button asks for permission only on a click, as browsers require. */
    function setUpNotificationButton() {
      const button = document.getElementById('enable-notifications');
      if (!button) return;
      const refresh = () => {
        button.hidden = !('Notification' in window) || Notification.permission !== 'default';
      };
      refresh();
      button.addEventListener('click', () => {
        if (!('Notification' in window)) return;
        const asked = Notification.requestPermission(refresh);
        if (asked && typeof asked.then === 'function') asked.then(refresh);
      });
    }

    /** Browsers keep audio muted until a user gesture; make the context on the first one. */
    function unlockAudioOnFirstGesture() {
      const unlock = () => {
        ensureAudio();
        document.removeEventListener('pointerdown', unlock, true);
        document.removeEventListener('keydown', unlock, true);
      };
      document.addEventListener('pointerdown', unlock, true);
      document.addEventListener('keydown', unlock, true);
    }

    function ensureAudio() {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return null;
      if (!state.audio) {
        try {
          state.audio = new Context();
        } catch (_) {
          return null;
        }
      }
      if (state.audio.state === 'suspended') state.audio.resume().catch(() => {});
      return state.audio;
    }

    /** Two short soft tones: noticeable, not alarming. */
    function beep() {
      const audio = ensureAudio();
      if (!audio) return;
      const start = audio.currentTime + 0.01;
      [880, 1175].forEach((frequency, i) => {
        const t = start + i * 0.16;
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.type = 'sine';
        osc.frequency.setValueAtTime(frequency, t);
        gain.gain.setValueAtTime(0.0001, t);
        gain.gain.exponentialRampToValueAtTime(0.15, t + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.14);
        osc.connect(gain);
        gain.connect(audio.destination);
        osc.start(t);
        osc.stop(t + 0.15);
      });
    }

    init();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot, { once: true });
  else boot();
})();
