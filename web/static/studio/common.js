/* Shared by the studio and the cockpit pages: CSRF-aware fetch and diagram highlighting. */
(function () {
  'use strict';

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') : '';
  }

  /** JSON request to our own server; resolves to {ok, status, body}. */
  function api(method, url, body) {
    var options = { method: method, headers: { 'Accept': 'application/json', 'X-CSRF-Token': csrfToken() },
                    credentials: 'same-origin' };
    if (body !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = { detail: text }; }
        return { ok: response.ok, status: response.status, body: parsed };
      });
    });
  }

  /** Mark the elements of one token map (see engine/inspection.py) on a bpmn-js viewer. */
  function highlight(viewer, tokens) {
    var canvas = viewer.get('canvas');
    var registry = viewer.get('elementRegistry');
    var overlays = viewer.get('overlays');
    function mark(ids, css) {
      (ids || []).forEach(function (id) {
        if (registry.get(id)) { canvas.addMarker(id, css); }
      });
    }
    mark(tokens.completed, 'hl-done');
    mark(tokens.flows, 'hl-flow');
    mark(tokens.current, 'hl-current');
    mark(tokens.failed, 'hl-failed');
    (tokens.current || []).forEach(function (id) {
      if (registry.get(id)) {
        overlays.add(id, 'token', { position: { top: -10, right: 10 }, html: '<span class="token-badge">●</span>' });
      }
    });
  }

  function clearHighlight(viewer) {
    var canvas = viewer.get('canvas');
    viewer.get('elementRegistry').getAll().forEach(function (el) {
      ['hl-done', 'hl-flow', 'hl-current', 'hl-failed'].forEach(function (css) { canvas.removeMarker(el.id, css); });
    });
    viewer.get('overlays').remove({ type: 'token' });
  }

  var texts = null;
  /** The interface text `key` in the page's language (templates/studio/_texts.html), with {name} values. */
  function t(key, values, fallback) {
    if (texts === null) {
      var node = document.getElementById('ui-text');
      texts = node ? JSON.parse(node.textContent) : {};
    }
    var text = Object.prototype.hasOwnProperty.call(texts, key) ? texts[key] : (fallback !== undefined ? fallback : key);
    if (typeof text !== 'string') { return text; }
    return text.replace(/\{(\w+)\}/g, function (all, name) {
      return values && values[name] !== undefined ? String(values[name]) : all;
    });
  }

  window.idiflow = { api: api, csrfToken: csrfToken, highlight: highlight, clearHighlight: clearHighlight, t: t };
})();
