// The search page: results as you type (POST /v1/search), a click is feedback (kind "click"),
// and "found it elsewhere" names the entity that was wanted (kind "found") through a lookup
// that is not logged (GET /v1/catalog/lookup).
"use strict";

(() => {
  const { api, el, status, debounce } = ltrr;
  const query = document.getElementById("q");
  const meta = document.getElementById("meta");
  const elsewhere = document.getElementById("elsewhere");
  const picker = document.getElementById("picker");
  const pickQuery = document.getElementById("pick-q");
  let requestId = null;
  let latest = 0;

  async function feedback(kind, entity, option) {
    const body = { action_id: ltrr.randomId(), request_id: requestId, entity_id: entity.id, kind };
    try {
      const answer = await api("POST", "/v1/feedback", body);
      if (option) option.classList.add("chosen");
      const what = kind === "found" ? "Found elsewhere" : "Click";
      status(`${what}: "${entity.title}" recorded (${answer.status}).`);
    } catch (error) {
      status(`Feedback failed: ${error.message}`);
    }
  }

  function describe(result) {
    const badges = Object.entries(result.found_by).map(([strategy, found]) =>
      el("span", { class: "badge" }, `${strategy} #${found.rank}`),
    );
    const artist = result.fields && result.fields.artist;
    return [
      el("span", { class: "type" }, result.type),
      el("span", { class: "title" }, result.title),
      artist ? el("span", { class: "artist" }, artist) : null,
      el("span", { class: "badges" }, ...badges),
    ].filter(Boolean);
  }

  const results = ltrr.listbox(query, document.getElementById("results"), (result, option) =>
    feedback("click", result, option),
  );

  async function search() {
    const text = query.value.trim();
    const mine = ++latest;
    if (!text) {
      results.set([], describe);
      meta.textContent = "";
      elsewhere.hidden = true;
      return;
    }
    try {
      const answer = await api("POST", "/v1/search", { query: text, k: 10 });
      if (mine !== latest) return; // a later keystroke's answer wins
      requestId = answer.request_id;
      results.set(answer.results, describe);
      const plan = Object.entries(answer.plan.depths)
        .filter(([, depth]) => depth > 0)
        .map(([strategy, depth]) => `${strategy} ${depth}`)
        .join(", ");
      meta.textContent =
        `${answer.results.length} results, intent ${answer.intent}, plan ${plan} ` +
        `(probability ${answer.plan.probability}), ${answer.latency_ms} ms`;
      status(`${answer.results.length} results for "${text}".`);
      elsewhere.hidden = false;
    } catch (error) {
      if (mine === latest) status(`Search failed: ${error.message}`);
    }
  }

  function describeEntity(entity) {
    return [el("span", { class: "type" }, entity.type), el("span", { class: "title" }, entity.title)];
  }

  function closePicker() {
    picker.hidden = true;
    elsewhere.focus();
  }

  const picks = ltrr.listbox(pickQuery, document.getElementById("pick-list"), (entity) => {
    feedback("found", entity, null);
    closePicker();
  });

  async function lookup() {
    const text = pickQuery.value.trim();
    if (!text) return picks.set([], describeEntity);
    try {
      const params = new URLSearchParams({ q: text, k: "10" });
      const entities = await api("GET", `/v1/catalog/lookup?${params}`);
      picks.set(entities, describeEntity);
      status(`${entities.length} catalog matches.`);
    } catch (error) {
      status(`Lookup failed: ${error.message}`);
    }
  }

  query.addEventListener("input", debounce(search, 150));
  pickQuery.addEventListener("input", debounce(lookup, 150));
  elsewhere.addEventListener("click", () => {
    picker.hidden = false;
    pickQuery.value = "";
    picks.set([], describeEntity);
    pickQuery.focus();
  });
  document.getElementById("pick-cancel").addEventListener("click", closePicker);
  picker.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closePicker();
  });
  ltrr.keyField(search);
})();
