// babelq's web chat: one conversation per browser, kept across reloads; answers streamed in
// from GET /v1/jobs/{id}/events. Text is always set as text (never as HTML). The page holds a
// visitor session (POST /v1/sessions), never a channel key: it reaches this visitor's own
// conversations only.
"use strict";

const store = {
  get: (name) => localStorage.getItem(`babelq.${name}`),
  set: (name, value) => localStorage.setItem(`babelq.${name}`, value),
  drop: (name) => localStorage.removeItem(`babelq.${name}`),
};
const $ = (id) => document.getElementById(id);

const RENEW_EVERY_MS = 10 * 60 * 1000; // well within a session's life (an hour by default)

// This visitor's session: the kept one renewed (the same visitor), else a new visitor's, whose
// predecessor's conversation is out of reach.
async function renewSession() {
  const kept = store.get("session");
  let response = kept ? await fetch("/v1/sessions", { method: "POST", headers: { Authorization: `Bearer ${kept}` } }) : null;
  if (!response || response.status === 401) {
    store.drop("conversation");
    response = await fetch("/v1/sessions", { method: "POST" });
  }
  if (!response.ok) throw new Error(await failure(response));
  store.set("session", (await response.json()).token);
}

function headers(extra = {}) {
  const token = store.get("session");
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

function notice(text) {
  const element = $("notice");
  element.textContent = text || "";
  element.hidden = !text;
}

function meta(language, queue) {
  return [language, queue].filter(Boolean).join(" · ");
}

function bubble(role, text, details) {
  const item = document.createElement("li");
  item.className = `message ${role}`;
  const body = document.createElement("span");
  body.className = "text";
  body.dir = "auto"; // Arabic, Hebrew, … read right to left
  body.textContent = text;
  const info = document.createElement("small");
  info.className = "meta";
  info.textContent = details || "";
  item.append(body, info);
  $("messages").append(item);
  item.scrollIntoView({ block: "end" });
  return item;
}

function fill(item, text, details) {
  item.classList.remove("waiting");
  item.removeAttribute("aria-busy");
  item.querySelector(".text").textContent = text;
  item.querySelector(".meta").textContent = details;
}

async function failure(response) {
  let detail = response.statusText;
  try {
    const body = await response.json();
    detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch (_) { /* not JSON */ }
  const wait = response.headers.get("Retry-After");
  return `${response.status}: ${detail}${wait ? ` (try again in ${wait} s)` : ""}`;
}

async function loadHistory() {
  const id = store.get("conversation");
  if (!id) return;
  const response = await fetch(`/v1/conversations/${id}?limit=100`, { headers: headers() });
  if (response.status === 404) { store.drop("conversation"); return; }
  if (!response.ok) { notice(await failure(response)); return; }
  for (const turn of (await response.json()).turns) {
    bubble(turn.role, turn.text, meta(turn.language, turn.queue));
  }
}

// Server-sent events read with fetch (EventSource cannot send an API key).
async function* events(jobId) {
  const response = await fetch(`/v1/jobs/${jobId}/events`, { headers: headers({ Accept: "text/event-stream" }) });
  if (!response.ok) throw new Error(await failure(response));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    yield* blocks(reader);
  } finally {
    reader.cancel().catch(() => {}); // the caller has what it wanted: close the stream
  }
}

async function* blocks(reader) {
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let kind = "message"; const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) kind = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) yield { kind, data: JSON.parse(data.join("\n")) };
    }
  }
}

function modelName(model) {
  return model ? model.split("/").pop() : "";
}

function outcome(job) {
  if (job.status === "done") return job.answer;
  return `(no answer: ${job.status}${job.error ? `, ${job.error}` : ""})`;
}

async function awaitAnswer(jobId, item, details) {
  try {
    for await (const event of events(jobId)) {
      if (event.kind === "status") item.querySelector(".meta").textContent = `${details} · ${event.data.status}`;
      if (event.kind === "token") item.querySelector(".text").textContent = event.data.text; // the answer so far
      if (event.kind === "answer") { fill(item, outcome(event.data), meta(event.data.language, modelName(event.data.model))); return; }
    }
    fill(item, "(the answer is taking long: reload later to see it)", details);
  } catch (error) {
    fill(item, "", details);
    notice(String(error.message || error));
  }
}

function post(body) {
  return fetch("/v1/messages", {
    method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify(body),
  });
}

async function send(text) {
  const body = { text, stream: true };
  const conversation = store.get("conversation");
  if (conversation) body.conversation_id = conversation;
  let response = await post(body);
  if (response.status === 401) { // the session ran out (a laptop asleep): renew it, once
    await renewSession();
    if (!store.get("conversation")) delete body.conversation_id;
    response = await post(body);
  }
  if (!response.ok) { notice(await failure(response)); return false; }
  notice("");
  const job = await response.json();
  store.set("conversation", job.conversation_id);
  const details = meta(job.language, job.queue);
  bubble("user", text, details);
  if (job.status === "done") { bubble("assistant", job.answer, meta(job.language, modelName(job.model))); return true; }
  const waiting = bubble("assistant", "", `${details} · ${job.status}`);
  waiting.classList.add("waiting");
  waiting.setAttribute("aria-busy", "true");
  awaitAnswer(job.job_id, waiting, details);
  return true;
}

function start() {
  const form = $("composer"), input = $("text"), button = $("send");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    button.disabled = true;
    try {
      if (await send(text)) input.value = "";
    } catch (error) {
      notice(String(error.message || error));
    } finally {
      button.disabled = false;
      input.focus();
    }
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  $("new-conversation").addEventListener("click", () => {
    store.drop("conversation");
    $("messages").replaceChildren();
    input.focus();
  });
  renewSession().then(loadHistory).catch((error) => notice(String(error.message || error)));
  setInterval(() => renewSession().catch((error) => notice(String(error.message || error))), RENEW_EVERY_MS);
  input.focus();
}

document.addEventListener("DOMContentLoaded", start);
