// The OCR Service page: one file, no framework, no build step. It speaks the public API only
// (GET /v1/models, POST /v1/ocr) and renders what comes back: the page with every polygon, the
// lines in reading order, timings, quality warnings; PDFs page by page.
"use strict";

const KEY_STORE = "ocr-api-key"; // sessionStorage: gone when the tab closes
const MAX_RETRIES = 3; // OVERLOADED / NOT_READY: retried after Retry-After, this many times
const FORMATS = {
  json: { ext: "json", type: "application/json" },
  text: { ext: "txt", type: "text/plain" },
  hocr: { ext: "hocr.html", type: "text/html" },
  alto: { ext: "alto.xml", type: "application/xml" },
  pdf: { ext: "pdf", type: "application/pdf" },
};
// One sentence per API error code (README, "Errors"); the server's own message follows it.
const MESSAGES = {
  PAYLOAD_TOO_LARGE: "The file is too large for this server.",
  IMAGE_TOO_LARGE: "The image has too many pixels (or too long a side) for this server.",
  TOO_MANY_PAGES: "The PDF has more pages than this server reads at once: choose fewer pages.",
  TOO_MANY_IMAGES: "Too many files at once: send one.",
  UNSUPPORTED_MEDIA_TYPE: "This kind of file cannot be read: send a JPEG, PNG, WebP, BMP, TIFF, GIF or PDF.",
  INVALID_IMAGE: "The file could not be decoded: it may be corrupt, truncated or not an image.",
  INVALID_PDF: "The PDF could not be read: it may be corrupt, truncated or encrypted.",
  PDF_ENCRYPTED: "The PDF is password-protected: remove the password and send it again.",
  JOB_NOT_FOUND: "No such job: it may never have existed, or its results were deleted.",
  JOB_EXPIRED: "The job's results were kept for a limited time and have expired: submit it again.",
  JOB_NOT_FINISHED: "The job has not finished yet: its result is not ready.",
  IDEMPOTENCY_KEY_REUSED: "That Idempotency-Key was already used with another request.",
  INVALID_REQUEST: "The server refused the request's options.",
  UNKNOWN_MODEL_SET: "That model set is not served here: pick another.",
  IMAGE_QUALITY_POOR: "The image is too poor to read reliably (untick “strict” to see what was read anyway).",
  UNAUTHENTICATED: "This server needs an API key: enter it under “API key”.",
  FORBIDDEN: "The API key was not accepted: check it under “API key”.",
  REQUEST_TIMEOUT: "The upload stalled and the server gave up: try again.",
  OVERLOADED: "The server is busy.",
  NOT_READY: "The server is still loading its models.",
  TIMEOUT: "The server took too long to read this file: try a smaller one.",
  MODEL_ERROR: "The server's models failed: tell its operator.",
  INTERNAL: "The server failed unexpectedly: tell its operator.",
};
const RETRIED = new Set(["OVERLOADED", "NOT_READY"]);
const WORTH_RETRYING = new Set([...RETRIED, "TIMEOUT", "REQUEST_TIMEOUT", "NETWORK", "HTTP_503", "INTERNAL"]);

const $ = (id) => document.getElementById(id);
const state = { file: null, doc: null, page: 0, imageUrl: null, retryTimer: null };

class ApiError extends Error {
  constructor(status, code, message, requestId, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }
}

// ---- talking to the API -------------------------------------------------------------------

function authHeaders() {
  const key = sessionStorage.getItem(KEY_STORE);
  return key ? { Authorization: "Bearer " + key } : {};
}

async function call(path, init) {
  let resp;
  try {
    resp = await fetch(path, { ...init, headers: { ...authHeaders(), ...(init && init.headers) } });
  } catch (err) {
    throw new ApiError(0, "NETWORK", "Could not reach the server: " + err.message, "", 0);
  }
  if (!resp.ok) throw await errorOf(resp);
  return resp;
}

