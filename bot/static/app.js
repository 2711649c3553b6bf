// The web chat: one question at a time, answers with their own language and direction, the
// conversation kept in this browser (localStorage), and errors that keep the question for a retry.
"use strict";

const log = document.getElementById("log");
const main = document.getElementById("chat");
const input = document.getElementById("text");
const select = document.getElementById("lang");
const form = document.getElementById("form");
const sendButton = document.getElementById("send");
const clearButton = document.getElementById("clear");
const personButton = document.getElementById("person");

const KEYS = {session: "tokutei-session", lang: "tokutei-lang", history: "tokutei-history", words: "tokutei-words"};
const MAX_HISTORY = 200;
const GREETING = "intent:chat.greeting";
// Until the server has given the page's words in the resident's language: easy Japanese and English.
const DEFAULT_WORDS = {
  lang: "ja", dir: "ltr",
  strings: {
    retry: "もう一度 / Retry",
    unreachable: "いま、つながりません。/ The assistant could not be reached. Your question is kept: press Retry.",
    busy: "いま、こんでいます。/ Many people are asking right now. Please try again in a moment.",
    error: "ごめんなさい。/ Sorry, something went wrong. Please try again later.",
    typing: "…",
  },
};

// localStorage may be missing (private windows, storage turned off): the chat works without it.
const store = {
  get(key, fallback) {
    try {
      const value = localStorage.getItem(key);
      if (value === null) return fallback;
      try { return JSON.parse(value); } catch { return value; }  // older pages kept plain strings
    } catch { return fallback; }
  },
  set(key, value) { try { localStorage.setItem(key, JSON.stringify(value)); } catch { /* full or off */ } },
  remove(key) { try { localStorage.removeItem(key); } catch { /* off */ } },
};

let session = String(store.get(KEYS.session, ""));
let current = store.get(KEYS.lang, "");           // the conversation's language, as the last answer said
let words = store.get(KEYS.words, null);          // the page's words in that language (GET api/ui)
if (!words || !words.html || !words.strings) words = null;
let wordsFetched = false;
let history = store.get(KEYS.history, []);
if (!Array.isArray(history)) history = [];
let busy = false;                                 // a question is on its way: nothing else is sent
let pending = null;                               // a question that failed: {body, mine, error}
let browsing = false;                             // arrow keys move through the language menu

// A label with furigana: the readings are shown, and the name a screen reader or a speech user
// knows the button by is the label itself (申し込み方, not 申もうし込こみ方かた).
function setLabel(el, html, label) {
  el.innerHTML = html;  // escaped by the server; <ruby> furigana on Japanese kanji
  for (const rt of el.querySelectorAll("rt")) rt.setAttribute("aria-hidden", "true");
  if (!el.querySelector("rt")) el.textContent = label;
}

function text(key) {
  return (words && words.strings[key]) || DEFAULT_WORDS.strings[key] || "";
}

// -- the page's own words -------------------------------------------------------------------------

function applyWords(w) {
  words = w;
  document.documentElement.lang = w.lang;  // never dir: the page stays left to right
  for (const el of document.querySelectorAll("[data-word]")) {
    setLabel(el, w.html[el.dataset.word], w.strings[el.dataset.word]);
    el.lang = w.lang;
    el.dir = w.dir;
  }
  input.placeholder = w.strings.placeholder;
  input.setAttribute("aria-label", w.strings.placeholder);
  form.setAttribute("aria-label", w.strings.placeholder);
  if (w.contact) {
    personButton.hidden = false;
    setLabel(personButton, w.contact.label_html, w.contact.label);
    personButton.lang = w.lang;
    personButton.dir = w.dir;
  } else {
    personButton.hidden = true;
  }
}

async function loadWords(lang) {
  if (wordsFetched && words && words.lang === lang) return;  // kept ones are refreshed once a visit
  try {
    const res = await fetch("api/ui?lang=" + encodeURIComponent(lang));
    if (!res.ok) return;
    const w = await res.json();
    if (w.lang !== current && current) return;  // the conversation moved on meanwhile
    store.set(KEYS.words, w);
    wordsFetched = true;
    applyWords(w);
  } catch { /* keep the words we have */ }
}

