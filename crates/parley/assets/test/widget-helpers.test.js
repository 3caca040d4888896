// Tests for the pure helpers in assets/chat-core.js, without a browser:
//   node crates/parley/assets/test/widget-helpers.test.js
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const core = require('../chat-core.js');

function msg(id, extra) {
  return Object.assign({ id, conversation_id: 1, kind: 'text', author: { kind: 'end_user', id: 7, name: 'Ann' } }, extra);
}

test('mergeMessages dedupes by id and sorts oldest first', () => {
  const merged = core.mergeMessages([msg(3), msg(1)], [msg(2), msg(3), msg(5)]);
  assert.deepEqual(merged.map((m) => m.id), [1, 2, 3, 5]);
});

test('mergeMessages lets the later copy of an id win and leaves inputs alone', () => {
  const existing = [msg(1, { body: 'old' })];
  const merged = core.mergeMessages(existing, [msg(1, { body: 'new' })]);
  assert.equal(merged.length, 1);
  assert.equal(merged[0].body, 'new');
  assert.equal(existing[0].body, 'old');
});

test('mergeMessages ignores junk and empty inputs', () => {
  assert.deepEqual(core.mergeMessages(null, undefined), []);
  assert.deepEqual(core.mergeMessages([null, { id: 'x' }, msg(4)], [{}]).map((m) => m.id), [4]);
});

test('maxMessageId is the resume point', () => {
  assert.equal(core.maxMessageId([]), 0);
  assert.equal(core.maxMessageId([msg(9), msg(12), msg(3)]), 12);
});

