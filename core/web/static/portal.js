/*
 * The Retalé demo portal: what a store's own pages do to identify customers in the widget.
 *
 *   1. GladApp.init({appId, url}) on every page with the widget;
 *   2. when the store's visitor is logged in, its backend mints a User Identity JWT
 *      (here POST /demo/api/widget-token; a real site calls the desk's
 *      POST /api/v1/user-identity-jwt with its API credentials) and the page passes it on:
 *      GladApp.setUser({jwt});
 *   3. on "identity:expired" (the trust window ended), the same again with a fresh token;
 *   4. on logout: GladApp.clearUser().
 */
(function () {
  "use strict";

  function call(method, path, body) {
    return fetch(path, {
      method: method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          var first = (data && data.errors && data.errors[0]) || {};
          throw new Error(first.detail || "request failed");
        }
        return data;
      });
    });
  }

  function store() {
    var who = document.getElementById("who");
    var loginLink = document.getElementById("login-link");
    var logout = document.getElementById("logout");
    call("GET", "/demo/api/me").then(function (me) {
      who.textContent = me.loggedIn ? "Hi, " + me.name : "";
      loginLink.hidden = me.loggedIn;
      logout.hidden = !me.loggedIn;
      function identify() {
        return call("POST", "/demo/api/widget-token").then(function (minted) {
          return GladApp.setUser({ jwt: minted.jwt });
        });
      }
      return GladApp.init({ appId: "retale", url: window.location.origin }).then(function () {
        if (!me.loggedIn) {
          return null;
        }
        // Trust lapses after the app's trust window: hand the widget a fresh token, so the
        // customer stays verified without losing what they are typing.
        GladApp.on("identity:expired", function () {
          identify().catch(function (err) {
            console.error("could not renew the widget identity", err);
          });
        });
        return identify();
      });
    }).then(function () {
      document.body.dataset.widget = "ready";
    }).catch(function (err) {
      document.body.dataset.widget = "failed";
      console.error("Retalé widget setup failed", err);
    });
    logout.addEventListener("click", function () {
      GladApp.clearUser()
        .catch(function () {})
        .then(function () {
          return call("POST", "/demo/api/logout");
        })
        .then(function () {
          window.location.reload();
        });
    });
  }

  function login() {
    var list = document.getElementById("customers");
    var error = document.getElementById("error");
    call("GET", "/demo/api/customers").then(function (customers) {
      customers.forEach(function (customer) {
        var item = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        var name = document.createElement("span");
        name.className = "name";
        name.textContent = customer.name;
        var email = document.createElement("span");
        email.className = "email";
        email.textContent = customer.email;
        button.appendChild(name);
        button.appendChild(email);
        button.addEventListener("click", function () {
          call("POST", "/demo/api/login", { email: customer.email })
            .then(function () {
              window.location.href = "/demo";
            })
            .catch(function (err) {
              error.textContent = err.message;
            });
        });
        item.appendChild(button);
        list.appendChild(item);
      });
    }).catch(function (err) {
      error.textContent = err.message;
    });
  }

  var page = document.body.dataset.page;
  if (page === "store") {
    store();
  } else if (page === "login") {
    login();
  }
})();
