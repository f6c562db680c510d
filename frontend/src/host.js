// What the tab learns from TensorBoard around its iframe: dark mode and
// data reloads. Both work standalone too (the demo page), where the tab
// follows prefers-color-scheme and has no host to listen to.

export const THEMES = {
  light: {
    name: 'light',
    text: '#212121',
    muted: '#616161',
    grid: 'rgba(0, 0, 0, 0.09)',
  },
  dark: {
    name: 'dark',
    text: '#e0e0e0',
    muted: '#bdbdbd',
    grid: 'rgba(255, 255, 255, 0.12)',
  },
};

function hostBody() {
  // TensorBoard toggles `dark-mode` on its <body>; the iframe is same-origin
  // under TensorBoard, but guard for a cross-origin embed.
  try {
    if (window.parent && window.parent !== window) return window.parent.document.body || null;
  } catch {
    /* cross-origin parent */
  }
  return null;
}

function forcedTheme() {
  try {
    const t = new URLSearchParams(window.location.search).get('theme');
    return t === 'dark' || t === 'light' ? t : null;
  } catch {
    return null;
  }
}

/** Calls onChange(theme) whenever TensorBoard's (or the system's) mode changes. */
export function watchTheme(onChange) {
  const media = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null;
  const body = hostBody();
  const compute = () => {
    const forced = forcedTheme();
    if (forced) return THEMES[forced];
    if (body) return body.classList.contains('dark-mode') ? THEMES.dark : THEMES.light;
    return media && media.matches ? THEMES.dark : THEMES.light;
  };
  let current = compute();
  const check = () => {
    const next = compute();
    if (next !== current) {
      current = next;
      onChange(current);
    }
  };
  if (media && media.addEventListener) media.addEventListener('change', check);
  let observer = null;
  if (body && typeof MutationObserver === 'function') {
    try {
      observer = new MutationObserver(check);
      observer.observe(body, { attributes: true, attributeFilter: ['class'] });
    } catch {
      observer = null;
    }
  }
  return {
    current: () => current,
    stop() {
      if (media && media.removeEventListener) media.removeEventListener('change', check);
      if (observer) observer.disconnect();
    },
  };
}

/**
 * Calls onReload() when TensorBoard reloads its data (its reload button or
 * its auto-reload), through the message channel TensorBoard offers iframe
 * plugins (components/experimental/plugin_lib): the guest posts
 * "experimental.bootstrap" with a MessagePort, the host then sends JSON
 * messages {type, id, payload, error, isReply} and awaits replies.
 */
export function listenForReload(onReload) {
  let parent = null;
  try {
    parent = window.parent && window.parent !== window ? window.parent : null;
  } catch {
    parent = null;
  }
  if (!parent || typeof MessageChannel !== 'function') return () => {};
  const channel = new MessageChannel();
  channel.port1.onmessage = (event) => {
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!msg || typeof msg !== 'object' || msg.isReply) return;
    if (msg.type === 'experimental.DataReloaded') onReload();
    channel.port1.postMessage(
      JSON.stringify({ type: msg.type, id: msg.id, payload: null, error: null, isReply: true }),
    );
  };
  const origin = window.location.origin && window.location.origin !== 'null' ? window.location.origin : '*';
  try {
    parent.postMessage('experimental.bootstrap', origin, [channel.port2]);
  } catch {
    return () => {};
  }
  return () => channel.port1.close();
}
