/* libwabot dashboard (doc/dashboard.md). Polls the admin API every 2 s
 * with the admin token from sessionStorage (never in a URL); draws plain
 * SVG; writes every value with textContent (nothing from the server is
 * parsed as HTML). */
'use strict';
(function () {
  var KEY = 'wabot.dashboard.token';
  var POLL_MS = 2000;
  var WINDOW_MS = 15 * 60 * 1000;
  var SVG = 'http://www.w3.org/2000/svg';
  /* {admin prefix}: the page lives at {prefix}/dashboard */
  var base = location.pathname.replace(/\/dashboard\/?$/, '');
  var token = null;
  var timer = null;
  var hist = null; /* the last history answer, samples appended */
  var busy = false;

  function $(id) { return document.getElementById(id); }
  function text(id, v) { var e = $(id); if (e) e.textContent = v; }
  function fmt(n, digits) {
    if (n === null || n === undefined || !isFinite(n)) return '–';
    return Number(n).toLocaleString('en-US', {maximumFractionDigits: digits === undefined ? 2 : digits});
  }
  function pct(n) { return n === null || !isFinite(n) ? '–' : fmt(n * 100, 1) + ' %'; }

  /* ---- the API ---------------------------------------------------- */

  function AuthError(status) { this.status = status; }

  function api(method, path, body) {
    var opt = {method: method, cache: 'no-store', credentials: 'omit',
      headers: {'Authorization': 'Bearer ' + token, 'Accept': 'application/json'}};
    if (body !== undefined) {
      opt.headers['Content-Type'] = 'application/json';
      opt.body = JSON.stringify(body);
    }
    return fetch(base + path, opt).then(function (r) {
      if (r.status === 401 || r.status === 403) throw new AuthError(r.status);
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        return {status: r.status, data: data};
      });
    });
  }
  function unavailable(r) { return r.status === 404 || r.status === 501 || r.status === 405; }
  function errorText(r) {
    return r.data && r.data.error && r.data.error.message ? r.data.error.message : 'HTTP ' + r.status;
  }

  /* ---- signing in ------------------------------------------------- */

  function showLogin(message) {
    stop();
    token = null;
    sessionStorage.removeItem(KEY);
    $('panels').hidden = true;
    $('logout').hidden = true;
    $('login').hidden = false;
    text('login-error', message || '');
    text('status', message ? 'Not signed in: the token was refused.' : 'Not signed in.');
    $('token').value = '';
    if (message) $('token').focus();
  }

  function refused(status) {
    return status === 401 ? 'No token was sent (HTTP 401). Enter the admin token.'
      : 'The token was refused (HTTP 403): it is not one of the admin tokens configured on the server.';
  }

  function signIn(candidate) {
    token = candidate;
    text('status', 'Checking the token…');
    return api('GET', '/monitoring').then(function (r) {
      if (r.status !== 200) throw new Error(errorText(r));
      sessionStorage.setItem(KEY, candidate);
      $('token').value = '';
      text('login-error', '');
      $('login').hidden = true;
      $('panels').hidden = false;
      $('logout').hidden = false;
      hist = null;
      shown = {};
      start();
    }).catch(function (e) {
      if (e instanceof AuthError) showLogin(refused(e.status));
      else { showLogin(''); text('login-error', 'The server did not answer: ' + e.message); }
    });
  }

  function start() { stop(); tick(); timer = setInterval(tick, POLL_MS); }
  function stop() { if (timer) clearInterval(timer); timer = null; }

  /* ---- polling ---------------------------------------------------- */

  /* The failed jobs of every queue that has some: GET {prefix}/jobs for
   * the counts, then {prefix}/jobs/{queue}/failed where failed > 0. */
  function failedJobs() {
    return api('GET', '/jobs').then(function (r) {
      if (r.status !== 200 || !r.data || !r.data.queues) return r;
      var names = Object.keys(r.data.queues).filter(function (q) {
        return (r.data.queues[q].failed || 0) > 0;
      });
      return Promise.all(names.map(function (q) {
        return api('GET', '/jobs/' + encodeURIComponent(q) + '/failed?limit=50').then(function (f) {
          return listOf(f.data, 'jobs').map(function (j) { j.queue = j.queue || q; return j; });
        });
      })).then(function (lists) {
        return {status: 200, data: {jobs: [].concat.apply([], lists)}};
      });
    });
  }

  /* The campaigns (GET {prefix}/campaigns), each with its progress
   * (GET {prefix}/campaigns/{id}). */
  function campaigns() {
    return api('GET', '/campaigns?limit=20').then(function (r) {
      if (r.status !== 200) return r;
      return Promise.all(listOf(r.data, 'campaigns').slice(0, 20).map(function (c) {
        return api('GET', '/campaigns/' + encodeURIComponent(c.id)).then(function (one) {
          return one.status === 200 && one.data ? one.data : c;
        });
      })).then(function (list) { return {status: 200, data: {campaigns: list}}; });
    });
  }

  /* The soonest scheduled reminders of the default organisation: the
   * SCHEDULED index is ordered by the next run time, so the first page
   * holds every one due soon (GET {prefix}/reminders?status=SCHEDULED). */
  function reminders() {
    return api('GET', '/reminders?status=SCHEDULED&limit=100');
  }

  function tick() {
    if (busy || !token) return;
    busy = true;
    var since = hist && hist.samples.length ? hist.samples[hist.samples.length - 1].t : 0;
    Promise.all([
      api('GET', '/monitoring'),
      api('GET', '/monitoring/history' + (since ? '?since=' + since : '')),
      api('GET', '/migration'),
      failedJobs(),
      campaigns(),
      reminders()
    ]).then(function (rs) {
      if (rs[0].status === 200) showMonitoring(rs[0].data);
      if (rs[1].status === 200) addHistory(rs[1].data);
      showRollout(rs[2]);
      showFailedJobs(rs[3]);
      showCampaigns(rs[4]);
      showReminders(rs[5]);
      text('status', 'Live: updated ' + new Date().toLocaleTimeString('en-GB') + ', every 2 s.');
      document.body.setAttribute('data-updated', String(Date.now()));
    }).catch(function (e) {
      if (e instanceof AuthError) showLogin(refused(e.status));
      else text('status', 'The server did not answer (' + e.message + '); retrying.');
    }).then(function () { busy = false; });
  }

  /* ---- /monitoring: totals and queues ----------------------------- */

  var QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'];

  function showMonitoring(m) {
    text('new-total', fmt(m.new.messages, 0));
    text('old-total', fmt(m.old.messages, 0));
    text('old-errors', fmt(m.old.errors, 0));
    var body = $('queue-table').tBodies[0];
    var names = Object.keys(m.queues);
    while (body.rows.length > names.length) body.deleteRow(-1);
    names.forEach(function (name, i) {
      var row = body.rows[i] || body.insertRow(-1);
      if (!row.cells.length) {
        var th = document.createElement('th');
        th.scope = 'row';
        row.appendChild(th);
        QUEUE_STATES.forEach(function () { row.insertCell(-1); });
        row.insertCell(-1).setAttribute('data-state', 'time');
      }
      row.cells[0].textContent = name;
      row.setAttribute('data-queue', name);
      QUEUE_STATES.forEach(function (s, k) {
        row.cells[k + 1].textContent = fmt(m.queues[name][s], 0);
        row.cells[k + 1].setAttribute('data-state', s);
      });
      row.cells[QUEUE_STATES.length + 1].textContent = processing(name);
    });
  }

  /* A queue's mean job processing time over the plotted window, from
   * the history's per-queue [ms in all, jobs] (wabot_job_duration_seconds). */
  function processing(name) {
    var ss = hist ? hist.samples : [], i = hist ? hist.queues.indexOf(name) : -1;
    if (i < 0 || ss.length < 2 || !ss[0].p || !ss[ss.length - 1].p) return '–';
    var a = ss[0].p[i], b = ss[ss.length - 1].p[i], n = b[1] - a[1];
    return n > 0 ? fmt((b[0] - a[0]) / n, 1) + ' ms' : '–';
  }

  /* ---- the history: rates, percentiles, plots --------------------- */

  /* The server restarted (a counter went down): start the plots over. */
  function restarted(h) {
    if (!hist || !hist.samples.length || !h.samples.length) return false;
    var a = hist.samples[hist.samples.length - 1].c, b = h.samples[0].c;
    return b.some(function (v, i) { return v < a[i]; });
  }

  function addHistory(h) {
    if (!hist || !h.samples.length && !hist.samples.length || restarted(h)) hist = h;
    else {
      hist.breakers = h.breakers;
      hist.now = h.now;
      if (!hist.bounds.length) hist.bounds = h.bounds;
      Array.prototype.push.apply(hist.samples, h.samples);
    }
    var cut = hist.now - WINDOW_MS;
    while (hist.samples.length && hist.samples[0].t < cut) hist.samples.shift();
    drawHistory();
  }

  function ci(name) { return hist.counters.indexOf(name); }
  /* counter `name` at sample s */
  function cv(s, name) { var i = ci(name); return i < 0 ? 0 : s.c[i]; }

  /* Per step (between two samples): f(a, b, seconds) -> value or null. */
  function steps(f) {
    var out = [], ss = hist.samples;
    for (var i = 1; i < ss.length; i++) {
      var dt = (ss[i].t - ss[i - 1].t) / 1000;
      if (dt > 0) out.push([ss[i].t, f(ss[i - 1], ss[i], dt)]);
    }
    return out;
  }
  function rate(name) {
    return function (a, b, dt) { return (cv(b, name) - cv(a, name)) / dt; };
  }
  function ratio(num, den) {
    return function (a, b) {
      var d = cv(b, den) - cv(a, den);
      return d > 0 ? (cv(b, num) - cv(a, num)) / d : null;
    };
  }
  /* a's buckets of histogram `key` ('lat': turns, 'legacy': requests
   * forwarded to the legacy bot) as b's: a sample taken before the first
   * observation has only the +Inf bucket (the bounds were not known yet),
   * all zero */
  function lat(a, b, key) {
    key = key || 'lat';
    if (a[key] && a[key].length === b[key].length) return a[key];
    return b[key].map(function () { return 0; });
  }
  /* The q-quantile (seconds) of histogram `key` (default: turns) between
   * a and b, interpolated inside the bucket; null without observations. */
  function quantile(a0, b, q, key) {
    key = key || 'lat';
    if (!b[key]) return null;
    var al = lat(a0, b, key), bl = b[key];
    var n = bl.length, total = bl[n - 1] - al[n - 1];
    if (total <= 0) return null;
    var want = q * total, prevCount = 0, prevBound = 0;
    for (var i = 0; i < n; i++) {
      var c = bl[i] - al[i];
      if (c >= want) {
        if (i >= hist.bounds.length) return hist.bounds[hist.bounds.length - 1] || null;
        var inBucket = c - prevCount;
        var frac = inBucket > 0 ? (want - prevCount) / inBucket : 1;
        return prevBound + (hist.bounds[i] - prevBound) * frac;
      }
      prevCount = c;
      prevBound = hist.bounds[i];
    }
    return null;
  }
  function last(series) {
    for (var i = series.length - 1; i >= 0; i--) if (series[i][1] !== null) return series[i][1];
    return null;
  }
  /* Average of a per-step series over the last `ms` (rates). */
  function recent(series, ms) {
    var cut = hist.now - ms, sum = 0, n = 0;
    series.forEach(function (p) { if (p[0] > cut && p[1] !== null) { sum += p[1]; n++; } });
    return n ? sum / n : null;
  }
  function windowDelta(name) {
    var ss = hist.samples;
    return ss.length > 1 ? cv(ss[ss.length - 1], name) - cv(ss[0], name) : 0;
  }

  function drawHistory() {
    var ss = hist.samples;
    var newRate = steps(rate('messages.received'));
    var oldRate = steps(rate('migration.legacy'));
    var newErr = steps(ratio('messages.failed', 'messages.received'));
    var oldErr = steps(ratio('migration.legacy_errors', 'migration.legacy'));
    var p50 = steps(function (a, b) { var v = quantile(a, b, 0.5); return v === null ? null : v * 1000; });
    var p99 = steps(function (a, b) { var v = quantile(a, b, 0.99); return v === null ? null : v * 1000; });
    var lp99 = steps(function (a, b) { var v = quantile(a, b, 0.99, 'legacy'); return v === null ? null : v * 1000; });

    text('new-errors', ss.length ? fmt(cv(ss[ss.length - 1], 'messages.failed'), 0) : '–');
    text('new-rate', fmt(recent(newRate, 10000)));
    text('old-rate', fmt(recent(oldRate, 10000)));
    text('new-error-rate', pct(last(newErr)));
    text('old-error-rate', pct(last(oldErr)));
    if (ss.length > 1) {
      var a = ss[0], b = ss[ss.length - 1];
      var q50 = quantile(a, b, 0.5), q99 = quantile(a, b, 0.99);
      text('new-latency', q50 === null ? 'no turns yet'
        : fmt(q50 * 1000, 1) + ' ms / ' + fmt(q99 * 1000, 1) + ' ms');
      var l50 = quantile(a, b, 0.5, 'legacy'), l99 = quantile(a, b, 0.99, 'legacy');
      text('old-latency', l50 === null ? 'nothing forwarded'
        : fmt(l50 * 1000, 1) + ' ms / ' + fmt(l99 * 1000, 1) + ' ms');
    }
    chart('chart-rate', [{name: 'new', cls: 'new', pts: newRate}, {name: 'legacy', cls: 'old', pts: oldRate}], 'msg/s');
    chart('chart-errors', [{name: 'new', cls: 'new', pts: scale(newErr, 100)},
      {name: 'legacy', cls: 'old', pts: scale(oldErr, 100)}], '%');
    chart('chart-latency', [{name: 'p50', cls: 'new', pts: p50}, {name: 'p99', cls: 'bad', pts: p99},
      {name: 'legacy p99', cls: 'old', pts: lp99}], 'ms');

    var qi = hist.states.indexOf('waiting'), qf = hist.states.indexOf('failed');
    var waiting = ss.map(function (s) { return [s.t, s.q.reduce(function (t, q) { return t + q[qi]; }, 0)]; });
    var failed = ss.map(function (s) { return [s.t, s.q.reduce(function (t, q) { return t + q[qf]; }, 0)]; });
    chart('chart-queues', [{name: 'waiting', cls: 'new', pts: waiting}, {name: 'failed', cls: 'bad', pts: failed}], 'jobs');

    text('health-throttles', fmt(windowDelta('outbound.throttled') + windowDelta('messages.rate_limited'), 0));
    text('health-dedup', fmt(windowDelta('messages.duplicates'), 0));
    text('health-opened', fmt(windowDelta('breaker.opened'), 0));
    showBreakers(hist.breakers || []);
    histogram();
  }
  function scale(series, k) {
    return series.map(function (p) { return [p[0], p[1] === null ? null : p[1] * k]; });
  }

  /* ---- SVG -------------------------------------------------------- */

  var W = 600, H = 170, L = 44, R = 8, T = 22, B = 20;

  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(e);
    return e;
  }
  function clear(svg) {
    Array.prototype.slice.call(svg.childNodes).forEach(function (n) {
      if (n.nodeName !== 'desc') svg.removeChild(n);
    });
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  }
  function label(svg, x, y, s, anchor, cls) {
    var t = el('text', {x: x, y: y, 'text-anchor': anchor || 'start'}, svg);
    if (cls) t.setAttribute('class', cls);
    t.textContent = s;
    return t;
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  /* Lines over the last 15 minutes; a null value breaks the line. */
  function chart(id, series, unit) {
    var svg = $(id);
    clear(svg);
    var t1 = hist.now, t0 = t1 - WINDOW_MS, max = 0;
    series.forEach(function (s) { s.pts.forEach(function (p) { if (p[1] > max) max = p[1]; }); });
    max = niceMax(max);
    var x = function (t) { return L + (W - L - R) * (t - t0) / (t1 - t0); };
    var y = function (v) { return H - B - (H - T - B) * v / max; };
    el('line', {x1: L, y1: H - B, x2: W - R, y2: H - B, 'class': 'axis'}, svg);
    el('line', {x1: L, y1: T, x2: L, y2: H - B, 'class': 'axis'}, svg);
    el('line', {x1: L, y1: T, x2: W - R, y2: T, 'class': 'axis'}, svg);
    label(svg, L - 4, T + 4, fmt(max), 'end');
    label(svg, L - 4, H - B + 4, '0', 'end');
    label(svg, L, H - 4, '−15 min');
    label(svg, W - R, H - 4, 'now', 'end');
    var desc = [];
    series.forEach(function (s, k) {
      var d = '', pen = false;
      s.pts.forEach(function (p, i) {
        if (p[1] === null || p[0] < t0) { pen = false; return; }
        d += (pen ? 'L' : 'M') + x(p[0]).toFixed(1) + ' ' + y(p[1]).toFixed(1);
        var next = s.pts[i + 1];
        /* a point alone between gaps (one step with turns) shows as a dot */
        if (!pen && (!next || next[1] === null))
          el('circle', {cx: x(p[0]).toFixed(1), cy: y(p[1]).toFixed(1), r: 2.5, 'class': 'dot-' + s.cls}, svg);
        pen = true;
      });
      if (d) el('path', {d: d, 'class': 's-' + s.cls}, svg);
      var kx = L + 8 + k * 110;
      el('rect', {x: kx, y: 6, width: 12, height: 6, 'class': 'key-' + s.cls}, svg);
      label(svg, kx + 16, 13, s.name);
      var v = last(s.pts);
      desc.push(s.name + ' ' + (v === null ? 'no data' : fmt(v) + ' ' + unit));
    });
    var dsc = svg.querySelector('desc');
    if (dsc) dsc.textContent = 'Last 15 minutes; latest: ' + desc.join(', ') + '.';
  }

  function histogram() {
    var svg = $('chart-hist'), ss = hist.samples;
    clear(svg);
    if (ss.length < 2 || !hist.bounds.length) return;
    var b = ss[ss.length - 1], a = {lat: lat(ss[0], b)}, n = b.lat.length, counts = [], max = 0;
    for (var i = 0; i < n; i++) {
      var c = (b.lat[i] - a.lat[i]) - (i ? b.lat[i - 1] - a.lat[i - 1] : 0);
      counts.push(c);
      if (c > max) max = c;
    }
    max = niceMax(max);
    var bw = (W - L - R) / n;
    el('line', {x1: L, y1: H - B, x2: W - R, y2: H - B, 'class': 'axis'}, svg);
    label(svg, L - 4, T + 4, fmt(max, 0), 'end');
    label(svg, L - 4, H - B + 4, '0', 'end');
    var parts = [];
    counts.forEach(function (c, i) {
      var h = (H - T - B) * c / max;
      el('rect', {x: (L + i * bw + 1).toFixed(1), y: (H - B - h).toFixed(1),
        width: Math.max(bw - 2, 1).toFixed(1), height: h.toFixed(1), 'class': 'bar'}, svg);
      var name = i < hist.bounds.length ? '≤' + fmt(hist.bounds[i] * 1000, 1) + ' ms' : 'more';
      if (i % 2 === 0 || i === n - 1) label(svg, L + i * bw + bw / 2, H - 6, name.replace(' ms', ''), 'middle');
      if (c > 0) parts.push(name + ': ' + c);
    });
    svg.querySelector('desc').textContent = 'Turns by latency bucket (ms): ' + (parts.join(', ') || 'none') + '.';
  }

  /* ---- panels from other routes ----------------------------------- */

  function showBreakers(list) {
    var box = $('breakers');
    if (!changed('breakers', {status: 200, data: list})) return;
    if (!list.length) { say(box, 'No breaker has changed state (all closed).'); return; }
    box.textContent = '';
    var ul = document.createElement('ul');
    var names = ['closed', 'open', 'half-open'];
    list.forEach(function (b) {
      var li = document.createElement('li');
      li.textContent = (b.transport || '?') + (b.organization ? ' (' + b.organization + ')' : '') + ': ';
      var s = document.createElement('strong');
      s.className = 'state-' + b.state;
      s.textContent = names[b.state] || String(b.state);
      li.appendChild(s);
      ul.appendChild(li);
    });
    box.appendChild(ul);
  }

  function showRollout(r) {
    if (unavailable(r)) { text('rollout-percent', 'not available'); return; }
    if (r.status !== 200 || !r.data) return;
    var m = r.data;
    text('rollout-percent', m.percent + ' %');
    text('rollout-switch', m.use_new_bot ? 'on (new system enabled)' : 'off (everyone on the legacy bot)');
    text('rollout-allow', m.allow && m.allow.length ? m.allow.join(', ') : 'none');
    text('rollout-deny', m.deny && m.deny.length ? m.deny.join(', ') : 'none');
    if (m.decisions) text('rollout-decisions', fmt(m.decisions.new, 0) + ' / ' + fmt(m.decisions.legacy, 0));
    $('rollout').setAttribute('data-percent', String(m.percent));
    var input = $('percent');
    if (document.activeElement !== input && !input.dataset.dirty) input.value = m.percent;
  }

  function setPercent(p) {
    text('rollout-msg', 'Applying ' + p + ' %…');
    return api('PUT', '/migration', {percent: p}).then(function (r) {
      if (r.status === 200) {
        $('percent').dataset.dirty = '';
        text('rollout-msg', 'The new share is ' + p + ' %: it applies to the next message.');
        showRollout(r);
      } else {
        text('rollout-msg', 'Not changed: ' + errorText(r));
      }
    }).catch(function (e) {
      if (e instanceof AuthError) showLogin(refused(e.status));
      else text('rollout-msg', 'Not changed: ' + e.message);
    });
  }

  /* Replace box's content with one paragraph. */
  function say(box, message, cls) {
    box.textContent = '';
    var p = document.createElement('p');
    if (cls) p.className = cls;
    p.textContent = message;
    box.appendChild(p);
  }
  function notAvailable(box, what) { say(box, what + ': not available on this server.', 'na'); }
  function listOf(d, key) {
    if (Array.isArray(d)) return d;
    if (d && Array.isArray(d[key])) return d[key];
    if (d && Array.isArray(d.items)) return d.items;
    return [];
  }
  function button(label, cls, fn) {
    var b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    if (cls) b.className = cls;
    b.addEventListener('click', fn);
    return b;
  }
  function action(method, path, box) {
    return api(method, path).then(function (r) {
      if (r.status >= 300) text(box, 'Failed: ' + errorText(r));
      else { text(box, 'Done.'); tick(); }
    }).catch(function (e) { text(box, 'Failed: ' + e.message); });
  }

  /* Rebuild a list only when its data changed: a rebuild every 2 s would
   * take the keyboard focus off its buttons. */
  var shown = {};
  function changed(key, r) {
    var v = r.status + ' ' + JSON.stringify(r.data);
    if (shown[key] === v) return false;
    shown[key] = v;
    return true;
  }

  function showFailedJobs(r) {
    var box = $('failed-jobs');
    if (!changed('jobs', r)) return;
    if (unavailable(r)) { notAvailable(box, 'The jobs API'); return; }
    if (r.status !== 200) return;
    var jobs = listOf(r.data, 'jobs');
    if (!jobs.length) { say(box, 'No failed jobs.'); return; }
    box.textContent = '';
    var ul = document.createElement('ul');
    ul.className = 'jobs';
    jobs.slice(0, 50).forEach(function (j) {
      var li = document.createElement('li');
      var q = j.queue || '', id = j.id || j.jobId || '';
      li.textContent = q + ' #' + id + ' (' + (j.attempts || 0) + ' attempts): ' +
        (j.error || j.lastError || j.last_error || 'no error recorded') + ' ';
      li.appendChild(button('Retry', 'secondary', function () {
        action('POST', '/jobs/' + encodeURIComponent(q) + '/' + encodeURIComponent(id) + '/retry', 'queues-msg');
      }));
      ul.appendChild(li);
    });
    box.appendChild(ul);
  }

  var CAMPAIGN_PARTS = ['queued', 'sent', 'delivered', 'read', 'failed', 'skipped'];
  /* A progress count; "skipped" comes by reason ({opted_out: n, ...}). */
  function part(v) {
    if (v && typeof v === 'object')
      return Object.keys(v).reduce(function (t, k) { return t + (Number(v[k]) || 0); }, 0);
    return Number(v) || 0;
  }

  /* Messages per second a campaign sent between the two latest polls
   * that saw its count change (kept per campaign). */
  var sentSeen = {};
  function campaignRate(id, sent) {
    var now = Date.now(), was = sentSeen[id];
    if (!was || sent < was.sent) { sentSeen[id] = {sent: sent, t: now, rate: null}; return '–'; }
    if (sent > was.sent) sentSeen[id] = {sent: sent, t: now, rate: (sent - was.sent) * 1000 / Math.max(1, now - was.t)};
    var r = sentSeen[id].rate;
    return r === null ? '–' : fmt(r, 1) + ' msg/s';
  }
  /* The campaign's own estimate (eta_ms: -1 unknown, 0 done). */
  function eta(ms, status) {
    ms = Number(ms);
    if (status === 'COMPLETED' || ms === 0) return 'done';
    if (status === 'PAUSED') return 'paused';
    if (!(ms > 0)) return '–';
    var s = Math.round(ms / 1000);
    return s < 60 ? s + ' s' : Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  }

  function showCampaigns(r) {
    var box = $('campaign-list');
    if (!changed('campaigns', r)) return;
    if (unavailable(r)) { notAvailable(box, 'The campaigns API'); return; }
    if (r.status !== 200) return;
    var list = listOf(r.data, 'campaigns');
    if (!list.length) { say(box, 'No campaigns.'); return; }
    box.textContent = '';
    list.slice(0, 20).forEach(function (c) {
      var div = document.createElement('div');
      div.className = 'campaign';
      var pr = c.progress || c;
      var total = part(pr.total) || CAMPAIGN_PARTS.reduce(function (t, k) { return t + part(pr[k]); }, 0);
      var done = total - part(pr.queued);
      var h = document.createElement('h3');
      h.textContent = (c.name || c.id) + ' — ' + (c.status || '');
      div.appendChild(h);
      var bar = document.createElement('progress');
      bar.max = total || 1;
      bar.value = done;
      bar.setAttribute('aria-label', 'Progress of ' + (c.name || c.id));
      div.appendChild(bar);
      var p2 = document.createElement('p');
      p2.textContent = CAMPAIGN_PARTS.map(function (k) { return k + ' ' + fmt(part(pr[k]), 0); }).join(' · ');
      div.appendChild(p2);
      var p3 = document.createElement('p');
      p3.className = 'campaign-pace';
      p3.textContent = 'rate ' + campaignRate(c.id, part(pr.sent)) + ' · ETA ' + eta(pr.eta_ms, c.status);
      div.appendChild(p3);
      var id = encodeURIComponent(c.id);
      ['pause', 'resume', 'cancel'].forEach(function (verb) {
        div.appendChild(button(verb[0].toUpperCase() + verb.slice(1), verb === 'cancel' ? 'danger' : 'secondary',
          function () { action('POST', '/campaigns/' + id + '/' + verb, 'campaigns-msg'); }));
      });
      box.appendChild(div);
    });
  }

  var HOUR_MS = 3600000;

  /* The reminders whose next run is within the hour (or overdue), as a
   * table; redrawn when the list or the minute changes. */
  function showReminders(r) {
    var box = $('reminder-list'), now = Date.now();
    if (!changed('reminders', {status: r.status, data: [r.data, Math.floor(now / 60000)]})) return;
    if (unavailable(r)) { notAvailable(box, 'The reminders API'); return; }
    if (r.status !== 200) return;
    var soon = listOf(r.data, 'reminders').filter(function (x) {
      return Number(x.nextRunMs) > 0 && Number(x.nextRunMs) <= now + HOUR_MS;
    });
    if (!soon.length) { say(box, 'No reminders due in the next hour.'); return; }
    box.textContent = '';
    var table = document.createElement('table');
    table.id = 'reminder-table';
    var cap = document.createElement('caption');
    cap.textContent = soon.length + ' due by ' + new Date(now + HOUR_MS).toLocaleTimeString('en-GB');
    table.appendChild(cap);
    var head = table.createTHead().insertRow();
    ['Due', 'Customer', 'Type', 'Message'].forEach(function (h) {
      var th = document.createElement('th');
      th.scope = 'col';
      th.textContent = h;
      head.appendChild(th);
    });
    var body = table.createTBody();
    soon.forEach(function (x) {
      var row = body.insertRow();
      row.setAttribute('data-reminder', x.id || '');
      var msg = String(x.message || '');
      [new Date(Number(x.nextRunMs)).toLocaleTimeString('en-GB'), x.customerPhone || x.customerId || '',
        x.type || '', msg.length > 60 ? msg.slice(0, 59) + '…' : msg].forEach(function (v) {
        row.insertCell().textContent = v;
      });
    });
    var wrap = document.createElement('div');
    wrap.className = 'scroll';
    wrap.tabIndex = 0;
    wrap.setAttribute('role', 'region');
    wrap.setAttribute('aria-label', 'Reminders table');
    wrap.appendChild(table);
    box.appendChild(wrap);
  }

  /* ---- wiring ----------------------------------------------------- */

  document.addEventListener('DOMContentLoaded', function () {
    $('login-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var t = $('token').value.trim();
      if (t) signIn(t);
    });
    $('logout').addEventListener('click', function () { showLogin(''); });
    $('percent').addEventListener('input', function () { this.dataset.dirty = '1'; });
    $('percent-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var p = parseInt($('percent').value, 10);
      if (p >= 0 && p <= 100) setPercent(p);
      else text('rollout-msg', 'The share must be a whole number from 0 to 100.');
    });
    $('rollback').addEventListener('click', function () {
      $('rollback-confirm').hidden = false;
      $('rollback-no').focus();
    });
    $('rollback-no').addEventListener('click', function () {
      $('rollback-confirm').hidden = true;
      $('rollback').focus();
    });
    $('rollback-confirm').addEventListener('keydown', function (ev) {
      if (ev.key === 'Escape') $('rollback-no').click();
    });
    $('rollback-yes').addEventListener('click', function () {
      $('rollback-confirm').hidden = true;
      setPercent(0);
      $('rollback').focus();
    });
    var saved = sessionStorage.getItem(KEY);
    if (saved) signIn(saved);
  });
})();