async function errorOf(resp) {
  const retry = parseInt(resp.headers.get("Retry-After") || "0", 10) || 0;
  let body = null;
  try {
    body = await resp.json();
  } catch (_) {
    /* not JSON: uvicorn's own 400/503 are plain text */
  }
  const err = body && body.error;
  if (err && err.code) return new ApiError(resp.status, err.code, err.message, err.request_id, retry);
  return new ApiError(resp.status, "HTTP_" + resp.status, resp.statusText || "error", "", retry);
}

function options(format) {
  const opts = { use_cls: $("use-cls").checked };
  if ($("model-set").value) opts.model_set = $("model-set").value;
  if ($("decoder").value) opts.decoder = $("decoder").value;
  if ($("receipt").checked) opts.fields = "receipt";
  if ($("strict").checked) opts.quality = "strict";
  if (format && format !== "json") opts.format = format;
  return opts;
}

function ocrRequest(file, format) {
  const form = new FormData();
  form.append("file", file, file.name || "pasted");
  form.append("options", JSON.stringify(options(format)));
  return call("/v1/ocr", { method: "POST", body: form });
}

async function loadModels() {
  const select = $("model-set");
  try {
    const doc = await (await call("/v1/models")).json();
    select.replaceChildren(
      ...doc.model_sets.map((m) => {
        const opt = new Option(m.loaded ? m.name : m.name + " (not served)", m.name);
        opt.disabled = !m.loaded;
        opt.selected = m.default;
        return opt;
      })
    );
  } catch (err) {
    showError(err, loadModels);
  }
}

// ---- reading a file -----------------------------------------------------------------------

function choose(file) {
  if (!file) return;
  state.file = file;
  state.doc = null;
  $("result").hidden = true; // never one file's result under another's name
  $("chosen").textContent = `${file.name || "pasted image"} · ${formatBytes(file.size)}`;
  $("read").disabled = false;
  read(0);
}

async function read(attempt) {
  if (!state.file) return;
  clearError();
  $("read").disabled = true;
  setStatus(attempt ? `Retrying (${attempt}/${MAX_RETRIES})…` : "Reading…");
  try {
    const doc = await (await ocrRequest(state.file)).json();
    show(doc);
    setStatus(`Read ${countLines(doc)} lines.`);
  } catch (err) {
    setStatus("");
    showError(err, () => read(attempt + 1), attempt);
  } finally {
    $("read").disabled = false;
  }
}

function pagesOf(doc) {
  return doc.pages || [doc];
}

function countLines(doc) {
  return pagesOf(doc).reduce((n, p) => n + p.lines.length, 0);
}

function isPdf(file) {
  return file.type === "application/pdf" || /\.pdf$/i.test(file.name || "");
}

// ---- showing a result ---------------------------------------------------------------------

function show(doc) {
  state.doc = doc;
  if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
  state.imageUrl = isPdf(state.file) ? null : URL.createObjectURL(state.file);
  $("result").hidden = false;
  showPage(0);
}

function showPage(index) {
  const pages = pagesOf(state.doc);
  state.page = Math.max(0, Math.min(index, pages.length - 1));
  const page = pages[state.page];
  $("pager").hidden = pages.length < 2 && !state.doc.pages;
  $("page-of").textContent = `Page ${page.page || state.page + 1} of ${pages.length}`;
  $("prev").disabled = state.page === 0;
  $("next").disabled = state.page === pages.length - 1;
  $("meta").replaceChildren(...metaOf(state.doc, page));
  showWarnings(page);
  drawPage(page);
  listLines(page);
  listFields(state.doc.pages ? null : state.doc.fields);
}

function metaOf(doc, page) {
  const t = doc.timings_ms || {};
  const parts = ["det", "cls", "rec"].filter((k) => k in t).map((k) => `${k} ${ms(t[k])}`);
  const cached = el("span", "badge" + (doc.cached ? " yes" : ""), doc.cached ? "cached" : "not cached");
  cached.id = "cached";
  const q = page.quality || {};
  const quality =
    q.sharpness == null
      ? "no text found"
      : `sharpness ${Math.round(q.sharpness)} · contrast ${q.contrast.toFixed(2)} · text ${Math.round(q.text_height_px)} px`;
  const timing = el("span", "", `${doc.model_set} · ${ms(t.total)} (${parts.join(", ")}) · `);
  timing.id = "timings";
  const layer = page.text_layer ? " · this page had a text layer" : "";
  return [timing, cached, document.createTextNode(" · " + quality + layer)];
}

