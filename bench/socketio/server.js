// Reference chat server for the Parley benchmark (bench/README.md).
//
// It is socket.io 4.8 run the way a chat backend commonly is: one Node
// process, one room per conversation, a room for technicians, and messages
// posted over HTTP fanned out to those rooms. There is deliberately no
// persistence and no authentication beyond the room a client asks for, so the
// comparison with Parley measures the delivery path and nothing more.
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const HOST = "127.0.0.1";
const MAX_REQUEST_BYTES = 64 * 1024;
const MAX_BODY_CHARS = 10_000;

let nextMessageId = 1;

function sendJson(res, status, value) {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

// Reads the whole request body, or calls back with null once it passes the
// limit (the rest is not buffered, so a huge body costs nothing).
function readBody(req, callback) {
  const declared = Number(req.headers["content-length"]);
  if (declared > MAX_REQUEST_BYTES) {
    callback(null);
    return;
  }
  const chunks = [];
  let size = 0;
  let done = false;
  req.on("data", (chunk) => {
    if (done) return;
    size += chunk.length;
    if (size > MAX_REQUEST_BYTES) {
      done = true;
      callback(null);
      return;
    }
    chunks.push(chunk);
  });
  req.on("end", () => {
    if (done) return;
    done = true;
    callback(Buffer.concat(chunks).toString("utf8"));
  });
}

// A positive integer that survives the round trip through JSON unchanged.
function conversationIdFrom(value) {
  return Number.isSafeInteger(value) && value > 0 ? value : null;
}

function postMessage(req, res, rawId) {
  const id = /^[0-9]+$/.test(rawId) ? conversationIdFrom(Number(rawId)) : null;
  if (id === null) {
    // Drain so keep-alive connections stay usable for the next request.
    req.resume();
    sendJson(res, 400, { error: "the conversation id must be a positive integer" });
    return;
  }
  readBody(req, (text) => {
    if (text === null) {
      // Close rather than drain: the client may still be sending megabytes.
      res.setHeader("connection", "close");
      sendJson(res, 413, { error: `the request body is over ${MAX_REQUEST_BYTES} bytes` });
      return;
    }
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      sendJson(res, 400, { error: "the request body is not JSON" });
      return;
    }
    const body = parsed !== null && typeof parsed === "object" ? parsed.body : undefined;
    if (typeof body !== "string" || body.trim() === "") {
      sendJson(res, 400, { error: "body must be a non-empty string" });
      return;
    }
    // Count code points, as Parley does, not UTF-16 units.
    if ([...body].length > MAX_BODY_CHARS) {
      sendJson(res, 400, { error: `body is over ${MAX_BODY_CHARS} characters` });
      return;
    }
    const message = {
      id: nextMessageId++,
      conversation_id: id,
      body,
      at: new Date().toISOString(),
    };
    // One emit to both rooms: the adapter sends once per socket, so a
    // technician who also joined the conversation is not sent it twice.
    io.to([`conversation:${id}`, "technicians"]).emit("message", message);
    sendJson(res, 201, message);
  });
}

// socket.io answers /socket.io/ itself; everything else reaches this handler.
const server = http.createServer((req, res) => {
  const { pathname } = new URL(req.url, "http://localhost");
  if (req.method === "GET" && pathname === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain", "content-length": 2 });
    res.end("ok");
    return;
  }
  const route = /^\/conversations\/([^/]+)\/messages$/.exec(pathname);
  if (req.method === "POST" && route) {
    postMessage(req, res, route[1]);
    return;
  }
  req.resume();
  sendJson(res, 404, { error: "not found" });
});

// Defaults otherwise (polling and WebSocket both allowed, no connection state
// recovery); deflate is off by default too and is spelled out because it
// changes the cost of every frame.
const io = new Server(server, { perMessageDeflate: false });

// The CONNECT packet's auth payload chooses the rooms. Rejecting here makes
// socket.io answer with a CONNECT_ERROR packet (44{"message":...}).
io.use((socket, next) => {
  const auth = socket.handshake.auth || {};
  const conversation = conversationIdFrom(auth.conversation);
  if (conversation !== null) {
    socket.data.room = `conversation:${conversation}`;
    next();
  } else if (auth.role === "technician") {
    socket.data.room = "technicians";
    next();
  } else {
    next(new Error('auth must be {"conversation": <positive integer>} or {"role": "technician"}'));
  }
});

io.on("connection", (socket) => {
  socket.join(socket.data.room);
});

const port = process.env.PORT === undefined || process.env.PORT === "" ? 3000 : Number(process.env.PORT);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be an integer from 0 to 65535, not ${JSON.stringify(process.env.PORT)}`);
  process.exit(2);
}

server.listen(port, HOST, () => {
  // A script waits for this line to learn the port (PORT=0 picks a free one).
  console.log(`listening on ${server.address().port}`);
});

function shutDown() {
  // Don't let a client that never says goodbye keep the process up.
  setTimeout(() => process.exit(0), 2000).unref();
  io.close(() => process.exit(0));
}
process.on("SIGTERM", shutDown);
process.on("SIGINT", shutDown);
