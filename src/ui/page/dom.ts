/**
 * The page's one DOM helper. Text from NATS (workload names, log lines, errors) only ever becomes text nodes:
 * nothing here parses markup, and lint forbids `innerHTML` and its relatives in the page.
 *
 * ```ts
 * h("tr", { "data-workload": name }, h("td", {}, name), h("td", { class: "num" }, String(calls)));
 * ```
 */

/** A child: an element, a string (becomes a text node), or nothing. */
export type Child = Node | string | number | undefined | null | false;

/** Creates an element with attributes (set with `setAttribute`, so values are never markup) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) el.setAttribute(k, v);
  append(el, children);
  return el;
}

/** Appends children to an element: strings and numbers as text nodes. */
export function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    el.append(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces an element's children. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** The element with this id, or an error naming it (the page's HTML and script ship together). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}