function showWarnings(page) {
  const box = $("warnings");
  const warnings = page.warnings || [];
  box.replaceChildren(...warnings.map((w) => el("p", "", `Poor image (${w.reasons.join(", ")}): ${w.hint}.`)));
  box.hidden = warnings.length === 0;
}

function confidence(score) {
  return score >= 0.9 ? "c-high" : score >= 0.7 ? "c-mid" : "c-low";
}

function drawPage(page) {
  const { width, height } = page.image;
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  svg.setAttribute("aria-label", `Page ${state.page + 1}: ${page.lines.length} text regions`);
  const stage = $("stage");
  if (state.imageUrl) {
    const img = new Image();
    img.src = state.imageUrl;
    img.alt = "The uploaded image";
    svg.classList.add("overlay");
    svg.setAttribute("preserveAspectRatio", "none");
    stage.replaceChildren(img, svg);
    $("page-note").textContent = "";
  } else {
    svg.classList.add("sheet");
    stage.replaceChildren(svg);
    $("page-note").textContent = "PDF page redrawn from what was read: each line's text in its box.";
  }
  page.lines.forEach((line, i) => {
    const points = line.polygon.map((p) => p.join(",")).join(" ");
    const poly = svgEl("polygon", { points, class: "box " + confidence(line.score) });
    poly.dataset.index = i;
    poly.appendChild(svgEl("title", {})).textContent = `${line.text} (${pct(line.score)})`;
    hoverPair(poly, i);
    if (!state.imageUrl) svg.appendChild(sheetText(line));
    svg.appendChild(poly);
  });
}

function sheetText(line) {
  const xs = line.polygon.map((p) => p[0]);
  const ys = line.polygon.map((p) => p[1]);
  const h = Math.max(...ys) - Math.min(...ys);
  const text = svgEl("text", {
    x: Math.min(...xs),
    y: Math.max(...ys) - h * 0.25,
    "font-size": h * 0.7,
    textLength: Math.max(...xs) - Math.min(...xs),
    lengthAdjust: "spacingAndGlyphs",
  });
  text.textContent = line.text;
  return text;
}

function listLines(page) {
  const list = $("lines");
  if (!page.lines.length) {
    list.replaceChildren(el("li", "empty", "No text found on this page."));
    return;
  }
  list.replaceChildren(
    ...page.lines.map((line, i) => {
      const li = el("li", "line " + confidence(line.score), line.text);
      li.tabIndex = 0;
      li.dataset.index = i;
      li.appendChild(el("span", "score", pct(line.score)));
      hoverPair(li, i);
      return li;
    })
  );
}

function listFields(fields) {
  const box = $("fields");
  box.hidden = !fields;
  if (!fields) return;
  box.replaceChildren(
    ...Object.entries(fields).flatMap(([name, f]) => [el("dt", "", name), el("dd", "", f ? f.value : "—")])
  );
}

// A line and its box light up together, by pointer or keyboard focus.
function hoverPair(node, index) {
  const on = () => highlight(index, true, node);
  const off = () => highlight(index, false, node);
  node.addEventListener("mouseenter", on);
  node.addEventListener("mouseleave", off);
  node.addEventListener("focus", on);
  node.addEventListener("blur", off);
}

function highlight(index, hot, from) {
  const box = document.querySelector(`#stage polygon[data-index="${index}"]`);
  const line = document.querySelector(`#lines li[data-index="${index}"]`);
  for (const node of [box, line]) if (node) node.classList.toggle("hot", hot);
  if (hot && line && from !== line) line.scrollIntoView({ block: "nearest" });
}

// ---- copy and download --------------------------------------------------------------------

async function copyText() {
  const text = state.doc ? state.doc.text : "";
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    const area = el("textarea", "visually-hidden", text); // no clipboard API off https
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  setStatus("Text copied.");
}