test('backoffDelay goes 1, 2, 4, 8, 16, then stays at 30 s', () => {
  const delays = [0, 1, 2, 3, 4, 5, 6, 20].map((n) => core.backoffDelay(n));
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

test('backoffDelay adds at most 20 % jitter', () => {
  assert.equal(core.backoffDelay(0, 0), 1000);
  assert.equal(core.backoffDelay(0, 1), 1200);
  assert.equal(core.backoffDelay(5, 0.5), 33000);
});

test('createThrottle allows one action per interval', () => {
  let now = 0;
  const allowed = core.createThrottle(3000, () => now);
  assert.equal(allowed(), true);
  now = 1000;
  assert.equal(allowed(), false);
  now = 2999;
  assert.equal(allowed(), false);
  now = 3000;
  assert.equal(allowed(), true);
});

test('formatSize reads like a person would write it', () => {
  assert.equal(core.formatSize(0), '0 B');
  assert.equal(core.formatSize(512), '512 B');
  assert.equal(core.formatSize(1024), '1 KB');
  assert.equal(core.formatSize(1536), '1.5 KB');
  assert.equal(core.formatSize(250 * 1024), '250 KB');
  assert.equal(core.formatSize(3.25 * 1024 * 1024), '3.3 MB');
  assert.equal(core.formatSize(-1), '');
  assert.equal(core.formatSize('x'), '');
});

test('pickOpenConversation prefers the newest waiting or active one', () => {
  const list = [
    { id: 1, status: 'closed', updated_at: '2024-05-03T10:00:00Z' },
    { id: 2, status: 'active', updated_at: '2024-05-01T10:00:00Z' },
    { id: 3, status: 'waiting', updated_at: '2024-05-02T10:00:00Z' },
  ];
  assert.equal(core.pickOpenConversation(list).id, 3);
  assert.equal(core.pickOpenConversation([list[0]]), null);
  assert.equal(core.pickLastClosedConversation(list).id, 1);
});

test('conversationsFrom accepts a bare array or an envelope', () => {
  assert.deepEqual(core.conversationsFrom([{ id: 1 }]), [{ id: 1 }]);
  assert.deepEqual(core.conversationsFrom({ conversations: [{ id: 2 }] }), [{ id: 2 }]);
  assert.deepEqual(core.conversationsFrom(null), []);
  assert.equal(core.maxLastMessageId([{ last_message_id: 4 }, { last_message_id: null }, { last_message_id: 9 }]), 9);
});

test('parseTokenResponse reads text or JSON', () => {
  assert.equal(core.parseTokenResponse('  abc.def.ghi\n', 'text/plain'), 'abc.def.ghi');
  assert.equal(core.parseTokenResponse('{"token":"a.b.c"}', 'application/json'), 'a.b.c');
  assert.equal(core.parseTokenResponse('{"token":"a.b.c"}', 'text/plain'), 'a.b.c');
  assert.equal(core.parseTokenResponse('"a.b.c"', 'application/json'), 'a.b.c');
  assert.equal(core.parseTokenResponse('{"nope":1}', 'application/json'), '');
  assert.equal(core.parseTokenResponse('not json', 'application/json'), '');
  assert.equal(core.parseTokenResponse('', ''), '');
});

test('errorFromBody uses the server message, else words for the status', () => {
  const e = core.errorFromBody(413, { error: { code: 'too_large', message: 'The file is over 10 MB.' } });
  assert.deepEqual(e, { code: 'too_large', message: 'The file is over 10 MB.', status: 413 });
  assert.equal(core.errorFromBody(415, null).code, 'unsupported_type');
  assert.equal(core.errorFromBody(0, null).code, 'unavailable');
  assert.match(core.errorFromBody(502, '<html>').message, /HTTP 502/);
});

test('conversationMatchesView follows the inbox rules', () => {
  const waiting = { status: 'waiting', technician: null };
  const mine = { status: 'active', technician: { id: 5 } };
  const theirs = { status: 'active', technician: { id: 6 } };
  const closedMine = { status: 'closed', technician: { id: 5 } };
  const pick = (view) => [waiting, mine, theirs, closedMine].filter((c) => core.conversationMatchesView(c, view, '5'));
  assert.deepEqual(pick('waiting'), [waiting]);
  assert.deepEqual(pick('mine'), [mine]);
  assert.deepEqual(pick('all'), [waiting, mine, theirs]);
  assert.deepEqual(pick('closed'), [closedMine]);
  assert.deepEqual(pick('bogus'), []);
});

test('webSocketUrl keeps to the page origin', () => {
  assert.equal(core.webSocketUrl({ protocol: 'https:', host: 'chat.example.com' }, '/api/v1/ws'), 'wss://chat.example.com/api/v1/ws');
  assert.equal(core.webSocketUrl({ protocol: 'http:', host: '127.0.0.1:8080' }), 'ws://127.0.0.1:8080/api/v1/ws');
  assert.equal(core.webSocketUrl({ protocol: 'http:', host: 'h' }, '//evil.example/ws'), 'ws://h//evil.example/ws');
});

test('isSameOriginUrl refuses other origins', () => {
  const origin = 'https://chat.example.com';
  assert.equal(core.isSameOriginUrl('/api/v1/attachments/3', origin), true);
  assert.equal(core.isSameOriginUrl('https://chat.example.com/x', origin), true);
  assert.equal(core.isSameOriginUrl('https://evil.example/x', origin), false);
  assert.equal(core.isSameOriginUrl('//evil.example/x', origin), false);
  assert.equal(core.isSameOriginUrl('javascript:alert(1)', origin), false);
});

test('latestOwnMessageId finds the end user\'s newest message', () => {
  const list = [msg(1), msg(2, { author: { kind: 'technician', id: 1 } }), msg(3), msg(4, { author: { kind: 'technician', id: 1 } })];
  assert.equal(core.latestOwnMessageId(list, 'end_user'), 3);
  assert.equal(core.latestOwnMessageId(list, 'end_user', 8), 0);
});

test('labels and titles', () => {
  assert.equal(core.typingLabel('Bob'), 'Bob is typing\u2026');
  assert.equal(core.statusLabel({ status: 'active', technician: { name: 'Bob' } }), 'Active (Bob)');
  assert.equal(core.statusLabel({ status: 'waiting' }), 'Waiting');
  assert.equal(core.titleWithCount('Inbox', 2), '(2) Inbox');
  assert.equal(core.titleWithCount('(2) Inbox', 3), '(3) Inbox');
  assert.equal(core.titleWithCount('(3) Inbox', 0), 'Inbox');
});

/* ---------- connectLive with a fake socket and fake timers ---------- */

function fakeWorld() {
  const sockets = [];
  const timers = [];
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      sockets.push(this);
    }
    send(text) { this.sent.push(JSON.parse(text)); }
    close() { this.readyState = 3; }
    // test controls
    open() { this.readyState = 1; this.onopen && this.onopen(); }
    receive(frame) { this.onmessage && this.onmessage({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) }); }
    drop() { this.readyState = 3; this.onclose && this.onclose({ code: 1006 }); }
  }
  return {
    sockets,
    timers,
    options: {
      WebSocket: FakeSocket,
      setTimeout: (fn, ms) => { timers.push({ fn, ms }); return timers.length; },
      clearTimeout: (id) => { if (timers[id - 1]) timers[id - 1].cleared = true; },
      jitter: false,
    },
    fireTimer() {
      const t = timers.find((x) => !x.cleared && !x.fired);
      t.fired = true;
      t.fn();
      return t.ms;
    },
  };
}

