/*
 * The Glad App widget: plain JavaScript, no build step.
 *
 *   <script src="https://DESK/widget.js"></script>
 *   GladApp.init({appId: "retale", url: "https://DESK"}).then(...)
 *   GladApp.setUser({name, email}) | ({name, phone}) | ({jwt})
 *   GladApp.clearUser()    // on logout
 *   GladApp.show() / GladApp.close()
 *   GladApp.on("message:received" | "conversation:started" | "conversation:ended" |
 *              "identity:expired" | "availability:change", fn)   // returns an unsubscribe
 *
 * Customer and agent text is only ever set as textContent, never as HTML.
 */
(function () {
  "use strict";
  if (window.GladApp && window.GladApp.__gladdesk) {
    return;
  }

  var EVENTS = [
    "message:received",
    "conversation:started",
    "conversation:ended",
    "identity:expired",
    "availability:change",
  ];
  var scriptOrigin = (function () {
    try {
      return new URL(document.currentScript.src).origin;
    } catch (e) {
      return window.location.origin;
    }
  })();
  // Bidi overrides and control characters (but tab and newline) are dropped before display.
  var UNSAFE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;
  var LINK = /https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;

  var listeners = {};
  var config = null;
  var token = null;
  var session = null;
  var ready = null;
  var source = null;
  var cursor = 0;
  var available = null;
  var shown = new Set();
  var ui = null;

  function GladError(status, errors) {
    var first = (errors && errors[0]) || {};
    this.name = "GladError";
    this.status = status;
    this.code = first.code || "http_" + status;
    this.attr = first.attr || null;
    this.detail = first.detail || "request failed";
    this.errors = errors || [];
    this.message = this.detail;
  }
  GladError.prototype = Object.create(Error.prototype);

  function emit(kind, data) {
    (listeners[kind] || []).slice().forEach(function (fn) {
      try {
        fn(data);
      } catch (err) {
        console.error("GladApp listener for " + kind + " failed", err);
      }
    });
  }

  function storageKey() {
    return "gladapp:" + config.url + ":" + config.appId;
  }

  function remember(name, value) {
    try {
      if (value === null) {
        window.sessionStorage.removeItem(storageKey() + ":" + name);
      } else {
        window.sessionStorage.setItem(storageKey() + ":" + name, value);
      }
    } catch (e) {
      /* storage disabled: the widget still works for this page */
    }
  }

  function recall(name) {
    try {
      return window.sessionStorage.getItem(storageKey() + ":" + name);
    } catch (e) {
      return null;
    }
  }

  function api(method, path, body) {
    var headers = {};
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    if (token) {
      headers.Authorization = "Bearer " + token;
    }
    return fetch(config.url + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      mode: "cors",
      cache: "no-store",
    }).then(function (response) {
      if (response.status === 204) {
        return null;
      }
      return response
        .json()
        .catch(function () {
          return null;
        })
        .then(function (data) {
          if (!response.ok) {
            throw new GladError(response.status, data && data.errors);
          }
          return data;
        });
    });
  }

  function clean(text) {
    return String(text == null ? "" : text).replace(UNSAFE, "");
  }

  // -- drawing ----------------------------------------------------------------------------

  var CSS = [
    ":host { all: initial; }",
    ".glad { font: 14px/1.4 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #1d2327; }",
    ".launcher { position: fixed; right: 24px; bottom: 24px; z-index: 2147483000; border: 0;",
    "  border-radius: 28px; padding: 14px 22px; background: #1f6f5c; color: #fff; font: inherit;",
    "  font-weight: 600; cursor: pointer; box-shadow: 0 6px 20px rgba(0,0,0,.25); }",
    ".launcher:hover { background: #185a4a; }",
    ".panel { position: fixed; right: 24px; bottom: 24px; z-index: 2147483001; width: 360px;",
    "  max-width: calc(100vw - 32px); height: 540px; max-height: calc(100vh - 48px); display: flex;",
    "  flex-direction: column; background: #fff; border-radius: 14px; overflow: hidden;",
    "  box-shadow: 0 12px 40px rgba(0,0,0,.28); }",
    ".panel[hidden], .launcher[hidden], .onboarding[hidden], .composer[hidden] { display: none; }",
    ".head { display: flex; align-items: center; gap: 8px; padding: 14px 16px; background: #1f6f5c; color: #fff; }",
    ".title { font-weight: 700; flex: 1; }",
    ".status { font-size: 12px; opacity: .9; display: flex; align-items: center; gap: 6px; }",
    ".dot { width: 8px; height: 8px; border-radius: 50%; background: #b9c4c0; }",
    ".dot.on { background: #7dffb0; }",
    ".x { border: 0; background: transparent; color: #fff; font-size: 20px; cursor: pointer; padding: 0 4px; }",
    ".log { flex: 1; overflow-y: auto; padding: 14px; background: #f5f7f6; display: flex; flex-direction: column; gap: 8px; }",
    // Words wrap whole; only a word longer than the bubble (a long URL) is broken, and a link
    // offers breaks after its / ? & = first (the <wbr> in `linkText`).
    ".msg { max-width: 82%; padding: 8px 12px; border-radius: 12px; white-space: pre-wrap; overflow-wrap: break-word; word-break: normal; }",
    ".msg .who { display: block; font-size: 11px; font-weight: 600; opacity: .7; margin-bottom: 2px; }",
    ".msg.customer { align-self: flex-end; background: #1f6f5c; color: #fff; border-bottom-right-radius: 4px; }",
    ".msg.pending { opacity: .6; }",
    ".msg.agent, .msg.bot, .msg.welcome { align-self: flex-start; background: #fff; border: 1px solid #dfe5e2; border-bottom-left-radius: 4px; }",
    ".msg a { color: #1f6f5c; font-weight: 600; }",
    ".note { align-self: center; font-size: 12px; color: #5d6a66; }",
    ".onboarding { padding: 12px 14px; border-top: 1px solid #e3e8e6; display: flex; flex-direction: column; gap: 8px; }",
    ".onboarding p { margin: 0; font-size: 13px; color: #3b4744; }",
    "input, textarea { font: inherit; padding: 8px 10px; border: 1px solid #c9d2cf; border-radius: 8px; }",
    "button.primary { border: 0; border-radius: 8px; padding: 9px 14px; background: #1f6f5c; color: #fff; font: inherit; font-weight: 600; cursor: pointer; }",
    "button.primary:disabled { opacity: .6; cursor: default; }",
    ".error { color: #a4262c; font-size: 12px; min-height: 0; }",
    ".composer { display: flex; gap: 8px; padding: 10px 12px; border-top: 1px solid #e3e8e6; }",
    ".composer textarea { flex: 1; resize: none; height: 40px; }",
  ].join("\n");

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = clean(text);
    }
    return node;
  }

  // A URL as text with a line-break opportunity after each / ? & = # (not inside a word), so
  // a long link wraps at its parts, never mid-word unless one part is wider than the bubble.
  function linkText(url) {
    var out = document.createDocumentFragment();
    url.split(/(?<=[\/?&=#])/).forEach(function (part, index) {
      if (index > 0) {
        out.appendChild(document.createElement("wbr"));
      }
      out.appendChild(document.createTextNode(part));
    });
    return out;
  }

  // Text with its http(s) links made clickable; every piece goes in as text, never HTML.
  function linkified(text) {
    var out = document.createDocumentFragment();
    var value = clean(text);
    var last = 0;
    value.replace(LINK, function (url, offset) {
      out.appendChild(document.createTextNode(value.slice(last, offset)));
      var link = document.createElement("a");
      link.href = url;
      link.appendChild(linkText(url));
      link.target = "_top";
      link.rel = "noopener noreferrer";
      out.appendChild(link);
      last = offset + url.length;
      return url;
    });
    out.appendChild(document.createTextNode(value.slice(last)));
    return out;
  }

  function buildUi() {
    if (ui) {
      return;
    }
    var host = document.createElement("div");
    host.id = "gladapp";
    var root = host.attachShadow({ mode: "open" });
    var style = document.createElement("style");
    style.textContent = CSS;
    root.appendChild(style);
    var wrap = el("div", "glad");
    root.appendChild(wrap);

    var launcher = el("button", "launcher", "Chat with us");
    launcher.type = "button";
    launcher.setAttribute("aria-label", "Open chat");
    var panel = el("section", "panel");
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", "Chat");

    var head = el("header", "head");
    var title = el("span", "title", "Chat");
    var status = el("span", "status");
    var dot = el("span", "dot");
    var statusText = el("span", "status-text", "");
    status.appendChild(dot);
    status.appendChild(statusText);
    var closeButton = el("button", "x", "\u00d7");
    closeButton.type = "button";
    closeButton.setAttribute("aria-label", "Close chat");
    head.appendChild(title);
    head.appendChild(status);
    head.appendChild(closeButton);

    var log = el("div", "log");
    log.setAttribute("aria-live", "polite");

    var form = el("form", "onboarding");
    form.hidden = true;
    form.appendChild(el("p", "", "Tell us who you are to start chatting."));
    var nameInput = el("input", "name");
    nameInput.name = "name";
    nameInput.placeholder = "Your name";
    nameInput.autocomplete = "name";
    var contactInput = el("input", "contact");
    contactInput.name = "contact";
    var formError = el("div", "error");
    var start = el("button", "primary start", "Start chat");
    start.type = "submit";
    form.appendChild(nameInput);
    form.appendChild(contactInput);
    form.appendChild(formError);
    form.appendChild(start);

    var composer = el("form", "composer");
    var input = el("textarea", "input");
    input.placeholder = "Write a message\u2026";
    input.setAttribute("aria-label", "Message");
    input.maxLength = 4000;
    var send = el("button", "primary send", "Send");
    send.type = "submit";
    composer.appendChild(input);
    composer.appendChild(send);
    var sendError = el("div", "error send-error");

    panel.appendChild(head);
    panel.appendChild(log);
    panel.appendChild(form);
    panel.appendChild(sendError);
    panel.appendChild(composer);
    wrap.appendChild(launcher);
    wrap.appendChild(panel);
    document.body.appendChild(host);

    launcher.addEventListener("click", function () {
      GladApp.show();
    });
    closeButton.addEventListener("click", function () {
      GladApp.close();
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      formError.textContent = "";
      start.disabled = true;
      var body = { name: nameInput.value };
      body[session.onboardingIdentity === "phone" ? "phone" : "email"] = contactInput.value;
      api("POST", "/widget/v1/onboarding", body)
        .then(function (view) {
          session = view;
          render();
          input.focus();
        })
        .catch(function (err) {
          formError.textContent = clean(err.detail || err.message);
        })
        .then(function () {
          start.disabled = false;
        });
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        composer.requestSubmit();
      }
    });
    composer.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = input.value;
      if (!text.trim()) {
        return;
      }
      send.disabled = true;
      sendError.textContent = "";
      // Shown at once, faded, until the server gives it its id and so its place: replies to
      // it may arrive on the event stream before this answer does.
      var pending = addMessage({ sender: "customer", body: text.trim(), pending: true });
      api("POST", "/widget/v1/messages", { body: text })
        .then(function (sent) {
          input.value = "";
          pending.remove();
          if (session && session.conversationId !== sent.conversationId) {
            // Joined a conversation (maybe one already open for this customer): redraw it.
            return reload();
          }
          addMessage({ id: sent.id, sender: "customer", body: text.trim() });
        })
        .catch(function (err) {
          pending.remove();
          sendError.textContent = clean(err.detail || err.message);
        })
        .then(function () {
          send.disabled = false;
        });
    });

    ui = {
      host: host,
      launcher: launcher,
      panel: panel,
      title: title,
      dot: dot,
      statusText: statusText,
      log: log,
      form: form,
      nameInput: nameInput,
      contactInput: contactInput,
      formError: formError,
      composer: composer,
      input: input,
      sendError: sendError,
    };
  }

  // Messages stand in the order of their server ids, whatever order they arrive in (the answer
  // to a send and the event stream race); each id is shown once. The welcome has no id and
  // comes first; a pending message (no id yet) waits at the end. Returns the bubble.
  function addMessage(message) {
    if (message.id != null && shown.has(message.id)) {
      return null;
    }
    if (message.id != null) {
      shown.add(message.id);
    }
    var sender = message.sender;
    var kind = sender === "customer" ? "customer" : sender === "bot" ? "bot" : sender === "welcome" ? "welcome" : "agent";
    var bubble = el("div", "msg " + kind + (message.pending ? " pending" : ""));
    if (sender !== "customer") {
      bubble.appendChild(el("span", "who", sender === "agent" ? "Agent" : session ? session.storeName : "Chat"));
    }
    var body = el("span", "text");
    if (sender === "customer") {
      body.textContent = clean(message.body);
    } else {
      body.appendChild(linkified(message.body));
    }
    bubble.appendChild(body);
    if (message.id != null) {
      bubble.dataset.id = String(message.id);
    }
    ui.log.insertBefore(bubble, placeFor(message));
    ui.log.scrollTop = ui.log.scrollHeight;
    return bubble;
  }

  // The node a new message goes before: the first shown message with a greater id, else the
  // first pending one, else none (the end).
  function placeFor(message) {
    if (message.id == null) {
      return null;
    }
    var children = ui.log.children;
    for (var i = 0; i < children.length; i++) {
      var other = children[i];
      var otherId = other.dataset.id;
      if ((otherId !== undefined && Number(otherId) > message.id) || other.classList.contains("pending")) {
        return other;
      }
    }
    return null;
  }

  function addNote(text) {
    ui.log.appendChild(el("div", "note", text));
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function setAvailability(value) {
    available = value;
    if (!ui) {
      return;
    }
    ui.dot.classList.toggle("on", !!value);
    ui.statusText.textContent = value ? "We're online" : "Away \u2014 leave a message";
  }

  // Redraw the conversation from the server: welcome or greeting, then the messages.
  function render(messages) {
    if (!ui || !session) {
      return;
    }
    ui.title.textContent = clean(session.storeName);
    ui.log.replaceChildren();
    shown = new Set();
    if (session.greeting) {
      addMessage({ sender: "welcome", body: session.greeting });
    } else {
      addMessage({ sender: "welcome", body: session.firstMessage });
    }
    (messages || []).forEach(addMessage);
    ui.form.hidden = !session.onboardingRequired;
    ui.composer.hidden = !!session.onboardingRequired;
    ui.contactInput.type = session.onboardingIdentity === "phone" ? "tel" : "email";
    ui.contactInput.placeholder = session.onboardingIdentity === "phone" ? "Phone (+14155550123)" : "Email";
    ui.contactInput.autocomplete = session.onboardingIdentity === "phone" ? "tel" : "email";
  }

  function reload() {
    return Promise.all([api("GET", "/widget/v1/session"), api("GET", "/widget/v1/messages")]).then(function (got) {
      session = got[0];
      cursor = Math.max(cursor, got[1].cursor);
      render(got[1].messages);
      return session;
    });
  }

  // -- the event stream -------------------------------------------------------------------

  function connect() {
    if (source) {
      source.close();
    }
    var url = config.url + "/widget/v1/events?token=" + encodeURIComponent(token) + "&after=" + cursor;
    source = new EventSource(url);
    source.addEventListener("message:received", function (event) {
      var data = JSON.parse(event.data);
      cursor = Math.max(cursor, Number(event.lastEventId) || 0);
      addMessage(data);
      emit("message:received", data);
    });
    source.addEventListener("conversation:started", function (event) {
      var data = JSON.parse(event.data);
      if (session) {
        session.conversationId = data.id;
      }
      emit("conversation:started", data);
    });
    source.addEventListener("conversation:ended", function (event) {
      var data = JSON.parse(event.data);
      addNote("This conversation was closed. Write again any time.");
      emit("conversation:ended", data);
    });
    source.addEventListener("identity:expired", function (event) {
      var data = JSON.parse(event.data);
      api("GET", "/widget/v1/session").then(function (view) {
        session = view;
      });
      emit("identity:expired", data);
    });
    source.addEventListener("availability:change", function (event) {
      var data = JSON.parse(event.data);
      setAvailability(data.available);
      emit("availability:change", data);
    });
    source.addEventListener("error", function () {
      if (source && source.readyState === EventSource.CLOSED) {
        // The server refused the stream (session ended): start over after a pause.
        source = null;
        window.setTimeout(function () {
          restart().catch(function () {});
        }, 3000);
      }
    });
  }

  function newSession() {
    token = null;
    return api("POST", "/widget/v1/sessions", { appId: config.appId }).then(function (start) {
      token = start.token;
      cursor = start.cursor;
      remember("token", token);
    });
  }

  // Keep the session this tab already has, unless it ended or its token is unknown.
  function resume() {
    if (!token) {
      return newSession();
    }
    return api("GET", "/widget/v1/session")
      .then(function (view) {
        return view.ended ? newSession() : null;
      })
      .catch(function (err) {
        if (err && (err.status === 401 || err.status === 409)) {
          return newSession();
        }
        throw err;
      });
  }

  function restart() {
    return resume().then(reload).then(connect);
  }

  function whenReady() {
    if (!ready) {
      return Promise.reject(new Error("GladApp.init({appId, url}) must be called first"));
    }
    return ready;
  }

  function publicSession() {
    return session
      ? {
          identityState: session.identityState,
          identitySource: session.identitySource,
          name: session.name,
          firstName: session.firstName,
          onboardingRequired: session.onboardingRequired,
          conversationId: session.conversationId,
        }
      : null;
  }

  var GladApp = {
    __gladdesk: true,

    init: function (options) {
      if (ready) {
        return ready;
      }
      options = options || {};
      if (typeof options.appId !== "string" || !options.appId) {
        return Promise.reject(new Error("GladApp.init: appId is required"));
      }
      config = {
        appId: options.appId,
        url: String(options.url || scriptOrigin).replace(/\/+$/, ""),
      };
      token = recall("token");
      ready = resume()
        .then(function () {
          buildUi();
          return reload();
        })
        .then(function () {
          connect();
          if (recall("open") === "1") {
            GladApp.show();
          }
          return publicSession();
        });
      ready.catch(function () {
        ready = null;
      });
      return ready;
    },

    setUser: function (user) {
      return whenReady().then(function () {
        user = user || {};
        var body = {};
        if (user.jwt !== undefined) {
          body.jwt = user.jwt;
          if (user.name !== undefined) {
            body.name = user.name;
          }
        } else {
          ["name", "email", "phone"].forEach(function (field) {
            if (user[field] !== undefined) {
              body[field] = user[field];
            }
          });
        }
        return api("PUT", "/widget/v1/user", body)
          .then(reload)
          .then(publicSession);
      });
    },

    clearUser: function () {
      return whenReady().then(function () {
        return api("DELETE", "/widget/v1/user")
          .then(reload)
          .then(publicSession);
      });
    },

    show: function () {
      if (!ui) {
        return;
      }
      ui.panel.hidden = false;
      ui.launcher.hidden = true;
      remember("open", "1");
      if (!session || !session.onboardingRequired) {
        ui.input.focus();
      }
    },

    close: function () {
      if (!ui) {
        return;
      }
      ui.panel.hidden = true;
      ui.launcher.hidden = false;
      remember("open", null);
    },

    on: function (kind, fn) {
      if (EVENTS.indexOf(kind) < 0) {
        throw new Error("GladApp.on: unknown event " + kind + " (one of " + EVENTS.join(", ") + ")");
      }
      if (typeof fn !== "function") {
        throw new Error("GladApp.on: expected a function");
      }
      (listeners[kind] = listeners[kind] || []).push(fn);
      return function () {
        listeners[kind] = (listeners[kind] || []).filter(function (other) {
          return other !== fn;
        });
      };
    },

    session: publicSession,
  };

  window.GladApp = GladApp;
})();
