# Sourced by .ci/run: makes headless Chromium and chromedriver available for
# the browser test (crates/parley/tests/browser.rs), starts chromedriver on a
# free loopback port, exports CHROMEDRIVER_URL and stops it when the shell
# exits. Sourced, not run: it only defines what it needs and never exits.

parley_browser_setup() {
  if [ ! -x /usr/bin/chromedriver ] || [ ! -x /usr/bin/chromium ]; then
    echo "== installing chromium and chromium-driver"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
  fi

  # A free port: ask the kernel for one, then hand it to chromedriver.
  local port
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null || true)"
  if [ -z "$port" ]; then
    port=$(( 20000 + RANDOM % 20000 ))
  fi

  PARLEY_CHROMEDRIVER_LOG="${TMPDIR:-/tmp}/parley-chromedriver-$port.log"
  /usr/bin/chromedriver --port="$port" --allowed-ips=127.0.0.1 --log-level=WARNING \
    >"$PARLEY_CHROMEDRIVER_LOG" 2>&1 &
  PARLEY_CHROMEDRIVER_PID=$!
  trap 'kill "$PARLEY_CHROMEDRIVER_PID" 2>/dev/null || true' EXIT

  # Wait until it answers (up to 10 s) so the first session does not race it.
  local i
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      export CHROMEDRIVER_URL="http://127.0.0.1:$port"
      echo "== chromedriver $(/usr/bin/chromedriver --version | awk '{print $2}') on $CHROMEDRIVER_URL"
      return 0
    fi
    if ! kill -0 "$PARLEY_CHROMEDRIVER_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "chromedriver did not start; its log ($PARLEY_CHROMEDRIVER_LOG):" >&2
  cat "$PARLEY_CHROMEDRIVER_LOG" >&2 || true
  return 1
}

parley_browser_setup