async function follow(lang) {
  current = lang;
  store.set(KEYS.lang, lang);
  document.documentElement.lang = lang;
  select.value = lang;  // set by the page: no change event
  await loadWords(lang);
}

// -- bubbles --------------------------------------------------------------------------------------

function bubble(cls) {
  const div = document.createElement("div");
  div.className = "msg " + cls;
  log.appendChild(div);
  return div;
}

function reveal(el) {
  el.scrollIntoView({block: el.offsetHeight > main.clientHeight ? "start" : "end"});
}

function showMine(message, lang) {
  const div = bubble("me");
  div.lang = lang || "";  // "": a language we do not know, rather than a wrong one
  div.dir = "auto";
  div.textContent = message;
  reveal(div);
  return div;
}

function showReply(reply) {
  const div = bubble("bot");
  div.lang = reply.lang;
  div.dir = reply.dir;
  div.dataset.kind = reply.kind;
  if (reply.intent) div.dataset.intent = reply.intent;
  for (const block of reply.blocks) {
    const part = document.createElement("div");
    part.className = "block";
    part.lang = block.lang;
    part.dir = block.dir;
    part.innerHTML = block.html;  // escaped by the server; <ruby> furigana for Japanese
    div.appendChild(part);
  }
  if (reply.links.length) {
    const links = document.createElement("div");
    links.className = "links";
    for (const link of reply.links) {
      const a = document.createElement("a");
      a.href = link.url;
      a.target = "_blank";
      a.rel = "noopener";
      const icon = document.createElement("span");
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = "🔗 ";
      const label = document.createElement("span");
      setLabel(label, link.label_html || "", link.label);
      a.append(icon, label);
      links.appendChild(a);
    }
    div.appendChild(links);
  }
  if (reply.buttons.length) {
    const row = document.createElement("div");
    row.className = "buttons";
    for (const b of reply.buttons) {
      const button = document.createElement("button");
      button.type = "button";
      button.lang = b.lang || reply.lang;
      button.dir = b.dir || reply.dir;
      button.dataset.postback = b.data;
      setLabel(button, b.label_html || "", b.label);
      button.addEventListener("click", () => press(b));
      row.appendChild(button);
    }
    div.appendChild(row);
  }
  reveal(div);
  return div;
}

function showTyping() {
  const div = bubble("bot typing");
  div.setAttribute("role", "status");
  div.lang = (words && words.lang) || "ja";
  div.dir = (words && words.dir) || "ltr";
  setLabel(div, words ? words.html.typing : "", text("typing"));
  reveal(div);
  return div;
}

function showProblem(kind, body, mine) {
  const div = bubble("error");
  div.setAttribute("role", "alert");
  div.lang = (words && words.lang) || "";
  div.dir = (words && words.dir) || "auto";
  const message = document.createElement("p");
  setLabel(message, words ? words.html[kind] : "", text(kind));
  const retry = document.createElement("button");
  retry.type = "button";
  retry.className = "retry";
  setLabel(retry, words ? words.html.retry : "", text("retry"));
  retry.addEventListener("click", retryPending);
  div.append(message, retry);
  if (mine) mine.classList.add("unsent");
  pending = {body, mine, error: div};
  if (body.text && !input.value) input.value = body.text;  // the question stays where it was typed
  reveal(div);
}

// -- asking ---------------------------------------------------------------------------------------

function setBusy(on) {
  busy = on;
  log.setAttribute("aria-busy", on ? "true" : "false");
  sendButton.disabled = on;
}

