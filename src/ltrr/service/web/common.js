// ltrr web: what both pages share. Calls to the API (with the optional key), the status line,
// small DOM and SVG builders, and a keyboard-driven listbox. No libraries.
"use strict";

const ltrr = (() => {
  const KEY = "ltrr-api-key";

  /** Calls the API; a non-2xx answer throws an Error carrying the service's message. */
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const key = sessionStorage.getItem(KEY);
    if (key) headers["X-API-Key"] = key;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const init = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(path, init);
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const message = data && data.error ? data.error.message : response.statusText;
      const error = new Error(`${response.status}: ${message}`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  /** The key field: kept in sessionStorage (this tab only), sent as X-API-Key. */
  function keyField(onChange) {
    const input = document.getElementById("api-key");
    input.value = sessionStorage.getItem(KEY) || "";
    input.addEventListener("change", () => {
      if (input.value) sessionStorage.setItem(KEY, input.value.trim());
      else sessionStorage.removeItem(KEY);
      status(input.value ? "API key saved for this tab." : "API key removed.");
      if (onChange) onChange();
    });
  }

  function status(text) {
    document.getElementById("status").textContent = text;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "class") node.className = value;
      else node.setAttribute(name, value);
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    node.append(...children);
    return node;
  }

  function randomId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  /**
   * A listbox driven from a text input (the ARIA combobox pattern): focus stays in the input,
   * arrow keys move the active option (aria-activedescendant), Enter or a click chooses it.
   */
  function listbox(input, list, onChoose) {
    let items = [];
    let active = -1;

    function setActive(index) {
      active = index;
      list.querySelectorAll("[role=option]").forEach((option, i) => {
        option.setAttribute("aria-selected", String(i === active));
        option.classList.toggle("active", i === active);
      });
      if (active >= 0) {
        const option = document.getElementById(`${list.id}-${active}`);
        input.setAttribute("aria-activedescendant", option.id);
        option.scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function set(newItems, render) {
      items = newItems;
      list.replaceChildren(
        ...items.map((item, i) => {
          const option = el("li", { role: "option", id: `${list.id}-${i}`, "aria-selected": "false" });
          option.append(...render(item));
          option.addEventListener("mousedown", (event) => event.preventDefault());
          option.addEventListener("click", () => {
            setActive(i);
            onChoose(items[i], option);
          });
          return option;
        }),
      );
      list.hidden = items.length === 0;
      input.setAttribute("aria-expanded", String(items.length > 0));
      setActive(-1);
    }

    input.addEventListener("keydown", (event) => {
      if (!items.length) return;
      if (event.key === "ArrowDown") setActive(Math.min(active + 1, items.length - 1));
      else if (event.key === "ArrowUp") setActive(Math.max(active - 1, 0));
      else if (event.key === "Enter" && active >= 0) {
        onChoose(items[active], document.getElementById(`${list.id}-${active}`));
      } else if (event.key === "Escape") setActive(-1);
      else return;
      event.preventDefault();
    });

    return { set };
  }

  return { api, keyField, status, el, svg, randomId, debounce, listbox };
})();
