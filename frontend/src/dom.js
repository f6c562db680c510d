// Building DOM. Text from the data (run names, monitors, messages) only
// ever goes in through textContent, attribute properties or `title`, never
// innerHTML.

/** document.createElement with a class, text and children. */
export function el(tag, { cls, text, attrs, on } = {}, children = []) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (attrs)
    for (const [k, v] of Object.entries(attrs))
      if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? '' : String(v));
  if (on) for (const [k, v] of Object.entries(on)) node.addEventListener(k, v);
  for (const c of children) if (c) node.append(c);
  return node;
}

/** Calls `fn` on a click and on Enter or Space (the node has a tabindex). */
export function onActivate(node, fn) {
  node.addEventListener('click', fn);
  node.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      fn();
    }
  });
}

/** Adds the tab's stylesheet to the page once. */
export function injectStyle(text) {
  if (document.getElementById('tb-lr-style')) return;
  const style = document.createElement('style');
  style.id = 'tb-lr-style';
  style.textContent = text;
  document.head.append(style);
}
