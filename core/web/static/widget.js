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
  // A link runs to a space, a quote or angle bracket, or an invisible character (so none
  // hides inside the address); see `linkAt` for its end.
  var LINK = /https?:\/\/[^\s<>"'\u00AD\u200B-\u200D\u2060-\u2064\uFEFF]+/g;

  var listeners = {};
  var config = null;
  var token = null;
  var session = null;
  var ready = null;
  var source = null;
  var cursor = 0;
  var available = null;
  var shown = new Set(); // the server ids of the messages in the log
  var drawn = null; // the conversation the log shows
  var sends = 0; // messages sent from this page, numbering the pending ones
  var catching = new Set(); // one list per reload under way: the messages streamed meanwhile
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
    ".msg .text { display: block; }", // its own direction (dir=auto) and alignment
    ".msg a { color: #1f6f5c; font-weight: 600; }",
    ".msg.customer a { color: #fff; }",
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

  // A URL as text with a line-break opportunity after each / ? & = # past its `scheme://`, so
  // a long link wraps at its parts, never mid-word unless one part is wider than the bubble.
  function linkText(url) {
    var out = document.createDocumentFragment();
    var start = url.indexOf("//") + 2;
    out.appendChild(document.createTextNode(url.slice(0, start)));
    url
      .slice(start)
      .split(/(?<=[\/?&=#])/)
      .forEach(function (part, index) {
        if (index > 0) {
          out.appendChild(document.createElement("wbr"));
        }
        out.appendChild(document.createTextNode(part));
      });
    return out;
  }

  function count(text, char) {
    return text.split(char).length - 1;
  }

  // Where a matched link ends: not at a sentence's punctuation, nor at a closing bracket it
  // did not open ("(see https://x.example/a)", but "https://x.example/Foo_(bar)" whole).
  function linkAt(match) {
    var url = match;
    for (;;) {
      var last = url.charAt(url.length - 1);
      var opener = { ")": "(", "]": "[" }[last];
      if (".,;:!?'".indexOf(last) >= 0 || (opener && count(url, opener) < count(url, last))) {
        url = url.slice(0, -1);
      } else {
        return url;
      }
    }
  }

  // Text with its http(s) links made clickable; every piece goes in as text, never HTML.
  function linkified(text) {
    var out = document.createDocumentFragment();
    var value = clean(text);
    var last = 0;
    var found;
    LINK.lastIndex = 0;
    while ((found = LINK.exec(value)) !== null) {
      var url = linkAt(found[0]);
      if (url.length <= url.indexOf("//") + 2) {
        continue;
      }
      out.appendChild(document.createTextNode(value.slice(last, found.index)));
      var link = document.createElement("a");
      link.href = url;
      link.appendChild(linkText(url));
      link.target = "_top"; // the page itself: a login link keeps this tab's widget session
      link.rel = "noopener noreferrer";
      out.appendChild(link);
      last = found.index + url.length;
    }
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
      // The box empties at once, so the next message can be typed (and a second Enter sends
      // nothing twice); the message shows faded until the server answers with its id.
      input.value = "";
      sendError.textContent = "";
      var pending = addPending(text.trim());
      api("POST", "/widget/v1/messages", { body: text }).then(
        function (sent) {
          return delivered(pending, sent);
        },
        function (err) {
          pending.remove();
          input.value = input.value ? text + "\n" + input.value : text;
          sendError.textContent = clean(err.detail || err.message);
        }
      );
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

  // -- the conversation log ----------------------------------------------------------------
  //
  // The log holds the welcome (no id), then the messages in the order of their server ids
  // (`data-id`), each id once, then the messages still being sent (`.pending`, in the order
  // they were sent). The answer to a send and the event stream race: a reply can come before
  // the answer to the message it replies to, so every message goes in at the place its id
  // gives it, whatever order they arrive in. Notes ("closed") stay where they were added.

  function bubble(message) {
    var sender = message.sender;
    var kind = sender === "customer" ? "customer" : sender === "bot" ? "bot" : sender === "welcome" ? "welcome" : "agent";
    var node = el("div", "msg " + kind);
    if (sender !== "customer") {
      node.appendChild(el("span", "who", sender === "agent" ? "Agent" : session ? session.storeName : "Chat"));
    }
    var body = el("span", "text");
    body.dir = "auto"; // a right-to-left message lays out right to left, inside its bubble only
    body.appendChild(linkified(message.body));
    node.appendChild(body);
    return node;
  }

  // Keeps the log at its newest message, unless the reader has scrolled up to read.
  function follow(change, force) {
    var log = ui.log;
    var atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    change();
    if (atEnd || force) {
      log.scrollTop = log.scrollHeight;
    }
  }

  // The node a message with this id goes before: the first with a greater id; for a message
  // that was pending, also the first message sent after it that is still pending. Other
  // pending ones are passed: a reply that comes while its message is being sent stands
  // below it, as it will once that message has its id.
  function placeFor(node, id) {
    var children = ui.log.children;
    var sent = node.dataset.sent === undefined ? null : Number(node.dataset.sent);
    for (var i = 0; i < children.length; i++) {
      var other = children[i];
      if (other === node) {
        continue;
      }
      if (other.dataset.id !== undefined) {
        if (Number(other.dataset.id) > id) {
          return other;
        }
      } else if (sent !== null && other.classList.contains("pending") && Number(other.dataset.sent) > sent) {
        return other;
      }
    }
    return null;
  }

  // Puts a message bubble at the place of its id; false when that id is already shown.
  function place(node, id) {
    if (shown.has(id)) {
      return false;
    }
    shown.add(id);
    ui.log.insertBefore(node, placeFor(node, id));
    node.dataset.id = String(id);
    return true;
  }

  // A message from the server ({id, sender, body}) or the welcome (no id, first).
  function addMessage(message) {
    if (message.id == null) {
      ui.log.insertBefore(bubble(message), ui.log.firstChild);
      return;
    }
    if (!shown.has(message.id)) {
      follow(function () {
        place(bubble(message), message.id);
      });
    }
  }

  function addPending(text) {
    var node = bubble({ sender: "customer", body: text });
    node.classList.add("pending");
    node.dataset.sent = String(++sends);
    follow(function () {
      ui.log.appendChild(node);
    }, true);
    return node;
  }

  // A pending message the server took as `id`: it leaves the pending ones for its place.
  function settle(node, id) {
    node.classList.remove("pending");
    if (!place(node, id)) {
      node.remove();
    }
  }

  // The answer to a send. A message that joined a conversation other than the one drawn (a
  // verified customer's chat already open elsewhere) redraws the log with that conversation.
  function delivered(node, sent) {
    settle(node, sent.id);
    if (session) {
      session.conversationId = sent.conversationId;
    }
    if (sent.newConversation || sent.conversationId === drawn) {
      drawn = sent.conversationId;
      return null;
    }
    return reload(sent.conversationId).catch(function (err) {
      ui.sendError.textContent = clean(err.detail || err.message);
    });
  }

  function addNote(text) {
    follow(function () {
      ui.log.appendChild(el("div", "note", text));
    });
  }

  function setAvailability(value) {
    available = value;
    if (!ui) {
      return;
    }
    ui.dot.classList.toggle("on", !!value);
    ui.statusText.textContent = value ? "We're online" : "Away \u2014 leave a message";
  }

  // Redraw the conversation from the server: welcome or greeting, then `messages`; what is
  // still being sent stays at the end.
  function render(messages) {
    if (!ui || !session) {
      return;
    }
    ui.title.textContent = clean(session.storeName);
    var pending = Array.prototype.slice.call(ui.log.querySelectorAll(".pending"));
    ui.log.replaceChildren();
    shown = new Set();
    drawn = session.conversationId;
    addMessage({ sender: "welcome", body: session.greeting || session.firstMessage });
    (messages || []).forEach(addMessage);
    pending.forEach(function (node) {
      ui.log.appendChild(node);
    });
    ui.log.scrollTop = ui.log.scrollHeight;
    ui.form.hidden = !session.onboardingRequired;
    ui.composer.hidden = !!session.onboardingRequired;
    ui.contactInput.type = session.onboardingIdentity === "phone" ? "tel" : "email";
    ui.contactInput.placeholder = session.onboardingIdentity === "phone" ? "Phone (+14155550123)" : "Email";
    ui.contactInput.autocomplete = session.onboardingIdentity === "phone" ? "tel" : "email";
  }

  // Read the session and its conversation again and redraw. Messages the stream brings while
  // the read is under way may be newer than what it read: when the conversation is still
  // `keep` (the one being followed), they are drawn too, so none is lost in the redraw.
  function reload(keep) {
    var caught = [];
    catching.add(caught);
    return Promise.all([api("GET", "/widget/v1/session"), api("GET", "/widget/v1/messages")])
      .then(function (got) {
        session = got[0];
        cursor = Math.max(cursor, got[1].cursor);
        var same = keep != null && session.conversationId === keep;
        render(same ? got[1].messages.concat(caught) : got[1].messages);
        return session;
      })
      .finally(function () {
        catching.delete(caught);
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
      catching.forEach(function (caught) {
        caught.push(data);
      });
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
    return resume()
      .then(function () {
        return reload(null);
      })
      .then(connect);
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
          return reload(null);
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
        // The same person (claimed, now verified) goes on in the same conversation.
        var following = drawn;
        return api("PUT", "/widget/v1/user", body)
          .then(function () {
            return reload(following);
          })
          .then(publicSession);
      });
    },

    clearUser: function () {
      return whenReady().then(function () {
        return api("DELETE", "/widget/v1/user")
          .then(function () {
            return reload(null);
          })
          .then(publicSession);
      });
    },

    show: function () {
      if (!ui) {
        return;
      }
      ui.panel.hidden = false;
      ui.launcher.hidden = true;
      ui.log.scrollTop = ui.log.scrollHeight; // messages that came while it was closed
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