test('connectLive sends the opening frames and resumes from the latest id after a drop', () => {
  const world = fakeWorld();
  let after = 10;
  const events = [];
  const live = core.connectLive(Object.assign({
    url: 'ws://h/api/v1/ws',
    onOpen(send) {
      send({ type: 'auth', access_token: 't' });
      send({ type: 'resume', after });
    },
    onEvent: (f) => events.push(f.type),
  }, world.options));

  const first = world.sockets[0];
  first.open();
  assert.deepEqual(first.sent, [{ type: 'auth', access_token: 't' }, { type: 'resume', after: 10 }]);
  first.receive({ type: 'ready' });
  first.receive('not json');
  first.receive({ type: 'message', message: msg(11) });
  after = 11;
  assert.deepEqual(events, ['ready', 'message']);

  first.drop();
  assert.equal(world.fireTimer(), 1000);
  const second = world.sockets[1];
  second.open();
  assert.deepEqual(second.sent[1], { type: 'resume', after: 11 });
  assert.equal(live.send({ type: 'typing', conversation_id: 1 }), true);
  live.stop();
  assert.equal(live.send({ type: 'typing', conversation_id: 1 }), false);
});

test('connectLive backs off while failing and resets only on ready', () => {
  const world = fakeWorld();
  core.connectLive(Object.assign({ url: 'ws://h/ws' }, world.options));
  const delays = [];
  for (let i = 0; i < 7; i += 1) {
    const s = world.sockets[world.sockets.length - 1];
    s.open(); // accepted, then dropped before "ready" (e.g. auth refused)
    s.drop();
    delays.push(world.fireTimer());
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);

  const s = world.sockets[world.sockets.length - 1];
  s.open();
  s.receive({ type: 'ready' });
  s.drop();
  assert.equal(world.fireTimer(), 1000);
});

test('connectLive.stop cancels a pending reconnect', () => {
  const world = fakeWorld();
  const live = core.connectLive(Object.assign({ url: 'ws://h/ws' }, world.options));
  world.sockets[0].drop();
  live.stop();
  assert.equal(world.timers[0].cleared, true);
  assert.equal(world.sockets.length, 1);
});

test('connectLive.reconnectNow replaces the socket at once', () => {
  const world = fakeWorld();
  const live = core.connectLive(Object.assign({ url: () => 'ws://h/ws' }, world.options));
  world.sockets[0].open();
  live.reconnectNow();
  assert.equal(world.sockets.length, 2);
  assert.equal(world.sockets[0].readyState, 3);
  // The old socket's late close must not schedule another reconnect.
  world.sockets[0].onclose();
  assert.equal(world.timers.length, 0);
});

test('ticketBadge: none, pending, then the number and status', () => {
  assert.equal(core.ticketBadge(null), null);
  assert.equal(core.ticketBadge({ ticket_id: null, pending: true }).pending, true);
  const known = core.ticketBadge({ ticket_id: 1042, summary: 'x', status: 'In Progress', pending: false });
  assert.deepEqual([known.pending, known.number, known.status], [false, '#1042', 'In Progress']);
  assert.equal(core.ticketBadge({ ticket_id: 7, status: null }).status, 'Open');
});

test('splitTickets keeps the order within open and closed', () => {
  const split = core.splitTickets([{ id: 3, closed: false }, { id: 1, closed: true }, { id: 2 }, null]);
  assert.deepEqual(split.open.map((t) => t.id), [3, 2]);
  assert.deepEqual(split.closed.map((t) => t.id), [1]);
});