// Send one message or press; `mine` is the resident's bubble for it (none for the greeting).
async function ask(body, mine) {
  setBusy(true);
  const typing = showTyping();
  let reply = null;
  let problem = "unreachable";
  try {
    const res = await fetch("api/ask", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({...body, session}),
    });
    if (res.ok) reply = await res.json();
    else if (res.status === 429 || res.status === 503) problem = "busy";
    else if (res.status < 500) problem = "error";
  } catch { /* unreachable: the network or the server is down */ }
  typing.remove();
  if (reply) {
    session = reply.session;
    store.set(KEYS.session, session);
    if (mine) {
      if (body.text) mine.lang = reply.text_lang || "";
      remember({me: mine.textContent, lang: mine.lang});
    }
    showReply(reply);
    remember({bot: reply});
    await follow(reply.lang);  // the page's words in the answer's language, ready for the next error
  } else {
    showProblem(problem, body, mine);
  }
  setBusy(false);
}

function dropPending() {
  if (!pending) return;
  pending.error.remove();
  if (pending.mine) pending.mine.remove();  // never answered: not part of the conversation
  pending = null;
}

function retryPending() {
  if (!pending || busy) return;
  const {body, mine, error} = pending;
  pending = null;
  error.remove();
  if (mine) mine.classList.remove("unsent");
  if (body.text && input.value.trim() === body.text) input.value = "";
  ask(body, mine);
}

function press(button) {
  if (busy) return;  // one request per press: a double-click asks once
  dropPending();
  const mine = showMine(button.label, button.lang);
  ask({postback: button.data}, mine);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (busy) return;  // the answer is on its way: repeats do not stack up
  const message = input.value.trim();
  if (!message) return;
  if (pending && pending.body.text === message) {
    retryPending();
    return;
  }
  dropPending();
  input.value = "";
  ask({text: message}, showMine(message, ""));
});

personButton.addEventListener("click", () => {
  if (words && words.contact) press({label: words.contact.label, data: words.contact.data, lang: words.lang});
});

clearButton.addEventListener("click", () => {
  if (busy) return;
  pending = null;
  history = [];
  store.remove(KEYS.history);
  log.replaceChildren();
  greet();
});

// -- the language menu: changes on a choice, not on every arrow key -------------------------------

function choose(code) {
  browsing = false;
  if (!code || code === current) return;
  if (busy) {
    select.value = current;
    return;
  }
  const option = select.querySelector(`option[value="${code}"]`);
  press({label: option ? option.textContent : code, data: "lang:" + code, lang: code});
}

const BROWSE_KEYS = ["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End", "PageUp", "PageDown"];
select.addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    choose(select.value);
  } else if (event.key === "Escape") {
    browsing = false;
    if (current) select.value = current;
  } else if (event.altKey || event.key === " " || event.key === "F4") {
    browsing = false;  // the list opens: a pick there is a choice
  } else if (BROWSE_KEYS.includes(event.key) || event.key.length === 1) {
    browsing = true;  // the closed menu moves its value with each key: not a choice yet
  }
});
select.addEventListener("pointerdown", () => { browsing = false; });
select.addEventListener("change", () => { if (!browsing) choose(select.value); });
select.addEventListener("blur", () => {
  if (browsing && current) select.value = current;  // left without choosing
  browsing = false;
});

// -- start ----------------------------------------------------------------------------------------

function remember(entry) {
  history.push(entry);
  if (history.length > MAX_HISTORY) history.splice(0, history.length - MAX_HISTORY);
  store.set(KEYS.history, history);
}

function greet() {
  ask({postback: GREETING}, null);
}

async function start() {
  if (words) applyWords(words);
  try {
    const res = await fetch("api/languages");
    for (const l of await res.json()) {
      const option = document.createElement("option");
      option.value = l.code;
      option.textContent = l.name;
      option.lang = l.code;
      option.dir = l.dir;
      select.appendChild(option);
    }
  } catch { /* the menu fills on the next visit */ }
  select.value = current || "ja";
  for (const entry of history) {
    try {
      if (entry.bot) showReply(entry.bot);
      else if (typeof entry.me === "string") showMine(entry.me, entry.lang);
    } catch { /* an entry this page cannot show */ }
  }
  if (history.length) {
    if (current) await follow(current);
  } else {
    greet();
  }
}

start();