async function download(format) {
  if (!state.doc) return;
  const base = (state.file.name || "pasted").replace(/\.[^.]+$/, "");
  const spec = FORMATS[format];
  clearError();
  try {
    const blob = await renderAs(format, spec);
    const link = el("a", "", "");
    link.href = URL.createObjectURL(blob);
    link.download = `${base}.${spec.ext}`;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    setStatus(`Downloaded ${link.download}.`);
  } catch (err) {
    showError(err);
  }
}

// JSON and text come from the result already here; the other formats are the server's
// (format=...), asked for with the same file and options (a result-cache hit).
async function renderAs(format, spec) {
  if (format === "json") return new Blob([JSON.stringify(state.doc, null, 2)], { type: spec.type });
  if (format === "text") return new Blob([state.doc.text + "\n"], { type: spec.type });
  setStatus(`Preparing ${format}…`);
  return (await ocrRequest(state.file, format)).blob();
}

// ---- messages -----------------------------------------------------------------------------

function setStatus(text) {
  $("status").textContent = text;
}

function clearError() {
  clearTimeout(state.retryTimer);
  $("error").hidden = true;
  $("retry").hidden = true;
}

// Every error gets its sentence, then the server's own message and the request id (for the
// operator's logs). OVERLOADED and NOT_READY are retried after Retry-After, a few times; errors
// that a second try may cure get a button to retry at once.
function showError(err, retry, attempt = 0) {
  let text = MESSAGES[err.code] || (err.code === "NETWORK" ? "" : `The server answered ${err.status}.`);
  if (retry && RETRIED.has(err.code) && attempt < MAX_RETRIES) {
    const wait = Math.max(1, err.retryAfter || 1);
    text += ` Retrying in ${wait} s…`;
    state.retryTimer = setTimeout(retry, wait * 1000);
  }
  const rid = err.requestId ? ` · request ${err.requestId}` : "";
  $("error-text").textContent = text || err.message;
  $("error-detail").textContent = text ? `Server: ${err.message}${rid}` : rid;
  $("error").dataset.code = err.code;
  $("retry").hidden = !(retry && WORTH_RETRYING.has(err.code));
  $("retry").onclick = () => {
    clearError();
    retry();
  };
  $("error").hidden = false;
  if (err.code === "UNAUTHENTICATED" || err.code === "FORBIDDEN") {
    $("key-box").open = true;
    $("api-key").focus();
  }
}

// ---- small helpers ------------------------------------------------------------------------

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text) node.textContent = text;
  return node;
}

function svgEl(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function ms(value) {
  return value == null ? "–" : `${Math.round(value)} ms`;
}

function pct(score) {
  return `${Math.round(score * 100)}%`;
}

function formatBytes(n) {
  return n < 1024 * 1024 ? `${Math.ceil(n / 1024)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`;
}

// ---- wiring -------------------------------------------------------------------------------

function wireInput() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => choose(e.target.files[0]));
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => {
      e.preventDefault();
      drop.classList.add("over");
    });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    choose(e.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (e) => {
    const file = [...(e.clipboardData ? e.clipboardData.files : [])][0];
    if (file) choose(file);
  });
}

function wireResult() {
  $("ask").addEventListener("submit", (e) => {
    e.preventDefault();
    read(0);
  });
  $("prev").addEventListener("click", () => showPage(state.page - 1));
  $("next").addEventListener("click", () => showPage(state.page + 1));
  $("copy").addEventListener("click", copyText);
  for (const button of document.querySelectorAll("[data-format]")) {
    button.addEventListener("click", () => download(button.dataset.format));
  }
}

function wireKey() {
  const input = $("api-key");
  input.value = sessionStorage.getItem(KEY_STORE) || "";
  input.addEventListener("change", () => {
    const key = input.value.trim();
    if (key) sessionStorage.setItem(KEY_STORE, key);
    else sessionStorage.removeItem(KEY_STORE);
    clearError();
    loadModels();
  });
}

wireInput();
wireResult();
wireKey();
loadModels();
