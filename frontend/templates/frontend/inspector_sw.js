// The inspector's page opens without network: its shell comes from this cache (network first when
// online). Reports themselves never pass through here: they wait in the page's IndexedDB outbox.
"use strict";
const CACHE = "citygrid-inspector-{{ version }}";
const PAGE = "{% url 'frontend:inspector' %}";
const ASSETS = {{ assets|safe }};

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(ASSETS)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(
    keys.filter((k) => k.startsWith("citygrid-inspector-") && k !== CACHE).map((k) => caches.delete(k))
  )));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (event.request.mode === "navigate" && url.pathname === PAGE) {
    event.respondWith(fetch(event.request).then((response) => {
      const copy = response.clone();
      caches.open(CACHE).then((cache) => {
        // Signed out (sent to the login page): forget the page, it carries the user's name.
        if (response.redirected || !response.ok) return cache.delete(PAGE);
        return cache.put(PAGE, copy);
      });
      return response;
    }).catch(() => caches.match(PAGE).then((cached) => cached || Response.error())));
    return;
  }
  if (ASSETS.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname).then((cached) => cached || fetch(event.request)));
  }
});
